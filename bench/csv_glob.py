"""Workload csv_glob: 2,000 small CSV files through one glob, filter + group by.

Data: bench/data/csv_glob_<size>mb/part-0000.csv ... part-1999.csv, the orders rows
of the other workloads (common.orders_select) cut into 2,000 files with headers,
together about --size-mb MB, written once by DuckDB.

Peers: DuckDB read_csv('<dir>/*.csv'), Polars scan_csv('<dir>/*.csv'). Results must
match (ndjson_groupby's query and checks).
"""
import os

import ndjson_groupby
from common import bytes_per_row, ensure_dataset, orders_select

NAME = "csv_glob"
DEFAULT_SIZE_MB = 100
FILES = 2000


def prepare(size_mb):
    import duckdb
    rows = int(size_mb * 1024 * 1024 / bytes_per_row("csv"))
    per_file = -(-rows // FILES)

    def fill(tmp):
        con = duckdb.connect()
        con.execute(f"CREATE TABLE o AS {orders_select(rows)} ORDER BY i")
        for k in range(FILES):
            start = k * per_file
            con.execute(f"COPY (SELECT * FROM o WHERE id >= {start} AND id < "
                        f"{start + per_file}) TO '{tmp}/part-{k:04d}.csv' (FORMAT csv, HEADER)")

    path, rows, size = ensure_dataset("csv_glob_%dmb" % size_mb, rows, fill)
    return {"input": path, "glob": os.path.join(path, "*.csv"), "rows": rows, "bytes": size}


def tools(ctx, flowsql):
    src = ctx["glob"]
    return ndjson_groupby.groupby_tools(flowsql, src, "csv_glob", "read_csv('%s')" % src,
                                        "scan_csv")


def verify(ctx, tool):
    return ndjson_groupby.verify(ctx, tool)


def same(a, b):
    return ndjson_groupby.same(a, b)
