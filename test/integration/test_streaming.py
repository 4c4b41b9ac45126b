"""End-to-end tests of the flowsql CLI: unbounded sources, continuous pipelines,
restart from a state directory, bounded memory and atomic writes.

Tests never assert on time: timeouts only guard against hangs.

    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/integration
"""
import glob
import os
import signal
import subprocess
import time

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from flowsql_harness import ROOT, flowsql, start  # noqa: F401 (fixtures)


def committed_parquet_files(directory):
    """Visible *.parquet files (temporary files are hidden or differently named)."""
    out = []
    for path in glob.glob(os.path.join(directory, "**", "*.parquet"), recursive=True):
        name = os.path.basename(path)
        if not name.startswith((".", "_")):
            out.append(path)
    return sorted(out)


def read_ids(directory):
    ids = []
    for path in committed_parquet_files(directory):
        table = pq.read_table(path)  # raises if a committed file is not readable
        ids.extend(table.column("id").to_pylist())
    return ids


def wait_for_files(directory, count, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(committed_parquet_files(directory)) >= count:
            return True
        if proc.popen.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def run(flowsql, sql, *extra, timeout=120):
    return subprocess.run([flowsql, *extra, "-c", sql], cwd=ROOT, capture_output=True,
                          timeout=timeout)


def stray_files(directory, keep=()):
    """Files in `directory` (recursively) other than `keep`."""
    out = []
    for root, _, names in os.walk(directory):
        for n in names:
            p = os.path.join(root, n)
            if os.path.basename(p) not in keep:
                out.append(os.path.relpath(p, directory))
    return out


# (a) ----------------------------------------------------------------------------------
def test_limit_ends_unbounded_generate(flowsql):
    proc = run(flowsql, "SELECT * FROM generate(rate => 500) LIMIT 10", "--format", "arrow",
               timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    table = ipc.open_stream(pa.BufferReader(proc.stdout)).read_all()
    assert table.num_rows == 10
    assert table.column("id").to_pylist() == list(range(10))


def test_limit_csv_output(flowsql):
    proc = run(flowsql, "SELECT id FROM generate(rate => 1000) LIMIT 3", "--format", "csv",
               timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().strip().splitlines()
    assert lines == ["id", "0", "1", "2"]


# (b) ----------------------------------------------------------------------------------
def test_continuous_pipeline_sigint_commits(flowsql, start, tmp_path):
    out = tmp_path / "out"
    sql = ("SELECT id, value FROM generate(rate => 2000) INTO '%s/' "
           "WITH (format = 'parquet', flush_rows = 500, flush_interval = '300ms')" % out)
    proc = start([flowsql, "-c", sql])
    assert wait_for_files(str(out), 3, proc), (
        "no committed files; stderr: %s" % proc.popen.stderr.read(4000))
    proc.signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    assert code == 0, proc.stderr.decode(errors="replace")
    files = committed_parquet_files(str(out))
    assert len(files) >= 3
    ids = read_ids(str(out))
    assert ids, "no rows committed"
    assert sorted(ids) == list(range(len(ids))), "ids are not 0..n-1 exactly once"
    for f in files:
        md = pq.read_metadata(f)
        assert md.num_rows > 0, "empty part file %s" % f
    # The pipeline's lock file (.lock-<pipeline>) stays; it holds no data.
    leftovers = [f for f in stray_files(str(out))
                 if not os.path.basename(f).startswith(".lock-")
                 and (not f.endswith(".parquet") or os.path.basename(f).startswith((".", "_")))]
    assert not leftovers, "temporary files left after a clean stop: %s" % leftovers


def test_flush_interval_alone_commits(flowsql, start, tmp_path):
    out = tmp_path / "out"
    sql = ("SELECT id FROM generate(rate => 100) INTO '%s/' "
           "WITH (format = 'parquet', flush_interval = '200ms')" % out)
    proc = start([flowsql, "-c", sql])
    assert wait_for_files(str(out), 2, proc), "flush_interval never committed"
    proc.signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, proc.stderr.decode(errors="replace")
    ids = read_ids(str(out))
    assert sorted(ids) == list(range(len(ids)))


# (c) ----------------------------------------------------------------------------------
def test_restart_from_state_dir_after_kill9(flowsql, start, tmp_path):
    out = tmp_path / "out"
    state = tmp_path / "state"
    sql = ("SELECT id, value FROM generate(rate => 2000) INTO '%s/' "
           "WITH (format = 'parquet', flush_rows = 500)" % out)
    args = [flowsql, "--state-dir", str(state), "-c", sql]

    first = start(args)
    assert wait_for_files(str(out), 1, first), (
        "first run committed nothing; stderr: %s" % first.popen.stderr.read(4000))
    time.sleep(1.5)
    first.signal(signal.SIGKILL)
    first.wait(timeout=30)
    ids_after_crash = read_ids(str(out))
    assert ids_after_crash, "nothing committed before the crash"

    second = start(args)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_ids(str(out))) <= len(ids_after_crash):
        if second.popen.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(1.5)
    second.signal(signal.SIGINT)
    assert second.wait(timeout=60) == 0, second.stderr.decode(errors="replace")

    ids = read_ids(str(out))
    assert len(ids) > len(ids_after_crash), "the restarted run committed nothing"
    dupes = len(ids) - len(set(ids))
    assert dupes == 0, "%d ids committed twice" % dupes
    assert sorted(ids) == list(range(len(ids))), (
        "ids are not a contiguous range from 0: min %d max %d count %d"
        % (min(ids), max(ids), len(ids)))


# (d) ----------------------------------------------------------------------------------
# 50M generated rows of (id, ts, value, category); ~25M pass the filter: held in
# memory they take ~700 MB (29 bytes a row), well over the bound; streamed they
# need a few batches and the Parquet writer's buffers.
BIG_ROWS = int(os.environ.get("FLOWSQL_TEST_BIG_ROWS", "50000000"))
RSS_BOUND_MB = 500


def test_streaming_write_has_bounded_memory(flowsql, start, tmp_path):
    target = tmp_path / "big.parquet"
    sql = ("SELECT * FROM generate(rows => %d) WHERE value < 0.5 INTO '%s'"
           % (BIG_ROWS, target))
    # A child forked from pytest inherits pytest's RSS high-water mark in ru_maxrss;
    # GNU time forks flowsql from a tiny process, so its figure is flowsql's own.
    rss_file = tmp_path / "maxrss"
    wrapper = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] \
        if os.path.exists("/usr/bin/time") else []
    proc = start(wrapper + [flowsql, "-c", sql])
    code = proc.wait(timeout=600)
    assert code == 0, proc.stderr.decode(errors="replace")
    if wrapper:
        rss_mb = int(rss_file.read_text().strip().splitlines()[-1]) / 1024
    else:
        rss_mb = proc.max_rss_kb / 1024
    rows = pq.read_metadata(str(target)).num_rows
    assert 0.45 * BIG_ROWS < rows < 0.55 * BIG_ROWS
    # ASan's shadow memory and quarantine roughly double a process's footprint.
    bound = RSS_BOUND_MB * (3 if os.environ.get("FLOWSQL_SANITIZED") else 1)
    assert rss_mb < bound, "peak RSS %.0f MB for %d rows" % (rss_mb, rows)


# (e) ----------------------------------------------------------------------------------
def write_big_csv(path, rows, bad_at=None):
    with open(path, "w") as f:
        f.write("id,city,amount\n")
        chunk = []
        for i in range(rows):
            if i == bad_at:
                chunk.append('%d,"unterminated,1.5,extra,fields\n' % i)
            else:
                chunk.append("%d,city%d,%d.25\n" % (i, i % 97, i % 1000))
            if len(chunk) >= 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


def test_failed_write_leaves_no_target(flowsql, tmp_path):
    src = tmp_path / "bad.csv"
    write_big_csv(str(src), 600000, bad_at=599990)  # ~15 MB: several read blocks
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result.parquet"
    proc = run(flowsql, "SELECT * FROM '%s' INTO '%s'" % (src, target))
    assert proc.returncode in (1, 2), "a malformed CSV must fail (exit %d)" % proc.returncode
    assert proc.stderr.strip(), "no error message"
    assert not target.exists(), "a failed write left a file at the target"
    assert stray_files(str(out_dir)) == [], "a failed write left temporary files"


def test_failed_write_keeps_existing_target(flowsql, tmp_path):
    src = tmp_path / "bad.csv"
    write_big_csv(str(src), 600000, bad_at=599990)
    target = tmp_path / "result.parquet"
    proc = run(flowsql, "SELECT 1 AS x INTO '%s'" % target)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    proc = run(flowsql, "SELECT * FROM '%s' INTO '%s' WITH (mode = 'overwrite')"
               % (src, target))
    assert proc.returncode in (1, 2)
    assert pq.read_table(str(target)).column("x").to_pylist() == [1], \
        "a failed overwrite damaged the committed file"


def test_killed_write_leaves_no_target(flowsql, start, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "k.parquet"
    proc = start([flowsql, "-c", "SELECT * FROM generate(rows => 200000000) INTO '%s'" % target])
    time.sleep(1.5)
    assert proc.popen.poll() is None, "the write finished too early to be killed"
    proc.signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists(), "a killed write left a file at the target"


def test_interrupted_batch_write_leaves_no_target(flowsql, start, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "i.parquet"
    proc = start([flowsql, "-c", "SELECT * FROM generate(rows => 200000000) INTO '%s'" % target])
    time.sleep(1.5)
    assert proc.popen.poll() is None, "the write finished too early to be interrupted"
    proc.signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    # A bounded statement is cancelled: nothing appears at the target.
    assert not target.exists() or code == 0, "an interrupted write left a partial target"
    if target.exists():
        pq.read_metadata(str(target))  # committed: must be a complete file
    assert [f for f in stray_files(str(out_dir)) if f != "i.parquet"] == [], \
        "an interrupted write left temporary files"
