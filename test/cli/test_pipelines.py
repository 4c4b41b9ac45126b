"""Named pipelines, several sinks, and interrupted batch writes (issue 5)."""

import os
import signal
import subprocess
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import flowsql_bin


def run(*args, timeout=120):
    return subprocess.run([flowsql_bin(), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_batch_write_leaves_the_target_unchanged_issue5(tmp_path, sig, code):
    target = tmp_path / "target.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), target)
    before = target.read_bytes()
    sql = (f"SELECT id FROM generate(rows => 400000000) INTO '{target}' "
           "WITH (mode = 'overwrite')")
    proc = subprocess.Popen([flowsql_bin(), "-c", sql], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The write has started once its hidden temporary file exists.
        assert wait_for(lambda: any(p.name.startswith(".") for p in tmp_path.iterdir())), \
            "the write never started"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "Interrupted" in stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target.parquet"]


def test_named_pipeline_resumes_despite_reformatting_and_refuses_another_plan(tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    sql = (f"SELECT id, value FROM generate(rows => 1000, batch_size => 100) INTO '{out}/' "
           "WITH (format = 'parquet')")
    first = run("--state-dir", str(state), "--pipeline", "orders_to_lake", "-csv", "-c", sql)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["rows_written", "1000"]
    # The same statement, reformatted: everything was read, nothing is written again.
    again = run("--state-dir", str(state), "--pipeline", "orders_to_lake", "-csv", "-c",
                "select   id,value\nFROM generate(rows=>1000,batch_size=>100)\n"
                f"into '{out}/' with (format='parquet')")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["rows_written", "0"]
    assert duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM '{out}/*.parquet'"
                      ).fetchall() == [(1000, 1000)]
    # Another plan under the same name is refused, until --reset.
    other = sql.replace("id, value", "id")
    refused = run("--state-dir", str(state), "--pipeline", "orders_to_lake", "-c", other)
    assert refused.returncode == 1
    assert "different statement" in refused.stderr and "--reset" in refused.stderr
    listed = run("pipelines", "--state-dir", str(state), "-csv")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "pipeline,last_epoch,committed,rows,last_commit,offsets"
    assert lines[1].startswith("orders_to_lake,0,true,1000,")
    assert "0:0/1=done" in lines[1]


def test_two_sinks_get_every_epoch(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b.ndjson"
    sql = (f"SELECT id FROM generate(rows => 5000) WHERE id % 2 = 0 "
           f"INTO '{a}/' WITH (format = 'parquet'), '{b}'")
    proc = run("-csv", "-c", sql)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["rows_written", "2500"]
    for rel in (f"'{a}/*.parquet'", f"read_json('{b}')"):
        assert duckdb.sql(f"SELECT count(*), count(DISTINCT id), sum(id % 2) FROM {rel}"
                          ).fetchall() == [(2500, 2500, 0)]


def test_stream_joined_to_a_table_is_written_continuously(tmp_path):
    dim = tmp_path / "dim.parquet"
    pq.write_table(pa.table({"k": list(range(5)), "name": [f"n{i}" for i in range(5)]}), dim)
    out = tmp_path / "out"
    sql = (f"SELECT g.id, d.name FROM (SELECT id, id % 5 AS k FROM generate(rate => 2000)) g "
           f"JOIN '{dim}' d ON g.k = d.k INTO '{out}/' "
           "WITH (format = 'parquet', flush_interval = '200ms')")
    proc = subprocess.Popen([flowsql_bin(), "-c", sql], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(list(out.glob("*.parquet"))) >= 3), \
            proc.stderr.read() if proc.poll() is not None else "no epochs committed"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    n, distinct, bad = duckdb.sql(
        f"SELECT count(*), count(DISTINCT id), count(*) FILTER (name <> 'n' || (id % 5)) "
        f"FROM '{out}/*.parquet'").fetchall()[0]
    assert n > 0 and n == distinct and bad == 0


def test_explain_shows_splits_and_each_sinks_guarantee(tmp_path):
    proc = run("-csv", "-c", "EXPLAIN SELECT * FROM generate(rows => 10, splits => 3) "
               f"INTO '{tmp_path}/dir/', '{tmp_path}/one.csv'")
    assert proc.returncode == 0, proc.stderr
    assert f"Write {tmp_path}/dir/ (exactly-once)" in proc.stdout
    assert f"Write {tmp_path}/one.csv (at-least-once)" in proc.stdout
    assert "splits=3" in proc.stdout


def test_generate_acknowledges_only_committed_offsets(tmp_path):
    out, ack = tmp_path / "out", tmp_path / "ack.log"
    sql = (f"SELECT id FROM generate(rate => 5000, ack_log => '{ack}') INTO '{out}/' "
           "WITH (format = 'parquet', flush_rows = 1000)")
    proc = subprocess.Popen([flowsql_bin(), "-c", sql], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: ack.exists() and len(ack.read_text().splitlines()) >= 3)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    acked = [int(line.split()[1].split("@")[0]) for line in ack.read_text().splitlines()]
    assert acked == sorted(acked)
    committed = duckdb.sql(f"SELECT count(*) FROM '{out}/*.parquet'").fetchall()[0][0]
    # Every acknowledged offset (the next id) is covered by committed rows.
    assert acked[-1] == committed
