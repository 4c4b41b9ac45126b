"""flowsql as a PySpark data source: every flowsql connector on a Spark cluster.

    >>> import flowsql.spark
    >>> flowsql.spark.register(spark)
    >>> df = spark.read.format("flowsql").option("source", "s3://bucket/events/").load()
    >>> df.write.format("flowsql").option("sink", "out/").mode("append").save()
    >>> stream = spark.readStream.format("flowsql").option("source", "generate://?rate=100").load()

Reading (``source``): the driver builds the connector's Source as ``FROM '<source>'
WITH (<the other options>)`` would (the same option checks) and plans its splits; each
split is one Spark partition, shipped as a serialized flowsql scan task; the executor
rebuilds the source from flowsql's connector registry, opens its split and yields the
Arrow batches. ``query`` runs a whole flowsql query in one Spark partition.

Writing (``sink``): each Spark task writes its rows with ``SELECT * FROM <its rows> INTO
'<sink>' WITH (...)`` as a flowsql pipeline of its own, ``spark-<job>-<partition>-
<attempt>``, so a directory gets one part per task, committed when the task ends. The
driver's commit removes parts of failed attempts; its abort removes the job's parts (local
directories only; docs/python.md says what other sinks keep).

Streaming: an unbounded source's splits are read ahead on the driver to learn how far
each has got; Spark's offset is ``{split id: flowsql offset}``; each micro-batch reads every
split over its (start, end] range on the executors, and Spark's commit acknowledges the
offsets to the source.

Executors need this package importable by the Python Spark runs there (the same flowsql
and pyarrow versions as the driver). docs/python.md, section Spark, documents it.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    DataSourceStreamReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

__all__ = ["FlowsqlDataSource", "register"]

# The options this data source reads itself; every other option goes to the connector.
_OWN = {"source", "path", "query", "sink", "max_rows_ahead"}
# Write modes are Spark's (DataFrameWriter.mode), never a sink option.
_MODE_OPTIONS = {"mode", "overwrite", "append", "write_mode", "save_mode",
                 "overwrite_or_ignore"}


def register(spark: Any) -> None:
    """Registers the data source ``flowsql`` in the SparkSession ``spark``."""
    spark.dataSource.register(FlowsqlDataSource)


def _native() -> Any:
    # Imported where the code runs: the driver and each Python worker.
    from flowsql import _flowsql

    return _flowsql


def _connector_options(options: Dict[str, str]) -> Dict[str, str]:
    return {k: str(v) for k, v in options.items() if k.lower() not in _OWN}


def _source_uri(options: Dict[str, str]) -> str:
    uri = options.get("source") or options.get("path")
    if not uri:
        raise ValueError(
            "the flowsql data source needs option 'source' (a URI or path flowsql "
            "reads, as in FROM '<source>'), load('<source>'), or option 'query'")
    return uri


class _TaskPartition(InputPartition):
    """One flowsql split: its id and its serialized scan task (connector, arguments,
    request, split, range)."""

    def __init__(self, split: str, task: bytes, start: str = "", end: str = ""):
        super().__init__(split)
        self.split = split
        self.task = task
        self.start = start
        self.end = end


class _QueryPartition(InputPartition):
    def __init__(self, query: str):
        super().__init__(query)
        self.query = query


def _read_task(partition: _TaskPartition, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    scan = _native().SplitScan(partition.task, _encode(partition.start),
                               _encode(partition.end))
    try:
        while True:
            item = scan.read_next()
            if item is None:
                return
            batch = pa.RecordBatch._import_from_c_capsule(item[0], item[1])
            if batch.num_rows:
                yield _conform(batch, schema)
    finally:
        scan.close()


def _read_query(query: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    import flowsql

    for batch in flowsql.sql(query):
        if batch.num_rows:
            yield _conform(batch, schema)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with Spark's Arrow types (e.g. timestamps in microseconds)."""
    if batch.schema.equals(schema):
        return batch
    return pa.RecordBatch.from_arrays(
        [column.cast(field.type) for column, field in zip(batch.columns, schema)],
        schema=schema)


# flowsql offsets are bytes; Spark's offsets are JSON. Text offsets stay as they are;
# any other byte survives as a surrogate escape.
def _offset_text(offset: bytes) -> str:
    return offset.decode("utf-8", "surrogateescape")


def _encode(offset: str) -> bytes:
    return offset.encode("utf-8", "surrogateescape")


class _Reader(DataSourceReader):
    """Plans on the driver (pickled to the executors with its partitions)."""

    def __init__(self, options: Dict[str, str], schema: StructType):
        # Spark's Arrow form of its schema (TimestampType: microseconds, UTC).
        self._arrow_schema = to_arrow_schema(schema, timezone="UTC")
        query = options.get("query")
        if query:
            self._partitions: List[InputPartition] = [_QueryPartition(query)]
        else:
            # The scan reads the schema's columns only: all of them unless the user gave
            # Spark a schema of fewer (DataFrameReader.schema), a projection pushed down.
            scan = _native().ScanSource(_source_uri(options), _connector_options(options),
                                        schema.fieldNames())
            self._partitions = [_TaskPartition(split, task) for split, task in scan.tasks()]

    def partitions(self) -> Sequence[InputPartition]:
        return self._partitions

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if isinstance(partition, _QueryPartition):
            return _read_query(partition.query, self._arrow_schema)
        return _read_task(partition, self._arrow_schema)


# --- Writing

_LOCAL = re.compile(r"^(file://)?[^:]*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _local_dir(uri: str) -> Optional[str]:
    """The directory a local sink URI names, else None."""
    if not _LOCAL.match(uri):
        return None
    return uri[len("file://"):] if uri.startswith("file://") else uri


class _TaskCommit(WriterCommitMessage):
    def __init__(self, pipeline: str, rows: int):
        self.pipeline = pipeline
        self.rows = rows


class _Writer(DataSourceArrowWriter):
    """Each task writes its rows as a flowsql pipeline of its own; see the module's doc.

    Visibility: a task's rows become visible when its INTO commits, at the task's end
    (a directory: its part file is renamed into place). Spark's commit on the driver
    then removes, in a local directory, the parts of this job's attempts that Spark did
    not count (a retried task's first attempt), and under mode("overwrite") the other
    visible files of the format it wrote; Spark's abort removes every part this job wrote there. A sink that is
    not a local directory keeps what committed tasks wrote when the job aborts."""

    def __init__(self, options: Dict[str, str], schema: StructType, overwrite: bool):
        self._uri = options.get("sink") or options.get("path")
        if not self._uri:
            raise ValueError("the flowsql data source writes to option 'sink' (a URI or "
                             "path flowsql writes, as in INTO '<sink>') or save('<sink>')")
        connector, names = _native().sink_options(self._uri)
        self._options = _connector_options(options)
        for name in self._options:
            if not _NAME.match(name):
                raise ValueError(f"flowsql sink option name {name!r} is not a plain name")
            if name.lower() in _MODE_OPTIONS:
                raise ValueError(
                    f"option {name!r}: set the write mode with Spark's "
                    "DataFrameWriter.mode('append' or 'overwrite'), not as a sink option")
        self._overwrite = overwrite
        self._dir = _local_dir(self._uri)
        if overwrite and self._dir is None:
            raise ValueError(
                f"mode('overwrite') into {self._uri!r}: the flowsql data source "
                "overwrites local directories only; write with mode('append')")
        # Tasks append side by side; overwrite happens at the job's commit.
        if "mode" in names:
            self._options["mode"] = "append"
        self._job = uuid.uuid4().hex[:12]
        self._check(to_arrow_schema(schema, timezone="UTC"))

    def _check(self, schema: pa.Schema) -> None:
        """Plans the tasks' statement on the driver (EXPLAIN binds the sink and checks
        its options, writing nothing), so that a bad option fails the job before any
        task runs, with the sink's own message."""
        import flowsql

        connection = flowsql.connect()
        connection.register("spark_rows", schema.empty_table())
        try:
            connection.sql("EXPLAIN " + self._statement()).fetchall()
        except flowsql.Error as error:
            # The position is in the statement built here, not in anything the user wrote.
            message = re.sub(r" at line \d+:\d+", "", error.message)
            raise type(error)(f"writing {self._uri!r}: {message}", error.kind) from None

    def _statement(self) -> str:
        options = ", ".join(f"{k} = {_quote(v)}" for k, v in self._options.items())
        return (f"SELECT * FROM spark_rows INTO {_quote(self._uri)}"
                + (f" WITH ({options})" if options else ""))

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        import flowsql
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        attempt = context.attemptNumber() if context else 0
        pipeline = f"spark-{self._job}-{partition}-{attempt}"
        first = next(iterator, None)
        if first is None:
            return _TaskCommit(pipeline, 0)  # no rows: no part

        def batches() -> Iterator[pa.RecordBatch]:
            yield first
            yield from iterator

        reader = pa.RecordBatchReader.from_batches(first.schema, batches())
        connection = flowsql.connect(pipeline=pipeline)
        connection.register("spark_rows", reader)
        rows = connection.sql(self._statement()).fetchall()[0][0]
        return _TaskCommit(pipeline, rows)

    def _job_files(self) -> Iterator[tuple]:
        """(path, pipeline, is a part) of each file this job's tasks left in the local
        directory: their parts and the file sink's lock files."""
        pattern = re.compile(r"^(part-\d+-|\.lock-)(spark-" + self._job + r"-\d+-\d+)([.-]|$)")
        for root, dirs, files in os.walk(self._dir):
            dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
            for name in files:
                match = pattern.match(name)
                if match:
                    yield os.path.join(root, name), match.group(2), match.group(1) != ".lock-"

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        if self._dir is None or not os.path.isdir(self._dir):
            return
        counted = {m.pipeline for m in messages if isinstance(m, _TaskCommit)}
        kept, endings = set(), set()
        for path, pipeline, part in list(self._job_files()):
            if part and pipeline in counted:
                kept.add(path)
                # ".parquet", ".csv.gz": what follows the pipeline's name
                endings.add(os.path.basename(path).split(pipeline, 1)[1].lstrip("-0123456789"))
            else:
                os.remove(path)  # a lock, or the part of an attempt Spark did not count
        if self._overwrite:
            # As the file sink's overwrite: the other visible files of the same format
            # (an overwrite that wrote nothing removes nothing).
            for root, dirs, files in os.walk(self._dir):
                dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
                for name in files:
                    path = os.path.join(root, name)
                    if (not name.startswith((".", "_")) and path not in kept
                            and name.endswith(tuple(endings))):
                        os.remove(path)

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        if self._dir is None or not os.path.isdir(self._dir):
            return
        for path, _, _ in list(self._job_files()):
            os.remove(path)


# --- Streaming


class _ReadAhead:
    """Reads one split on a driver thread to learn the offsets it reaches (the rows are
    dropped: the executors read them again over a range). Pauses after `max_rows` rows
    until the next latest(), which bounds a micro-batch."""

    def __init__(self, task: bytes, start: str, max_rows: int):
        self.scan = _native().SplitScan(task, _encode(start), b"")
        self._max_rows = max_rows
        self._cv = threading.Condition()
        self._offset = start
        self._rows = 0
        self._error: Optional[BaseException] = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="flowsql-read-ahead",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    self._cv.wait_for(lambda: self._stopped or self._rows < self._max_rows)
                    if self._stopped:
                        return
                item = self.scan.read_next()  # blocks, the GIL released
                if item is None:
                    return
                rows = pa.RecordBatch._import_from_c_capsule(item[0], item[1]).num_rows
                with self._cv:
                    self._offset = _offset_text(item[2])
                    self._rows += rows
        except BaseException as error:  # noqa: BLE001 (handed to latest())
            with self._cv:
                if not self._stopped:
                    self._error = error

    def latest(self) -> str:
        """The offset reached so far; lets the thread read `max_rows` more."""
        with self._cv:
            if self._error is not None:
                raise self._error
            self._rows = 0
            self._cv.notify_all()
            return self._offset

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self.scan.close()
        self._thread.join()


class _StreamReader(DataSourceStreamReader):
    """Spark's offset is {split id: flowsql offset text} ("" = the split's start).
    latestOffset() returns what the driver's read-ahead threads have reached; a
    micro-batch reads each split that moved over (start, end]; commit() acknowledges
    the end offsets to the source (Source::Acknowledge)."""

    def __init__(self, options: Dict[str, str], schema: StructType):
        self._arrow_schema = to_arrow_schema(schema, timezone="UTC")
        self._max_rows = int(options.get("max_rows_ahead", "100000"))
        if self._max_rows <= 0:
            raise ValueError("option 'max_rows_ahead' must be a positive number of rows")
        self._scan = _native().ScanSource(_source_uri(options), _connector_options(options),
                                          schema.fieldNames())
        self._tasks = dict(self._scan.tasks())
        self._ahead: Optional[Dict[str, _ReadAhead]] = None

    def __getstate__(self) -> Dict[str, Any]:
        # What read() needs on an executor; the source and threads stay on the driver.
        state = dict(self.__dict__)
        state["_scan"] = None
        state["_ahead"] = None
        return state

    def initialOffset(self) -> dict:
        return {split: "" for split in self._tasks}

    def latestOffset(self, start: Optional[dict] = None, limit: Any = None) -> dict:
        if self._ahead is None:
            begin = start if start is not None else self.initialOffset()
            self._ahead = {split: _ReadAhead(task, begin.get(split, ""), self._max_rows)
                           for split, task in self._tasks.items()}
        return {split: ahead.latest() for split, ahead in self._ahead.items()}

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        return [_TaskPartition(split, task, start.get(split, ""), end[split])
                for split, task in self._tasks.items()
                if end.get(split, "") != start.get(split, "")]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        return _read_task(partition, self._arrow_schema)

    def commit(self, end: dict) -> None:
        # The reading source hears it (a Python stream commits its own reader); before
        # any read-ahead, the planning one.
        for split, offset in end.items():
            if not offset:
                continue
            ahead = (self._ahead or {}).get(split)
            target = ahead.scan if ahead is not None else self._scan
            if target is not None:
                target.acknowledge({split: _encode(offset)})

    def stop(self) -> None:
        for ahead in (self._ahead or {}).values():
            ahead.stop()
        self._ahead = None


class FlowsqlDataSource(DataSource):
    """The PySpark data source ``flowsql`` (see the module's doc)."""

    @classmethod
    def name(cls) -> str:
        return "flowsql"

    def schema(self) -> StructType:
        options = dict(self.options)
        query = options.get("query")
        if query:
            import flowsql

            if options.get("source") or options.get("path"):
                raise ValueError("give the flowsql data source 'query' or 'source', not both")
            return from_arrow_schema(flowsql.sql(query).schema)
        scan = _native().ScanSource(_source_uri(options), _connector_options(options))
        return from_arrow_schema(pa.Schema._import_from_c_capsule(scan.schema()))

    def reader(self, schema: StructType) -> DataSourceReader:
        return _Reader(dict(self.options), schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceArrowWriter:
        return _Writer(dict(self.options), schema, overwrite)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        return _StreamReader(dict(self.options), schema)
