"""Workload continuous: an unbounded generator -> a folder of Parquet files, 1 s epochs,
measured as committed rows per second over a fixed run duration (--duration,
default 15 s).

Tools:
  flowsql        build/flowsql --no-progress -c "SELECT id, ts, value, category FROM
                 generate(rate => 0) INTO '<out>/' WITH (format = 'parquet',
                 flush_interval = '1s')", sent SIGTERM after D seconds; it commits the
                 epoch in progress and must exit 0.
  flowsql+state  the same with --state-dir <fresh dir> (checkpoints on). The log line
                 "checkpoint cost" is 1 - rows/s(flowsql+state) / rows/s(flowsql).
  spark          PySpark Structured Streaming, master local[2]: the `rate` source
                 (rowsPerSecond = SPARK_ROWS_PER_SECOND, numPartitions 2) with the same
                 four columns (id = value, ts = timestamp, value = a hash of id in [0, 1),
                 category = 'a'..'e' from a hash of id) -> writeStream parquet with a
                 checkpointLocation, trigger(processingTime = '1 second').

How a run is measured (the same for every tool: committed rows / the time it took to
commit them):
  flowsql   t0 = the fork of the process; the signal goes at t0 + D; the time is
            t0 -> the process's exit, so the commit of the last epoch after the signal
            is counted (with --state-dir it can take seconds; the time to the signal
            alone would overstate the rate). Rows: pyarrow over the visible *.parquet
            files of <out> (names starting with '.' or '_' are ignored: not committed).
  spark     The JVM start is not counted: the script takes t0 just before
            writeStream.start(), sleeps until t0 + D, then, if a micro-batch is in
            flight, lets it commit (query.stop() would abort it and drop its rows,
            while flowsql commits its epoch in progress) and, if no rows were
            committed yet (the rate source's first micro-batch is always empty), waits
            for the first batch with rows, up to SPARK_GRACE_S more seconds in all,
            then stops the query. The time is t0 -> the end of the last
            committed micro-batch (its progress timestamp + triggerExecution), which the
            script prints as JSON on its last stdout line. Rows: pyarrow over the files
            the sink committed, as listed in <out>/_spark_metadata (a file an aborted
            batch left behind is not counted; hidden files never are). Spark cannot
            keep up with 1 s epochs at this rate, so its micro-batches grow and a run
            can last past D; the "median s" column shows the measured time. If Spark
            reaches 90 % of rowsPerSecond the run was rate-limited: the log says so,
            raise FLOWSQL_BENCH_SPARK_RATE.
  Peak RSS: GNU time around the process; for spark the JVM's VmHWM (read by the script
  before it stops the session) plus the Python driver's, or GNU time's if larger.

Verification: each run's output must hold distinct ids (count == count distinct, by
DuckDB over the committed files), contiguous from 0 (min 0, max count - 1: no epoch
was lost or written twice), with the columns id, ts, value, category. Row counts differ
between tools by design, so `same` compares these properties, not the data.

Table: "median s" is the median measured time (about D), "rows/s" the median committed
rows/s, "MB/s" the Parquet bytes committed per second (encodings differ between tools,
so compare rows/s), and "peer/flowsql" is, for this workload only,
rows/s(flowsql) / rows/s(peer): above 1.0 flowsql is faster, as for the other workloads.
"""
import json
import os
import signal
import subprocess
import sys
import time

import common
from common import OUT, PY, ROOT, TIME, Tool, log, median, remove

NAME = "continuous"
DEFAULT_SIZE_MB = 0          # no input data; --size-mb does not apply
DEFAULT_DURATION_S = 15
SPARK_ROWS_PER_SECOND = int(os.environ.get("FLOWSQL_BENCH_SPARK_RATE", "5000000"))
SPARK_GRACE_S = 120          # most extra seconds to let Spark's batch in flight commit
STOP_TIMEOUT_S = 120         # most seconds flowsql may take to exit after the signal

SQL = ("SELECT id, ts, value, category FROM generate(rate => 0) INTO '{out}/' "
       "WITH (format = 'parquet', flush_interval = '1s')")
COLUMNS = ["id", "ts", "value", "category"]

# argv: out checkpoint duration rows_per_second grace
SPARK_CODE = r'''
import datetime, json, os, resource, sys, time
out, chk = sys.argv[1], sys.argv[2]
duration, rate, grace = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").appName("flowsql-bench-continuous")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = (spark.readStream.format("rate").option("rowsPerSecond", rate)
      .option("numPartitions", 2).load()
      .selectExpr("value AS id", "timestamp AS ts",
                  "(xxhash64(value) & 9007199254740991) / 9007199254740992.0 AS value",
                  "substr('abcde', CAST(pmod(hash(value), 5) AS INT) + 1, 1) AS category"))
t0 = time.time()
q = (df.writeStream.format("parquet").option("path", out)
     .option("checkpointLocation", chk).trigger(processingTime="1 second").start())
print("QUERY_STARTED", flush=True)
time.sleep(max(0.0, t0 + duration - time.time()))
t_d = time.time()
# Let the batch in flight commit, and at least one batch with rows (the rate
# source's first batch is always empty).
active = q.status["isTriggerActive"]
last = q.lastProgress
need = (last["batchId"] if last else -1) + (1 if active else 0)
waited, seen, rows = False, None, 0
while time.time() < t_d + grace:
    p = q.lastProgress
    pid = p["batchId"] if p else -1
    if pid != seen:
        seen = pid
        rows = sum(x["numInputRows"] for x in q.recentProgress)
    if pid >= need and rows > 0:
        break
    waited = True
    time.sleep(0.05)
q.stop()
t_stop = time.time()
progress = q.recentProgress  # after stop(): every batch that committed
def end(p):
    ts = datetime.datetime.strptime(p["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    ts = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
    return ts + p["durationMs"].get("triggerExecution", 0) / 1000.0
t_end = max([end(p) for p in progress], default=t_stop)
jpid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
with open("/proc/%d/status" % jpid) as f:
    jvm_kb = int(f.read().split("VmHWM:")[1].split()[0])
py_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
spark.stop()
print(json.dumps({"t_start": t0, "t_duration": t_d, "t_commit_end": t_end, "t_stop": t_stop,
                  "waited_for_batch": waited, "jvm_hwm_mb": jvm_kb / 1024.0,
                  "driver_hwm_mb": py_kb / 1024.0,
                  "batches": [[p["batchId"], p["numInputRows"],
                               p["durationMs"].get("triggerExecution")] for p in progress]}),
      flush=True)
'''


def prepare(size_mb):
    return {"input": "generate(rate => 0)", "rows": 0, "bytes": 0}


def _out(name):
    return os.path.join(OUT, "continuous_%s" % name.replace("+", "_"))


def tools(ctx, flowsql):
    duration = ctx.get("duration", DEFAULT_DURATION_S)
    fl = Tool("flowsql", [flowsql, "--no-progress", "-c", SQL.format(out=_out("flowsql"))],
              _out("flowsql"))
    state = _out("flowsql+state") + "_state"
    fs = Tool("flowsql+state", [flowsql, "--no-progress", "--state-dir", state, "-c",
                                SQL.format(out=_out("flowsql+state"))], _out("flowsql+state"))
    fs.scratch = [state]
    chk = _out("spark") + "_checkpoint"
    sp = Tool("spark", [PY, "-c", SPARK_CODE, _out("spark"), chk, str(duration),
                        str(SPARK_ROWS_PER_SECOND), str(SPARK_GRACE_S)], _out("spark"))
    sp.scratch = [chk]
    sp.stdout_to = os.path.join(OUT, "spark.stdout")
    return [fl, fs, sp]


# ---------------------------------------------------------------------------
# Reading the committed output

def committed_files(tool):
    """The Parquet files a tool committed to tool.output."""
    out = tool.output
    if tool.name == "spark":
        log_dir = os.path.join(out, "_spark_metadata")
        files = set()
        if os.path.isdir(log_dir):
            for f in sorted(os.listdir(log_dir), key=lambda s: (int(s.split(".")[0])
                                                                 if s.split(".")[0].isdigit()
                                                                 else -1)):
                if f.startswith("."):
                    continue
                with open(os.path.join(log_dir, f)) as fh:
                    for line in fh:
                        line = line.strip()
                        if not line.startswith("{"):
                            continue
                        e = json.loads(line)
                        p = e["path"]
                        p = p[len("file://"):] if p.startswith("file://") else p
                        if e.get("action", "add") == "add":
                            files.add(p)
                        else:
                            files.discard(p)
        return sorted(files)
    return sorted(os.path.join(out, f) for f in os.listdir(out)
                  if f.endswith(".parquet") and not f.startswith((".", "_")))


def count_rows(files):
    import pyarrow.parquet as pq
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return rows, sum(os.path.getsize(f) for f in files)


def verify(ctx, tool):
    import duckdb
    files = committed_files(tool)
    if not files:
        return {"rows": 0, "files": 0, "distinct_ids": False, "contiguous": False,
                "columns": []}
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    lst = "[" + ", ".join("'%s'" % f.replace("'", "''") for f in files) + "]"
    rel = "read_parquet(%s)" % lst
    n, distinct, lo, hi = con.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM %s" % rel).fetchone()
    cols = [r[0] for r in con.execute("DESCRIBE SELECT * FROM %s" % rel).fetchall()]
    return {"rows": n, "files": len(files), "distinct_ids": n == distinct,
            "contiguous": n > 0 and lo == 0 and hi == n - 1, "columns": cols}


def _ok(r):
    return r["rows"] > 0 and r["distinct_ids"] and r["contiguous"] and r["columns"] == COLUMNS


def same(a, b):
    """Row counts differ by design: both outputs must pass the same checks."""
    return _ok(a) and _ok(b)


# ---------------------------------------------------------------------------
# Running

def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            kids.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return kids


def _wait(proc, timeout=None):
    """os.wait4 on proc; returns the exit code, or None after timeout seconds."""
    deadline = None if timeout is None else time.perf_counter() + timeout
    while True:
        pid, status, _ = os.wait4(proc.pid, 0 if deadline is None else os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode
        if time.perf_counter() >= deadline:
            return None
        time.sleep(0.02)


def _fail(tool, msg, stderr_path):
    with open(stderr_path, "rb") as f:
        err = f.read().decode(errors="replace")[-3000:]
    raise RuntimeError("%s %s: %s\ncommand: %s" % (tool.name, msg, err, tool.describe()))


def run_once(tool, duration):
    """Runs one tool once. Returns a dict: seconds, rows, bytes, files, peak_rss_mb, ..."""
    for p in [tool.output] + getattr(tool, "scratch", []):
        remove(p)
    if tool.name != "spark":
        os.makedirs(tool.output)
    stderr_path = os.path.join(OUT, "%s.stderr" % tool.name.replace("+", "_"))
    rss_path = os.path.join(OUT, "%s.maxrss" % tool.name.replace("+", "_"))
    remove(rss_path)
    argv = tool.argv
    if os.path.exists(TIME):
        argv = [TIME, "-f", "%M", "-o", rss_path] + argv
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    stdout = open(tool.stdout_to, "wb") if tool.stdout_to else subprocess.DEVNULL
    info = {}
    with open(stderr_path, "wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
        if tool.name == "spark":
            rc = _wait(proc, timeout=duration + SPARK_GRACE_S + 600)
            if rc is None:
                proc.kill()
                _wait(proc)
                _fail(tool, "did not finish", stderr_path)
        else:
            # GNU time forks the tool: signal the tool itself, not time.
            target = proc.pid
            if argv is not tool.argv:
                while True:
                    kids = _children(proc.pid)
                    if kids or proc.poll() is not None:
                        break
                    time.sleep(0.005)
                target = kids[0] if kids else proc.pid
            rc = _wait(proc, timeout=max(0.0, t0 + duration - time.perf_counter()))
            if rc is not None:
                _fail(tool, "exited %d before the signal" % rc, stderr_path)
            t_sig = time.perf_counter()
            os.kill(target, signal.SIGTERM)
            rc = _wait(proc, timeout=STOP_TIMEOUT_S)
            t_exit = time.perf_counter()
            if rc is None:
                os.kill(target, signal.SIGKILL)
                _wait(proc)
                _fail(tool, "did not exit %d s after SIGTERM" % STOP_TIMEOUT_S, stderr_path)
            info = {"seconds": t_exit - t0, "to_signal_s": t_sig - t0,
                    "stop_s": t_exit - t_sig}
    if tool.stdout_to:
        stdout.close()
    if proc.returncode != 0:
        _fail(tool, "exited %d" % proc.returncode, stderr_path)
    peak = 0.0
    if argv is not tool.argv and os.path.exists(rss_path):
        with open(rss_path) as f:
            peak = int(f.read().strip().splitlines()[-1]) / 1024.0
    if tool.name == "spark":
        with open(tool.stdout_to) as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith("{")]
        if not lines:
            _fail(tool, "printed no result", stderr_path)
        rep = json.loads(lines[-1])
        info = {"seconds": rep["t_commit_end"] - rep["t_start"],
                "to_signal_s": rep["t_duration"] - rep["t_start"],
                "stop_s": rep["t_stop"] - rep["t_duration"],
                "waited_for_batch": rep["waited_for_batch"],
                "batches": rep["batches"],
                "progress_rows": sum(b[1] for b in rep["batches"])}
        peak = max(peak, rep["jvm_hwm_mb"] + rep["driver_hwm_mb"])
    files = committed_files(tool)
    rows, nbytes = count_rows(files)
    info.update({"rows": rows, "bytes": nbytes, "files": len(files), "peak_rss_mb": peak,
                 "rows_per_s": rows / info["seconds"] if info["seconds"] > 0 else 0.0})
    return info


def run_workload(args):
    """The runner of this workload (run.py calls it instead of its generic loop)."""
    duration = getattr(args, "duration", 0) or DEFAULT_DURATION_S
    ctx = prepare(0)
    ctx["duration"] = duration
    os.makedirs(OUT, exist_ok=True)
    flowsql = os.path.join(ROOT, args.flowsql)
    tools_ = tools(ctx, flowsql)
    if args.tools:
        keep = set(args.tools.split(","))
        tools_ = [t for t in tools_ if t.name in keep]
    log("%s: generate -> Parquet folder, 1 s epochs, %g s per run, spark rowsPerSecond %d"
        % (NAME, duration, SPARK_ROWS_PER_SECOND))

    runs = {t.name: [] for t in tools_}
    results = {t.name: [] for t in tools_}
    failures = {}
    for r in range(1 + args.runs):
        order = tools_[r % len(tools_):] + tools_[:r % len(tools_)]
        for tool in order:
            if tool.name in failures:
                continue
            try:
                info = run_once(tool, duration)
            except RuntimeError as e:
                failures[tool.name] = str(e)
                log("FAILED %s" % e)
                continue
            res = verify(ctx, tool)
            label = "warm-up" if r == 0 else "run %d" % r
            extra = ""
            if tool.name == "spark":
                extra = "  batches %d%s" % (len(info["batches"]),
                                            ", waited for a batch to commit"
                                            if info["waited_for_batch"] else "")
                if info["progress_rows"] != info["rows"]:
                    extra += "  (progress reports %d rows)" % info["progress_rows"]
            else:
                extra = "  stop %.2f s" % info["stop_s"]
            log("  %-13s %-8s %7.2f s %11d rows %12.0f rows/s %3d files %7.0f MB%s%s" % (
                tool.name, label, info["seconds"], info["rows"], info["rows_per_s"],
                info["files"], info["peak_rss_mb"], extra, "" if _ok(res) else "  CHECK FAILED"))
            if not _ok(res):
                log("    %s" % res)
            if r > 0:
                runs[tool.name].append(info)
            results[tool.name].append(res)
            for p in [tool.output] + getattr(tool, "scratch", []):
                remove(p)   # the outputs are large

    wrong = {n for n, rs in results.items() if any(not _ok(x) for x in rs)}
    if wrong:
        common.log("CHECKS FAILED for: %s" % ", ".join(sorted(wrong)))

    def med_rate(name):
        return median([i["rows_per_s"] for i in runs[name]]) if runs.get(name) else None

    fl = med_rate("flowsql")
    cost = None
    if fl and med_rate("flowsql+state"):
        cost = 1.0 - med_rate("flowsql+state") / fl
        log("checkpoint cost: %.1f %% (1 - rows/s flowsql+state / rows/s flowsql)"
            % (100 * cost))
    rows, records = [], []
    for tool in tools_:
        name = tool.name
        if name in failures or not runs[name]:
            rows.append([NAME, name, "failed", "", "", "", ""])
            records.append({"tool": name, "error": failures.get(name, "no runs")})
            continue
        med_s = median([i["seconds"] for i in runs[name]])
        rate = med_rate(name)
        mbps = median([i["bytes"] / 1e6 / i["seconds"] for i in runs[name]])
        peak = max(i["peak_rss_mb"] for i in runs[name])
        ratio = (fl / rate) if fl and rate and name != "flowsql" else None
        if name == "spark" and rate >= 0.9 * SPARK_ROWS_PER_SECOND:
            log("note: spark reached %.0f of its rowsPerSecond %d: rate-limited, raise "
                "FLOWSQL_BENCH_SPARK_RATE" % (rate, SPARK_ROWS_PER_SECOND))
        ok = name not in wrong
        rows.append([NAME, name + ("" if ok else " (WRONG)"), "%.3f" % med_s, "%.0f" % rate,
                     "%.1f" % mbps, "%.0f" % peak,
                     "%.2f" % ratio if ratio is not None else ("1.00" if name == "flowsql"
                                                               else "")])
        records.append({"tool": name, "median_s": med_s, "rows_per_s": rate,
                        "mb_per_s": mbps, "peak_rss_mb": peak,
                        "ratio_flowsql_over_peer_rows_per_s": ratio,
                        "runs": runs[name], "checks": results[name], "result_matches": ok,
                        "command": tool.describe()})
    payload = {"workload": NAME, "input": ctx["input"], "input_mb": 0, "rows": None,
               "duration_s": duration, "spark_rows_per_second": SPARK_ROWS_PER_SECOND,
               "runs": args.runs, "warmups": 1, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "cpus": os.cpu_count(), "checkpoint_cost": cost,
               "ratio": "rows/s flowsql / rows/s peer (above 1.0: flowsql is faster)",
               "tools": records}
    path = common.write_json(NAME, payload)
    log("wrote %s" % os.path.relpath(path, ROOT))
    return rows, payload, bool(wrong or failures)


if __name__ == "__main__":
    sys.exit("run it through bench/run.py continuous")
