"""Workload hive_scan: a hive-partitioned Parquet dataset, a selective partition filter.

Data: bench/data/hive_scan_<size>mb/year=YYYY/month=M/part-0.parquet, 4 years x 12
months = 48 folders, together about --size-mb MB, the columns of glob_scan (id,
city, status, amount, qty; values arithmetic on the row number, written by pyarrow).
The query keeps one month of 48 (WHERE year = 2023 AND month = 6) then groups by
city: a reader that prunes folders before opening files reads 1/48 of the data.

Peers: DuckDB read_parquet('<dir>/**/*.parquet', hive_partitioning = true), Polars
scan_parquet('<dir>/**/*.parquet', hive_partitioning = True). Results must match.
"""
import os

import glob_scan
import ndjson_groupby
from common import OUT, Tool, ensure_dataset, python_tool

NAME = "hive_scan"
DEFAULT_SIZE_MB = 200
YEARS = [2021, 2022, 2023, 2024]
MONTHS = list(range(1, 13))

SQL = ("SELECT city, count(*) AS n, sum(amount) AS total, avg(qty) AS avg_qty "
       "FROM {src} WHERE year = 2023 AND month = 6 GROUP BY city ORDER BY city")


def prepare(size_mb):
    """The dataset, generated once."""
    import duckdb
    rows = int(size_mb * 1024 * 1024 / glob_scan._bytes_per_row())
    per_part = -(-rows // (len(YEARS) * len(MONTHS)))

    def fill(tmp):
        con = duckdb.connect()
        k = 0
        for year in YEARS:
            for month in MONTHS:
                folder = os.path.join(tmp, "year=%d" % year, "month=%d" % month)
                os.makedirs(folder)
                start = k * per_part
                glob_scan._write(con, os.path.join(folder, "part-0.parquet"), start,
                                 min(rows, start + per_part))
                k += 1

    path, rows, size = ensure_dataset("hive_scan_%dmb" % size_mb, rows, fill)
    return {"input": path, "glob": os.path.join(path, "**", "*.parquet"), "rows": rows,
            "bytes": size}


def tools(ctx, flowsql):
    src = ctx["glob"]
    out = lambda name: os.path.join(OUT, "%s_hive.csv" % name)  # noqa: E731
    return [
        Tool("flowsql", [flowsql, "--format", "csv", "-c", SQL.format(src="'%s'" % src)],
             out("flowsql"), stdout_to=out("flowsql")),
        python_tool("duckdb",
                    "import duckdb; duckdb.sql(\"%s\").write_csv('%s')"
                    % (SQL.format(src="read_parquet('%s', hive_partitioning = true)" % src),
                       out("duckdb")), out("duckdb")),
        python_tool("polars",
                    "import polars as pl; "
                    "(pl.scan_parquet('%s', hive_partitioning=True)"
                    ".filter((pl.col('year') == 2023) & (pl.col('month') == 6))"
                    ".group_by('city')"
                    ".agg(pl.len().alias('n'), pl.col('amount').sum().alias('total'),"
                    " pl.col('qty').mean().alias('avg_qty'))"
                    ".sort('city').collect().write_csv('%s'))" % (src, out("polars")),
                    out("polars")),
    ]


def verify(ctx, tool):
    return ndjson_groupby.verify(ctx, tool)


def same(a, b):
    return ndjson_groupby.same(a, b)
