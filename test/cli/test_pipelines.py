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


def crash(state, sql, fault):
    """Runs `sql` with FLOWSQL_FAULT=`fault`; the process must kill itself there."""
    env = dict(os.environ, FLOWSQL_FAULT=fault)
    proc = subprocess.run([flowsql_bin(), "--state-dir", str(state), "-c", sql],
                          stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


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


def test_single_file_overwrite_replays_idempotently_after_a_crash_issue5(tmp_path):
    target, state = tmp_path / "t.csv", tmp_path / "state"
    target.write_text("id\n-1\n")
    sql = (f"SELECT * FROM generate_series(1, 3) g(id) INTO '{target}' "
           "WITH (mode = 'overwrite')")
    crash(state, sql, "before_commit_log")
    proc = run("--state-dir", str(state), "-c", sql)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text().split() == ['"id"', "1", "2", "3"]


def test_pipeline_names_that_share_a_prefix_do_not_mix_issue5(tmp_path):
    out, state = tmp_path / "d", tmp_path / "state"
    for name in ("p.v2", "p"):
        proc = run("--state-dir", str(state), "--pipeline", name, "-c",
                   f"SELECT * FROM generate_series(1, 3) g(n) INTO '{out}/' "
                   "WITH (format = 'csv', mode = 'append')")
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.glob("*.csv")) == [
        "part-00000000-p.csv", "part-00000000-p.v2.csv"]


def test_a_pipeline_runs_once_at_a_time(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    sql = (f"SELECT id FROM generate(rate => 1000) INTO '{out}/' "
           "WITH (format = 'parquet', flush_interval = '200ms')")
    args = [flowsql_bin(), "--state-dir", str(state), "-c", sql]
    first = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(list(out.glob("*.parquet"))) >= 1)
        second = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1
        assert "is running in another process" in second.stderr
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 0
    finally:
        first.kill()


def test_limit_over_a_stream_commits_per_epoch(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    sql = (f"SELECT id FROM generate(rate => 2000) WHERE id % 2 = 0 LIMIT 100000 "
           f"INTO '{out}/' WITH (format = 'parquet', flush_interval = '200ms')")
    proc = subprocess.Popen([flowsql_bin(), "--state-dir", str(state), "-c", sql],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(list(out.glob("*.parquet"))) >= 2), "no epochs"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    n, distinct, odd = duckdb.sql(f"SELECT count(*), count(DISTINCT id), sum(id % 2) "
                                  f"FROM '{out}/*.parquet'").fetchall()[0]
    assert n > 0 and n == distinct and odd == 0
    # With a LIMIT the pipeline ends by itself.
    done = run("-csv", "-c", "SELECT id FROM generate(rate => 5000) LIMIT 300 "
               f"INTO '{tmp_path}/lim/' WITH (format = 'parquet', flush_rows = 100)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["rows_written", "300"]


def test_a_stream_into_one_file_is_refused(tmp_path):
    proc = run("-c", f"SELECT id FROM generate(rate => 100) INTO '{tmp_path}/one.csv'")
    assert proc.returncode == 1
    assert "needs a directory target" in proc.stderr
    assert not (tmp_path / "one.csv").exists()


@pytest.mark.parametrize("fault", ["after_offset_log", "before_ack"])
def test_acknowledged_after_a_crash_issue5(tmp_path, fault):
    out, state, ack = tmp_path / "out", tmp_path / "state", tmp_path / "acks"
    sql = (f"SELECT id FROM generate(rows => 5000, ack_log => '{ack}') INTO '{out}/' "
           "WITH (format = 'parquet')")
    crash(state, sql, fault)
    assert not ack.exists()
    proc = run("--state-dir", str(state), "-c", sql)
    assert proc.returncode == 0, proc.stderr
    assert ack.read_text().split()[1].startswith("5000@")
    assert duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM '{out}/*.parquet'"
                      ).fetchall() == [(5000, 5000)]


def test_many_scans_in_one_plan_do_not_starve_the_readers(tmp_path):
    for i in range(16):
        (tmp_path / f"f{i}.csv").write_text(f"a,b\n{i},x\n")
    union = " UNION ALL ".join(f"SELECT * FROM '{tmp_path}/f{i}.csv'" for i in range(16))
    for _ in range(3):
        proc = run("-csv", "-c", f"SELECT count(*) AS n, sum(a) AS s FROM ({union})",
                   timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["n,s", "16,120"]


def test_what_would_repeat_every_epoch_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("a\n1\n")
    full = run("-c", f"SELECT * FROM generate(rate => 20) g FULL OUTER JOIN '{tmp_path}/t.csv' "
               f"t ON g.id = t.a INTO '{tmp_path}/o/'")
    assert full.returncode == 1 and "FULL_OUTER" in full.stderr
    const = run("-c", f"SELECT id FROM generate(rate => 20) UNION ALL SELECT -1 "
                f"INTO '{tmp_path}/o2/'")
    assert const.returncode == 1 and "constant rows" in const.stderr


def test_a_limit_counts_every_run_and_caps_a_replay(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    sql = (f"SELECT id FROM generate(rate => 2000) WHERE id % 2 = 0 LIMIT 10 "
           f"INTO '{out}/' WITH (format = 'parquet', flush_rows = 4)")
    crash(state, sql, "mid_write:0")
    for _ in range(2):
        proc = run("--state-dir", str(state), "-c", sql)
        assert proc.returncode == 0, proc.stderr
    assert duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM '{out}/*.parquet'"
                      ).fetchall() == [(10, 10)]


def test_a_crashed_first_write_into_a_new_file_is_completed(tmp_path):
    target, state = tmp_path / "o.csv", tmp_path / "state"
    sql = f"SELECT * FROM generate_series(1, 3) g(id) INTO '{target}'"
    crash(state, sql, "before_commit_log")
    proc = run("--state-dir", str(state), "-c", sql)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text().split() == ['"id"', "1", "2", "3"]


def test_changing_the_compression_of_a_directory_is_another_statement(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    sql = f"SELECT * FROM generate_series(1, 3) g(id) INTO '{out}/' WITH (format = 'csv'%s)"
    assert run("--state-dir", str(state), "-c", sql % "").returncode == 0
    proc = run("--state-dir", str(state), "-c", sql % ", compression = 'gzip'")
    assert proc.returncode == 1 and "different statement" in proc.stderr
