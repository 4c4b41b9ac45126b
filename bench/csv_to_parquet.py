"""Workload csv_to_parquet: a CSV file -> one Parquet file, zstd.

Peers: DuckDB COPY, Polars scan_csv().sink_parquet(), pyarrow read_csv + write_table.
Every output is read back with pyarrow and must hold the same rows (row count and
a checksum over every column) before a time is reported.
"""
import os

from common import OUT, Tool, python_tool, ensure_orders

NAME = "csv_to_parquet"
DEFAULT_SIZE_MB = 200


def prepare(size_mb):
    path, rows = ensure_orders("csv", size_mb)
    return {"input": path, "rows": rows, "bytes": os.path.getsize(path)}


def tools(ctx, flowsql):
    src = ctx["input"]
    out = lambda name: os.path.join(OUT, "%s.parquet" % name)  # noqa: E731
    return [
        Tool("flowsql", [flowsql, "-c",
                         "SELECT * FROM '%s' INTO '%s' WITH (compression = 'zstd')"
                         % (src, out("flowsql"))], out("flowsql")),
        python_tool("duckdb",
                    "import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_csv('%s')) TO '%s' "
                    "(FORMAT parquet, COMPRESSION zstd)\")" % (src, out("duckdb")),
                    out("duckdb")),
        python_tool("polars",
                    "import polars as pl; pl.scan_csv('%s', try_parse_dates=True)"
                    ".sink_parquet('%s', compression='zstd')" % (src, out("polars")),
                    out("polars")),
        python_tool("pyarrow",
                    "import pyarrow.csv as c, pyarrow.parquet as pq; "
                    "pq.write_table(c.read_csv('%s'), '%s', compression='zstd')"
                    % (src, out("pyarrow")), out("pyarrow")),
    ]


def checksum(path):
    """Row count and per-column sums that do not depend on the exact Arrow types."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    sums = {}
    for name in t.column_names:
        col = t.column(name)
        ty = col.type
        if pa.types.is_timestamp(ty):
            col = pc.cast(pc.cast(col, pa.timestamp("s")), pa.int64())
            sums[name] = pc.sum(col).as_py()
        elif pa.types.is_integer(ty):
            sums[name] = pc.sum(col).as_py()
        elif pa.types.is_floating(ty) or pa.types.is_decimal(ty):
            sums[name] = round(float(pc.sum(pc.cast(col, pa.float64())).as_py()), 2)
        elif pa.types.is_string(ty) or pa.types.is_large_string(ty) or \
                pa.types.is_string_view(ty):
            sums[name] = (pc.sum(pc.utf8_length(col)).as_py(), pc.count_distinct(col).as_py())
        else:
            sums[name] = str(ty)
    return t.num_rows, sums


def verify(ctx, tool):
    rows, sums = checksum(tool.output)
    return {"rows": rows, "checksum": sums}


def same(a, b):
    if a["rows"] != b["rows"] or a["checksum"].keys() != b["checksum"].keys():
        return False
    for k, va in a["checksum"].items():
        vb = b["checksum"][k]
        if isinstance(va, float) and isinstance(vb, float):
            if abs(va - vb) > 1e-6 * max(1.0, abs(va)):
                return False
        elif va != vb:
            return False
    return True
