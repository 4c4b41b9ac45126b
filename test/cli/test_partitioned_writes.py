"""Partitioned and rotated writes: partition_by / COPY PARTITION_BY, max_rows_per_file,
max_file_size. The folders read back in DuckDB (hive_partitioning) and pyarrow; a
continuous pipeline writing many files per epoch, killed at every step of an epoch,
loses and repeats no row."""
import os
import signal
import subprocess
import time

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import flowsql_bin, run_flowsql

SOURCE = ("SELECT range AS id, 2020 + range % 3 AS year, 1 + range % 2 AS month, "
          "'c' || (range % 5) AS city, range * 0.5 AS amount FROM range(3000)")


def data_files(root):
    """Committed data files below `root` (no hidden or '_' names on the way)."""
    out = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        out += [os.path.join(dirpath, n) for n in names if not n.startswith((".", "_"))]
    return sorted(out)


def test_copy_partition_by_reads_back_in_duckdb_and_pyarrow(tmp_path):
    out = tmp_path / "out"
    r = run_flowsql("-c", "COPY (%s) TO '%s/' (FORMAT parquet, PARTITION_BY (year, month))"
                    % (SOURCE, out))
    assert r.code == 0, r.err
    files = data_files(out)
    assert len(files) == 6
    assert {os.path.relpath(os.path.dirname(f), out) for f in files} == {
        "year=%d/month=%d" % (y, m) for y in (2020, 2021, 2022) for m in (1, 2)}
    # The partition columns live in the folder names, not in the files.
    assert pq.read_schema(files[0]).names == ["id", "city", "amount"]
    expected = duckdb.sql("SELECT year, month, count(*) AS n, sum(id) AS s FROM (%s) "
                          "GROUP BY ALL ORDER BY ALL" % SOURCE).fetchall()
    got = duckdb.sql("SELECT year, month, count(*) AS n, sum(id) AS s FROM read_parquet("
                     "'%s/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL"
                     % out).fetchall()
    assert got == expected
    table = ds.dataset(str(out), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3000
    assert sorted(table.column("id").to_pylist()) == list(range(3000))
    # flowsql reads its own layout, pruning by partition.
    r = run_flowsql("-c", "EXPLAIN SELECT count(*) FROM '%s/' WHERE year = 2021" % out)
    assert "files=2 read, 4 pruned by partition" in r.out, r.out


def test_into_partition_by_csv_and_special_values(tmp_path):
    out = tmp_path / "out"
    r = run_flowsql("-c", "SELECT * FROM (VALUES (1, 'a/b=c'), (2, NULL), (3, 'x y')) "
                    "t(v, s) INTO '%s/' WITH (format = 'csv', partition_by = 's')" % out)
    assert r.code == 0, r.err
    folders = sorted(os.path.relpath(os.path.dirname(f), out) for f in data_files(out))
    assert folders == ["s=__HIVE_DEFAULT_PARTITION__", "s=a%2Fb%3Dc", "s=x y"]
    r = run_flowsql("--format", "csv", "-c", "SELECT v, s FROM '%s/' ORDER BY v" % out)
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["v,s", "1,a/b=c", "2,", "3,x y"]


def test_max_rows_per_file_rotates(tmp_path):
    out = tmp_path / "rot"
    r = run_flowsql("-c", "SELECT range AS id FROM range(2500) INTO '%s/' WITH "
                    "(format = 'parquet', max_rows_per_file = 1000)" % out)
    assert r.code == 0, r.err
    files = data_files(out)
    assert [pq.read_metadata(f).num_rows for f in files] == [1000, 1000, 500]
    ids = pa.concat_tables(pq.read_table(f) for f in files).column("id").to_pylist()
    assert sorted(ids) == list(range(2500))


def test_max_file_size_rotates(tmp_path):
    out = tmp_path / "big"
    r = run_flowsql("-c", "SELECT range AS id, repeat('x', 100) AS pad FROM range(20000) "
                    "INTO '%s/' WITH (format = 'csv', max_file_size = '500KB')" % out)
    assert r.code == 0, r.err
    files = data_files(out)
    assert len(files) >= 4
    for f in files:
        assert os.path.getsize(f) <= 700 * 1000, f
    r = run_flowsql("--format", "csv", "-c",
                    "SELECT count(*) AS n, count(DISTINCT id) AS d FROM '%s/'" % out)
    assert r.out.splitlines() == ["n,d", "20000,20000"]


def test_modes_on_a_partitioned_folder(tmp_path):
    out = tmp_path / "m"
    write = "COPY (%s) TO '%s/' (FORMAT parquet, PARTITION_BY (year)%s)"
    assert run_flowsql("-c", write % (SOURCE, out, "")).code == 0
    r = run_flowsql("-c", write % (SOURCE, out, ""))
    assert r.code != 0 and "already holds files" in r.err
    assert run_flowsql("-c", write % (SOURCE, out, ", APPEND true")).code == 0
    r = run_flowsql("--format", "csv", "-c", "SELECT count(*) AS n FROM '%s/'" % out)
    assert r.out.splitlines() == ["n", "6000"]
    assert run_flowsql("-c", write % (SOURCE + " LIMIT 10", out,
                                      ", OVERWRITE true")).code == 0
    r = run_flowsql("--format", "csv", "-c", "SELECT count(*) AS n FROM '%s/'" % out)
    assert r.out.splitlines() == ["n", "10"]


@pytest.mark.parametrize("sql, message", [
    ("COPY (SELECT 1 AS a) TO '{d}/' (PARTITION_BY (nope))",
     "option 'partition_by': no column 'nope' in the rows written to"),
    ("COPY (SELECT 1 AS a) TO '{d}/x.parquet' (PARTITION_BY (a))",
     "need a folder target (a path ending with '/')"),
    ("COPY (SELECT 1 AS a) TO '{d}/' (PARTITION_BY (a))",
     "every column is a partition column"),
    ("COPY (SELECT 1 AS a) TO '{d}/' (MAX_FILE_SIZE 'lots')", "option 'MAX_FILE_SIZE'"),
])
def test_bad_partition_options_name_the_problem(tmp_path, sql, message):
    r = run_flowsql("-c", sql.format(d=tmp_path / "t"))
    assert r.code != 0
    assert message in r.err, r.err


POINTS = ["after_offset_log", "mid_write", "after_sink_commit", "before_commit_log",
          "before_ack"]


@pytest.mark.parametrize("point", POINTS)
def test_partitioned_continuous_pipeline_is_exactly_once(point, tmp_path):
    out = tmp_path / "out"
    state = tmp_path / "state"
    statement = ("SELECT * FROM generate(rate => 20000) INTO '%s/' WITH (format = "
                 "'parquet', partition_by = 'category', max_rows_per_file = 300, "
                 "flush_rows = 1000, flush_interval = '200ms')" % out)
    args = [flowsql_bin(), "--no-progress", "--state-dir", str(state), "-c", statement]
    env = dict(os.environ, FLOWSQL_FAULT="%s:2" % point)
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == -signal.SIGKILL, r.stderr
    env.pop("FLOWSQL_FAULT")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(data_files(out)) < 40:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no progress after the restart"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    table = ds.dataset(str(out), format="parquet", partitioning="hive").to_table()
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "rows written twice"
    assert sorted(ids) == list(range(len(ids))), "rows lost"
    for f in data_files(out):
        assert pq.read_metadata(f).num_rows <= 300


def test_path_template_fills_dates_and_columns(tmp_path):
    src = ("SELECT range AS id, TIMESTAMP '2024-03-01 10:00:00' + range * INTERVAL 7 HOUR "
           "AS ts, 'c' || (range % 2) AS city FROM range(40)")
    r = run_flowsql("-c", "SELECT * FROM (%s) INTO '%s/out/{city}/date={YYYY-MM-DD}/*.parquet' "
                    "WITH (partition_by = 'date')" % (src, tmp_path))
    assert r.code == 0, r.err
    out = tmp_path / "out"
    files = data_files(out)
    folders = {os.path.relpath(os.path.dirname(f), out) for f in files}
    expected = {("c%d/date=%s" % (c, d)) for c, d in duckdb.sql(
        "SELECT DISTINCT city[2:]::INT, strftime(ts, '%%Y-%%m-%%d') FROM (%s)" % src).fetchall()}
    assert folders == expected
    # Every column stays in the files; each file holds only its folder's rows.
    got = duckdb.sql("SELECT count(*), count(DISTINCT id), bool_and(strftime(ts, '%%Y-%%m-%%d')"
                     " = regexp_extract(filename, 'date=([0-9-]+)', 1)) FROM read_parquet("
                     "'%s/**/*.parquet', filename = true, hive_partitioning = false)"
                     % out).fetchall()
    assert got == [(40, 40, True)]


@pytest.mark.parametrize("target, message", [
    ("{d}/t/{{YYYY}}/*.csv",
     "path template: '{{YYYY}}' needs a TIMESTAMP or DATE column, and the rows have none"),
    ("{d}/t/{{nope}}/*.csv", "path template: '{{nope}}' is neither date tokens"),
    ("{d}/t/{{a}}/x.csv", "expected <folder>/<templated folders>/<file pattern>"),
])
def test_bad_path_templates_name_the_problem(tmp_path, target, message):
    r = run_flowsql("-c", "SELECT 1 AS a INTO '%s'" % target.format(d=tmp_path))
    assert r.code != 0
    assert message.format() in r.err, r.err
