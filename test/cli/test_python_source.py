"""Python data sources in SQL (seed 001's protocol): the classes of
test/plugins/seed_sources.py read by the embedded interpreter. pyarrow, calling the
same class directly, is the oracle."""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import csv
import signal
import subprocess

from conftest import DEADLINE, REPO, flowsql_bin, run_flowsql, stop, wait_for

PLUGINS = REPO / "test" / "plugins"
sys.path.insert(0, str(PLUGINS))
import seed_sources  # noqa: E402


def flowsql(*args):
    env = {"PYTHONPATH": str(PLUGINS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return run_flowsql(*args, env=env)


def expected(options):
    source = seed_sources.Items()
    batches = [b for p in source.plan_partitions(options)
               for b in source.read_partition(p, options)]
    return pa.Table.from_batches(batches, schema=source.infer_schema(options))


@pytest.mark.parametrize("source", [
    "'python://seed_sources.Items' WITH (partitions = '3', batches = '2')",
    "read_python('seed_sources.Items', partitions => '3', batches => '2')",
    # seed 001's spelling
    "read_python(python_module => 'seed_sources', python_class => 'Items', "
    "partitions => '3', batches => '2')",
    # in worker processes
    "read_python('seed_sources.Items', partitions => '3', batches => '2', workers => true)",
])
def test_a_python_source_reads_what_the_class_yields(tmp_path, source):
    out = tmp_path / "out.parquet"
    r = flowsql("-c", f"SELECT * FROM {source} ORDER BY id INTO '{out}'")
    assert r.code == 0, r
    got = pq.read_table(out)
    want = expected({"partitions": "3", "batches": "2"})
    # Types as the class gave them: Parquet names a list's item 'element', and
    # flowsql spells the UTC zone of a TIMESTAMP WITH TIME ZONE 'Etc/UTC'.
    def kinds(schema):
        return [(f.name, f.type.value_type if pa.types.is_list(f.type) else
                 (f.type.unit, f.type.tz in ("UTC", "Etc/UTC"))
                 if pa.types.is_timestamp(f.type) else f.type) for f in schema]
    assert kinds(got.schema) == kinds(want.schema)
    assert got.cast(want.schema).equals(want)


def test_partitions_are_read_concurrently():
    r = flowsql("--format", "csv", "-c",
                "SELECT max(most_at_once) FROM 'python://seed_sources.Slow'")
    assert r.code == 0, r
    assert int(r.out.splitlines()[1]) >= 2, r.out


# The errors of a read are the same whether flowsql's interpreter reads the
# partitions or worker processes do.
IN_WORKERS = pytest.mark.parametrize("where", ["", " WITH (workers = true)"],
                                     ids=["here", "workers"])


@IN_WORKERS
def test_a_python_exception_fails_the_query_with_its_traceback(where):
    r = flowsql("-c", f"SELECT * FROM 'python://seed_sources.Raises'{where}")
    assert r.code == 2, r
    assert r.err.startswith("Error: seed_sources.Raises.read_partition() raised:\n"
                            "Traceback (most recent call last):\n"), r.err
    assert 'seed_sources.py", line' in r.err, r.err
    assert r.err.rstrip().endswith("ValueError: no partition 2 today"), r.err


@pytest.mark.parametrize("cls,message", [
    ("WrongType", "seed_sources.WrongType.read_partition() yielded column 'id' as string "
                  "where infer_schema() said int64"),
    ("NotABatch", "seed_sources.NotABatch.read_partition() yielded a dict, not a "
                  "pyarrow.RecordBatch"),
    ("Missing", "'seed_sources.Missing': module or object 'seed_sources' has no "
                "attribute 'Missing'"),
])
@IN_WORKERS
def test_a_source_that_breaks_the_protocol_is_named(cls, message, where):
    r = flowsql("-c", f"SELECT * FROM 'python://seed_sources.{cls}'{where}")
    assert r.code != 0 and f"Error: {message}" in r.err, r.err


def test_a_missing_module_is_an_import_error():
    r = flowsql("-c", "SELECT * FROM 'python://no_such_module_here.Cls'")
    assert r.code != 0, r
    assert r.err.startswith("Error: import no_such_module_here raised:\n"), r.err
    assert "ModuleNotFoundError: No module named 'no_such_module_here'" in r.err, r.err


def test_the_class_is_named_once():
    r = flowsql("-c", "SELECT * FROM read_python('seed_sources.Items', "
                      "python_module => 'seed_sources', python_class => 'Items')")
    assert r.code != 0 and "name the Python class once" in r.err, r.err


def test_secret_looking_options_are_redacted():
    r = flowsql("-c", "SELECT * FROM read_python('seed_sources.Raises', "
                      "api_key => 'sekr1t-value')")
    assert r.code == 2 and "sekr1t-value" not in r.err, r.err



# --- the PySpark Python Data Source API --------------------------------------------

def test_a_pyspark_data_source_yielding_rows_and_batches():
    r = flowsql("--format", "csv", "-c",
                "SELECT id, label FROM 'python://spark_sources.Mixed' ORDER BY id")
    assert r.code == 0, r
    assert r.out.splitlines() == ["id,label", "0,a", "1,b", "2,c", "3,"]


@pytest.mark.parametrize("cls,message", [
    ("ShortRows", "spark_sources.ShortRows.reader().read() raised:\nValueError: a row of 2 "
                  "values where the schema has 10 columns (id, name, price, at, day, ok, "
                  "ratio, tags, attrs, owner)"),
    ("WrongValue", "spark_sources.WrongValue.reader().read() raised:\nValueError: column "
                   "'id' (int64): "),
])
@IN_WORKERS
def test_rows_that_do_not_fit_name_the_column(cls, message, where):
    r = flowsql("-c", f"SELECT * FROM 'python://spark_sources.{cls}'{where}")
    assert r.code == 2 and f"Error: {message}" in r.err, r.err


def test_a_bad_ddl_schema_names_what_is_wrong(tmp_path):
    (tmp_path / "bad_ddl.py").write_text(
        "from pyspark.sql.datasource import DataSource\n"
        "class Bad(DataSource):\n"
        "    def schema(self):\n"
        "        return 'id BIGINT, tags ARRAY<STRNG>'\n"
        "    def reader(self, schema):\n"
        "        raise AssertionError('not reached')\n")
    r = run_flowsql("-c", "SELECT * FROM 'python://bad_ddl.Bad'",
                    env={"PYTHONPATH": str(tmp_path)})
    assert r.code != 0, r
    assert "ValueError: schema 'id BIGINT, tags ARRAY<STRNG>': unknown type 'strng'" \
        in r.err, r.err


# --- worker processes (workers = true) -------------------------------------------------

def test_workers_convert_tuples_and_rows_as_flowsql_does(tmp_path):
    # 20000 rows a partition: batches of 8192 rows, the last value a pyspark Row.
    outs = []
    for workers in ("false", "true"):
        out = tmp_path / f"workers_{workers}.parquet"
        r = flowsql("-c", "SELECT * FROM read_python('spark_sources.Tuples', "
                          f"partitions => '3', rows => '20000', workers => {workers}) "
                          f"ORDER BY id INTO '{out}'")
        assert r.code == 0, r
        outs.append(pq.read_table(out))
    assert outs[0].num_rows == 60000
    assert outs[1].schema == outs[0].schema
    assert outs[1].equals(outs[0])


def test_what_a_worker_prints_goes_to_stderr():
    r = flowsql("--format", "csv", "-c", "SELECT count(*) FROM "
                "read_python('seed_sources.Chatty', partitions => '2', workers => true)")
    assert r.code == 0, r
    assert r.out.splitlines() == ["count_star()", "600"], r.out
    assert "chatty: a batch of partition 1" in r.err, r.err


@pytest.mark.parametrize("cls,message", [
    ("Unpicklable", "Error: seed_sources.Unpicklable.read_partition(): pickling the reader "
                    "for worker processes raised:\nTypeError: cannot pickle "
                    "'_thread.lock' object"),
    ("FailsToUnpickle", "Error: seed_sources.FailsToUnpickle.read_partition(): a worker "
                        "process could not unpickle the reader:\nTraceback"),
    ("Exits", "Error: seed_sources.Exits.read_partition(): its worker process exited "
              "with status 3 before the partition was read"),
])
def test_a_reader_that_fails_in_a_worker_is_named(cls, message):
    r = flowsql("-c", f"SELECT * FROM 'python://seed_sources.{cls}' WITH (workers = true)")
    assert r.code == 2 and message in r.err, r.err


def test_a_limit_stops_the_workers_early():
    # Slow's partitions sleep 0.5 s each: LIMIT 1 needs the first only.
    r = flowsql("--format", "csv", "-c", "SELECT partition FROM "
                "'python://seed_sources.Slow' WITH (workers = true) LIMIT 1")
    assert r.code == 0 and r.out.splitlines()[1] in ("0", "1", "2", "3"), r


def test_workers_are_not_for_streams():
    r = flowsql("-c", "SELECT * FROM read_python('spark_sources.Counter', "
                      "streaming => true, workers => true)")
    assert r.code != 0, r
    assert "option 'workers' reads a bounded source's partitions in worker processes; " \
           "it does not apply to streaming = true" in r.err, r.err


# --- pyspark-data-sources (PyPI): sources written for Spark, run by flowsql -----------

def test_pyspark_data_sources_arrow_reads_what_pyarrow_reads(tmp_path):
    tables = []
    for i in range(3):  # one partition per file
        table = pa.table({"id": pa.array(range(i * 100, i * 100 + 100), pa.int64()),
                          "name": [f"n{j}" for j in range(100)],
                          "score": pa.array([j / 4 for j in range(100)], pa.float64()),
                          "ok": [j % 2 == 0 for j in range(100)]})
        with pa.ipc.new_file(tmp_path / f"part{i}.arrow", table.schema) as writer:
            writer.write_table(table, max_chunksize=40)
        tables.append(table)
    out = tmp_path / "out.parquet"
    r = flowsql("-c", "SELECT * FROM read_python('pyspark_datasources.arrow.ArrowDataSource', "
                      f"path => '{tmp_path}/*.arrow') ORDER BY id INTO '{out}'")
    assert r.code == 0, r
    got = pq.read_table(out)
    want = pa.concat_tables(tables)
    assert got.schema == want.schema
    assert got.equals(want)


def test_pyspark_data_sources_fake_yields_its_rows():
    # Faker's values are random: the count, the columns and their types are not. The
    # option's case does not matter, as in Spark.
    r = flowsql("--format", "csv", "-c",
                "SELECT count(*), count(DISTINCT typeof(zipcode)), min(typeof(name)) "
                "FROM read_python('pyspark_datasources.fake.FakeDataSource', numrows => '57')")
    assert r.code == 0, r
    assert r.out.splitlines()[1] == "57,1,VARCHAR", r.out


# --- PySpark streams ------------------------------------------------------------------

class Stream:
    """A continuous statement reading spark_sources.<cls> into a CSV folder, with a
    state directory: the API's total in a file, commit() calls logged in another."""

    def __init__(self, tmp_path, cls):
        self.dir = tmp_path
        self.total = tmp_path / "total"
        self.commits = tmp_path / "commits"
        self.cls = cls

    def start(self, total, fault=None, step=60, pause=0):
        self.total.write_text(str(total))
        sql = (f"SELECT * FROM read_python('spark_sources.{self.cls}', streaming => true, "
               f"interval => '50ms', total_file => '{self.total}', "
               f"commit_log => '{self.commits}', step => '{step}', pause => '{pause}') "
               f"INTO '{self.dir}/out/' WITH (format = 'csv', flush_interval = '100ms')")
        env = {**os.environ, "PYTHONPATH": str(PLUGINS)}
        if fault:
            env["FLOWSQL_FAULT"] = fault
        return subprocess.Popen([flowsql_bin(), "--no-progress", "--state-dir",
                                 str(self.dir / "state"), "-c", sql], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def ids(self):
        out, ids = self.dir / "out", []
        for path in sorted(out.glob("part-*")) if out.is_dir() else []:
            with open(path, newline="") as f:
                ids += [int(row["id"]) for row in csv.DictReader(f)]
        return sorted(ids)

    def committed(self):
        text = self.commits.read_text() if self.commits.exists() else ""
        return [int(n) for n in text.split()]


@pytest.mark.parametrize("cls", ["Counter", "SimpleCounter"])
def test_a_pyspark_stream_resumes_where_it_committed(tmp_path, cls):
    stream = Stream(tmp_path, cls)
    proc = stream.start(250)
    try:
        wait_for(lambda: len(stream.ids()) >= 250, "the first 250 ids")
    finally:
        stop(proc)
    assert stream.ids() == list(range(250))
    proc = stream.start(400)  # more arrived while it was stopped
    try:
        wait_for(lambda: len(stream.ids()) >= 400, "the ids that came later")
        wait_for(lambda: stream.committed()[-1:] == [400], "commit() of the last offset")
    finally:
        stop(proc)
    assert stream.ids() == list(range(400))
    # commit() follows the committed epochs: in order, never past what was written.
    assert stream.committed() == sorted(stream.committed()), stream.committed()


@pytest.mark.parametrize("point", ["mid_write", "after_sink_commit", "before_ack"])
def test_a_pyspark_stream_killed_at_a_fault_point_loses_and_repeats_nothing(tmp_path,
                                                                            point):
    # Slow asks (20 ids each 30 ms), so that the epochs around the fault hold rows.
    stream = Stream(tmp_path, "Counter")
    proc = stream.start(600, fault=point + ":2", step=20, pause=0.03)
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == -signal.SIGKILL
    assert len(stream.ids()) < 600
    proc = stream.start(600, step=20, pause=0.03)  # the same statement
    try:
        wait_for(lambda: stream.committed()[-1:] == [600], "commit() of every id")
    finally:
        stop(proc)
    assert stream.ids() == list(range(600))


def test_a_pyspark_reader_with_push_filters_is_given_the_where(tmp_path):
    # pushFilters (Spark 4.1): the conjuncts Spark's Filter classes can say, with the
    # value as the column's type; the rest (an OR, a function of a column) stay with
    # flowsql, which filters every row again whatever the reader keeps.
    log = tmp_path / "filters.log"
    r = flowsql("--format", "csv", "-c",
                "SELECT id FROM read_python('spark_sources.Filtered', rows => '50', "
                f"log => '{log}') WHERE 5 < id AND ratio <= 3 AND name LIKE '%m 2%' AND "
                "attrs IS NULL AND NOT (id IN (20, 22)) AND (id = 7 OR id > 21) AND "
                "abs(id) > 1 ORDER BY id")
    assert r.code == 0, r
    assert r.out.splitlines() == ["id", "24"], r.out
    assert log.read_text().splitlines() == [repr(sorted([
        "GreaterThan(attribute=('id',), value=5)",
        "IsNull(attribute=('attrs',))",
        "LessThanOrEqual(attribute=('ratio',), value=3.0)",
        "Not(child=In(attribute=('id',), value=[20, 22]))",
        "StringContains(attribute=('name',), value='m 2')"]))]


def test_a_reader_without_push_filters_is_not_given_a_filter():
    r = flowsql("-c", "EXPLAIN SELECT id FROM read_python('spark_sources.Tuples') "
                      "WHERE id > 5")
    assert r.code == 0 and "pushed filter" not in r.out, r.out
