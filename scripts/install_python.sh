#!/usr/bin/env bash
# Points the .venv at the flowsql Python package built in BUILD/python (the extension
# module and links to python/flowsql's files): a .pth file in its site-packages, so
# that `.venv/bin/python -c "import flowsql"` loads the module just built.
#
#   scripts/install_python.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
if [ ! -f "$BUILD/python/flowsql/__init__.py" ]; then
  echo "install_python: no package in $BUILD/python/flowsql: build first" >&2
  exit 1
fi
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
(cd "$BUILD/python" && pwd) >"$site/flowsql.pth"
