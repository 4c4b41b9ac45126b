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
