"""flowsql.spark: the PySpark data source "flowsql" (docs/python.md, section Spark),
in a local[2] SparkSession whose Python workers import the flowsql package under test.

Reading a multi-file Parquet source (one Spark partition per flowsql split) and a
query; writing through a directory sink (append, overwrite, a bad sink option);
streaming an unbounded generate source and a Python stream (python://) into Spark's
memory sink, Spark's commits reaching the source as acknowledgements.

    PYTHONPATH=build/python .venv/bin/python -m pytest -q test/python/test_pyspark_datasource.py
"""

import datetime as dt
import os
import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

if os.environ.get("FLOWSQL_SANITIZED"):
    pytest.skip("an ASan build's module cannot load into an uninstrumented Python",
                allow_module_level=True)

import flowsql  # noqa: E402
import flowsql.spark  # noqa: E402
from flowsql import _flowsql  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from local_spark import local_spark  # noqa: E402

DEADLINE = 90  # s: a wait longer than this is a hang
# The directory holding the flowsql package under test: the Python workers Spark
# starts must import the same one.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(flowsql.__file__)))
# test/plugins holds the Python data sources (spark_sources.Counter).
PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "plugins")
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    # The Python workers Spark starts import this flowsql package.
    path = os.pathsep.join(filter(None, [PACKAGE_ROOT, PLUGINS, os.environ.get("PYTHONPATH")]))
    with local_spark(tmp_path_factory.mktemp("spark"), path, "flowsql-spark-test") as s:
        flowsql.spark.register(s)
        yield s


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory):
    """Three Parquet files of 40 rows: ids 0..119, a string, a double with NULLs, a
    UTC timestamp and a date."""
    d = tmp_path_factory.mktemp("parquet")
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for f in range(3):
        ids = list(range(f * 40, f * 40 + 40))
        pq.write_table(pa.table({
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"n{i}" for i in ids], pa.string()),
            "score": pa.array([None if i % 7 == 0 else i / 4 for i in ids], pa.float64()),
            "at": pa.array([start + dt.timedelta(minutes=i) for i in ids],
                           pa.timestamp("us", tz="UTC")),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in ids],
                            pa.date32()),
        }), d / f"part-{f}.parquet")
    return d


def by_id(table):
    return table.sort_by("id")


def test_read_source_splits_are_partitions(spark, parquet_dir):
    source = str(parquet_dir / "*.parquet")
    splits = _flowsql.ScanSource(source, {}).tasks()
    assert [s for s, _ in splits] == [str(parquet_dir / f"part-{f}.parquet") for f in range(3)]
    df = spark.read.format("flowsql").option("source", source).load()
    assert df.rdd.getNumPartitions() == 3
    got = by_id(df.toArrow())
    expected = by_id(duckdb.sql(f"SELECT * FROM '{source}'").fetch_arrow_table())
    assert got.schema.names == ["id", "name", "score", "at", "day"]
    assert [f.type for f in got.schema] == [
        pa.int64(), pa.string(), pa.float64(), pa.timestamp("us", tz="UTC"), pa.date32()]
    assert got.num_rows == 120
    for name in got.schema.names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    # A projection and a filter over the scan (Spark applies them to its rows).
    rows = df.select("id", "name").where("id >= 117 OR score = 1.5").orderBy("id").collect()
    assert [(r.id, r.name) for r in rows] == [(6, "n6"), (117, "n117"), (118, "n118"),
                                             (119, "n119")]
    # load(path) is the same as option("source", path).
    assert spark.read.format("flowsql").load(source).count() == 120
    # A schema given to Spark names the columns the scan reads (projection pushdown);
    # a column the source lacks fails, naming it.
    narrow = spark.read.format("flowsql").schema("name string, id bigint").load(source)
    assert narrow.orderBy("id").limit(2).collect() == [("n0", 0), ("n1", 1)]
    with pytest.raises(Exception, match="column 'nope' is not in"):
        spark.read.format("flowsql").schema("nope int").load(source).collect()


def test_read_query_and_errors(spark, parquet_dir):
    query = (f"SELECT day, count(*) AS n, max(id) AS top FROM '{parquet_dir}/*.parquet' "
             "WHERE id < 10 GROUP BY day ORDER BY day LIMIT 3")
    df = spark.read.format("flowsql").option("query", query).load()
    assert df.rdd.getNumPartitions() == 1
    assert [tuple(r) for r in df.collect()] == [
        (dt.date(2024, 1, 1), 1, 0), (dt.date(2024, 1, 2), 1, 1), (dt.date(2024, 1, 3), 1, 2)]
    # A source option the connector does not know fails as FROM would, naming it.
    with pytest.raises(Exception, match="unknown option 'bogus' for file source"):
        spark.read.format("flowsql").option("source", str(parquet_dir)).option(
            "bogus", "1").load()
    with pytest.raises(Exception, match="needs option 'source'"):
        spark.read.format("flowsql").load()


def test_write_sink_append_overwrite_and_failure(spark, tmp_path):
    out = tmp_path / "out"
    df = spark.range(0, 90, numPartitions=3).selectExpr(
        "id", "concat('v', cast(id AS string)) AS s",
        "timestamp_seconds(id) AS ts", "cast(id AS decimal(10, 2)) / 4 AS d")
    sink = str(out) + "/"
    df.write.format("flowsql").option("sink", sink).option("format", "parquet") \
        .mode("append").save()
    parts = sorted(os.listdir(out))
    # One part per task, each its own pipeline; nothing else left behind.
    assert len(parts) == 3 and all(p.startswith("part-00000000-spark-") for p in parts), parts
    table = pq.read_table(out).sort_by("id")
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("s").type == pa.string()
    # Spark hands TIMESTAMP over in its session time zone (UTC, as Etc/UTC).
    ts_type = table.schema.field("ts").type
    assert pa.types.is_timestamp(ts_type) and ts_type.unit == "us", ts_type
    assert ts_type.tz in ("UTC", "Etc/UTC"), ts_type
    assert table.schema.field("d").type == pa.decimal128(14, 6)
    assert table.column("id").to_pylist() == list(range(90))
    assert table.column("s").to_pylist()[:2] == ["v0", "v1"]
    assert table.column("ts").to_pylist()[1] == dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert str(table.column("d").to_pylist()[3]) == "0.750000"

    # Append adds parts; overwrite leaves only its own.
    df.limit(5).write.format("flowsql").option("sink", sink).option("format", "parquet") \
        .mode("append").save()
    assert pq.read_table(out).num_rows == 95
    (out / "notes.txt").write_text("not Parquet: an overwrite of Parquet keeps it")
    df.where("id < 4").write.format("flowsql").option("sink", sink) \
        .option("format", "parquet").mode("overwrite").save()
    (out / "notes.txt").unlink()
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [0, 1, 2, 3]
    before = sorted(os.listdir(out))

    # A bad sink option fails the job before any task writes, naming the option.
    with pytest.raises(Exception, match="option 'compression' for file sink: expected one "
                                        "of .* got 'bogus'"):
        df.write.format("flowsql").option("sink", sink).option("format", "parquet") \
            .option("compression", "bogus").mode("append").save()
    # The write mode is Spark's.
    with pytest.raises(Exception, match="set the write mode with Spark's"):
        df.write.format("flowsql").option("sink", sink).option("mode", "overwrite") \
            .mode("append").save()
    with pytest.raises(Exception, match='cannot be written in the "ErrorIfExists" mode'):
        df.write.format("flowsql").option("sink", sink).save()
    assert sorted(os.listdir(out)) == before

    # A task that fails mid-write: the job aborts and none of its parts stay.
    failing = spark.range(0, 30, numPartitions=3).selectExpr(
        "id", "CASE WHEN id = 25 THEN raise_error('boom') ELSE id END AS x")
    with pytest.raises(Exception, match="boom"):
        failing.write.format("flowsql").option("sink", sink).option("format", "parquet") \
            .mode("append").save()
    assert sorted(os.listdir(out)) == before
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [0, 1, 2, 3]


def test_stream_generate_into_memory(spark, tmp_path):
    df = spark.readStream.format("flowsql").option("source", "generate://?rate=400") \
        .option("splits", "2").load()
    assert df.isStreaming
    assert [(f.name, f.dataType.simpleString()) for f in df.schema] == [
        ("id", "bigint"), ("ts", "timestamp"), ("value", "double"), ("category", "string")]
    query = (df.writeStream.format("memory").queryName("flowsql_gen")
             .option("checkpointLocation", str(tmp_path / "checkpoint"))
             .trigger(processingTime="300 milliseconds").start())
    try:
        deadline = time.monotonic() + DEADLINE
        while sum(1 for p in query.recentProgress if p["numInputRows"] > 0) < 3:
            assert query.exception() is None, query.exception()
            assert time.monotonic() < deadline, "timed out waiting for 3 micro-batches"
            time.sleep(0.1)
    finally:
        query.stop()
    ids = [r.id for r in spark.sql("SELECT id FROM flowsql_gen").collect()]
    counted = sum(p["numInputRows"] for p in query.recentProgress)
    assert len(ids) == counted > 0
    # Split r of 2 yields r, r + 2, ...: each micro-batch continues where the last
    # ended, so each split's ids are a prefix, each exactly once.
    for r in (0, 1):
        mine = sorted(i for i in ids if i % 2 == r)
        assert mine == list(range(r, r + 2 * len(mine), 2)), r


def wait_rows(spark, table, n, query):
    deadline = time.monotonic() + DEADLINE
    while spark.sql(f"SELECT count(*) FROM {table}").collect()[0][0] < n:
        assert query.exception() is None, query.exception()
        assert time.monotonic() < deadline, f"timed out waiting for {n} rows in {table}"
        time.sleep(0.1)


def test_stream_python_source_acknowledges(spark, tmp_path):
    """A python:// stream (spark_sources.Counter: ids up to the number in a file, 100
    per inner micro-batch, its commit() logged): every id once, in Spark's micro-batches;
    Spark's commit of a micro-batch reaches the Python reader's commit()."""
    total, commits = tmp_path / "total", tmp_path / "commits"
    total.write_text("250")
    df = (spark.readStream.format("flowsql").option("source", "python://spark_sources.Counter")
          .option("streaming", "true").option("interval", "100ms")
          .option("total_file", str(total)).option("commit_log", str(commits)).load())
    query = (df.writeStream.format("memory").queryName("flowsql_counter")
             .option("checkpointLocation", str(tmp_path / "checkpoint"))
             .trigger(processingTime="200 milliseconds").start())
    try:
        wait_rows(spark, "flowsql_counter", 250, query)
        total.write_text("500")
        wait_rows(spark, "flowsql_counter", 500, query)
        total.write_text("600")
        wait_rows(spark, "flowsql_counter", 600, query)
    finally:
        query.stop()
    rows = spark.sql("SELECT id, label FROM flowsql_counter ORDER BY id").collect()
    assert [(r.id, r.label) for r in rows] == [(i, f"n{i}") for i in range(600)]
    # Spark commits a micro-batch when it starts the next one. A micro-batch ended at
    # 250 and one at 500 (the rows waited for before the total rose), and one came
    # after each: both are committed, in order, among what the reader had read then.
    logged = [int(line) for line in commits.read_text().split()]
    assert 250 in logged and 500 in logged, logged
    assert logged == sorted(set(logged)) and logged[-1] <= 600, logged
