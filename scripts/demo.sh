#!/usr/bin/env bash
# An end-to-end example that needs no server:
#   generate a CSV with flowsql, aggregate it, write Parquet (zstd), read it back
#   with flowsql, DuckDB and pyarrow, and show a plan.
#
#   scripts/demo.sh FLOWSQL_BIN [DEMO_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

FLOWSQL=${1:-build/flowsql}
DIR=${2:-out/demo}
PY=.venv/bin/python

rm -rf "$DIR"
mkdir -p "$DIR"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Prints an argument as a shell word a reader can paste: bare when plain, else in
# double quotes.
quote() {
  local s=$1
  if [[ $s =~ ^[A-Za-z0-9_./=:,+-]+$ ]]; then
    printf '%s' "$s"
  else
    s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//\$/\\\$}; s=${s//\`/\\\`}
    printf '"%s"' "$s"
  fi
}
run() {
  printf '$'
  for a in "$@"; do printf ' '; quote "$a"; done
  printf '\n'
  "$@"
}

step "1. Generate 5000 orders into a CSV file with flowsql itself"
run "$FLOWSQL" -c "SELECT id, category AS city, round(value * 500, 2) AS amount, id % 7 + 1 AS qty, ts AS ordered_at FROM generate(rows => 5000, seed => 7) INTO '$DIR/orders.csv'"
run head -4 "$DIR/orders.csv"

step "2. A group-by over the CSV, as a table"
run "$FLOWSQL" --format table -c "SELECT city, count(*) AS orders, sum(qty) AS items, round(sum(amount), 2) AS revenue FROM '$DIR/orders.csv' GROUP BY city ORDER BY revenue DESC"

step "3. Filter and write Parquet compressed with zstd"
run "$FLOWSQL" -c "SELECT id, city, amount, qty, ordered_at FROM '$DIR/orders.csv' WHERE amount > 100 INTO '$DIR/orders.parquet' WITH (compression = 'zstd')"

step "4. Read the Parquet file back with flowsql"
run "$FLOWSQL" -c "SELECT count(*) AS n, min(amount) AS min_amount, max(amount) AS max_amount FROM '$DIR/orders.parquet'"

step "5. Another tool reads it: DuckDB and pyarrow"
run "$PY" -c "import duckdb; print(duckdb.sql(\"SELECT count(*) AS n, min(amount) AS min_amount, max(amount) AS max_amount FROM '$DIR/orders.parquet'\"))"
run "$PY" -c "import pyarrow.parquet as pq; f = pq.ParquetFile('$DIR/orders.parquet'); print(f.schema_arrow); print('rows:', f.metadata.num_rows, 'codec:', f.metadata.row_group(0).column(0).compression)"

step "6. The plan of a query"
run "$FLOWSQL" -c "EXPLAIN SELECT city, count(*) FROM '$DIR/orders.parquet' WHERE qty > 3 GROUP BY city"

step "Done: files in $DIR"
ls -l "$DIR"
