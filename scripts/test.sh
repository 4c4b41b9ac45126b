#!/usr/bin/env bash
# Runs every test suite against one build directory and prints a total.
#
#   scripts/test.sh BUILD_DIR
#
# In order: the gtest binaries (ctest), the SQL corpus (flowsql_sqltest test/sql),
# its expected rows and types re-checked against DuckDB (gen_expected.py --check),
# then the Python suites (test/cli, test/python, test/diff, test/integration) against
# BUILD_DIR/flowsql and the Python package in BUILD_DIR/python. Every suite runs even when an earlier one fails; the exit
# code is non-zero if any failed. The last line is "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${1:-build}
BUILD=${BUILD%/}
PY=.venv/bin/python
export FLOWSQL_BIN="$BUILD/flowsql"
# `import flowsql` loads the package of this build, whatever the .venv points at.
export PYTHONPATH="$PWD/$BUILD/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
# CI has installed every object-store server (scripts/setup.sh): none may be skipped.
if [ "${CI:-}" = true ]; then export FLOWSQL_REQUIRE_OBJECT_STORES=1; fi

total_passed=0
total_failed=0
failed_suites=()
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

count() {  # count SUITE PASSED FAILED RC
  local suite=$1 passed=${2:-0} failed=${3:-0} rc=$4
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1  # the suite failed without saying how many: count it once
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ "$failed" -ne 0 ]; then failed_suites+=("$suite"); fi
  echo "== $suite: $passed passed, $failed failed"
}

# --- 1. gtest via ctest
echo "== unit tests (ctest)"
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 300 2>&1 | tee "$log_dir/ctest.log"
rc=${PIPESTATUS[0]}
line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log_dir/ctest.log" | tail -1)
if [ -n "$line" ]; then
  t_total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  t_failed=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
  count "unit" $((t_total - t_failed)) "$t_failed" "$rc"
elif grep -q "No tests were found" "$log_dir/ctest.log"; then
  count "unit" 0 0 0
else
  count "unit" 0 0 "$rc"
fi

# --- 2. SQL corpus
echo "== SQL tests (flowsql_sqltest test/sql)"
if [ -x "$BUILD/flowsql_sqltest" ]; then
  "$BUILD/flowsql_sqltest" test/sql 2>&1 | tee "$log_dir/sql.log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E "^sqltest: [0-9]+ passed, [0-9]+ failed" "$log_dir/sql.log" | tail -1)
  s_passed=$(sed -E 's/^sqltest: ([0-9]+) passed.*/\1/' <<<"$line")
  s_failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  count "sql" "${s_passed:-0}" "${s_failed:-0}" "$rc"
else
  echo "missing $BUILD/flowsql_sqltest"
  count "sql" 0 1 1
fi

# --- 2b. The corpus's expected rows and column types, checked again against DuckDB
echo "== SQL expectations against DuckDB (test/sql/gen_expected.py --check)"
"$PY" test/sql/gen_expected.py --check test/sql 2>&1 | tee "$log_dir/oracle.log"
rc=${PIPESTATUS[0]}
line=$(grep -E "^gen_expected: " "$log_dir/oracle.log" | tail -1)
o_same=$(sed -E 's/.* ([0-9]+) same.*/\1/' <<<"$line")
o_differ=$(sed -E 's/.* ([0-9]+) differ.*/\1/' <<<"$line")
o_errors=$(sed -E 's/.* ([0-9]+) duckdb errors.*/\1/' <<<"$line")
count "oracle" "${o_same:-0}" $(( ${o_differ:-0} + ${o_errors:-0} )) "$rc"

# --- 3. Python suites
suites=()
for d in test/cli test/python test/diff test/integration; do
  if [ -d "$d" ] && ls "$d"/test_*.py >/dev/null 2>&1; then suites+=("$d"); fi
done
echo "== Python tests (${suites[*]})"
if [ ${#suites[@]} -gt 0 ]; then
  "$PY" -m pytest -q -p no:cacheprovider "${suites[@]}" 2>&1 | tee "$log_dir/py.log"
  rc=${PIPESTATUS[0]}
  summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed|errors?)|^(=+ )?no tests ran" "$log_dir/py.log" | tail -1)
  p_passed=$(grep -oE "[0-9]+ passed" <<<"$summary" | grep -oE "[0-9]+" || true)
  p_failed=$(grep -oE "[0-9]+ failed" <<<"$summary" | grep -oE "[0-9]+" || true)
  p_errors=$(grep -oE "[0-9]+ errors?" <<<"$summary" | grep -oE "[0-9]+" || true)
  count "python" "${p_passed:-0}" $(( ${p_failed:-0} + ${p_errors:-0} )) "$rc"
fi

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failing suites: ${failed_suites[*]}"
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
