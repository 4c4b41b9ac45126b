"""flowsql: one SQL statement from any source into any sink, in Python.

    >>> import flowsql
    >>> flowsql.sql("SELECT * FROM generate_series(1, 3)").fetchall()
    [(1,), (2,), (3,)]

The package runs flowsql's engine in this process (the extension module
``flowsql._flowsql``, built on the same C++ core as the ``flowsql`` command); rows
cross into pyarrow, pandas, Polars and DuckDB through the Arrow C data interface,
without a copy. docs/python.md documents the API.
"""

from __future__ import annotations

import os

# As the flowsql command does (src/cli/main.cc): Arrow's jemalloc allocator, which
# keeps freed pages for the next batches, where mimalloc hands them back to the
# kernel and faults them in again (a 20M-row result: 1.3 s -> 0.3 s). Arrow reads the
# variable on its first allocation: it applies when flowsql is imported before
# pyarrow allocates anything; a user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pyarrow as pa

from ._errors import Error, ExecutionError, UserError

try:
    from ._build_info import PYARROW_VERSION as _BUILT_PYARROW
except ImportError as _error:  # the package's sources, without a build
    raise ImportError(
        "flowsql's extension module is not built: run `make build` in the flowsql "
        "checkout, which puts <build>/python on the .venv's path"
    ) from _error
if pa.__version__ != _BUILT_PYARROW:
    raise ImportError(
        f"flowsql was built against pyarrow {_BUILT_PYARROW} (it links that "
        f"pyarrow's Arrow C++ libraries), but this Python has pyarrow {pa.__version__}: "
        f"install pyarrow=={_BUILT_PYARROW} or rebuild flowsql"
    )

from . import _flowsql  # noqa: E402  (after the version check)

__version__ = "0.1.0"
__all__ = [
    "Connection",
    "Error",
    "ExecutionError",
    "Pipeline",
    "PipelineStatus",
    "Result",
    "UserError",
    "connect",
    "sql",
    "start",
    "__version__",
]


class Result:
    """The result of a statement, read when consumed.

    A query (SELECT, EXPLAIN, DESCRIBE, SHOW TABLES) is lazy: ``sql()`` only
    parses it; each consumer — ``to_arrow()``, ``to_pandas()``, ``to_polars()``,
    ``fetchall()``, iteration, ``schema`` or ``__arrow_c_stream__`` — plans and
    runs it afresh, as a DuckDB relation does. Any other statement (INTO, COPY,
    CREATE, DROP, SET) has run when ``sql()`` returns, and its result (INTO and
    COPY: one row, ``rows_written``) is kept.
    """

    def __init__(self, connection: "Connection", statement: Any, text: str,
                 table: Optional[pa.Table] = None):
        self._connection = connection
        self._statement = statement
        self._text = text
        self._table = table

    def _stream(self) -> Any:
        return self._connection._native.execute(self._statement)

    @property
    def schema(self) -> pa.Schema:
        """The columns and their Arrow types (plans and starts a query, then stops it)."""
        if self._table is not None:
            return self._table.schema
        stream = self._stream()
        try:
            return pa.Schema._import_from_c_capsule(stream.schema())
        finally:
            stream.close()

    def to_arrow(self) -> pa.Table:
        """All rows as a pyarrow.Table (its chunks are the engine's batches, not copied)."""
        if self._table is not None:
            return self._table
        capsule = self._stream().read_all()
        return pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()

    def arrow(self) -> pa.Table:
        """The same as to_arrow() (DuckDB's name)."""
        return self.to_arrow()

    def to_pandas(self) -> Any:
        """All rows as a pandas.DataFrame (pyarrow's conversion)."""
        return self.to_arrow().to_pandas()

    def df(self) -> Any:
        """The same as to_pandas() (DuckDB's name)."""
        return self.to_pandas()

    def to_polars(self) -> Any:
        """All rows as a polars.DataFrame (from the Arrow table, without a copy)."""
        import polars

        return polars.from_arrow(self.to_arrow())

    def pl(self) -> Any:
        """The same as to_polars() (DuckDB's name)."""
        return self.to_polars()

    def fetchall(self) -> List[Tuple[Any, ...]]:
        """All rows as a list of tuples, values as pyarrow's as_py() gives them."""
        table = self.to_arrow()
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns)) if columns else []

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """The rows as pyarrow.RecordBatch values, as the engine produces them."""
        if self._table is not None:
            yield from self._table.to_batches()
            return
        stream = self._stream()
        try:
            while True:
                capsules = stream.read_next()
                if capsules is None:
                    return
                yield pa.RecordBatch._import_from_c_capsule(*capsules)
        finally:
            stream.close()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule interface: runs the statement and hands its batches to
        the consumer as it reads them (pyarrow, DuckDB, Polars), without a copy.
        ``requested_schema`` is ignored: the result has the types flowsql gives it."""
        if self._table is not None:
            return self._table.__arrow_c_stream__(requested_schema)
        return self._stream().export()

    def __repr__(self) -> str:
        return f"<flowsql.Result of {self._text.strip()!r}>"


class PipelineStatus(dict):
    """A running statement's state (a dict with these keys, also attributes):
    ``running``; ``pipeline`` (its name, once an epoch committed); ``epoch`` (the
    last committed epoch, -1 before the first); ``rows`` (rows committed by this
    run); ``offsets`` (each split's offset after the last commit, by
    ``"<scan>:<split>"``); ``error`` (its message once it failed, else None)."""

    __getattr__ = dict.__getitem__


class Pipeline:
    """A write statement (INTO, COPY) running in the background, from
    Connection.start() or flowsql.start(). A continuous one (reading an unbounded
    source) runs until stopped; stopping commits its epoch in progress. Dropping
    the last reference to a running Pipeline stops it as stop() does."""

    def __init__(self, native: Any, connection: "Connection"):
        self._native = native
        self._connection = connection

    def status(self) -> PipelineStatus:
        """Rows, epoch and offsets so far; see PipelineStatus."""
        return PipelineStatus(self._native.status())

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits up to ``timeout`` seconds (None: until it ends). Returns True once the
        statement has ended, False on timeout; raises its Error if it failed.
        Ctrl-C (KeyboardInterrupt) stops it cleanly — a continuous pipeline commits
        its epoch in progress — and then propagates."""
        return self._native.wait(timeout)

    def stop(self) -> None:
        """Stops the statement and waits for it: a continuous pipeline commits its
        epoch in progress and ends without error; a batch write is aborted, leaving
        its targets as they were (ExecutionError, kind "Cancelled")."""
        self._native.stop()

    @property
    def rows_written(self) -> Optional[int]:
        """Rows the statement wrote, once it has ended without error; else None."""
        return self._native.rows_written

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._native.status()["running"]:
            self.stop()


def _is_data_source(obj: Any) -> bool:
    """A seed 001 source (infer_schema, plan_partitions, read_partition) or a PySpark
    DataSource subclass: the class or an instance."""
    cls = obj if isinstance(obj, type) else type(obj)
    if all(hasattr(cls, m) for m in ("infer_schema", "plan_partitions", "read_partition")):
        return True
    return any(
        base.__name__ == "DataSource" and base.__module__.startswith("pyspark")
        for base in cls.__mro__
    )


def _type_is(obj: Any, module: str, name: str) -> bool:
    return any(
        base.__module__.split(".")[0] == module and base.__name__ == name
        for base in type(obj).__mro__
    )


class Connection:
    """A session: one engine whose views, tables, settings and registered objects
    last across its statements. Thread-safe: several threads may run statements on
    one connection at once (the GIL is released while the engine works)."""

    def __init__(self, state_dir: Optional[str] = None, pipeline: Optional[str] = None,
                 reset: bool = False):
        self._native = _flowsql.Connection(
            str(state_dir) if state_dir is not None else "", pipeline or "", reset
        )
        self._registered: Dict[str, Any] = {}  # keeps registered objects alive

    def sql(self, query: str) -> Result:
        """Runs ``query`` (one or more statements separated by ';') and returns the
        result of the last. Statements before the last run now; so does the last
        unless it is a query, which runs when its Result is consumed (Result)."""
        statements = self._native.parse(query)
        if not statements:
            raise UserError("no statement to run", "Invalid")
        for statement in statements[:-1]:
            self._run(statement)
        last = statements[-1]
        if last.is_query:
            return Result(self, last, query)
        return Result(self, last, query, self._run(last))

    def execute(self, query: str) -> Result:
        """Like sql(), but the last statement runs now too, even a query: its rows
        are read into memory before execute() returns."""
        statements = self._native.parse(query)
        if not statements:
            raise UserError("no statement to run", "Invalid")
        table = None
        for statement in statements:
            table = self._run(statement)
        return Result(self, statements[-1], query, table)

    def _run(self, statement: Any) -> pa.Table:
        capsule = self._native.execute(statement).read_all()
        return pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()

    def register(self, name: str, obj: Any, *, options: Optional[Mapping[str, str]] = None,
                 streaming: bool = False, workers: bool = False) -> "Connection":
        """Makes ``name`` readable in FROM, replacing what had that name.

        ``obj`` is one of:

        - a pyarrow.Table, a pandas.DataFrame or a polars.DataFrame: read into an
          Arrow table now (pyarrow and Polars without a copy; pandas converted by
          pyarrow); every statement may read it;
        - a pyarrow.RecordBatchReader: read by the first statement that scans it; a
          second scan is a UserError, as in DuckDB (register reader.read_all() to
          read it more than once);
        - any other object with ``__arrow_c_stream__``: each scan asks it for a new
          stream;
        - a Python data source, the class or an instance: seed 001's protocol
          (infer_schema, plan_partitions, read_partition) or a PySpark DataSource
          subclass, read as the python connector reads one (its partitions
          concurrently). ``options`` reach it as its options dict; ``streaming``
          reads a PySpark DataSource's stream reader (an unbounded source);
          ``workers`` reads its partitions in Python worker processes, as the
          connector's ``workers`` option does.
        """
        if (options or streaming or workers) and not _is_data_source(obj):
            raise TypeError("options, streaming and workers apply to Python data "
                            "sources only")
        native = self._native
        if isinstance(obj, pa.Table):
            native.register_table(name, obj)
        elif isinstance(obj, pa.RecordBatchReader):
            native.register_stream(name, obj.schema, obj, True, "RecordBatchReader")
        elif _type_is(obj, "pandas", "DataFrame"):
            native.register_table(name, pa.Table.from_pandas(obj, preserve_index=False))
        elif _type_is(obj, "polars", "DataFrame"):
            native.register_table(name, obj.to_arrow())
        elif _is_data_source(obj):
            cls = obj if isinstance(obj, type) else type(obj)
            label = f"{cls.__module__}.{cls.__qualname__}"
            native.register_python_source(
                name, obj, label, {str(k): str(v) for k, v in (options or {}).items()},
                streaming, workers)
        elif hasattr(obj, "__arrow_c_stream__"):
            if hasattr(obj, "__arrow_c_schema__"):
                schema = pa.schema(obj)
            else:
                schema = pa.RecordBatchReader.from_stream(obj).schema
            native.register_stream(name, schema, obj, False, type(obj).__name__)
        else:
            raise TypeError(
                f"cannot register a {type(obj).__module__}.{type(obj).__qualname__}: "
                "expected a pyarrow Table or RecordBatchReader, a pandas or Polars "
                "DataFrame, an object with __arrow_c_stream__, or a Python data source"
            )
        self._registered[name.lower()] = obj
        return self

    def unregister(self, name: str) -> "Connection":
        """Forgets a name register() made."""
        self._native.unregister(name)
        self._registered.pop(name.lower(), None)
        return self

    def start(self, query: str) -> Pipeline:
        """Starts a write statement (INTO, COPY; the last of ``query``, after the
        others ran) in the background and returns its Pipeline handle."""
        statements = self._native.parse(query)
        if not statements:
            raise UserError("no statement to run", "Invalid")
        for statement in statements[:-1]:
            self._run(statement)
        return Pipeline(self._native.start(statements[-1]), self)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def connect(state_dir: Optional[str] = None, pipeline: Optional[str] = None,
            reset: bool = False) -> Connection:
    """A new session. ``state_dir`` keeps pipelines' offset and commit logs between
    runs (the command's --state-dir), ``pipeline`` names write statements'
    pipelines (--pipeline), ``reset`` forgets their state first (--reset)."""
    return Connection(state_dir, pipeline, reset)


def sql(query: str, *, state_dir: Optional[str] = None) -> Result:
    """Connection.sql() on a session of its own: ``flowsql.sql(q)`` is
    ``flowsql.connect(state_dir).sql(q)``."""
    return connect(state_dir).sql(query)


def start(query: str, *, state_dir: Optional[str] = None, pipeline: Optional[str] = None,
          reset: bool = False) -> Pipeline:
    """Connection.start() on a session of its own."""
    return connect(state_dir, pipeline, reset).start(query)
