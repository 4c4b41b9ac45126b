"""Delta tables between flowsql and Spark with Delta Lake (delta-spark), both ways,
values and types:

- Tables flowsql writes (partitioned; appended, appended again, overwritten; and one
  appended to past its first checkpoint) read in Spark, every version (versionAsOf),
  as flowsql reads that version (read_delta(path, version => N)); Spark's filters,
  which skip files by the statistics flowsql wrote, keep the rows flowsql's keep.
- Tables Spark writes read in flowsql, every version (time travel by version => N,
  and by timestamp => the commit's time in Spark's history), as Spark reads it: a partitioned table with a checkpoint every two versions, appended
  to and overwritten; one with deletion vectors (DELETEs and an UPDATE); one with
  column mapping by name whose columns (a nested one and the partition column too)
  were renamed and one dropped.

Spark runs in its own virtualenv, .venv-delta-spark (scripts/setup.sh makes it from
test/requirements-delta-spark.txt: PySpark 4.2, for which Delta has a release),
driven by test/integration/delta_spark_job.py: one run writes every Spark table and
reads back each of its versions, one more reads the versions of flowsql's tables, so
the module starts Spark twice. Delta's jars come from Maven Central into Spark's Ivy
cache on the first run. Spark's reads come back as Arrow files with the Arrow types
Spark gives its types (TIMESTAMP: timestamp[us, tz=UTC]; TIMESTAMP_NTZ: timestamp[us])
and are compared with flowsql's Arrow output, column by column.

    scripts/setup.sh   # once: creates .venv-delta-spark
    FLOWSQL_BIN=build/flowsql .venv/bin/python -m pytest -q test/integration/test_delta_spark.py

Without .venv-delta-spark the module is skipped, saying so; with CI=true it fails.
"""
import io
import json
import os
import subprocess

import pyarrow as pa
import pytest

from flowsql_harness import ROOT, flowsql  # noqa: F401 (fixture)

HANG = 120  # s: a flowsql command that takes longer is a hang
# s: a Spark job's deadline. The first run fetches Delta's jars (about 90 MB); on two
# shared cores a job takes a few minutes.
SPARK_DEADLINE = 900
SPARK_PYTHON = os.path.join(ROOT, ".venv-delta-spark", "bin", "python")
JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delta_spark_job.py")
FLOWSQL_ENV = {**os.environ, "TZ": "UTC"}
# The job's interpreter is the other virtualenv's: none of this one's paths.
JOB_ENV = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
JOB_ENV["TZ"] = "UTC"


# -------------------------------------------------------------------------------------
# Helpers.

def flowsql_rows(flowsql, text):
    """The result of a query as a pyarrow table (flowsql writes Arrow IPC to stdout)."""
    r = subprocess.run([flowsql, "--no-progress", "--format", "arrow", "-c", text],
                       cwd=ROOT, env=FLOWSQL_ENV, capture_output=True, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return pa.ipc.open_stream(io.BytesIO(r.stdout)).read_all()


def flowsql_run(flowsql, text):
    r = subprocess.run([flowsql, "--no-progress", "-c", text], cwd=ROOT, env=FLOWSQL_ENV,
                       capture_output=True, text=True, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return r.stdout


def run_spark_job(work, *args):
    """Runs delta_spark_job.py with Spark's files under `work`; fails the test with
    the end of the job's stderr if it fails or passes its deadline."""
    command = [SPARK_PYTHON, JOB, "--work", str(work), *args]
    try:
        r = subprocess.run(command, env=JOB_ENV, capture_output=True, text=True,
                           timeout=SPARK_DEADLINE, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        pytest.fail("the Spark job %s did not finish in %d s; its stderr ends:\n%s"
                    % (args, SPARK_DEADLINE, (err or "")[-8000:]))
    if r.returncode != 0:
        pytest.fail("the Spark job %s failed (exit %d); its stderr ends:\n%s"
                    % (args, r.returncode, r.stderr[-8000:]))


def spark_read(path):
    """A read the Spark job saved: its rows and, from the metadata, Spark's schema."""
    with pa.OSFile(path, "rb") as f:
        table = pa.ipc.open_file(f).read_all()
    return table, table.schema.metadata[b"spark_schema"].decode()


def assert_same_rows(got, expected):
    """Same columns in the same order, the same Arrow types and the same values
    (decimals exactly, timestamps to the microsecond, NULLs where the other has them)."""
    assert got.schema.names == expected.schema.names
    for name in expected.schema.names:
        assert got.schema.field(name).type == expected.schema.field(name).type, name
    assert got.num_rows == expected.num_rows
    for name in expected.schema.names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name


def delta_log(path, version):
    """The actions of one commit of the table's log."""
    with open(os.path.join(path, "_delta_log", "%020d.json" % version)) as f:
        return [json.loads(line) for line in f if line.strip()]


# -------------------------------------------------------------------------------------
# The two Spark runs, once for the module.

@pytest.fixture(scope="module")
def spark_job():
    """Runs the Spark job: a function of its arguments. Skips the module when
    .venv-delta-spark is missing, unless CI=true, where that is a failure."""
    if not os.path.exists(SPARK_PYTHON):
        reason = ("%s is missing: scripts/setup.sh creates it (PySpark 4.2 with "
                  "delta-spark, test/requirements-delta-spark.txt)" % SPARK_PYTHON)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return run_spark_job


@pytest.fixture(scope="module")
def spark_tables(spark_job, tmp_path_factory):
    """The tables Spark writes: {name: {"path", "commits": [{"version", "operation",
    "timestamp", "read"}]}}, "read" the Arrow file of Spark's read of that version."""
    base = tmp_path_factory.mktemp("spark_writes")
    out = base / "tables"
    spark_job(base / "spark", "write", str(out))
    with open(out / "manifest.json") as f:
        return json.load(f)


def flowsql_select(first, count):
    """ids first..first+count-1 with every type flowsql writes to Delta and Spark reads
    (TIMESTAMP is Delta's timestamp_ntz, TIMESTAMPTZ its timestamp), NULLs in every
    column but id, and partition values that need escaping, a NULL one among them."""
    return f"""
        SELECT id, CAST(id * 7 AS INTEGER) AS i,
               CASE WHEN id % 6 = 1 THEN NULL ELSE id / 4.0 END AS x,
               CASE WHEN id % 5 = 2 THEN NULL ELSE 'v' || id END AS s,
               CASE WHEN id % 7 = 3 THEN NULL
                    ELSE CAST(id * 12.25 - 100 AS DECIMAL(12, 2)) END AS amount,
               CASE WHEN id % 8 = 4 THEN NULL
                    ELSE DATE '2024-02-27' + CAST(id AS INTEGER) END AS d,
               CASE WHEN id % 9 = 5 THEN NULL
                    ELSE TIMESTAMP '2024-03-01 12:00:00.5' + id * INTERVAL 1 HOUR END AS ts,
               CASE WHEN id % 10 = 6 THEN NULL
                    ELSE TIMESTAMPTZ '2024-03-01 00:00:00.123456+00'
                         + id * INTERVAL 1 MINUTE END AS tstz,
               CASE WHEN id % 11 = 7 THEN NULL ELSE id % 2 = 0 END AS b,
               CASE id % 4 WHEN 0 THEN 'a/b=c' WHEN 1 THEN 'x y' WHEN 2 THEN 'ü' END AS p
        FROM (SELECT range AS id FROM range({first}, {first + count}))"""


# The flowsql table's versions: (mode, first id, rows).
FLOWSQL_VERSIONS = [("append", 0, 40), ("append", 40, 25), ("overwrite", 100, 30)]
FLOWSQL_SCHEMA = ("struct<id:bigint,i:int,x:double,s:string,amount:decimal(12,2),d:date,"
                  "ts:timestamp_ntz,tstz:timestamp,b:boolean,p:string>")
# WHERE clauses Spark and flowsql both parse, for files skipped by statistics and
# partition values.
FILTERS = ["id >= 120", "s IS NULL", "amount < 1200", "d > DATE '2024-06-15'",
           "p = 'a/b=c'", "p IS NULL", "b"]
CHECKPOINTED_COMMITS = 12  # flowsql writes a checkpoint at version 10


@pytest.fixture(scope="module")
def flowsql_tables(spark_job, flowsql, tmp_path_factory):
    """flowsql writes fs_plain (FLOWSQL_VERSIONS) and fs_checkpointed (12 appends of 3
    rows); Spark reads each of fs_plain's versions, its latest through each of
    FILTERS, and fs_checkpointed's latest. Returns {"plain", "checkpointed",
    "reads": {(table, version, where): Arrow file}}."""
    base = tmp_path_factory.mktemp("flowsql_writes")
    plain = str(base / "fs_plain")
    for mode, first, count in FLOWSQL_VERSIONS:
        flowsql_run(flowsql, "%s INTO 'delta://%s' WITH (mode = '%s', partition_by = 'p')"
                    % (flowsql_select(first, count), plain, mode))
    checkpointed = str(base / "fs_checkpointed")
    for n in range(CHECKPOINTED_COMMITS):
        flowsql_run(flowsql, "%s INTO 'delta://%s' WITH (mode = 'append')"
                    % (flowsql_select(3 * n, 3), checkpointed))
    reads = [("plain", v, None) for v in range(len(FLOWSQL_VERSIONS))]
    reads += [("plain", None, where) for where in FILTERS]
    reads += [("checkpointed", None, None)]
    paths = {"plain": plain, "checkpointed": checkpointed}
    spec = [{"path": paths[t], "version": v, "where": w,
             "out": str(base / ("read%d.arrow" % i))} for i, (t, v, w) in enumerate(reads)]
    with open(base / "reads.json", "w") as f:
        json.dump(spec, f)
    spark_job(base / "spark", "read", str(base / "reads.json"))
    return {**paths, "reads": {r: s["out"] for r, s in zip(reads, spec)}}


# -------------------------------------------------------------------------------------
# flowsql writes, Spark reads.

@pytest.mark.parametrize("version", range(len(FLOWSQL_VERSIONS)))
def test_spark_reads_each_version_flowsql_writes(flowsql_tables, flowsql, version):
    expected = flowsql_rows(flowsql, "SELECT * FROM read_delta('%s', version => %d) "
                            "ORDER BY id" % (flowsql_tables["plain"], version))
    got, spark_schema = spark_read(flowsql_tables["reads"][("plain", version, None)])
    assert spark_schema == FLOWSQL_SCHEMA
    assert_same_rows(got, expected)
    # The rows of that version: the appends' until the overwrite, then its own.
    ids = []
    for mode, first, count in FLOWSQL_VERSIONS[:version + 1]:
        ids = (ids if mode == "append" else []) + list(range(first, first + count))
    assert got.column("id").to_pylist() == ids


@pytest.mark.parametrize("where", FILTERS)
def test_spark_filters_flowsql_tables_as_flowsql_does(flowsql_tables, flowsql, where):
    """Spark skips files by the partition values and statistics flowsql wrote in the
    log: a wrong minimum, maximum or null count would lose rows here."""
    expected = flowsql_rows(flowsql, "SELECT * FROM 'delta://%s' WHERE %s ORDER BY id"
                            % (flowsql_tables["plain"], where))
    got, _ = spark_read(flowsql_tables["reads"][("plain", None, where)])
    assert got.num_rows > 0, where
    assert_same_rows(got, expected)


def test_spark_reads_a_checkpoint_flowsql_writes(flowsql_tables, flowsql):
    path = flowsql_tables["checkpointed"]
    assert os.path.exists(os.path.join(path, "_delta_log", "%020d.checkpoint.parquet" % 10))
    expected = flowsql_rows(flowsql, "SELECT * FROM 'delta://%s' ORDER BY id" % path)
    got, spark_schema = spark_read(flowsql_tables["reads"][("checkpointed", None, None)])
    assert spark_schema == FLOWSQL_SCHEMA
    assert_same_rows(got, expected)
    assert got.column("id").to_pylist() == list(range(3 * CHECKPOINTED_COMMITS))


# -------------------------------------------------------------------------------------
# Spark writes, flowsql reads.

# Each Spark table's commits, as delta_spark_job.py's writers make them.
SPARK_COMMITS = {
    "spark_plain": ["CREATE TABLE AS SELECT", "WRITE", "WRITE", "WRITE", "WRITE"],
    "spark_dv": ["CREATE TABLE AS SELECT", "DELETE", "DELETE", "UPDATE"],
    "spark_colmap": ["CREATE TABLE AS SELECT", "RENAME COLUMN", "WRITE", "RENAME COLUMN",
                     "RENAME COLUMN", "DROP COLUMNS", "WRITE"],
}
SPARK_VERSIONS = [(table, v) for table, ops in SPARK_COMMITS.items() for v in range(len(ops))]


def test_spark_writes_the_tables_these_tests_read(spark_tables):
    """The premises of the reads below: the commits, Spark's checkpoints, deletion
    vectors in the log, and physical column names in the files."""
    assert {t: [c["operation"] for c in spark_tables[t]["commits"]]
            for t in spark_tables} == SPARK_COMMITS
    plain = spark_tables["spark_plain"]["path"]
    for version in (2, 4):
        assert os.path.exists(os.path.join(plain, "_delta_log",
                                           "%020d.checkpoint.parquet" % version))
    dv = spark_tables["spark_dv"]["path"]
    for version in (1, 2, 3):
        assert any(a.get("add", {}).get("deletionVector") for a in delta_log(dv, version)), \
            version
    colmap = spark_tables["spark_colmap"]["path"]
    metadata = [a["metaData"] for a in delta_log(colmap, 0) if "metaData" in a][0]
    assert metadata["configuration"]["delta.columnMapping.mode"] == "name"
    schema = json.loads(metadata["schemaString"])
    physical = [f["metadata"]["delta.columnMapping.physicalName"] for f in schema["fields"]]
    assert all(name.startswith("col-") for name in physical), physical


@pytest.mark.parametrize("table, version", SPARK_VERSIONS,
                         ids=["%s-v%d" % tv for tv in SPARK_VERSIONS])
def test_flowsql_reads_each_version_spark_writes(spark_tables, flowsql, table, version):
    info = spark_tables[table]
    expected, _ = spark_read(info["commits"][version]["read"])
    got = flowsql_rows(flowsql, "SELECT * FROM read_delta('%s', version => %d) ORDER BY id"
                       % (info["path"], version))
    assert_same_rows(got, expected)
    # count(*) comes from the log (numRecords less the deletion vectors' rows).
    count = flowsql_rows(flowsql, "SELECT count(*) AS n FROM read_delta('%s', version => %d)"
                         % (info["path"], version))
    assert count.column("n").to_pylist() == [expected.num_rows]


@pytest.mark.parametrize("table", list(SPARK_COMMITS))
def test_flowsql_time_travels_by_timestamp_as_spark_does(spark_tables, flowsql, table):
    """read_delta(path, timestamp => T) at each commit's time as Spark's history gives
    it (UTC, milliseconds) reads that commit's version."""
    info = spark_tables[table]
    for commit in info["commits"]:
        expected, _ = spark_read(commit["read"])
        got = flowsql_rows(flowsql, "SELECT * FROM read_delta('%s', timestamp => '%s') "
                           "ORDER BY id" % (info["path"], commit["timestamp"]))
        assert_same_rows(got, expected)


@pytest.mark.parametrize("table", list(SPARK_COMMITS))
def test_flowsql_reads_the_latest_version_spark_writes(spark_tables, flowsql, table):
    info = spark_tables[table]
    expected, _ = spark_read(info["commits"][-1]["read"])
    got = flowsql_rows(flowsql, "SELECT * FROM 'delta://%s' ORDER BY id" % info["path"])
    assert_same_rows(got, expected)


def test_spark_gives_its_types_these_arrow_types(spark_tables):
    """Spark's schema of the plain table, and the Arrow types the comparisons above
    hold flowsql's read to: TIMESTAMP an instant in UTC, TIMESTAMP_NTZ none."""
    got, spark_schema = spark_read(spark_tables["spark_plain"]["commits"][0]["read"])
    assert spark_schema == ("struct<id:bigint,i:int,x:double,s:string,"
                            "amount:decimal(12,2),d:date,ts:timestamp,ntz:timestamp_ntz,"
                            "b:boolean,p:string>")
    assert got.schema.types == [pa.int64(), pa.int32(), pa.float64(), pa.string(),
                                pa.decimal128(12, 2), pa.date32(),
                                pa.timestamp("us", "UTC"), pa.timestamp("us"), pa.bool_(),
                                pa.string()]
