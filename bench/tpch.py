"""Workload tpch: the 22 TPC-H queries over Parquet files written by tpchgen-cli.

Data: bench/data/tpch_sf<N>/<table>.parquet, written once by `tpchgen-cli parquet
-s N` (--scale, default 1). The queries are bench/tpch/queries/qNN.sql, the TPC-H
text with its validation parameters, run unmodified: each tool first defines one
view per table over its Parquet file.

Tools: flowsql (one process per query; its time is the process's wall time, start-up
and Parquet footers included), DuckDB, Polars (its SQL interface; a query it cannot
run is reported as failed) and DataFusion. A peer runs all 22 queries in one Python
process per round and times each query inside it, so the interpreter's start and
imports are not counted against it.

Every result must equal DuckDB's (same rows in the same order, numbers within a
relative 1e-9, decimals compared as numbers) before a time is reported. The table
prints each query's median seconds per tool, the geometric mean, and the ratio
peer / flowsql of the geometric means.

The test suite (test/integration/test_tpch.py) runs the same 22 queries at a small
scale factor and checks flowsql's answers against DuckDB's through check_query().
"""
import csv
import json
import math
import os
import subprocess
import sys

import common

NAME = "tpch"
DEFAULT_SCALE = 1
TABLES = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation",
          "region"]
QUERY_DIR = os.path.join(common.ROOT, "bench", "tpch", "queries")
QUERIES = list(range(1, 23))


def query_path(n):
    return os.path.join(QUERY_DIR, "q%02d.sql" % n)


def statements(n):
    """The statements of query n, without comments (Q15 has three)."""
    with open(query_path(n)) as f:
        text = "\n".join(l for l in f.read().splitlines() if not l.startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def generate(scale, directory):
    """Writes the eight tables as Parquet into directory (once)."""
    if all(os.path.exists(os.path.join(directory, t + ".parquet")) for t in TABLES):
        return
    tool = os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    os.makedirs(directory, exist_ok=True)
    subprocess.run([tool, "parquet", "-s", str(scale), "--output-dir", directory],
                   check=True, stdout=subprocess.DEVNULL)


def views_sql(directory):
    return " ".join("CREATE VIEW %s AS SELECT * FROM '%s';"
                    % (t, os.path.join(directory, t + ".parquet")) for t in TABLES)


def flowsql_argv(flowsql, directory, n):
    return [flowsql, "--format", "csv", "--no-progress", "-c", views_sql(directory),
            "-f", query_path(n)]


# A peer's runner, run as `python -c`: argv = data dir, output dir, query numbers.
PEER_PRELUDE = r"""
import json, os, sys, time
import pyarrow.csv as pacsv
sys.path.insert(0, %(bench)r)
import tpch
data, out = sys.argv[1], sys.argv[2]
times = {}
"""

PEERS = {
    "duckdb": r"""
import duckdb
con = duckdb.connect()
for t in tpch.TABLES:
    con.sql("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')" % (t, os.path.join(data, t + ".parquet")))
def run(stmts):
    result = None
    for s in stmts:
        if s.upper().startswith(("SELECT", "WITH")):
            result = con.sql(s).to_arrow_table()
        else:
            con.sql(s)
    return result
""",
    "polars": r"""
import polars as pl
ctx = pl.SQLContext({t: pl.scan_parquet(os.path.join(data, t + ".parquet")) for t in tpch.TABLES})
def run(stmts):
    result = None
    for s in stmts:
        if s.upper().startswith(("SELECT", "WITH")):
            result = ctx.execute(s, eager=True).to_arrow()
        else:
            ctx.execute(s)
    return result
""",
    "datafusion": r"""
import datafusion
ctx = datafusion.SessionContext()
for t in tpch.TABLES:
    ctx.register_parquet(t, os.path.join(data, t + ".parquet"))
def run(stmts):
    result = None
    for s in stmts:
        if s.upper().startswith(("SELECT", "WITH")):
            result = ctx.sql(s).to_arrow_table()
        else:
            ctx.sql(s).collect()
    return result
""",
}

PEER_LOOP = r"""
errors = {}
for n in [int(a) for a in sys.argv[3:]]:
    try:
        t0 = time.perf_counter()
        table = run(tpch.statements(n))
        times[n] = time.perf_counter() - t0
        pacsv.write_csv(tpch.plain(table), os.path.join(out, "q%02d.csv" % n))
    except Exception as e:  # a query the peer cannot run
        errors[n] = str(e).splitlines()[0][:200]
json.dump({"times": times, "errors": errors}, open(os.path.join(out, "times.json"), "w"))
"""


def peer_code(name):
    return (PEER_PRELUDE % {"bench": os.path.join(common.ROOT, "bench")} + PEERS[name]
            + PEER_LOOP)


def plain(table):
    """The table with view types (string_view) cast to their plain forms, which
    pyarrow's CSV writer takes."""
    import pyarrow as pa
    fields = [pa.field(f.name, pa.string()) if f.type == pa.string_view()
              else pa.field(f.name, pa.binary()) if f.type == pa.binary_view() else f
              for f in table.schema]
    return table.cast(pa.schema(fields))


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[1:] if rows else rows  # without the header


def _cell(value):
    v = value.strip()
    try:
        return float(v)
    except ValueError:
        return v


def same_rows(expected, actual):
    """True when two CSV results hold the same rows in the same order; numbers
    (decimals, doubles) equal within a relative 1e-9."""
    if len(expected) != len(actual):
        return False
    for a, b in zip(expected, actual):
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            x, y = _cell(x), _cell(y)
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif str(x) != str(y):
                return False
    return True


def duckdb_rows(directory, n, out_path):
    """Runs query n in DuckDB (in this process) and writes its CSV to out_path."""
    import duckdb
    import pyarrow.csv as pacsv
    con = duckdb.connect()
    for t in TABLES:
        con.sql("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')"
                % (t, os.path.join(directory, t + ".parquet")))
    table = None
    for s in statements(n):
        if s.upper().startswith(("SELECT", "WITH")):
            table = con.sql(s).to_arrow_table()
        else:
            con.sql(s)
    pacsv.write_csv(plain(table), out_path)
    return read_csv(out_path)


def check_query(flowsql, directory, n, out_dir):
    """Runs query n in flowsql and DuckDB; returns (ok, message)."""
    os.makedirs(out_dir, exist_ok=True)
    proc = subprocess.run(flowsql_argv(flowsql, directory, n), capture_output=True)
    if proc.returncode != 0:
        return False, "flowsql failed: " + proc.stderr.decode(errors="replace")[-800:]
    path = os.path.join(out_dir, "flowsql_q%02d.csv" % n)
    with open(path, "wb") as f:
        f.write(proc.stdout)
    got = read_csv(path)
    want = duckdb_rows(directory, n, os.path.join(out_dir, "duckdb_q%02d.csv" % n))
    if not same_rows(want, got):
        return False, "rows differ: DuckDB %d rows %s..., flowsql %d rows %s..." % (
            len(want), want[:3], len(got), got[:3])
    return True, "%d rows" % len(got)


def geomean(xs):
    return math.exp(sum(math.log(max(x, 1e-6)) for x in xs) / len(xs)) if xs else None


def run_workload(args):
    """The runner of this workload (run.py calls it instead of its generic loop)."""
    scale = getattr(args, "scale", 0) or DEFAULT_SCALE
    directory = os.path.join(common.DATA, "tpch_sf%g" % scale)
    generate(scale, directory)
    flowsql = os.path.join(common.ROOT, args.flowsql)
    names = ["flowsql", "duckdb", "polars", "datafusion"]
    if args.tools:
        names = [n for n in names if n in set(args.tools.split(","))]
    mb = sum(os.path.getsize(os.path.join(directory, t + ".parquet")) for t in TABLES) / 1e6
    common.log("tpch: SF %g, %.0f MB of Parquet, 22 queries, tools %s"
               % (scale, mb, ", ".join(names)))
    out_root = os.path.join(common.OUT, "tpch")
    times = {name: {n: [] for n in QUERIES} for name in names}
    rss = {name: [] for name in names}
    errors = {name: {} for name in names}
    results = {name: {} for name in names}
    for r in range(1 + args.runs):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            out = os.path.join(out_root, name)
            os.makedirs(out, exist_ok=True)
            if name == "flowsql":
                for n in QUERIES:
                    if n in errors[name]:
                        continue
                    path = os.path.join(out, "q%02d.csv" % n)
                    tool = common.Tool(name, flowsql_argv(flowsql, directory, n), path,
                                       stdout_to=path)
                    try:
                        wall, peak = common.run_child(tool)
                    except RuntimeError as e:
                        errors[name][n] = str(e).splitlines()[0][:300]
                        continue
                    times[name][n].append(wall)
                    rss[name].append(peak)
                    if r == 0:
                        results[name][n] = read_csv(path)
                continue
            tool = common.Tool(name, [common.PY, "-c", peer_code(name), directory, out]
                               + [str(n) for n in QUERIES if n not in errors[name]],
                               os.path.join(out, "times.json"))
            try:
                _, peak = common.run_child(tool)
            except RuntimeError as e:
                errors[name] = {n: str(e).splitlines()[0][:300] for n in QUERIES}
                continue
            rss[name].append(peak)
            with open(os.path.join(out, "times.json")) as f:
                report = json.load(f)
            for n, err in report["errors"].items():
                errors[name][int(n)] = err
            for n, t in report["times"].items():
                times[name][int(n)].append(t)
                if r == 0:
                    results[name][int(n)] = read_csv(os.path.join(out, "q%02d.csv" % int(n)))
        common.log("  round %d done" % r)

    # DuckDB is the oracle: every other result must equal its answer.
    reference = results.get("duckdb") or {}
    if not reference:
        for n in QUERIES:
            path = os.path.join(out_root, "oracle_q%02d.csv" % n)
            reference[n] = duckdb_rows(directory, n, path)
    wrong = {name: sorted(n for n, rows in results[name].items()
                          if not same_rows(reference[n], rows)) for name in names}
    for name in names:
        for n in wrong[name]:
            errors[name][n] = "result differs from DuckDB"
            times[name][n] = []

    rows = []
    med = {name: {n: common.median(times[name][n]) for n in QUERIES if times[name][n]}
           for name in names}
    for n in QUERIES:
        row = ["q%02d" % n]
        for name in names:
            row.append("%.3f" % med[name][n] if n in med[name] else
                       ("WRONG" if n in wrong[name] else "failed"))
        rows.append(row)
    # Geometric means over the queries every tool answered, and each tool's own.
    common_q = [n for n in QUERIES if all(n in med[name] for name in names)]
    gm = {name: geomean([med[name][n] for n in common_q]) for name in names}
    rows.append(["geomean (%d common)" % len(common_q)] +
                ["%.3f" % gm[name] if gm[name] else "" for name in names])
    rows.append(["answered"] + ["%d/22" % len(med[name]) for name in names])
    rows.append(["peak RSS MB"] + ["%.0f" % max(rss[name]) if rss[name] else ""
                                    for name in names])
    if "flowsql" in names and gm.get("flowsql"):
        rows.append(["peer/flowsql"] + ["%.2f" % (gm[name] / gm["flowsql"]) if gm[name]
                                        else "" for name in names])
    print()
    print(common.fmt_table(rows, ["query"] + names))
    for name in names:
        for n, err in sorted(errors[name].items()):
            common.log("  %s q%02d: %s" % (name, n, err))

    records = [{"tool": name, "median_s": {("q%02d" % n): med[name].get(n) for n in QUERIES},
                "geomean_s": gm[name], "answered": len(med[name]),
                "peak_rss_mb": max(rss[name]) if rss[name] else None,
                "errors": {("q%02d" % n): e for n, e in errors[name].items()}}
               for name in names]
    payload = {"workload": NAME, "scale": scale, "input_mb": mb, "runs": args.runs,
               "common_queries": len(common_q), "tools": records}
    path = common.write_json(NAME, payload)
    common.log("wrote %s" % os.path.relpath(path, common.ROOT))
    # The generic table (workload, tool, ...) gets one summary line per tool.
    summary = []
    for name in names:
        ratio = gm[name] / gm["flowsql"] if gm.get(name) and gm.get("flowsql") else None
        summary.append([NAME, name, "%.3f" % gm[name] if gm[name] else "failed",
                        "", "%.1f" % (mb / gm[name]) if gm[name] else "",
                        "%.0f" % max(rss[name]) if rss[name] else "",
                        "%.2f" % ratio if ratio else ""])
    failed = bool(errors.get("flowsql"))
    return summary, payload, failed
