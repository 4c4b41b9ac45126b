#!/usr/bin/env bash
# Installs what the benchmarks need beyond the project's own setup
# (scripts/setup.sh, which also installs the Java runtime of the PySpark peer): the
# pinned benchmark-only Python peers of bench/requirements.txt into .venv.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  scripts/setup.sh
fi
stamp=.venv/.bench-requirements.stamp
if [ ! -f "$stamp" ] || ! cmp -s bench/requirements.txt "$stamp"; then
  echo "bench/setup: installing pinned benchmark peers (bench/requirements.txt)"
  .venv/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt "$stamp"
fi
# Sail's peer (bench/python_source.py) in its own environment: pysail 0.7.2 runs
# Python data sources only with PySpark 4.0-4.2, the project's .venv has 4.3.
sail=bench/.venv-sail
if [ ! -x "$sail/bin/python" ]; then
  .venv/bin/python -m venv "$sail"
fi
if [ ! -f "$sail/.stamp" ] || ! cmp -s bench/requirements-sail.txt "$sail/.stamp"; then
  echo "bench/setup: installing Sail's peer (bench/requirements-sail.txt) into $sail"
  "$sail/bin/pip" install -q --disable-pip-version-check -r bench/requirements-sail.txt
  cp bench/requirements-sail.txt "$sail/.stamp"
fi
