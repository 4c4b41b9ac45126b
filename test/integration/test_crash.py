"""Crash suite: continuous pipelines killed at every step of an epoch, and at random,
lose no row and write no row twice.

Delivery per epoch N (src/runtime/pipeline.h): offset log N, rows to the sinks,
every sink commits N, commit log N, acknowledge. Directory sinks publish one part
file per epoch, part-<epoch 8 digits>-<pipeline>.<ext>, and skip a replayed epoch
whose part is already there: exactly-once. FLOWSQL_FAULT=<point>[:<epoch>] makes
flowsql SIGKILL itself at one of these steps.

Every check reads the committed part files with DuckDB: count(*) == count(DISTINCT
id) (no duplicate) and the ids are exactly 0..max (no gap); every row's ts lies on
the generator's one timeline (a replay rebuilt the same rows); the join gave every
row its name. Hidden files (a killed write's temp file) are never read: DuckDB's
glob '*.parquet' does match dotfiles, so the part files are listed explicitly.
generate's ack_log shows the acknowledgements: never past the rows every sink
holds, never backwards, and after a clean stop up to the last committed row. After
a clean stop, two sinks of one pipeline hold the same rows.

The delta kinds append to, and merge by id into, a Delta table: exactly-once by the
txn action each commit holds.

The python kind reads a PySpark stream (test/plugins/spark_sources.Counter: ids 0, 1,
... up to a total a thread raises over time, label 'n<id>'), its offsets in the offset
log and its commit() called from the acknowledgement; commit() appends the offset it
was given to a file, checked like generate's acknowledgements. The python_sink kind
writes generate's rows through a PySpark stream writer (test/plugins/spark_sinks.
ArrowParts: a part per epoch, its last committed epoch from the parts).

The http kinds poll a REST API (test/servers/http_api.py, started by the test) whose
records arrive over time, the offset following their ids (offset_type max_field:
?since=<largest id read>; a replay cuts at the epoch's largest id) or the cursor
each answer gives (cursor: "next_since", the last id it holds; a replay cuts at the
epoch's count of records). The API answers an offset with the same records, plus
those that arrived since, so the guarantee is exactly-once. Their rows must be
exactly the records the API served, ids 0..max, values and types. Their clean run
stops once the records stop arriving and every one is committed: none lost.

Tests never assert on time: deadlines only guard against hangs. The random kills
use a fixed seed (FLOWSQL_CRASH_SEED overrides it) so a failure can be replayed.

    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/integration/test_crash.py
"""
import contextlib
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flowsql_harness import ROOT, Proc, flowsql  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
import http_api  # noqa: E402

POINTS = ["after_offset_log", "mid_write", "after_sink_commit", "before_commit_log",
          "before_ack"]
FAULT_EPOCH = 2
# The second run dies too: at epoch 2 again while it replays the pending epoch 2
# (every point but before_ack leaves it pending), or in a new epoch of its own.
SECOND_FAULT = {
    "after_offset_log": ("mid_write", 2),
    "mid_write": ("after_sink_commit", 2),
    "after_sink_commit": ("before_commit_log", 2),
    "before_commit_log": ("before_ack", 2),
    "before_ack": ("after_offset_log", 5),
}
RATE = 20000
TIMELINE = "epoch_us(ts) - id * %d" % (1000000 // RATE)  # generate's base, in us
KILL_CYCLES = int(os.environ.get("FLOWSQL_CRASH_CYCLES", "17"))  # per kind; 7 kinds
API_RATE = 1000  # records a second arriving at the polled API
API_PAGE = 100  # records a poll answers at most
HTTP_OFFSETS = {  # kind: the query the offset goes in, the offset's options
    "http_max_field": ("?since={id}", "offset_field => 'id', initial_offset => '-1'"),
    "http_cursor": ("?since={next_since}", "offset_field => 'next_since', offset_type => "
                    "'cursor', initial_offset => '-1'"),
}
PLUGINS = os.path.join(os.path.dirname(__file__), "..", "plugins")
SEED = int(os.environ.get("FLOWSQL_CRASH_SEED", "20240917"))
HANG = 60  # s: a run that takes longer than this is a hang


# -------------------------------------------------------------------------------------
# Pipelines

class Output:
    def __init__(self, path, fmt):
        self.path = str(path)
        self.fmt = fmt  # "parquet" or "ndjson"


class Kind:
    """A continuous pipeline: its statement, its output folders, its state dir."""

    def __init__(self, name, sql, outputs, state, ack_log=None, pipeline=None,
                 joined=False, feed=None, bad_rows="0"):
        self.name = name
        self.sql = sql
        self.outputs = outputs
        self.state = str(state)
        # generate's acknowledgements, '<split> <id>@<base>', or the python kind's
        # commit() log, one offset (rows committed) a line; None for an http kind.
        self.ack_log = str(ack_log) if ack_log else None
        self.pipeline = pipeline
        self.joined = joined  # rows carry name = 'n' || (id % 10), and no ts
        self.feed = feed  # what arrives over time: a Feed or a CountFeed
        self.bad_rows = bad_rows  # SQL counting the rows whose values are wrong

    def args(self, flowsql):
        args = [flowsql, "--no-progress", "--state-dir", self.state]
        if self.pipeline:
            args += ["--pipeline", self.pipeline]
        return args + ["-c", self.sql]

    def describe(self, fault=None):
        env = "FLOWSQL_FAULT=%s " % fault if fault else ""
        return "%s%s" % (env, " ".join(_quote(a) for a in self.args("build/flowsql")))


def _quote(arg):
    return "'%s'" % arg.replace("'", "'\\''") if any(c in arg for c in " '\"*%") else arg


def write_dim(path):
    pq.write_table(pa.table({"k": pa.array(range(10), pa.int64()),
                             "name": pa.array(["n%d" % i for i in range(10)])}),
                   str(path))


class Feed:
    """Records arriving at a polled API: `rate` a second (ids in order, from a thread)
    until stop(); the API starts with one poll's worth, for the columns."""

    def __init__(self, api, rate):
        self.api = api
        self.rate = rate
        if api is not None:
            self.arrive(API_PAGE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._thread.start()

    def _run(self):
        start = time.monotonic()
        while not self._stop.wait(0.01):
            self.arrive(API_PAGE + int((time.monotonic() - start) * self.rate))

    def arrive(self, due):
        self.api.data.extend(http_api.record(i) for i in range(len(self.api.data), due))

    def served(self):
        return len(self.api.data)

    def stop(self):
        self._stop.set()
        self._thread.join(10)


class CountFeed(Feed):
    """The total the python kind's Counter stream reads from `path`, raised `rate` a
    second (the file replaced whole, so a reader never sees half of it)."""

    def __init__(self, path, rate):
        self.path = str(path)
        self.total = 0
        self.arrive(API_PAGE)
        super().__init__(None, rate)

    def arrive(self, due):
        self.total = due
        with open(self.path + ".tmp", "w") as f:
            f.write(str(due))
        os.replace(self.path + ".tmp", self.path)

    def served(self):
        return self.total


@pytest.fixture
def kinds(tmp_path):
    """kinds(name) is make_kind(name, tmp_path); the servers it started are stopped at
    the end of the test, passed or failed."""
    with contextlib.ExitStack() as stack:
        yield lambda name: make_kind(name, tmp_path, stack)


def make_kind(kind, tmp_path, stack):
    state = tmp_path / "state"
    if kind in HTTP_OFFSETS:
        api = stack.enter_context(http_api.http_api([], page_size=API_PAGE))
        feed = Feed(api, API_RATE)
        stack.callback(feed.stop)
        out = tmp_path / "out"
        source = ("read_http('%s%s', streaming => true, interval => '20ms', %s)"
                  % (api.url("poll"), *HTTP_OFFSETS[kind]))
        sql = ("SELECT * FROM %s INTO '%s/' WITH (format = 'parquet', flush_rows = 1000, "
               "flush_interval = '200ms')" % (source, out))
        return Kind(kind, sql, [Output(out, "parquet")], state, feed=feed)
    if kind == "python":
        total, commits, out = tmp_path / "total", tmp_path / "commits.log", tmp_path / "out"
        feed = CountFeed(total, API_RATE)
        stack.callback(feed.stop)
        sql = ("SELECT * FROM read_python('spark_sources.Counter', streaming => true, "
               "interval => '20ms', total_file => '%s', commit_log => '%s', step => '200') "
               "INTO '%s/' WITH (format = 'parquet', flush_rows = 1000, "
               "flush_interval = '200ms')" % (total, commits, out))
        return Kind(kind, sql, [Output(out, "parquet")], state, commits, feed=feed,
                    bad_rows="count(*) FILTER (WHERE label IS DISTINCT FROM 'n' || "
                             "CAST(id AS VARCHAR))")
    acks = tmp_path / "acks.log"
    gen = "generate(rate => %d, ack_log => '%s')" % (RATE, acks)
    if kind == "parquet":
        out = tmp_path / "out"
        sql = ("SELECT * FROM %s INTO '%s/' WITH (format = 'parquet', flush_rows = 1000, "
               "flush_interval = '200ms')" % (gen, out))
        return Kind(kind, sql, [Output(out, "parquet")], state, acks)
    if kind in ("delta", "delta_merge"):
        out = tmp_path / "out"
        mode = "mode = 'append'" if kind == "delta" else "mode = 'merge', merge_on = 'id'"
        sql = ("SELECT * FROM %s INTO 'delta://%s' WITH (%s)" % (gen, out, mode))
        return Kind(kind, sql, [Output(out, "delta")], state, acks)
    if kind == "python_sink":
        out = tmp_path / "out"
        sql = ("SELECT * FROM %s INTO 'python://spark_sinks.ArrowParts' WITH (path = '%s')"
               % (gen, out))
        return Kind(kind, sql, [Output(out, "parquet")], state, acks)
    if kind == "join_ndjson":
        dim = tmp_path / "dim.parquet"
        write_dim(dim)
        out = tmp_path / "joined"
        sql = ("SELECT g.id, g.value, d.name FROM %s g JOIN '%s' d ON g.id %% 10 = d.k "
               "INTO '%s/' WITH (format = 'ndjson', flush_rows = 1000, "
               "flush_interval = '200ms')" % (gen, dim, out))
        return Kind(kind, sql, [Output(out, "ndjson")], state, acks, pipeline="joined",
                    joined=True)
    if kind == "two_sinks":
        a, b = tmp_path / "a", tmp_path / "b"
        sql = ("SELECT * FROM %s INTO '%s/' WITH (format = 'parquet', flush_rows = 500, "
               "flush_interval = '200ms'), '%s/' WITH (format = 'ndjson')" % (gen, a, b))
        return Kind(kind, sql, [Output(a, "parquet"), Output(b, "ndjson")], state, acks,
                    pipeline="dual")
    raise ValueError(kind)


def env_with(fault=None):
    # The polled API is on the loopback: never through a proxy the environment names.
    loopback = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1"]))
    # The python kind's stream class is in test/plugins.
    path = os.pathsep.join(filter(None, [PLUGINS, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, NO_PROXY=loopback, no_proxy=loopback, PYTHONPATH=path)
    env.pop("FLOWSQL_FAULT", None)
    if fault:
        env["FLOWSQL_FAULT"] = fault
    return env


@pytest.fixture
def procs():
    """procs.start(args, env) launches flowsql; a finally kills whatever still runs."""
    started = []

    class Starter:
        @staticmethod
        def start(args, env):
            p = Proc(args, env=env)
            started.append(p)
            return p

    try:
        yield Starter
    finally:
        for p in started:
            if p.popen.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                    p.popen.wait(10)
                except (ProcessLookupError, ChildProcessError, subprocess.TimeoutExpired):
                    pass


# -------------------------------------------------------------------------------------
# Output folders

def part_files(output):
    """Committed part files of `output`, sorted; temp files (hidden) are skipped. A
    Delta table's are the data files of its latest version, as delta-rs lists them."""
    if output.fmt == "delta":
        if not os.path.isdir(os.path.join(output.path, "_delta_log")):
            return []
        import deltalake
        return sorted(deltalake.DeltaTable(output.path).file_uris())
    if not os.path.isdir(output.path):
        return []
    names = [n for n in os.listdir(output.path)
             if n.startswith("part-") and n.endswith("." + output.fmt)]
    return sorted(os.path.join(output.path, n) for n in names)


def delta_epochs(output):
    """The epochs whose txn actions a Delta table's log holds."""
    log = os.path.join(output.path, "_delta_log")
    epochs = set()
    for name in os.listdir(log) if os.path.isdir(log) else []:
        if name.endswith(".json") and not name.startswith("."):
            with open(os.path.join(log, name)) as f:
                for line in f:
                    if '"txn"' in line:
                        epochs.add(json.loads(line)["txn"]["version"])
    return epochs


def listing(*dirs):
    """`ls -laR`-like text of `dirs` for failure messages."""
    lines = []
    for d in dirs:
        for root, subdirs, names in os.walk(d):
            subdirs.sort()
            lines.append("%s:" % root)
            for n in sorted(names):
                p = os.path.join(root, n)
                try:
                    size = os.path.getsize(p)
                except OSError:
                    size = -1
                lines.append("  %8d %s" % (size, n))
    return "\n".join(lines)


def _sql_list(paths):
    return "[%s]" % ", ".join("'%s'" % p.replace("'", "''") for p in paths)


def reader(output, filename=False):
    """A DuckDB table function over the committed part files of `output`."""
    files = _sql_list(part_files(output))
    extra = ", filename = true" if filename else ""
    if output.fmt in ("parquet", "delta"):
        return "read_parquet(%s%s)" % (files, extra)
    return "read_json(%s, format = 'newline_delimited'%s)" % (files, extra)


def load(con, output, table, kind):
    """Loads the committed rows of `output` into `table` (id, name, file)."""
    if not part_files(output):
        con.execute("CREATE TABLE %s (id BIGINT, name VARCHAR, file VARCHAR)" % table)
        return
    name = "name" if kind.joined else "NULL::VARCHAR AS name"
    con.execute("CREATE TABLE %s AS SELECT CAST(id AS BIGINT) AS id, %s, "
                "regexp_extract(filename, '[^/]*$') AS file FROM %s"
                % (table, name, reader(output, filename=True)))


def check_output(output, context, kind, state=None):
    """Asserts that `output` holds ids 0..max exactly once (and, for the join, the
    right name on every row); returns (rows, max id)."""
    if not part_files(output):
        return 0, -1
    con = duckdb.connect()
    bad_name = ("count(*) FILTER (WHERE name IS DISTINCT FROM 'n' || CAST(id % 10 AS "
                "VARCHAR))" if kind.joined else kind.bad_rows)
    # generate: ts = base + id / rate, whichever run (or replay) wrote the row.
    timelines = "0" if kind.joined or kind.feed else "count(DISTINCT %s)" % TIMELINE
    rows, distinct, lo, hi, bad, lines = con.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id), %s, %s FROM %s"
        % (bad_name, timelines, reader(output))).fetchone()
    if rows == distinct and lo == 0 and hi + 1 == distinct and bad == 0 and lines <= 1:
        if kind.feed and kind.feed.api:
            check_served(output, hi, context, kind, state)
        return rows, hi
    # Something is wrong: gather the details.
    load(con, output, "t", kind)
    problems = []
    if rows != distinct:
        dups = con.execute(
            "SELECT id, count(*) AS copies, list(DISTINCT file ORDER BY file) FROM t "
            "GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT 5").fetchall()
        problems.append("%d rows but %d distinct ids: %d duplicated rows; first "
                        "(id, copies, files): %s" % (rows, distinct, rows - distinct, dups))
    if lo != 0 or hi + 1 != distinct:
        missing = con.execute(
            "SELECT range FROM range(0, %d) EXCEPT SELECT id FROM t ORDER BY 1 LIMIT 8"
            % (hi + 1)).fetchall()
        problems.append("ids are not 0..max: min %s max %s distinct %d, %d ids missing; "
                        "first missing: %s" % (lo, hi, distinct, hi + 1 - distinct,
                                               [m[0] for m in missing]))
    if bad and not kind.joined:
        problems.append("%d rows with wrong values (%s)" % (bad, kind.bad_rows))
    elif bad:
        wrong = con.execute(
            "SELECT id, name, file FROM t WHERE name IS DISTINCT FROM 'n' || "
            "CAST(id % 10 AS VARCHAR) ORDER BY id LIMIT 5").fetchall()
        problems.append("%d rows joined to the wrong name; first (id, name, file): %s"
                        % (bad, wrong))
    if lines > 1:
        per_line = con.execute(
            "SELECT %s AS base, count(*), min(id), max(id), list(DISTINCT file ORDER BY "
            "file)[:3] FROM (SELECT *, regexp_extract(filename, '[^/]*$') AS file FROM %s) "
            "GROUP BY base ORDER BY 3" % (TIMELINE, reader(output, filename=True))
        ).fetchall()
        problems.append("ts is not base + id / rate on one timeline (%d bases); "
                        "(base us, rows, min id, max id, files): %s" % (lines, per_line))
    per_file = con.execute(
        "SELECT file, count(*), min(id), max(id) FROM t GROUP BY file ORDER BY file"
    ).fetchall()
    pytest.fail("%s\n  statement: %s\n  output %s: %s\n  per part (file, rows, min id, "
                "max id): %s\n%s"
                % (context, kind.describe(), output.path, "\n  ".join(problems),
                   per_file, listing(output.path, *([state] if state else []))))


def check_served(output, hi, context, kind, state):
    """Asserts that the rows of `output` (ids 0..hi) are the records the polled API
    served with those ids, values and types."""
    con = duckdb.connect()
    con.register("served", pa.Table.from_pylist(kind.feed.api.data[:hi + 1]))
    got = "(SELECT * FROM %s)" % reader(output)
    types = [con.execute("DESCRIBE %s" % t).fetchall() for t in (got, "served")]
    only_out = con.execute("SELECT * FROM %s EXCEPT ALL SELECT * FROM served ORDER BY id "
                           "LIMIT 3" % got).fetchall()
    only_api = con.execute("SELECT * FROM served EXCEPT ALL SELECT * FROM %s ORDER BY id "
                           "LIMIT 3" % got).fetchall()
    if types[0] != types[1] or only_out or only_api:
        pytest.fail("%s: the rows are not the records the API served (ids 0..%d)\n  "
                    "columns of the output %s\n  columns served %s\n  first rows only "
                    "in the output: %s\n  first records only served: %s\n  statement: "
                    "%s\n%s" % (context, hi, [t[:2] for t in types[0]],
                                 [t[:2] for t in types[1]], only_out, only_api,
                                 kind.describe(), listing(output.path, state)))


def acked_ids(kind):
    """The rows acknowledged, in order: generate's ids (split "0/1"), or the offsets
    the python kind's commit() was given."""
    if not kind.ack_log or not os.path.exists(kind.ack_log):
        return []
    out = []
    with open(kind.ack_log) as f:
        for line in f:
            if kind.name == "python":
                out.append(int(line))
                continue
            split, offset = line.split()
            assert split == "0/1", line
            out.append(int(offset.split("@")[0]))
    return out


def check_all(kind, context, final=False):
    """check_output on every output; then the acknowledgements: never beyond what
    every sink holds, never backwards. `final` (after a clean stop): every sink holds
    the same rows, and every committed row is acknowledged."""
    results = [check_output(o, context, kind, kind.state) for o in kind.outputs]
    committed = min(rows for rows, _ in results)
    acks = acked_ids(kind)
    backwards = [(i, acks[i - 1], acks[i]) for i in range(1, len(acks))
                 if acks[i] < acks[i - 1]]
    assert not backwards and (not acks or acks[-1] <= committed), (
        "%s: acknowledgements (rows up to the id acked) must never pass the rows every "
        "sink holds (%d) nor go back; last acks %s; going back (line, from, to): %s\n"
        "  statement: %s" % (context, committed, acks[-5:], backwards[:5], kind.describe()))
    if not final:
        return results
    # A restart removes the temp files crashed runs left (docs/delivery.md); a clean
    # stop leaves none of its own. Only the parts and the lock file remain.
    for o in kind.outputs:
        if o.fmt == "delta":
            continue  # files of failed epochs stay until VACUUM, referenced by no version
        left = [n for n in os.listdir(o.path)
                if not (n in [os.path.basename(f) for f in part_files(o)]
                        or n.startswith(".lock-"))]
        assert not left, ("%s: files other than parts left in %s: %s\n%s"
                          % (context, o.path, left[:5], listing(o.path)))
    if kind.feed:
        served = kind.feed.served()
        assert committed == served, (
            "%s: after the records stopped arriving and a clean stop, %d records were "
            "served and %d are committed" % (context, served, committed))
    if kind.ack_log:
        assert acks and acks[-1] == committed, (
            "%s: after a clean stop every committed row is acknowledged: %d rows "
            "committed, acknowledged up to %s" % (context, committed, acks[-1:]))
    if len(kind.outputs) > 1:
        con = duckdb.connect()
        cols = "id, ts, value, category"
        diffs = []
        for i in range(1, len(kind.outputs)):
            a, b = reader(kind.outputs[0]), reader(kind.outputs[i])
            only_a = con.execute("SELECT %s FROM %s EXCEPT SELECT %s FROM %s ORDER BY 1"
                                 % (cols, a, cols, b)).fetchall()
            only_b = con.execute("SELECT %s FROM %s EXCEPT SELECT %s FROM %s ORDER BY 1"
                                 % (cols, b, cols, a)).fetchall()
            if only_a or only_b:
                diffs.append("%d rows only in %s, first %s; %d rows only in %s, first %s"
                             % (len(only_a), kind.outputs[0].path, only_a[:3], len(only_b),
                                kind.outputs[i].path, only_b[:3]))
        if diffs:
            pytest.fail("%s: the sinks hold different rows; (rows, max id) per sink %s; "
                        "%s\n  statement: %s\n%s"
                        % (context, results, "; ".join(diffs), kind.describe(),
                           listing(*[o.path for o in kind.outputs], kind.state)))
    return results


def wait_for_parts(proc, output, count, kind, timeout=HANG):
    """Waits until `output` has `count` committed part files; fails if the process
    exits first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(part_files(output)) >= count:
            return
        if proc.popen.poll() is not None:
            out, err = proc.popen.communicate()
            pytest.fail("flowsql exited with %s before committing %d parts of %s\n  "
                        "statement: %s\n  stderr: %s\n%s"
                        % (proc.popen.returncode, count, output.path, kind.describe(),
                           err.decode(errors="replace")[-2000:],
                           listing(output.path, kind.state)))
        time.sleep(0.02)
    pytest.fail("%s has %d part files after %d s, expected %d (hang?)\n  statement: %s"
                % (output.path, len(part_files(output)), timeout, count, kind.describe()))


def stop_cleanly(proc, kind, context, sig=signal.SIGINT):
    """Stops a clean run with `sig`; a polled API first stops taking records and the
    run commits every record it served."""
    if kind.feed:
        kind.feed.stop()
        served = kind.feed.served()
        output = kind.outputs[0]
        deadline = time.monotonic() + HANG
        while sum(pq.read_metadata(f).num_rows for f in part_files(output)) < served:
            assert time.monotonic() < deadline and proc.popen.poll() is None, (
                "%s: the clean run did not commit the %d records served within %d s "
                "(exit %s)\n  statement: %s\n%s"
                % (context, served, HANG, proc.popen.poll(), kind.describe(),
                   listing(output.path, kind.state)))
            time.sleep(0.05)
    proc.signal(sig)
    code = proc.wait(timeout=HANG)
    assert code == 0, ("%s: %s must commit and exit 0, got %s\n  statement: %s\n  "
                       "stderr: %s" % (context, sig.name, code, kind.describe(),
                                       proc.stderr.decode(errors="replace")[-2000:]))


def expect_fault_kill(proc, kind, fault):
    code = proc.wait(timeout=HANG)
    assert code == -signal.SIGKILL, (
        "FLOWSQL_FAULT=%s: expected death by SIGKILL (-9), got %s\n  statement: %s\n  "
        "stderr: %s\n%s" % (fault, code, kind.describe(fault),
                            proc.stderr.decode(errors="replace")[-2000:],
                            listing(*[o.path for o in kind.outputs], kind.state)))


def committed_rows_in_state(flowsql, kind):
    """The `rows` column of `flowsql pipelines` for the kind's pipeline."""
    proc = subprocess.run([flowsql, "--format", "csv", "pipelines", "--state-dir",
                           kind.state], cwd=ROOT, capture_output=True, timeout=HANG)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode())))
    assert len(rows) == 1, proc.stdout.decode()
    return int(rows[0]["rows"]), rows[0]


# -------------------------------------------------------------------------------------
# 1. A kill at each step of an epoch

@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("kind_name", ["parquet", "two_sinks", *HTTP_OFFSETS, "python",
                                       "python_sink", "delta", "delta_merge"])
def test_fault_point_loses_and_duplicates_nothing(flowsql, procs, kinds, kind_name,
                                                   point):
    kind = kinds(kind_name)
    first = kind.outputs[0]

    # Run 1 dies at <point> in epoch 2.
    fault = "%s:%d" % (point, FAULT_EPOCH)
    p = procs.start(kind.args(flowsql), env_with(fault))
    expect_fault_kill(p, kind, fault)
    context = "after the crash at %s" % fault
    crashed = check_all(kind, context)
    # Epoch 2 is published by a sink exactly when that sink committed before the kill
    # (after_sink_commit strikes after the first sink's commit).
    for i, o in enumerate(kind.outputs):
        # part-<epoch>-<pipeline>.<ext>; the python sink's part-<epoch>.parquet; a Delta
        # table's txn action
        has = (FAULT_EPOCH in delta_epochs(o) if o.fmt == "delta" else
               any(os.path.basename(f)[:14] in ("part-%08d-" % FAULT_EPOCH,
                                                "part-%08d." % FAULT_EPOCH)
                   for f in part_files(o)))
        want = (point in ("before_commit_log", "before_ack")
                or (point == "after_sink_commit" and i == 0))
        assert has == want, ("%s: %s %s part %d\n%s"
                             % (context, o.path, "has" if has else "lacks", FAULT_EPOCH,
                                listing(o.path, kind.state)))

    # Run 2 dies too, at another point (while replaying epoch 2 when it is pending).
    point2, epoch2 = SECOND_FAULT[point]
    fault2 = "%s:%d" % (point2, epoch2)
    p = procs.start(kind.args(flowsql), env_with(fault2))
    expect_fault_kill(p, kind, fault2)
    check_all(kind, "after the crash at %s, then at %s" % (fault, fault2))

    # Run 3 has no fault: it commits more epochs and stops on SIGINT.
    before = len(part_files(first))
    p = procs.start(kind.args(flowsql), env_with())
    wait_for_parts(p, first, before + 3, kind)
    context = "after crashes at %s and %s, then a clean run stopped by SIGINT" % (
        fault, fault2)
    stop_cleanly(p, kind, context)
    final = check_all(kind, context, final=True)
    assert final[0][0] > crashed[0][0], "%s: the clean run committed nothing" % context


# -------------------------------------------------------------------------------------
# 2. kill -9 at random moments, many times over

RANDOM_KINDS = ["parquet", "join_ndjson", "two_sinks", *HTTP_OFFSETS, "python",
                "python_sink", "delta"]


@pytest.mark.parametrize("kind_name", RANDOM_KINDS)
def test_random_kill9(flowsql, procs, kinds, kind_name):
    seed = SEED + RANDOM_KINDS.index(kind_name)
    rng = random.Random(seed)
    kind = kinds(kind_name)
    first = kind.outputs[0]
    history = []  # (cycle, delay, rows in the first output after the kill)
    # A first run, killed once it committed, times the kind's start: the kills fall
    # 0.2-1.5 s after it, so that a start that takes long (an interpreter to load)
    # does not put every kill before the first commit.
    p = procs.start(kind.args(flowsql), env_with())
    started = time.monotonic()
    wait_for_parts(p, first, 1, kind)
    start = max(0.0, time.monotonic() - started - 0.5)
    p.signal(signal.SIGKILL)
    p.wait(timeout=HANG)
    prev = [r for r, _ in check_all(kind, "kind %s, after the timing run" % kind_name)]
    history.append((0, round(start, 2), prev[0]))
    for cycle in range(1, KILL_CYCLES + 1):
        delay = start + rng.uniform(0.2, 1.5)
        p = procs.start(kind.args(flowsql), env_with())
        # Not an assertion on time: the moment of the kill.
        killed_at = time.monotonic() + delay
        while time.monotonic() < killed_at and p.popen.poll() is None:
            time.sleep(0.01)
        if p.popen.poll() is not None:
            out, err = p.popen.communicate()
            pytest.fail("kill cycle %d (seed %d): flowsql exited with %s on its own\n  "
                        "statement: %s\n  stderr: %s"
                        % (cycle, seed, p.popen.returncode, kind.describe(),
                           err.decode(errors="replace")[-2000:]))
        p.signal(signal.SIGKILL)
        code = p.wait(timeout=HANG)
        assert code == -signal.SIGKILL, "kill cycle %d (seed %d): exit %s after SIGKILL" % (
            cycle, seed, code)
        context = ("kind %s, kill cycle %d/%d (seed %d, killed %.2f s after start; "
                   "history (cycle, delay, rows): %s)"
                   % (kind_name, cycle, KILL_CYCLES, seed, delay, history[-5:]))
        results = check_all(kind, context)
        for i, (rows, _) in enumerate(results):
            assert rows >= prev[i], ("%s: committed rows of %s went down from %d to %d"
                                     % (context, kind.outputs[i].path, prev[i], rows))
        prev = [r for r, _ in results]
        history.append((cycle, round(delay, 2), prev[0]))

    before = len(part_files(first))
    p = procs.start(kind.args(flowsql), env_with())
    wait_for_parts(p, first, before + 3, kind)
    # SIGTERM stops a pipeline like SIGINT does.
    sig = signal.SIGTERM if kind_name == "join_ndjson" else signal.SIGINT
    context = ("kind %s, after %d kill cycles (seed %d) and a clean run stopped by "
               "%s; history (cycle, delay, rows): %s"
               % (kind_name, KILL_CYCLES, seed, sig.name, history))
    stop_cleanly(p, kind, context, sig)
    final = check_all(kind, context, final=True)
    assert final[0][0] > prev[0], "%s: the clean run committed nothing" % context
    # The kills hit running pipelines, not only starting ones.
    assert sum(1 for i in range(1, len(history)) if history[i][2] > history[i - 1][2]) \
        >= KILL_CYCLES // 3, "%s: too few runs committed before their kill" % context


# -------------------------------------------------------------------------------------
# 3. The commit log's row count after a crash and a replay

@pytest.mark.parametrize("point", POINTS)
def test_pipelines_rows_match_committed_rows_after_crash(flowsql, procs, kinds, point):
    """`flowsql pipelines` shows the rows of every committed epoch: an epoch that a
    crash left committed in the sinks but not in the commit log counts once."""
    kind = kinds("parquet")
    fault = "%s:%d" % (point, FAULT_EPOCH)
    p = procs.start(kind.args(flowsql), env_with(fault))
    expect_fault_kill(p, kind, fault)
    before = len(part_files(kind.outputs[0]))
    p = procs.start(kind.args(flowsql), env_with())
    wait_for_parts(p, kind.outputs[0], before + 2, kind)
    context = "crash at %s, then a clean run stopped by SIGINT" % fault
    stop_cleanly(p, kind, context)
    (rows, _), = check_all(kind, context, final=True)
    logged, entry = committed_rows_in_state(flowsql, kind)
    assert logged == rows, (
        "%s: `flowsql pipelines` says %d rows, the output holds %d (%+d)\n  statement: %s"
        "\n  pipelines: %s\n%s" % (context, logged, rows, logged - rows,
                                   kind.describe(fault), entry,
                                   listing(kind.outputs[0].path, kind.state)))
