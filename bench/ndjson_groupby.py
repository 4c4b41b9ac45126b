"""Workload ndjson_groupby: filter + group by over an NDJSON file.

Peers: DuckDB read_json, Polars scan_ndjson. Each tool writes its (small) result as
CSV; the results must match (same groups, counts, sums within 1e-9) before a time is
reported.
"""
import csv
import os

from common import OUT, Tool, python_tool, ensure_orders

NAME = "ndjson_groupby"
DEFAULT_SIZE_MB = 300

SQL = ("SELECT city, count(*) AS n, sum(amount) AS total, avg(qty) AS avg_qty "
       "FROM {src} WHERE status = 'shipped' AND amount > 50 GROUP BY city ORDER BY city")


def prepare(size_mb):
    path, rows = ensure_orders("ndjson", size_mb)
    return {"input": path, "rows": rows, "bytes": os.path.getsize(path)}


def groupby_tools(flowsql, src, tag, duckdb_src, polars_scan):
    """flowsql, DuckDB and Polars running SQL over `src` into <tool>_<tag>.csv.
    `duckdb_src` is DuckDB's FROM clause, `polars_scan` the Polars scan function."""
    out = lambda name: os.path.join(OUT, "%s_%s.csv" % (name, tag))  # noqa: E731
    return [
        Tool("flowsql", [flowsql, "--format", "csv", "-c", SQL.format(src="'%s'" % src)],
             out("flowsql"), stdout_to=out("flowsql")),
        python_tool("duckdb",
                    "import duckdb; duckdb.sql(\"%s\").write_csv('%s')"
                    % (SQL.format(src=duckdb_src), out("duckdb")), out("duckdb")),
        python_tool("polars",
                    "import polars as pl; "
                    "(pl.%s('%s')"
                    ".filter((pl.col('status') == 'shipped') & (pl.col('amount') > 50))"
                    ".group_by('city')"
                    ".agg(pl.len().alias('n'), pl.col('amount').sum().alias('total'),"
                    " pl.col('qty').mean().alias('avg_qty'))"
                    ".sort('city').collect().write_csv('%s'))"
                    % (polars_scan, src, out("polars")),
                    out("polars")),
    ]


def tools(ctx, flowsql):
    src = ctx["input"]
    return groupby_tools(flowsql, src, "groupby",
                         "read_json('%s', format = 'newline_delimited')" % src, "scan_ndjson")


def verify(ctx, tool):
    with open(tool.output, newline="") as f:
        rows = list(csv.DictReader(f))
    result = {r["city"]: (int(r["n"]), float(r["total"]), float(r["avg_qty"])) for r in rows}
    return {"rows": len(rows), "checksum": result,
            "input_rows_matched": sum(v[0] for v in result.values())}


def same(a, b):
    if a["checksum"].keys() != b["checksum"].keys():
        return False
    for k, (n, total, avg) in a["checksum"].items():
        n2, total2, avg2 = b["checksum"][k]
        if n != n2 or abs(total - total2) > 1e-9 * max(1.0, abs(total)) or \
                abs(avg - avg2) > 1e-9 * max(1.0, abs(avg)):
            return False
    return True
