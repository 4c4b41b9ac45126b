"""The flowsql Python package: the engine in this process (flowsql._flowsql).

It imports the package built into $BUILD/python: scripts/test.sh puts that first on
PYTHONPATH (make build puts it on the .venv's path)."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

if os.environ.get("FLOWSQL_SANITIZED"):
    pytest.skip("an ASan build's module cannot load into an uninstrumented Python",
                allow_module_level=True)

import flowsql  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
import seed_sources  # noqa: E402
import spark_sources  # noqa: E402

DEADLINE = 60  # s: a wait longer than this is a hang


def wait_for(condition, what):
    """Polls condition() until it holds; fails naming `what` after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)

QUERY = ("SELECT id, CAST(id AS DOUBLE) / 2 AS half, 'n' || CAST(id AS VARCHAR) AS name, "
         "DATE '2024-01-01' + CAST(id AS INTEGER) AS day, id % 2 = 0 AS even "
         "FROM generate_series(1, 3) g(id) ORDER BY id")
SCHEMA = pa.schema([("id", pa.int64()), ("half", pa.float64()), ("name", pa.string()),
                    ("day", pa.date32()), ("even", pa.bool_())])
ROWS = [(i, i / 2, f"n{i}", datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
         i % 2 == 0) for i in (1, 2, 3)]


# --- the module

def test_the_module_is_native_and_runs_no_command(monkeypatch):
    assert flowsql._flowsql.__file__.endswith(".so")
    assert flowsql._flowsql.PYARROW_VERSION == pa.__version__

    def no_subprocess(*args, **kwargs):
        raise AssertionError("flowsql started a process")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    assert flowsql.sql("SELECT 41 + 1 AS x").fetchall() == [(42,)]


def test_a_different_pyarrow_is_refused_at_import():
    code = "import pyarrow; pyarrow.__version__ = '1.0.0'; import flowsql"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=DEADLINE)
    assert proc.returncode == 1
    assert (f"ImportError: flowsql was built against pyarrow {pa.__version__} (it links "
            "that pyarrow's Arrow C++ libraries), but this Python has pyarrow 1.0.0"
            in proc.stderr)


# --- results

def test_a_query_runs_when_consumed_not_before(tmp_path):
    path = tmp_path / "later.csv"
    result = flowsql.sql(f"SELECT k FROM '{path}'")  # the file does not exist yet
    path.write_text("k\n7\n")
    assert result.fetchall() == [(7,)]
    path.write_text("k\n8\n")
    assert result.fetchall() == [(8,)]  # each consumer runs the query again


def test_a_write_runs_at_once(tmp_path):
    out = tmp_path / "out.csv"
    result = flowsql.sql(f"SELECT * FROM generate_series(1, 4) g(n) INTO '{out}'")
    assert out.read_text().split() == ['"n"', "1", "2", "3", "4"]
    assert result.schema == pa.schema([("rows_written", pa.int64())])
    assert result.fetchall() == [(4,)]


def test_to_arrow_keeps_the_types():
    table = flowsql.sql(QUERY).to_arrow()
    assert isinstance(table, pa.Table)
    assert table.schema == SCHEMA
    assert table.to_pylist()[0] == {"id": 1, "half": 0.5, "name": "n1",
                                    "day": datetime.date(2024, 1, 2), "even": False}
    assert flowsql.sql(QUERY).schema == SCHEMA


def test_fetchall_gives_tuples_of_python_values():
    rows = flowsql.sql(QUERY).fetchall()
    assert rows == ROWS
    assert [type(v) for v in rows[0]] == [int, float, str, datetime.date, bool]
    assert rows == duckdb.sql(QUERY).fetchall()  # as DuckDB gives them


def test_to_pandas_and_to_polars():
    frame = flowsql.sql(QUERY).to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == SCHEMA.names
    assert str(frame["id"].dtype) == "int64" and str(frame["half"].dtype) == "float64"
    assert str(frame["even"].dtype) == "bool"
    assert frame["name"].tolist() == ["n1", "n2", "n3"]
    polars_frame = flowsql.sql(QUERY).to_polars()
    assert isinstance(polars_frame, pl.DataFrame)
    assert polars_frame.schema == pl.Schema({"id": pl.Int64, "half": pl.Float64,
                                             "name": pl.String, "day": pl.Date,
                                             "even": pl.Boolean})
    assert polars_frame.rows() == ROWS


def test_iteration_yields_record_batches():
    batches = list(flowsql.sql("SELECT * FROM generate_series(1, 200000) g(n)"))
    assert len(batches) > 1
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert all(b.schema == pa.schema([("n", pa.int64())]) for b in batches)
    assert sum(b.num_rows for b in batches) == 200000
    assert pa.Table.from_batches(batches).column("n").to_pylist() == list(range(1, 200001))


def test_arrow_c_stream_feeds_pyarrow_duckdb_and_polars():
    result = flowsql.sql(QUERY)
    assert pa.table(result) == flowsql.sql(QUERY).to_arrow()
    reader = pa.RecordBatchReader.from_stream(result)
    assert reader.schema == SCHEMA
    assert reader.read_all().num_rows == 3
    assert duckdb.sql("SELECT sum(id), max(name) FROM result").fetchall() == [(6, "n3")]
    assert duckdb.from_arrow(result).fetchall() == ROWS
    frame = pl.DataFrame(result)
    assert frame.schema["day"] == pl.Date and frame.rows() == ROWS
    # polars.from_arrow reads a stream as a Series of structs, one per row.
    assert pl.from_arrow(result).struct.unnest().rows() == ROWS


def test_a_stream_read_partly_is_closed_cleanly():
    stream = iter(flowsql.sql("SELECT * FROM generate(batch_size => 1000)"))  # unbounded
    first = next(stream)
    assert first.num_rows == 1000 and first.schema.names == ["id", "ts", "value", "category"]
    stream.close()


def test_several_statements_return_the_last():
    result = flowsql.sql("CREATE VIEW v AS SELECT 1 AS x; SELECT x + 1 AS y FROM v")
    assert result.fetchall() == [(2,)]


# --- errors

def test_bad_sql_is_a_user_error_with_its_position():
    with pytest.raises(flowsql.UserError) as info:
        flowsql.sql("SELECT 1,\n  FROM")
    assert isinstance(info.value, flowsql.Error)
    assert info.value.kind == "Invalid"
    assert info.value.message.startswith(
        "syntax error at line 2:3: expected an expression but found 'FROM'")
    assert str(info.value) == info.value.message


def test_unknown_option_is_a_user_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(flowsql.UserError) as info:
        flowsql.sql(f"SELECT * FROM '{path}' WITH (delimter = ';')").to_arrow()
    assert info.value.kind == "Invalid"
    assert "unknown option 'delimter'" in info.value.message


def test_unknown_table_is_a_user_error():
    with pytest.raises(flowsql.UserError) as info:
        flowsql.sql("SELECT * FROM nowhere").fetchall()
    assert info.value.kind == "Key error"
    assert info.value.message.startswith("table 'nowhere' not found at line 1:15")


def test_a_failing_source_is_an_execution_error():
    con = flowsql.connect()
    con.register("r", seed_sources.Raises)
    with pytest.raises(flowsql.ExecutionError) as info:
        con.sql("SELECT count(*) FROM r").fetchall()
    assert info.value.kind == "IOError"
    assert "ValueError: no partition 2 today" in info.value.message


# --- sessions

def test_a_connection_keeps_views_tables_and_settings():
    con = flowsql.connect()
    con.sql("CREATE VIEW v AS SELECT * FROM generate_series(1, 5) g(n)")
    con.sql("CREATE TABLE t AS SELECT n * 10 AS m FROM v WHERE n <= 2")
    con.sql("SET TimeZone = 'America/New_York'")
    assert con.sql("SELECT sum(n) AS s FROM v").fetchall() == [(15,)]
    assert con.sql("SELECT m FROM t ORDER BY m").fetchall() == [(10,), (20,)]
    assert con.sql("SELECT current_setting('TimeZone') AS z").fetchall() == [
        ("America/New_York",)]
    assert con.sql("SHOW TABLES").fetchall() == [("t",), ("v",)]
    # Another connection is another session.
    with pytest.raises(flowsql.UserError):
        flowsql.connect().sql("SELECT * FROM v").fetchall()


def test_execute_runs_a_query_at_once(tmp_path):
    con = flowsql.connect()
    path = tmp_path / "t.csv"
    path.write_text("k\n1\n")
    result = con.execute(f"SELECT k FROM '{path}'")
    path.write_text("k\n2\n")
    assert result.fetchall() == [(1,)]


# --- registered objects

TABLE = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "v": ["a", "b", None]})


def test_register_a_pyarrow_table():
    con = flowsql.connect().register("t", TABLE)
    assert con.sql("SELECT * FROM t ORDER BY k").to_arrow() == TABLE
    assert con.sql("SELECT count(*) AS n FROM t WHERE v IS NOT NULL").fetchall() == [(2,)]
    assert con.sql("SELECT count(*) AS n FROM T").fetchall() == [(3,)]  # read again


def test_register_a_record_batch_reader_reads_it_once():
    con = flowsql.connect()
    reader = pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches())
    con.register("r", reader)
    assert con.sql("SELECT sum(k) AS s FROM r").fetchall() == [(6,)]
    with pytest.raises(flowsql.UserError) as info:
        con.sql("SELECT sum(k) AS s FROM r").fetchall()
    assert info.value.message == (
        "the RecordBatchReader registered as 'r' has been read already and cannot be "
        "scanned again: a RecordBatchReader can be read only once (as in DuckDB); to "
        "scan it more than once, register a table (reader.read_all())")


def test_register_a_generator_backed_reader():
    def batches():
        for i in range(5):
            yield pa.record_batch({"i": pa.array([i] * 1000, pa.int64())})

    reader = pa.RecordBatchReader.from_batches(pa.schema([("i", pa.int64())]), batches())
    con = flowsql.connect().register("gen", reader)
    assert con.sql("SELECT i, count(*) AS n FROM gen GROUP BY i ORDER BY i").fetchall() == [
        (i, 1000) for i in range(5)]


def test_register_pandas_and_polars_frames():
    con = flowsql.connect()
    con.register("p", pd.DataFrame({"k": [1, 2], "v": ["x", "y"]}))
    con.register("q", pl.DataFrame({"k": [2, 3], "w": [0.5, 1.5]}))
    result = con.sql("SELECT p.k, v, w FROM p JOIN q ON p.k = q.k")
    assert result.schema == pa.schema([("k", pa.int64()), ("v", pa.string()),
                                       ("w", pa.float64())])
    assert result.fetchall() == [(2, "y", 0.5)]


class CStream:
    """Any object with the Arrow PyCapsule stream interface; counts its exports."""

    def __init__(self, table):
        self.table = table
        self.exports = 0

    def __arrow_c_stream__(self, requested_schema=None):
        self.exports += 1
        return self.table.__arrow_c_stream__(requested_schema)


def test_register_an_arrow_c_stream_object():
    obj = CStream(TABLE)
    con = flowsql.connect().register("s", obj)
    assert con.sql("SELECT k FROM s WHERE v = 'b'").fetchall() == [(2,)]
    assert con.sql("SELECT count(*) FROM s").fetchall() == [(3,)]
    assert obj.exports == 3  # one for the schema, then one per scan


def test_register_a_seed_data_source_class_and_instance():
    con = flowsql.connect()
    con.register("items", seed_sources.Items, options={"partitions": 2, "batches": 1})
    assert con.sql("SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM items").fetchall() \
        == [(200, 0, 199)]
    con.register("items2", seed_sources.Items())
    result = con.sql("SELECT id, price, at FROM items2 WHERE id = 5")
    assert result.schema == pa.schema([("id", pa.int64()), ("price", pa.decimal128(10, 2)),
                                       ("at", pa.timestamp("us", tz="Etc/UTC"))])
    assert result.fetchall() == [
        (5, Decimal("5.25"), datetime.datetime(1970, 1, 1, 0, 0, 5,
                                                tzinfo=datetime.timezone.utc))]


def test_register_a_pyspark_data_source():
    con = flowsql.connect()
    con.register("tuples", spark_sources.Tuples, options={"partitions": 2, "rows": 10})
    assert con.sql("SELECT count(*) AS n FROM tuples").fetchall() == [(20,)]
    con.register("tuples1", spark_sources.Tuples(options={"partitions": 1, "rows": 4}))
    assert con.sql("SELECT count(*) AS n FROM tuples1").fetchall() == [(4,)]


def test_register_a_source_read_in_worker_processes():
    # A class made here, as in a notebook: the workers get it by value (cloudpickle).
    class Squares:
        def infer_schema(self, options):
            return pa.schema([("n", pa.int64()), ("square", pa.int64()),
                              ("pid", pa.int64())])

        def plan_partitions(self, options):
            return [range(p * 1000, p * 1000 + 1000) for p in range(4)]

        def read_partition(self, numbers, options):
            import os
            return ((n, n * n, os.getpid()) for n in numbers)

    con = flowsql.connect().register("squares", Squares, workers=True)
    assert con.sql("SELECT count(*), sum(square), count(DISTINCT pid) > 0, "
                   "bool_and(pid <> %d) FROM squares" % os.getpid()).fetchall() \
        == [(4000, sum(n * n for n in range(4000)), True, True)]
    with pytest.raises(ValueError, match="workers applies to sources that are not "
                                         "streaming"):
        con.register("s", spark_sources.Counter, streaming=True, workers=True)


def test_register_refuses_other_objects():
    with pytest.raises(TypeError, match="cannot register a builtins.list"):
        flowsql.connect().register("x", [1, 2])


def test_unregister():
    con = flowsql.connect().register("t", TABLE)
    con.unregister("t")
    with pytest.raises(flowsql.UserError, match="table 't' not found"):
        con.sql("SELECT * FROM t").fetchall()


# --- continuous statements

def committed_rows(out):
    return duckdb.sql(f"SELECT count(*) FROM '{out}/*.parquet'").fetchall()[0][0]


def test_a_continuous_pipeline_reports_status_and_stops(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    pipeline = flowsql.start(
        f"SELECT id FROM generate(rate => 2000) INTO '{out}/' "
        "WITH (format = 'parquet', flush_interval = '100ms')",
        state_dir=state, pipeline="gen")
    wait_for(lambda: pipeline.status().epoch >= 2, "three committed epochs")
    status = pipeline.status()
    assert status.running is True and status.pipeline == "gen" and status.error is None
    assert status.rows > 0 and list(status.offsets) == ["0:0/1"]
    assert pipeline.wait(timeout=0.05) is False
    pipeline.stop()
    status = pipeline.status()
    assert status.running is False and status.error is None
    assert pipeline.wait() is True
    assert pipeline.rows_written == status.rows == committed_rows(out)
    # The offset is the next id: every committed row, no more.
    assert status.offsets["0:0/1"].split("@")[0] == str(status.rows)


def test_a_registered_pyspark_stream_runs_continuously(tmp_path):
    out, total = tmp_path / "out", tmp_path / "total"
    total.write_text("500")
    con = flowsql.connect()
    con.register("counter", spark_sources.Counter, streaming=True,
                 options={"total_file": str(total), "step": "50"})
    pipeline = con.start(f"SELECT id, label FROM counter INTO '{out}/' "
                         "WITH (format = 'parquet', flush_interval = '100ms')")
    wait_for(lambda: pipeline.status().rows == 500, "the 500 rows to commit")
    total.write_text("800")
    wait_for(lambda: pipeline.status().rows == 800, "300 more rows to commit")
    pipeline.stop()
    assert pipeline.status().error is None
    assert duckdb.sql(f"SELECT count(DISTINCT id), min(id), max(id) FROM '{out}/*.parquet'"
                      ).fetchall() == [(800, 0, 799)]


def test_start_refuses_a_query():
    with pytest.raises(flowsql.UserError, match="start\\(\\) runs a statement that writes"):
        flowsql.start("SELECT 1")


def test_a_batch_write_ends_on_its_own(tmp_path):
    pipeline = flowsql.connect().start(
        f"SELECT * FROM generate_series(1, 10) g(n) INTO '{tmp_path}/o.csv'")
    assert pipeline.wait(timeout=DEADLINE) is True
    assert pipeline.rows_written == 10


def main_thread_in(function):
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def interrupt_when(condition):
    """Sends SIGINT to this process once condition() holds (from a thread)."""
    def run():
        wait_for(condition, "the main thread to block")
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_in_wait_commits_and_propagates(tmp_path):
    out = tmp_path / "out"
    pipeline = flowsql.start(f"SELECT id FROM generate(rate => 5000) INTO '{out}/' "
                             "WITH (format = 'parquet', flush_interval = '100ms')")
    thread = interrupt_when(lambda: pipeline.status().epoch >= 1 and main_thread_in("wait"))
    with pytest.raises(KeyboardInterrupt):
        pipeline.wait()
    thread.join()
    status = pipeline.status()
    assert status.running is False and status.error is None
    # The epoch in progress was committed: the files hold every row counted.
    assert status.rows == committed_rows(out) > 0


def test_ctrl_c_cancels_a_running_query():
    result = flowsql.sql("SELECT count(*) FROM (SELECT * FROM generate(rate => 100) "
                         "LIMIT 1000000)")
    thread = interrupt_when(lambda: main_thread_in("to_arrow"))
    with pytest.raises(KeyboardInterrupt):
        result.to_arrow()
    thread.join()


# --- threads

class Meeting:
    """A one-partition source whose read waits until two reads are in progress at
    once: a query blocks it only when the other query cannot run meanwhile."""

    barrier = threading.Barrier(2, timeout=DEADLINE)

    def infer_schema(self, options):
        return pa.schema([("met", pa.bool_())])

    def plan_partitions(self, options):
        return [0]

    def read_partition(self, partition, options):
        Meeting.barrier.wait()
        yield pa.record_batch({"met": [True]})


@pytest.mark.parametrize("shared", [True, False], ids=["one_connection", "two"])
def test_two_threads_run_queries_at_once(shared):
    results, errors = {}, []

    def query(name, connection):
        try:
            results[name] = connection.sql("SELECT met FROM meeting").fetchall()
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    first = flowsql.connect().register("meeting", Meeting)
    second = first if shared else flowsql.connect().register("meeting", Meeting)
    threads = [threading.Thread(target=query, args=("a", first)),
               threading.Thread(target=query, args=("b", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not errors, errors
    assert results == {"a": [(True,)], "b": [(True,)]}
