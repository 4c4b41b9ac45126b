#!/usr/bin/env bash
# Installs everything flowsql needs on a fresh Debian 12 machine: the Debian
# packages for the build (and a Java runtime for the Spark tests), the project
# virtualenv (.venv) with the pinned Python packages, .venv-delta-spark for the
# Spark-with-Delta tests, and the object-store
# emulators the tests run (test/servers/object_stores.py) in .tools/. Safe to
# run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS="g++ cmake ninja-build ccache make python3-venv python3-dev libsimdjson-dev libedit-dev \
  libgtest-dev libssl-dev libcurl4-openssl-dev libroaring-dev clang-format time"
# Azurite runs on Node.js; Debian's nodejs and npm only where no node/npm is on PATH
# (a Node.js from elsewhere ships its own npm, which Debian's npm would conflict with).
command -v node >/dev/null && command -v npm >/dev/null || DEBS+=" nodejs npm"
# PySpark (test/integration/test_spark.py) runs Spark in a JVM: Java 17 or later, Debian's
# where no java is on PATH.
command -v java >/dev/null || DEBS+=" openjdk-17-jre-headless"
missing=""
for p in $DEBS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=" $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.stamp
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  echo "setup: installing pinned Python packages"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$stamp"
fi
# Spark with Delta Lake (test/integration/test_delta_spark.py) in a virtualenv of its
# own, .venv-delta-spark: Delta's Spark artifact follows Spark's minor version and
# has none yet for the PySpark above (test/requirements-delta-spark.txt).
if [ ! -x .venv-delta-spark/bin/python ]; then
  echo "setup: creating .venv-delta-spark"
  "$PY" -m venv .venv-delta-spark
fi
stamp=.venv-delta-spark/.requirements.stamp
if [ ! -f "$stamp" ] || ! cmp -s test/requirements-delta-spark.txt "$stamp"; then
  echo "setup: installing pinned Python packages into .venv-delta-spark"
  .venv-delta-spark/bin/pip install -q --disable-pip-version-check \
    -r test/requirements-delta-spark.txt
  cp test/requirements-delta-spark.txt "$stamp"
fi

# Object-store emulators for the s3://, gs:// and az:// tests, pinned, in .tools/
# (moto, the S3 one, is in requirements.txt).
mkdir -p .tools
# Azurite (Azure Blob) and json-server (a REST API), from the npm registry, exactly as
# test/servers/package-lock.json says.
npm_stamp=.tools/npm/.lock.stamp
if [ ! -f "$npm_stamp" ] || ! cmp -s test/servers/package-lock.json "$npm_stamp"; then
  echo "setup: installing Azurite and json-server (npm ci into .tools/npm)"
  rm -rf .tools/npm .tools/azurite
  mkdir -p .tools/npm
  cp test/servers/package.json test/servers/package-lock.json .tools/npm/
  npm ci --prefix .tools/npm --ignore-scripts --no-audit --no-fund --loglevel=error
  cp test/servers/package-lock.json "$npm_stamp"
fi
node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' ||
  echo "setup: Azurite is tested on Node.js 20 and asks for 22; this is $(node --version)" >&2
# fake-gcs-server (GCS), from the Go module proxy; needs Go 1.26+. Without Go the
# gs:// tests skip, saying so; in CI a failed install fails the setup.
FAKE_GCS_SERVER_VERSION=v1.56.1
gcs_stamp=.tools/bin/.fake-gcs-server.version
if [ ! -x .tools/bin/fake-gcs-server ] || [ "$(cat "$gcs_stamp" 2>/dev/null)" != "$FAKE_GCS_SERVER_VERSION" ]; then
  GO=$(command -v go || echo /usr/local/go/bin/go)
  if [ -x "$GO" ]; then
    echo "setup: installing fake-gcs-server $FAKE_GCS_SERVER_VERSION (go install into .tools/bin)"
    if GOBIN="$PWD/.tools/bin" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
        "$GO" install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION"; then
      echo "$FAKE_GCS_SERVER_VERSION" >"$gcs_stamp"
    else
      echo "setup: fake-gcs-server did not install: the gs:// tests will be skipped" >&2
      [ "${CI:-}" != true ] || exit 1
    fi
  else
    echo "setup: no Go toolchain: fake-gcs-server not installed, the gs:// tests will be skipped" >&2
    [ "${CI:-}" != true ] || exit 1
  fi
fi
