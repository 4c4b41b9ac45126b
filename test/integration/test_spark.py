"""Spark as a peer of the file connector (issue 7), both ways, values and types:

- Parquet that Spark writes (its default INT96 timestamps, TIMESTAMP_MICROS, its legacy
  Hive-compatible format; decimals of 5 to 38 digits, TIMESTAMP and TIMESTAMP_NTZ,
  dates, structs, arrays, maps, NULLs; a folder partitioned by two columns) reads in
  flowsql as Spark itself reads it back.
- CSV and JSON that Spark writes, plain and in each of its text codecs (gzip, deflate,
  bzip2, Hadoop's Snappy and LZ4 blocks), read with the types of Spark's schema.
- Folders flowsql writes (hive-partitioned Parquet by COPY and by INTO, rotated
  Parquet, CSV, NDJSON, a continuous pipeline's epochs; the codecs Spark has) read in
  Spark as written; partition columns come back as Spark infers them, and what flowsql
  keeps hidden (`_flowsql/` commit markers, `.pending` files) Spark skips.

One local SparkSession (local[2], no UI, on 127.0.0.1, its directories under pytest's
tmp_path) serves the module. Spark's rows are taken as Arrow (DataFrame.toArrow), with
the Arrow types Spark itself gives its types, and compared with flowsql's Arrow output.

    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/integration/test_spark.py
"""
import csv
import datetime as dt
import decimal
import glob
import io
import math
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import types as T

from flowsql_harness import ROOT, flowsql  # noqa: F401 (fixture)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers"))
from local_spark import local_spark  # noqa: E402

HANG = 120  # s: a command that takes longer is a hang
UTC = dt.timezone.utc
# flowsql's session time zone, the one TIMESTAMPTZ values are labelled with, as Spark's
# (spark.sql.session.timeZone below).
# test/plugins holds the Python data sources both Spark and flowsql read.
PLUGINS = os.path.join(ROOT, "test", "plugins")
PYTHONPATH = os.pathsep.join(filter(None, [PLUGINS, os.environ.get("PYTHONPATH")]))
FLOWSQL_ENV = {**os.environ, "TZ": "UTC", "PYTHONPATH": PYTHONPATH}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    with local_spark(tmp_path_factory.mktemp("spark"), PYTHONPATH, "flowsql-test") as s:
        yield s


def flowsql_rows(flowsql, text):
    """The result of a query as a pyarrow table (flowsql writes Arrow IPC to stdout)."""
    r = subprocess.run([flowsql, "--no-progress", "--format", "arrow", "-c", text],
                       cwd=ROOT, env=FLOWSQL_ENV, capture_output=True, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return pa.ipc.open_stream(io.BytesIO(r.stdout)).read_all()


def flowsql_run(flowsql, text, *options):
    r = subprocess.run([flowsql, "--no-progress", *options, "-c", text], cwd=ROOT,
                       env=FLOWSQL_ENV, capture_output=True, text=True, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


def spark_rows(df):
    """A Spark DataFrame's rows by id, as Arrow: the Arrow types Spark gives its types."""
    return df.orderBy("id").toArrow()


def canonical(value):
    """`value` with NaN made comparable (NaN != NaN), at any depth."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def assert_same_rows(got, expected):
    """Same columns in the same order, the same Arrow types (the names Arrow gives list
    items aside) and the same values: decimals exactly, NaN equal to NaN."""
    assert got.schema.names == expected.schema.names
    for name in expected.schema.names:
        assert got.schema.field(name).type == expected.schema.field(name).type, name
    assert got.num_rows == expected.num_rows
    for name in expected.schema.names:
        assert canonical(got.column(name).to_pylist()) == canonical(
            expected.column(name).to_pylist()), name


def hidden_paths(root):
    """Paths below `root` that a hive reader must skip: names starting with '.' or '_'."""
    out = []
    for dirpath, dirnames, names in os.walk(root):
        out += [os.path.join(dirpath, n) for n in dirnames + names if n.startswith((".", "_"))]
    return out


# -------------------------------------------------------------------------------------
# Spark writes, flowsql reads.

D = decimal.Decimal
NESTED = T.StructType([T.StructField("k", T.StringType()),
                       T.StructField("v", T.DecimalType(20, 4)),
                       T.StructField("at", T.TimestampType())])
SPARK_SCHEMA = T.StructType([
    T.StructField("id", T.IntegerType(), False),
    T.StructField("b", T.BooleanType()),
    T.StructField("i8", T.ByteType()),
    T.StructField("i16", T.ShortType()),
    T.StructField("i64", T.LongType()),
    T.StructField("f32", T.FloatType()),
    T.StructField("f64", T.DoubleType()),
    T.StructField("s", T.StringType()),
    T.StructField("bin", T.BinaryType()),
    T.StructField("d", T.DateType()),
    T.StructField("dec5", T.DecimalType(5, 2)),     # INT32 in Parquet
    T.StructField("dec18", T.DecimalType(18, 6)),   # INT64
    T.StructField("dec25", T.DecimalType(25, 0)),   # FIXED_LEN_BYTE_ARRAY
    T.StructField("dec38", T.DecimalType(38, 10)),
    T.StructField("ts", T.TimestampType()),
    T.StructField("ntz", T.TimestampNTZType()),
    T.StructField("arr", T.ArrayType(T.IntegerType())),
    T.StructField("tss", T.ArrayType(T.TimestampType())),
    T.StructField("st", T.StructType([T.StructField("x", T.IntegerType()),
                                      T.StructField("y", T.StringType()),
                                      T.StructField("z", T.ArrayType(NESTED))])),
    T.StructField("m", T.MapType(T.StringType(), T.LongType())),
    T.StructField("mt", T.MapType(T.StringType(), T.TimestampType())),
])
SPARK_ROWS = [
    (1, True, 1, 2, 3, 1.5, 2.25, "ann", b"\x00\x01", dt.date(2024, 1, 2), D("123.45"),
     D("123456789012.345678"), D("1234567890123456789012345"),
     D("1234567890123456789012345678.0123456789"),
     dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), dt.datetime(2024, 1, 2, 3, 4, 5, 6),
     [1, None, 3], [dt.datetime(2024, 6, 1, tzinfo=UTC), None],
     (1, "a", [("k1", D("1.0001"), dt.datetime(2000, 1, 1, tzinfo=UTC)), None]),
     {"a": 1, "b": None}, {"t": dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)}),
    (2,) + (None,) * (len(SPARK_SCHEMA) - 1),
    (3, False, -128, -32768, -2**63, float("nan"), float("-inf"), "", b"", dt.date(1, 1, 1),
     D("-999.99"), D("-999999999999.999999"), D("-9999999999999999999999999"),
     D("-9999999999999999999999999999.9999999999"),
     dt.datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
     [], [], (None, None, []), {}, {}),
    # Timestamps past 2262 and before 1677, which nanoseconds cannot hold.
    (4, None, 127, 32767, 2**63 - 1, 3.4e38, 1e308, "ünï", b"\xff", dt.date(9999, 12, 31),
     D("0.01"), D("0.000001"), D("0"), D("0.0000000001"),
     dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(1, 1, 1),
     None, [dt.datetime(1, 1, 1, tzinfo=UTC)], None, None, None),
]
SETTINGS = {
    # Spark's default writes TIMESTAMP as INT96 (spark.sql.parquet.outputTimestampType).
    "default": {},
    "timestamp_micros": {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"},
    # Hive/Impala compatible: decimals all FIXED_LEN_BYTE_ARRAY, 2-level-style lists.
    "legacy_format": {"spark.sql.parquet.writeLegacyFormat": "true"},
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_flowsql_reads_parquet_spark_writes(spark, flowsql, tmp_path, setting):
    out = str(tmp_path / "spark_out")
    df = spark.createDataFrame(SPARK_ROWS, SPARK_SCHEMA)
    for key, value in SETTINGS[setting].items():
        spark.conf.set(key, value)
    try:
        df.repartition(2).write.parquet(out)
    finally:
        for key in SETTINGS[setting]:
            spark.conf.unset(key)
    expected = spark_rows(spark.read.parquet(out))
    got = flowsql_rows(flowsql, "SELECT * FROM '%s/' ORDER BY id" % out)
    assert_same_rows(got, expected)
    # The types by their SQL names: TIMESTAMP is an instant, TIMESTAMP_NTZ is not.
    described = csv.DictReader(io.StringIO(flowsql_run(
        flowsql, "DESCRIBE SELECT ts, ntz, dec38, dec5, tss, m, mt FROM '%s/'" % out,
        "--format", "csv")))
    described = {row["column_name"]: row["column_type"] for row in described}
    assert described == {"ts": "TIMESTAMP WITH TIME ZONE", "ntz": "TIMESTAMP",
                         "dec38": "DECIMAL(38,10)", "dec5": "DECIMAL(5,2)",
                         "tss": "TIMESTAMP WITH TIME ZONE[]", "m": "MAP(VARCHAR, BIGINT)",
                         "mt": "MAP(VARCHAR, TIMESTAMP WITH TIME ZONE)"}


def test_flowsql_reads_every_parquet_codec_spark_writes(spark, flowsql, tmp_path):
    # Snappy, the default, is read by the tests above. lz4 is Hadoop's LZ4 framing
    # inside the pages, lz4_raw the plain blocks. (Spark has no Brotli.)
    df = spark.sql("SELECT id, CONCAT('v', id) AS s, CAST(id AS DECIMAL(20, 2)) / 3 AS x "
                   "FROM range(1000)")
    expected = spark_rows(df)
    for codec in ["none", "gzip", "lz4", "lz4_raw", "zstd"]:
        out = str(tmp_path / codec)
        df.write.option("compression", codec).parquet(out)
        got = flowsql_rows(flowsql, "SELECT * FROM '%s/' ORDER BY id" % out)
        assert_same_rows(got, expected)


def test_flowsql_reads_spark_hive_partitions(spark, flowsql, tmp_path):
    out = str(tmp_path / "parts")
    schema = T.StructType([T.StructField("id", T.LongType()),
                           T.StructField("year", T.IntegerType()),
                           T.StructField("region", T.StringType()),
                           T.StructField("amount", T.DecimalType(20, 4))])
    regions = ["eu", "a/b=c", "x y", None, "ü", "50%"]
    rows = [(i, 2023 + i % 2, regions[i % len(regions)], D(i) / 8) for i in range(24)]
    spark.createDataFrame(rows, schema).write.partitionBy("year", "region").parquet(out)
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    assert os.path.isdir(os.path.join(out, "year=2024", "region=__HIVE_DEFAULT_PARTITION__"))
    expected = spark_rows(spark.read.parquet(out))
    assert expected.schema.field("year").type == pa.int32()  # as Spark infers it
    got = flowsql_rows(flowsql, "SELECT * FROM '%s/' ORDER BY id" % out)
    # flowsql types a hive key as DuckDB does: BIGINT, DATE or VARCHAR from its values.
    assert got.schema.field("year").type == pa.int64()
    expected = expected.set_column(expected.schema.get_field_index("year"), "year",
                                   expected.column("year").cast(pa.int64()))
    assert_same_rows(got, expected)
    # A WHERE on the keys opens only the files of the one folder it keeps: Spark's escaped
    # folder name is decoded as Spark decodes it.
    where = "year = 2024 AND region = 'a/b=c'"
    files = glob.glob(os.path.join(out, "*", "*", "part-*.parquet"))
    kept = glob.glob(os.path.join(out, "year=2024", "region=a%2Fb%3Dc", "part-*.parquet"))
    assert kept
    explain = flowsql_run(flowsql, "EXPLAIN SELECT count(*) FROM '%s/' WHERE %s" % (out, where))
    assert "files=%d read, %d pruned by partition" % (len(kept), len(files) - len(kept)) \
        in explain, explain
    got = flowsql_rows(flowsql, "SELECT count(*) AS n FROM '%s/' WHERE %s" % (out, where))
    assert got.column("n").to_pylist() == [spark.read.parquet(out).where(where).count()]


TEXT_SCHEMA = T.StructType([T.StructField("id", T.LongType()),
                            T.StructField("s", T.StringType()),
                            T.StructField("x", T.DoubleType()),
                            T.StructField("t", T.TimestampType()),
                            T.StructField("d", T.DateType())])


@pytest.mark.parametrize("codec", ["none", "gzip", "deflate", "bzip2", "snappy", "lz4"])
def test_flowsql_reads_csv_and_json_spark_writes(spark, flowsql, tmp_path, codec):
    # Spark's text codecs: .gz, .deflate (zlib), .bz2, and Hadoop's blocks of Snappy
    # (.snappy) or raw LZ4 (.lz4, which is not the LZ4 frame format).
    df = spark.sql("SELECT id, CASE WHEN id % 7 = 3 THEN NULL ELSE CONCAT('v', id, ', w') "
                   "END AS s, id / 3 AS x, TIMESTAMP '2024-01-01 00:00:00Z' + "
                   "make_interval(0, 0, 0, 0, 0, 0, id) AS t, "
                   "date_add(DATE '2024-01-01', CAST(id AS INT)) AS d FROM range(50)")
    assert df.schema.simpleString() == TEXT_SCHEMA.simpleString()
    expected = spark_rows(df)
    for fmt in ("csv", "json"):
        out = str(tmp_path / fmt)
        df.repartition(2).write.option("header", True).option("compression", codec) \
            .format(fmt).save(out)
        # flowsql infers the same types from the text as Spark's schema has. (Spark leaves
        # a NULL out of a JSON object, so the keys' order is not the columns'.)
        got = flowsql_rows(flowsql, "SELECT %s FROM '%s/' ORDER BY id"
                           % (", ".join(TEXT_SCHEMA.names), out))
        assert_same_rows(got, expected)


def test_flowsql_reads_sparks_backslash_escaped_csv_quotes(spark, flowsql, tmp_path):
    # Spark escapes a quote inside a quoted CSV value with a backslash (its `escape`
    # default), not by doubling it as RFC 4180 does.
    out = str(tmp_path / "quotes")
    rows = [(1, 'say "hi", ok'), (2, None), (3, "a,b"), (4, '"')]
    spark.createDataFrame(rows, "id BIGINT, s STRING").coalesce(1).write \
        .option("header", True).csv(out)
    r = subprocess.run([flowsql, "-c", "SELECT * FROM '%s/'" % out], cwd=ROOT,
                       capture_output=True, text=True, timeout=HANG, env=FLOWSQL_ENV)
    assert r.returncode != 0
    assert "CSV parse error: Expected 2 columns, got 3: 1,\"say \\\"hi\\\", ok\"" in r.stderr
    assert glob.glob(os.path.join(out, "part-*.csv"))[0] in r.stderr
    expected = spark_rows(spark.read.schema("id BIGINT, s STRING").csv(out, header=True))
    got = flowsql_rows(flowsql, "SELECT * FROM '%s/' WITH (escape = '\\') ORDER BY id" % out)
    assert_same_rows(got, expected)


# -------------------------------------------------------------------------------------
# flowsql writes, Spark reads.

N = 12
CITIES = ["a/b=c", "x y", None, "ü"]


def source_table():
    """The rows flowsql writes: every type Spark has, NULLs, partition keys that need
    escaping and a NULL one."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        big = [None if i == 3 else D("-12345678901234567890123456789012.000001") + D(i)
               for i in range(N)]
    return pa.table({
        "id": pa.array(range(N), pa.int64()),
        "year": pa.array([2020 + i % 2 for i in range(N)], pa.int64()),
        "city": pa.array([CITIES[i % len(CITIES)] for i in range(N)]),
        "amount": pa.array([D(i) * D("1.25") for i in range(N)], pa.decimal128(10, 2)),
        "big": pa.array(big, pa.decimal128(38, 6)),
        "d": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(N)]),
        "ts": pa.array([dt.datetime(2024, 1, 1, 0, 0, 0, 123456) + dt.timedelta(hours=i)
                        for i in range(N)], pa.timestamp("us")),
        "tstz": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=i)
                          for i in range(N)], pa.timestamp("us", "UTC")),
        "f": pa.array([i * 0.5 if i % 4 else None for i in range(N)], pa.float64()),
        "b": pa.array([i % 2 == 0 for i in range(N)]),
        "st": pa.array([{"x": i, "y": "v%d" % i} if i % 5 else None for i in range(N)],
                       pa.struct([("x", pa.int64()), ("y", pa.string())])),
        "arr": pa.array([[i, None, i + 1] if i % 3 else [] for i in range(N)],
                        pa.list_(pa.int64())),
        "m": pa.array([[("k", i)] if i % 2 else None for i in range(N)],
                      pa.map_(pa.string(), pa.int64())),
    })


NESTED_COLUMNS = ["st", "arr", "m"]
# The source's columns in Spark's DDL, for reading text formats with a given schema.
SPARK_DDL = {"id": "BIGINT", "year": "BIGINT", "city": "STRING", "amount": "DECIMAL(10,2)",
             "big": "DECIMAL(38,6)", "d": "DATE", "ts": "TIMESTAMP_NTZ", "tstz": "TIMESTAMP",
             "f": "DOUBLE", "b": "BOOLEAN", "st": "STRUCT<x: BIGINT, y: STRING>",
             "arr": "ARRAY<BIGINT>", "m": "MAP<STRING, BIGINT>"}


def source_file(directory):
    """source_table() in `directory`/source.parquet; returns its path."""
    path = directory / "source.parquet"
    if not path.exists():
        pq.write_table(source_table(), path)
    return str(path)


@pytest.fixture
def source(tmp_path):
    return source_file(tmp_path)


def hive_layout(table, keys):
    """`table` as a hive reader returns it: partition columns last, typed as Spark
    infers these (int for the years, string for the cities)."""
    rest = table.select([n for n in table.schema.names if n not in keys])
    for key in keys:
        column = table.column(key)
        rest = rest.append_column(key, column.cast(pa.int32()) if key == "year" else column)
    return rest


@pytest.mark.parametrize("statement, keys", [
    ("COPY (SELECT * FROM '{src}') TO '{out}/' (FORMAT parquet, PARTITION_BY (year, city))",
     ["year", "city"]),
    ("SELECT * FROM '{src}' INTO '{out}/' WITH (partition_by = 'year,city', "
     "max_rows_per_file = 2)", ["year", "city"]),
    ("SELECT * FROM '{src}' INTO '{out}/' WITH (format = 'parquet', max_rows_per_file = 5)",
     []),
], ids=["copy_partition_by", "into_partition_by", "rotated"])
def test_spark_reads_parquet_folders_flowsql_writes(spark, flowsql, tmp_path, source,
                                                    statement, keys):
    out = str(tmp_path / "out")
    flowsql_run(flowsql, statement.format(src=source, out=out))
    if keys:
        assert os.path.isdir(os.path.join(out, "year=2020", "city=__HIVE_DEFAULT_PARTITION__"))
        assert os.path.isdir(os.path.join(out, "_flowsql"))  # the commit marker
    else:
        assert len(glob.glob(os.path.join(out, "part-*.parquet"))) == 3
    got = spark_rows(spark.read.parquet(out))
    assert_same_rows(got, hive_layout(source_table(), keys))


def test_spark_reads_csv_folders_flowsql_writes(spark, flowsql, tmp_path, source):
    out = str(tmp_path / "csv")
    written = source_table().drop_columns(NESTED_COLUMNS)
    flowsql_run(flowsql, "SELECT %s FROM '%s' INTO '%s/' WITH (format = 'csv', "
                "partition_by = 'year', max_rows_per_file = 4)"
                % (", ".join(written.schema.names), source, out))
    # Spark's inference on the text: decimals become doubles, and TIMESTAMP is all it
    # has for both kinds of timestamp (a naive one read in the session's zone, UTC).
    inferred = spark.read.csv(out, header=True, inferSchema=True)
    assert inferred.schema.simpleString() == (
        "struct<id:int,city:string,amount:double,big:double,d:date,ts:timestamp,"
        "tstz:timestamp,f:double,b:boolean,year:int>")
    assert spark_rows(inferred).column("ts").to_pylist() == [
        t.replace(tzinfo=UTC) for t in written.column("ts").to_pylist()]
    # With the written types given, every value as written.
    schema = ", ".join("%s %s" % (n, SPARK_DDL[n]) for n in written.schema.names
                       if n != "year")
    got = spark_rows(spark.read.schema(schema + ", year INT").csv(out, header=True))
    assert_same_rows(got, hive_layout(written, ["year"]))


def test_spark_reads_ndjson_folders_flowsql_writes(spark, flowsql, tmp_path, source):
    out = str(tmp_path / "json")
    flowsql_run(flowsql, "SELECT * FROM '%s' INTO '%s/' WITH (format = 'ndjson', "
                "max_rows_per_file = 5)" % (source, out))
    assert len(glob.glob(os.path.join(out, "part-*.ndjson"))) == 3
    # Spark's inference on JSON: numbers with a fraction become doubles, dates and
    # timestamps stay strings, an object is a struct.
    inferred = spark.read.json(out)
    assert inferred.schema.simpleString() == (
        "struct<amount:double,arr:array<bigint>,b:boolean,big:double,city:string,"
        "d:string,f:double,id:bigint,m:struct<k:bigint>,st:struct<x:bigint,y:string>,"
        "ts:string,tstz:string,year:bigint>")
    written = source_table()
    schema = ", ".join("%s %s" % (n, SPARK_DDL[n]) for n in written.schema.names)
    got = spark_rows(spark.read.schema(schema).json(out))
    assert_same_rows(got, written)


def test_spark_reads_a_continuous_pipelines_folder(spark, flowsql, tmp_path):
    out = str(tmp_path / "stream")
    args = [flowsql, "--no-progress", "--state-dir", str(tmp_path / "state"), "-c",
            "SELECT * FROM generate(rate => 20000) INTO '%s/' WITH (format = 'parquet', "
            "partition_by = 'category', max_rows_per_file = 300, flush_rows = 1000, "
            "flush_interval = '200ms')" % out]

    def committed_epoch():
        markers = glob.glob(os.path.join(out, "_flowsql", "commit-*"))
        return max((int(m.rsplit("-", 1)[1]) for m in markers), default=-1)

    def spark_ids():
        df = spark.read.parquet(out)
        assert df.schema.simpleString() == (
            "struct<id:bigint,ts:timestamp,value:double,category:string>")
        return df.select("id").toArrow().column("id").to_pylist()

    # Killed in the middle of epoch 3: epochs 0 to 2 are committed, epoch 3's files are
    # still pending (hidden) and must not be read.
    crashed = subprocess.run(args, env={**FLOWSQL_ENV, "FLOWSQL_FAULT": "mid_write:3"},
                             capture_output=True, text=True, timeout=HANG,
                             stdin=subprocess.DEVNULL)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert committed_epoch() == 2
    pending = glob.glob(os.path.join(out, "*", ".*.pending"))
    assert pending, hidden_paths(out)
    ids = spark_ids()
    assert len(ids) == len(set(ids)), "rows read twice"
    assert sorted(ids) == list(range(len(ids))), "rows of committed epochs missing"
    pending_ids = set(pa.concat_tables(pq.read_table(p) for p in pending).column("id")
                      .to_pylist())
    assert pending_ids and not pending_ids & set(ids), "pending rows read"

    # The restarted pipeline deletes the pending files, writes epoch 3 again and goes
    # on; stopped after epoch 6, every row is read once.
    proc = subprocess.Popen(args, env=FLOWSQL_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + HANG
        while committed_epoch() < 6:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the restarted pipeline committed nothing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=HANG)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ids = spark_ids()
    assert len(ids) == len(set(ids)), "rows read twice"
    assert sorted(ids) == list(range(len(ids))), "rows lost"
    assert len(ids) >= 7000
    assert hidden_paths(out)  # the markers (and the lock) Spark skipped


@pytest.mark.parametrize("fmt, codecs", [
    ("csv", ["gzip", "bz2", "snappy", "zstd"]),
    ("ndjson", ["gzip", "bz2", "snappy", "zstd"]),
    ("parquet", ["snappy", "zstd", "gzip", "lz4", "none"]),
])
def test_spark_reads_every_codec_flowsql_writes_for_it(spark, flowsql, tmp_path, fmt,
                                                        codecs):
    """Spark takes a text file's codec from its extension (.gz, .bz2, .snappy, .zst) and
    Parquet's from its pages. Not here: LZ4 text (flowsql writes LZ4 frames, Hadoop's
    codec reads only its own block framing) and Brotli Parquet (Spark has no codec)."""
    written = source_table().drop_columns(NESTED_COLUMNS + ["year", "city"])
    read = {"csv": lambda s, path: s.option("header", True).csv(path),
            "ndjson": lambda s, path: s.json(path),
            "parquet": lambda s, path: s.parquet(path)}[fmt]
    schema = ", ".join("%s %s" % (n, SPARK_DDL[n]) for n in written.schema.names)
    for codec in codecs:
        out = str(tmp_path / codec)
        flowsql_run(flowsql, "SELECT %s FROM '%s' INTO '%s/' WITH (format = '%s', "
                    "compression = '%s')" % (", ".join(written.schema.names),
                                             source_file(tmp_path), out, fmt, codec))
        got = spark_rows(read(spark.read.schema(schema), out))
        assert_same_rows(got, written)


# --- Python data sources (the pyspark.sql.datasource API) -----------------------------

@pytest.mark.parametrize("cls,options", [("Tuples", {"rows": "700", "partitions": "3"}),
                                         ("Batches", {})])
def test_flowsql_reads_a_pyspark_data_source_as_spark_does(spark, flowsql, cls, options):
    sys.path.insert(0, PLUGINS)
    import spark_sources
    source = getattr(spark_sources, cls)
    spark.dataSource.register(source)
    reader = spark.read.format(source.name())
    for k, v in options.items():
        reader = reader.option(k, v)
    expected = spark_rows(reader.load())
    with_options = "".join(f", {k} => '{v}'" for k, v in options.items())
    got = flowsql_rows(flowsql, f"SELECT * FROM read_python('spark_sources.{cls}'"
                                f"{with_options}) ORDER BY id")
    assert_same_rows(got, expected)


def test_a_pyspark_reader_gets_the_filters_spark_gives_it(spark, flowsql, tmp_path):
    # pushFilters (Spark 4.1): Spark and flowsql give the reader the same filters for
    # the same WHERE, and both filter the rows it hands back.
    sys.path.insert(0, PLUGINS)
    import spark_sources
    spark.dataSource.register(spark_sources.Filtered)
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "true")
    where = ("id > 100 AND id < 900 AND name LIKE 'item 1%' AND id <> 150 AND ok "
             "IS NOT NULL AND price IN (101.25, 120.25, 130.25, 555.25) AND ratio < 20")
    logs = {}
    for who in ("spark", "flowsql"):
        logs[who] = tmp_path / f"{who}.log"
    (spark.read.format("flowsql_test_filtered").option("log", str(logs["spark"]))
     .option("rows", "400").load().createOrReplaceTempView("filtered"))
    expected = spark_rows(spark.sql(f"SELECT * FROM filtered WHERE {where} ORDER BY id"))
    got = flowsql_rows(flowsql, "SELECT * FROM read_python('spark_sources.Filtered', "
                                f"log => '{logs['flowsql']}', rows => '400') "
                                f"WHERE {where} ORDER BY id")
    assert_same_rows(got, expected)
    assert len(got) == 3, got  # ids 101, 120, 130
    # One call each. Spark adds the IS NOT NULL its optimizer infers from the
    # comparisons; flowsql gives the filters as written.
    spark_calls = logs["spark"].read_text().splitlines()
    flowsql_calls = logs["flowsql"].read_text().splitlines()
    assert len(flowsql_calls) == 1 and len(spark_calls) == 1, (flowsql_calls, spark_calls)
    given = set(eval(flowsql_calls[0]))
    spark_given = set(eval(spark_calls[0]))
    inferred = {"IsNotNull(attribute=('%s',))" % c for c in ("id", "name", "price", "ratio")}
    assert given == spark_given - inferred, (sorted(given), sorted(spark_given))
