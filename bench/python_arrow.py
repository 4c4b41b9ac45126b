"""Workload python_arrow: a large query result into a pyarrow.Table in Python.

flowsql's Python package runs the engine in-process and hands its batches over
through the Arrow C stream interface (`flowsql.sql(q).to_arrow()`); the peer
`flowsql_cli` is what the package did before: the command writing Arrow IPC to a
pipe that pyarrow reads (`flowsql --format arrow -c q`). DuckDB
(`duckdb.sql(q).to_arrow_table()`) is the tool users would reach for. Each writes the
row count and two column sums as JSON; they must agree before a time is reported.
--size-mb scales the rows (the default, 640 MB of four 8-byte columns, is 20M rows).
"""
import json
import os

from common import OUT, PY, Tool

NAME = "python_arrow"
DEFAULT_SIZE_MB = 640

SQL = ("SELECT id, id * 2 AS twice, CAST(id AS DOUBLE) / 3 AS third, id % 7 AS k "
       "FROM generate_series(1, {rows}) g(id)")

# Sums the table's columns and writes them as JSON to sys.argv[1]; appended to each
# tool's code, which leaves its result in `table`.
CHECK = ("import json, sys, pyarrow.compute as pc; "
         "json.dump({'rows': table.num_rows, 'twice': pc.sum(table['twice']).as_py(), "
         "'k': pc.sum(table['k']).as_py()}, open(sys.argv[1], 'w'))")


def prepare(size_mb):
    rows = size_mb * 1_000_000 // 32
    return {"input": "generate_series", "rows": rows, "bytes": rows * 32,
            "sql": SQL.format(rows=rows)}


def tools(ctx, flowsql):
    sql = ctx["sql"]
    out = lambda name: os.path.join(OUT, "%s_python_arrow.json" % name)  # noqa: E731
    build_python = os.path.join(os.path.dirname(flowsql), "python")

    def tool(name, code):
        return Tool(name, [PY, "-c", code + "; " + CHECK, out(name)], out(name))

    native = tool("flowsql",
                  "import sys; sys.path.insert(0, %r); import flowsql; "
                  "table = flowsql.sql(%r).to_arrow()" % (build_python, sql))
    cli = tool("flowsql_cli",
               "import subprocess, pyarrow.ipc; "
               "p = subprocess.Popen([%r, '--format', 'arrow', '--no-progress', '-c', %r], "
               "stdout=subprocess.PIPE); "
               "table = pyarrow.ipc.open_stream(p.stdout).read_all(); "
               "assert p.wait() == 0" % (flowsql, sql))
    duck = tool("duckdb", "import duckdb; table = duckdb.sql(%r).to_arrow_table()" % sql)
    return [native, cli, duck]


def verify(ctx, tool):
    with open(tool.output) as f:
        result = json.load(f)
    return {"rows": result["rows"], "checksum": (result["twice"], result["k"])}


def same(a, b):
    return a["rows"] == b["rows"] and a["checksum"] == b["checksum"]
