"""Ctrl-C on a continuous pipeline: it commits what it has and exits 0."""

import signal
import subprocess
import time

import pyarrow.parquet as pq

from conftest import flowsql_bin


def test_sigint_stops_a_continuous_pipeline_cleanly(tmp_path):
    out = tmp_path / "out"
    sql = (
        "SELECT * FROM generate(rate => 2000) "
        f"INTO '{out}/' WITH (format = 'parquet', flush_interval = '200ms')"
    )
    proc = subprocess.Popen(
        [flowsql_bin(), "-c", sql],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr

    files = sorted(p for p in out.rglob("*.parquet"))
    assert files, list(out.rglob("*"))
    ids = []
    for f in files:
        ids.extend(pq.read_table(f).column("id").to_pylist())
    ids.sort()
    assert len(ids) > 0
    assert ids == list(range(len(ids))), "ids must be 0..n-1 with no gaps or repeats"
    # The summary row counts what was committed.
    assert str(len(ids)) in stdout


def test_sigint_stops_an_unbounded_query_with_complete_output():
    import json

    proc = subprocess.Popen(
        [flowsql_bin(), "-json", "-c", "SELECT id FROM generate(rate => 200)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Interrupted" in stderr
    rows = json.loads(stdout)  # the array was closed
    assert [r["id"] for r in rows] == list(range(len(rows)))


def test_state_dir_resumes_a_stopped_pipeline(tmp_path):
    out = tmp_path / "out"
    sql = (
        "SELECT * FROM generate(rate => 2000) "
        f"INTO '{out}/' WITH (format = 'parquet', flush_interval = '200ms')"
    )
    written = 0
    for _ in range(2):
        proc = subprocess.Popen(
            [flowsql_bin(), "-csv", "--state-dir", str(tmp_path / "state"), "-c", sql],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        written += int(stdout.splitlines()[1].split(",")[0])
    ids = sorted(i for f in out.rglob("*.parquet") for i in pq.read_table(f).column("id").to_pylist())
    assert len(ids) == written
    assert ids == list(range(written)), "the second run continues where the first stopped"
