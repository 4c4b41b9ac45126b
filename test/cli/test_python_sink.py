"""Python sinks in SQL: INTO 'python://...' with seed 001's write_partition and the
PySpark writers of test/plugins (spark_sinks.py, seed_sources.PartsSink; part_dir.py
is the folder of parts they write). pyarrow reads back what they committed and, for
the source side, calling the same seed 001 class directly is the oracle."""

import json
import os
import signal
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_flowsql

PLUGINS = REPO / "test" / "plugins"
sys.path.insert(0, str(PLUGINS))
import part_dir  # noqa: E402
import seed_sources  # noqa: E402


def flowsql(*args):
    env = {"PYTHONPATH": str(PLUGINS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return run_flowsql(*args, env=env)


def items(partitions=2, batches=3):
    source, options = seed_sources.Items(), {"partitions": str(partitions),
                                             "batches": str(batches)}
    return pa.Table.from_batches(
        [b for p in source.plan_partitions(options) for b in source.read_partition(p, options)],
        schema=source.infer_schema(options))


def listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@pytest.mark.parametrize("sink", ["spark_sinks.ArrowParts", "seed_sources.PartsSink"])
def test_a_python_sink_gets_the_rows_with_their_types(tmp_path, sink):
    out = tmp_path / "parts"
    r = flowsql("-c", "SELECT * FROM read_python('seed_sources.Items', partitions => '2', "
                      f"batches => '3') ORDER BY id INTO 'python://{sink}' "
                      f"WITH (path = '{out}')")
    assert r.code == 0, r
    assert "600" in r.out, r.out
    # One write and one commit: the epoch's part, nothing hidden left.
    assert listing(out) == ["part-00000000.parquet"]
    got = part_dir.read(str(out))
    want = items()
    # flowsql spells the UTC zone of a TIMESTAMP WITH TIME ZONE 'Etc/UTC'.
    assert [(f.name, f.type) for f in got.schema] == [
        (f.name, pa.timestamp("us", tz="Etc/UTC") if f.name == "at" else f.type)
        for f in want.schema]
    assert got.cast(want.schema).equals(want)


def test_a_pyspark_row_writer_gets_rows(tmp_path):
    out = tmp_path / "lines.json"
    sql = ("SELECT id, 'x' || id AS s, CAST(id AS DECIMAL(6, 2)) + 0.25 AS d FROM "
           "generate_series(1, 3) t(id) INTO 'python://spark_sinks.RowLines' "
           f"WITH (path = '{out}')")
    for _ in range(2):  # append (the default) adds the rows again
        r = flowsql("-c", sql)
        assert r.code == 0, r
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == 2 * [{"id": i, "s": f"x{i}", "d": str(d), "type": "Row"}
                        for i, d in [(1, "1.25"), (2, "2.25"), (3, "3.25")]]
    r = flowsql("-c", sql.replace("WITH (", "WITH (mode = 'overwrite', "))
    assert r.code == 0, r
    assert len(out.read_text().splitlines()) == 3


def test_a_pyspark_writer_gets_a_task_context(tmp_path):
    # Spark writers name their files by TaskContext.get(): the epoch is the task.
    out = tmp_path / "tasks.json"
    r = flowsql("-c", "SELECT * FROM generate_series(1, 3) t(id) "
                      f"INTO 'python://spark_sinks.TaskNames' WITH (path = '{out}')")
    assert r.code == 0, r
    [line] = [json.loads(line) for line in out.read_text().splitlines()]
    batch = line["batch"]
    assert line["tasks"] == [f"task {batch} partition 0 attempt 0 stage {batch}"]


def test_overwrite_replaces_what_was_committed(tmp_path):
    out = tmp_path / "parts"
    for n in (5, 3):
        r = flowsql("-c", f"SELECT * FROM generate_series(1, {n}) t(id) "
                          f"INTO 'python://spark_sinks.ArrowParts' WITH (path = '{out}', "
                          "mode = 'overwrite')")
        assert r.code == 0, r
    assert part_dir.read(str(out)).column("id").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize("sink,what", [
    ("spark_sinks.ArrowParts", "spark_sinks.ArrowParts.write()"),
    ("seed_sources.PartsSink", "seed_sources.PartsSink.write_partition()"),
])
def test_a_failing_write_commits_nothing_and_names_the_error(tmp_path, sink, what):
    out = tmp_path / "parts"
    r = flowsql("-c", f"SELECT * FROM generate_series(1, 100000) t(id) INTO 'python://{sink}' "
                      f"WITH (path = '{out}', fail_after = '5000')")
    assert r.code == 2, r
    assert r.err.startswith(f"Error: sink write failed: {what} raised:\nTraceback"), r.err
    assert "part_dir.py\", line" in r.err, r.err
    assert r.err.rstrip().endswith("ValueError: failing after 5000 rows, as asked"), r.err
    assert listing(out) == []


def test_abort_is_given_none_for_a_failed_write(tmp_path):
    out = tmp_path / "lines.json"
    r = flowsql("-c", "SELECT id - 2 AS id FROM generate_series(1, 3) t(id) "
                      f"INTO 'python://spark_sinks.RowLines' WITH (path = '{out}')")
    assert r.code == 2 and r.err.rstrip().endswith("ValueError: negative id -1"), r.err
    assert not out.exists()
    assert (tmp_path / "lines.json.aborts").read_text() == "[null]\n"


@pytest.mark.parametrize("sink,message", [
    ("spark_sources.Tuples", "Tuples has neither writer() nor streamWriter(): it is not "
                             "a sink"),
    ("seed_sources.Items", "seed_sources.Items is not a sink: it has neither "
                           "write_partition() (seed 001) nor writer() (a PySpark DataSource)"),
])
def test_a_class_that_cannot_write_is_named(tmp_path, sink, message):
    r = flowsql("-c", f"SELECT 1 AS id INTO 'python://{sink}'")
    assert r.code != 0 and message in r.err, r.err


def test_a_row_writer_cannot_take_a_continuous_pipeline(tmp_path):
    r = flowsql("--state-dir", str(tmp_path / "state"), "-c",
                "SELECT * FROM generate(rate => 100) INTO 'python://spark_sinks.RowLines' "
                f"WITH (path = '{tmp_path}/x.json')")
    assert r.code != 0, r
    assert "RowLines has no streamWriter(): it cannot be the sink of a continuous " \
           "pipeline" in r.err, r.err


def test_explain_names_the_delivery(tmp_path):
    for sink, delivery in [("spark_sinks.ArrowParts", "exactly-once"),
                           ("spark_sinks.RowLines", "at-least-once")]:
        r = flowsql("-c", f"EXPLAIN SELECT 1 AS id INTO 'python://{sink}' "
                          f"WITH (path = '{tmp_path}/x')")
        assert r.code == 0, r
        assert f"Write python://{sink} ({delivery})" in r.out, r.out
