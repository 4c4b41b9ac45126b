"""Workloads python_batches and python_tuples: one PySpark Python data source class
(bench/plugins/bench_sources.py, 100 partitions), read whole by flowsql, PySpark
local[2] and Sail.

  python_batches: the class yields pyarrow.RecordBatch (8,192 rows each), 10M rows
  python_tuples:  the class yields one tuple per row, 3M rows
  (--size-mb N reads N million rows instead)

Each tool computes count(*), sum(id), sum(x) and sum(length(s)), so every column of
every row is read; the results must equal (sums exact, see bench_sources.py).

  flowsql: SELECT ... FROM 'python://bench_sources.Numbers' WITH (...), the whole
           CLI command timed (the embedded interpreter's start and imports included)
  flowsql-workers: the same WITH (workers = true): the partitions read in Python
           worker processes (one per read thread), their start-up included
  pyspark: spark.dataSource.register(Numbers) in a local[2] session; only the query is
           timed, after the JVM and the session are up
  sail:    pysail's SparkConnectServer in the peer's process and a Spark Connect
           session to it, from bench/.venv-sail (Sail 0.7.2 wants PySpark <= 4.2);
           only the query is timed, after the server and the session are up

The peers time their query themselves and write it beside their result; timed()
gives run.py that time in place of the process's wall time (both are logged).
"""
import json
import os
import sys

from common import OUT, PY, ROOT, Tool, log

PLUGINS = os.path.join(ROOT, "bench", "plugins")
SAIL_PY = os.path.join(ROOT, "bench", ".venv-sail", "bin", "python")
PARTITIONS = 100
DEFAULT_ROWS = {"batches": 10_000_000, "tuples": 3_000_000}

FLOWSQL_SQL = ("SELECT count(*) AS n, sum(id) AS sum_id, sum(x) AS sum_x, "
               "sum(length(s)) AS len_s FROM 'python://bench_sources.Numbers' "
               "WITH (variant = '{variant}', rows = '{rows}', partitions = '{parts}', "
               "workers = {workers})")

PEER = os.path.join(ROOT, "bench", "python_source_peer.py")


def tools_for(variant, rows, flowsql):
    env = ["env", "PYTHONPATH=" + PLUGINS]
    out = lambda name: os.path.join(OUT, "%s_python_%s.json" % (name, variant))  # noqa
    args = [variant, str(rows), str(PARTITIONS)]

    def flowsql_tool(name, workers):
        csv = os.path.join(OUT, "%s_python_%s.csv" % (name, variant))
        sql = FLOWSQL_SQL.format(variant=variant, rows=rows, parts=PARTITIONS,
                                 workers=workers)
        return Tool(name, env + [flowsql, "--no-progress", "--format", "csv", "-c", sql],
                    csv, stdout_to=csv)

    return [
        flowsql_tool("flowsql", "false"),
        flowsql_tool("flowsql-workers", "true"),
        Tool("pyspark", env + [PY, PEER] + args + [out("pyspark"), "pyspark"],
             out("pyspark")),
        Tool("sail", env + [SAIL_PY, PEER] + args + [out("sail"), "sail"],
             out("sail")),
    ]


def verify(ctx, tool):
    """(count, sum(id), sum(x), sum(length(s))) of the tool's answer."""
    if tool.name.startswith("flowsql"):
        import csv
        with open(tool.output, newline="") as f:
            r = next(csv.DictReader(f))
    else:
        with open(tool.output) as f:
            r = json.load(f)
    return (int(r["n"]), int(r["sum_id"]), float(r["sum_x"]), int(r["len_s"]))


def same(a, b):
    return a == b


def timed(tool, wall):
    """The peers' own time of their query (session start-up excluded); flowsql's
    whole command."""
    if tool.name.startswith("flowsql"):
        return wall
    with open(tool.output) as f:
        query = json.load(f)["query_s"]
    log("  %-8s query %.2f s of %.2f s (JVM / server and session start excluded)"
        % (tool.name, query, wall))
    return query


def expected(rows):
    from bench_sources import WORDS
    ids = rows * (rows - 1) // 2
    return (rows, ids, ids / 2, sum(len(WORDS[i % 10]) for i in range(10)) * (rows // 10)
            + sum(len(WORDS[i]) for i in range(rows % 10)))


def make_workload(variant):
    name = "python_%s" % variant

    def run_workload(args):
        import run
        sys.path.insert(0, PLUGINS)
        rows = args.size_mb * 1_000_000 if args.size_mb else DEFAULT_ROWS[variant]
        if not os.path.exists(SAIL_PY):
            log("%s: %s is missing (bench/setup.sh makes it); Sail will fail" % (
                name, os.path.relpath(SAIL_PY, ROOT)))
        want = expected(rows)
        # The bytes of the rows as Arrow holds them: id, x, the string's offset and
        # its characters.
        ctx = {"input": os.path.join(PLUGINS, "bench_sources.py"), "rows": rows,
               "bytes": rows * (8 + 8 + 4) + want[3]}
        workload = type(sys)(name)
        workload.NAME = name
        workload.DEFAULT_SIZE_MB = rows
        workload.prepare = lambda _size: ctx
        workload.tools = lambda _ctx, flowsql: tools_for(variant, rows, flowsql)
        def checked(ctx, tool):
            got = verify(ctx, tool)
            if got != want:
                log("  %s answered %s, not the expected %s" % (tool.name, got, want))
            return got

        workload.verify = checked
        workload.same = same
        workload.timed = timed
        log("%s: %d rows in %d partitions, yielded as %s; expected %s" % (
            name, rows, PARTITIONS, variant, want))
        return run.run_workload(workload, args)

    workload = type(sys)(name)
    workload.NAME = name
    workload.run_workload = run_workload
    return workload


WORKLOADS = [make_workload(v) for v in ("batches", "tuples")]
