"""Workload glob_scan: filter + group by over a glob of 200 Parquet files.

Data: bench/data/glob_scan_<size>mb/part-000.parquet ... part-199.parquet, together
about --size-mb MB, columns id BIGINT, city VARCHAR (20 values), status VARCHAR
(4 values), amount DOUBLE, qty INTEGER. The values are arithmetic on the row number
(computed by DuckDB, as for the other workloads, so the bytes are the same on every
run and machine) and each file is written by pyarrow (snappy, one row group).

Peers: DuckDB read_parquet('<dir>/*.parquet'), Polars scan_parquet('<dir>/*.parquet').
Each tool writes its (small) result as CSV; the results must match (same groups and
counts, sums and averages within a relative 1e-9) before a time is reported.
"""
import os

import ndjson_groupby
from common import CITIES, ensure_dataset

NAME = "glob_scan"
DEFAULT_SIZE_MB = 200
FILES = 200
STATUSES = ["shipped", "pending", "cancelled", "returned"]

SQL = ndjson_groupby.SQL  # the same query, over Parquet files


def _select(start, stop):
    cities = "[" + ", ".join("'%s'" % c for c in CITIES) + "]"
    statuses = "[" + ", ".join("'%s'" % s for s in STATUSES) + "]"
    return f"""
SELECT
  i::BIGINT AS id,
  {cities}[1 + (i * 31 + i // 7) % {len(CITIES)}] AS city,
  {statuses}[1 + (i * 17 + i // 3) % {len(STATUSES)}] AS status,
  ((i * 104729) % 1000000) / 100.0 AS amount,
  (1 + (i * 13) % 20)::INTEGER AS qty
FROM range({start}, {stop}) t(i) ORDER BY i"""


def _write(con, path, start, stop):
    import pyarrow.parquet as pq
    table = con.sql(_select(start, stop)).to_arrow_table()
    pq.write_table(table, path, compression="snappy")


def _bytes_per_row():
    import tempfile
    import duckdb
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "sample.parquet")
        _write(con, p, 0, 100000)
        return os.path.getsize(p) / 100000.0


def prepare(size_mb):
    """bench/data/glob_scan_<size>mb/ with FILES Parquet files; generated once."""
    import duckdb
    rows = int(size_mb * 1024 * 1024 / _bytes_per_row())
    per_file = -(-rows // FILES)

    def fill(tmp):
        con = duckdb.connect()
        for k in range(FILES):
            start = k * per_file
            _write(con, os.path.join(tmp, "part-%03d.parquet" % k), start,
                   min(rows, start + per_file))

    path, rows, size = ensure_dataset("glob_scan_%dmb" % size_mb, rows, fill)
    return {"input": path, "glob": os.path.join(path, "*.parquet"), "rows": rows,
            "bytes": size}


def tools(ctx, flowsql):
    src = ctx["glob"]
    return ndjson_groupby.groupby_tools(flowsql, src, "glob", "read_parquet('%s')" % src,
                                        "scan_parquet")


# Same result shape as ndjson_groupby: city -> (n, total, avg_qty).
def verify(ctx, tool):
    return ndjson_groupby.verify(ctx, tool)


def same(a, b):
    return ndjson_groupby.same(a, b)
