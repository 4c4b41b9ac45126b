#include "connectors/python/bridge.h"

namespace flowsql::python {

namespace {

constexpr char kSource[] = R"py(
import decimal
import inspect
import json
import re

import pyarrow as pa


def rows_to_batch(rows, schema):
    widths = set(map(len, rows))
    if widths and widths != {len(schema)}:
        bad = min(widths - {len(schema)})
        raise ValueError(f"a row of {bad} values where the schema has {len(schema)} "
                         f"columns ({', '.join(schema.names)})")
    columns = list(zip(*rows)) if rows else [()] * len(schema)
    arrays = []
    for values, field in zip(columns, schema):
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"column '{field.name}' ({field.type}): {e}") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_PRIMITIVES = {
    "boolean": pa.bool_(), "bool": pa.bool_(), "tinyint": pa.int8(), "byte": pa.int8(),
    "smallint": pa.int16(), "short": pa.int16(), "int": pa.int32(),
    "integer": pa.int32(), "bigint": pa.int64(), "long": pa.int64(),
    "float": pa.float32(), "real": pa.float32(), "double": pa.float64(),
    "string": pa.string(), "varchar": pa.string(), "char": pa.string(),
    "binary": pa.binary(), "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"), "timestamp_ltz": pa.timestamp("us", tz="UTC"),
    "timestamp_ntz": pa.timestamp("us"), "void": pa.null(),
}
_TOKEN = re.compile(r"\s*(`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")


def _tokens(ddl):
    pos, out = 0, []
    while pos < len(ddl):
        m = _TOKEN.match(ddl, pos)
        if not m:
            if ddl[pos:].strip():
                raise ValueError(f"schema '{ddl}': unexpected '{ddl[pos:].strip()[0]}' "
                                 f"at character {pos + 1}")
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def _parse_ddl(ddl):
    tokens = _tokens(ddl)
    at = 0

    def peek():
        return tokens[at] if at < len(tokens) else ""

    def take(expected=None):
        nonlocal at
        token = peek()
        if not token or (expected and token.lower() != expected):
            raise ValueError(f"schema '{ddl}': expected {expected or 'more'}, found "
                             f"'{token or 'the end'}'")
        at += 1
        return token

    def name():
        token = take()
        return token[1:-1].replace("``", "`") if token.startswith("`") else token

    def type_():
        word = take().lower()
        if word == "array":
            take("<"); item = type_(); take(">")
            return pa.list_(item)
        if word == "map":
            take("<"); key = type_(); take(","); value = type_(); take(">")
            return pa.map_(key, value)
        if word == "struct":
            take("<")
            fields = []
            while peek() != ">":
                fields.append(field(colon=True))
                if peek() == ",":
                    take(",")
            take(">")
            return pa.struct(fields)
        if word in ("decimal", "dec", "numeric"):
            precision, scale = 10, 0
            if peek() == "(":
                take("("); precision = int(take())
                if peek() == ",":
                    take(","); scale = int(take())
                take(")")
            return pa.decimal128(precision, scale)
        if word in ("varchar", "char") and peek() == "(":
            take("("); take(); take(")")
        if word not in _PRIMITIVES:
            raise ValueError(f"schema '{ddl}': unknown type '{word}'")
        return _PRIMITIVES[word]

    def field(colon=False):
        n = name()
        if colon and peek() == ":":
            take(":")
        t = type_()
        nullable = True
        if peek().lower() == "not":
            take("not"); take("null")
            nullable = False
        return pa.field(n, t, nullable)

    fields = [field()]
    while peek() == ",":
        take(",")
        fields.append(field())
    if peek():
        raise ValueError(f"schema '{ddl}': unexpected '{peek()}'")
    return pa.schema(fields)


def spark_schema(schema):
    if isinstance(schema, str):
        return _parse_ddl(schema)
    from pyspark.sql.pandas.types import to_arrow_schema
    return to_arrow_schema(schema, timezone="UTC", prefers_large_types=False)


def stream_reader(source, schema):
    from pyspark.sql.datasource import DataSource
    if type(source).streamReader is not DataSource.streamReader:
        return source.streamReader(schema)
    if type(source).simpleStreamReader is not DataSource.simpleStreamReader:
        return source.simpleStreamReader(schema)
    raise ValueError("streaming = true needs streamReader() or simpleStreamReader(); "
                     f"{type(source).__name__} has neither")


def is_simple(reader):
    from pyspark.sql.datasource import SimpleDataSourceStreamReader
    return isinstance(reader, SimpleDataSourceStreamReader)


def offset_text(offset):
    return json.dumps(offset, sort_keys=True)


def latest_offset(reader, start):
    # Spark 4.1 passes the start and a read limit; earlier readers take neither.
    start = json.loads(start)
    if len(inspect.signature(reader.latestOffset).parameters) >= 2:
        from pyspark.sql.streaming.datasource import ReadAllAvailable
        return offset_text(reader.latestOffset(start, ReadAllAvailable()))
    return offset_text(reader.latestOffset())


def plan_stream(reader, start, end):
    return list(reader.partitions(json.loads(start), json.loads(end)))


def read_simple(reader, start):
    rows, end = reader.read(json.loads(start))
    return rows, offset_text(end)


def replay_simple(reader, start, end):
    return reader.readBetweenOffsets(json.loads(start), json.loads(end))


def commit(reader, end):
    reader.commit(json.loads(end))


def takes_filters(reader):
    from pyspark.sql.datasource import DataSourceReader
    base = getattr(DataSourceReader, "pushFilters", None)  # Spark 4.1+
    return base is not None and type(reader).pushFilters is not base


def push_filters(reader, specs):
    """Gives reader.pushFilters() Spark's Filter objects for `specs`: (class name,
    column path, a one-column pyarrow.RecordBatch of values or None, negated)."""
    from pyspark.sql import datasource as ds
    filters = []
    for kind, path, values, negated in specs:
        if values is None:
            made = getattr(ds, kind)(path)
        elif kind == "In":
            made = ds.In(path, values.column(0).to_pylist())  # a list, as Spark gives
        else:
            made = getattr(ds, kind)(path, values.column(0)[0].as_py())
        filters.append(ds.Not(made) if negated else made)
    # Often a generator: it runs as it is read. What it gives back (the filters
    # still to apply) does not matter: flowsql applies every filter again.
    for _ in reader.pushFilters(filters):
        pass


def spark_options(options):
    from pyspark.sql.datasource import CaseInsensitiveDict
    return CaseInsensitiveDict(options)


def struct_type(schema):
    from pyspark.sql.pandas.types import from_arrow_schema
    return from_arrow_schema(schema)


def spark_writer(source, schema, overwrite, continuous):
    """(writer, takes_arrow, is_stream): source.streamWriter() when the class has
    one (a statement is a pipeline of epochs, and only a stream writer's commit gets
    the epoch as its batchId), else source.writer() for a statement that writes
    once."""
    from pyspark.sql.datasource import (DataSource, DataSourceArrowWriter,
                                        DataSourceStreamArrowWriter)
    name = type(source).__name__
    stream = type(source).streamWriter is not DataSource.streamWriter
    if stream:
        writer = source.streamWriter(schema, overwrite)
    elif continuous:
        raise ValueError(f"{name} has no streamWriter(): it cannot be the sink of a "
                         "continuous pipeline")
    elif type(source).writer is not DataSource.writer:
        writer = source.writer(schema, overwrite)
    else:
        raise ValueError(f"{name} has neither writer() nor streamWriter(): it is not a "
                         "sink")
    arrow = isinstance(writer, (DataSourceArrowWriter, DataSourceStreamArrowWriter))
    return writer, arrow, stream


import queue as _queue
import threading as _threading

_END, _ABORT = object(), object()


class Aborted(Exception):
    """Raised inside write() when flowsql aborts the epoch it writes."""


def _rows(batches):
    from pyspark.sql import Row
    for batch in batches:
        make = Row(*batch.schema.names)
        for values in zip(*(column.to_pylist() for column in batch.columns)):
            yield make(*values)


_task = _threading.local()  # the epoch a WriteTask's thread writes


def _install_task_context():
    """Makes pyspark.TaskContext.get() answer in a PySpark writer's write(), as it
    does in a Spark task (writers name their files by it). A flowsql epoch is one
    task: partition 0, attempt 0, its stage and task attempt ids the epoch's number,
    so that a replayed epoch names what it writes as it did the first time. Spark's
    TaskContext is one object per process: this one answers from the thread that
    asks."""
    from pyspark.taskcontext import TaskContext

    class EpochTaskContext(TaskContext):
        def __new__(cls):
            return object.__new__(cls)

        def __init__(self):
            pass

        def stageId(self):
            return getattr(_task, "epoch", 0)

        def partitionId(self):
            return 0

        def attemptNumber(self):
            return 0

        def taskAttemptId(self):
            return getattr(_task, "epoch", 0)

        def getLocalProperty(self, key):
            return None

        def cpus(self):
            return 1

        def resources(self):
            return {}

    global _install_task_context
    TaskContext._setTaskContext(EpochTaskContext())
    _install_task_context = lambda: None  # once  # noqa: E731


class WriteTask:
    """One write(iterator, *args) call in a thread of its own, fed batch by batch
    through a small queue as flowsql receives them (never the whole epoch at once).
    `rows`: write() takes pyspark Rows rather than pyarrow.RecordBatch. `epoch`: a
    PySpark writer's (for TaskContext.get()), or None."""

    def __init__(self, write, rows, epoch, *args):
        if epoch is not None:
            _install_task_context()
        self._queue = _queue.Queue(maxsize=2)
        self._message = None
        self._error = None
        self._thread = _threading.Thread(target=self._run,
                                         args=(write, rows, epoch, args),
                                         name="flowsql-python-write", daemon=True)
        self._thread.start()

    def _batches(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise Aborted("flowsql aborted the write")
            yield item

    def _run(self, write, rows, epoch, args):
        _task.epoch = epoch
        try:
            batches = self._batches()
            self._message = write(_rows(batches) if rows else batches, *args)
        except BaseException as e:  # raised again in flowsql's thread
            self._error = e

    def _offer(self, item):
        # write() may return without reading every batch: then the rest is dropped.
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except _queue.Full:
                pass

    def put(self, batch):
        self._offer(batch)
        if self._error is not None:
            raise self._error

    def finish(self):
        """write()'s message, once it has read every batch."""
        self._offer(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._message

    def abort(self):
        """write()'s message, or None when it failed (as Spark gives abort())."""
        self._offer(_ABORT)
        self._thread.join()
        return None if self._error is not None else self._message


# --- Worker processes (worker.h) ---
# A worker is `python -c _BOOT`: it reads this module's source from stdin, runs it
# as its __main__, then serve(). On stdin it then gets messages (an 8-byte
# little-endian length, then a pickle): first (sys.path, the pickled (reader,
# method, args, schema)), then one
# (partition, skip) per partition to read. For each it writes frames to its stdout:
# b"B" + length + an Arrow IPC stream of one batch, and at the end b"E", or b"X" +
# length + the error as flowsql reports it (UTF-8), or b"T" + length + the type
# name of an item that is neither a row nor a batch; b"U" + length + the error for
# each request when the reader could not be unpickled. The batches are those BatchStream
# makes in flowsql's process (python_source.cc), so offsets mean the same either way.

_BOOT = ("import sys; n = int.from_bytes(sys.stdin.buffer.read(8), 'little'); "
         "exec(compile(sys.stdin.buffer.read(n), '<flowsql>', 'exec')); serve()")
_ROWS_PER_BATCH = 8192


def _dumps(value):
    """Pickled as Spark sends readers to its Python workers: by cloudpickle, which
    also takes classes and functions defined in __main__ or a notebook."""
    try:
        from pyspark import cloudpickle
    except ImportError:
        try:
            import cloudpickle
        except ImportError:
            import pickle as cloudpickle
    return cloudpickle.dumps(value)


def batches(iterable, schema):
    """The batches of an iterable of RecordBatches, tuples or Rows: as BatchStream
    makes them, up to _ROWS_PER_BATCH rows converted at a time, the rows before a
    RecordBatch first. Items are taken a chunk at a time, by C code, and the cyclic
    GC is paused while rows pile up, as BatchStream pauses it."""
    import gc
    from itertools import islice, repeat
    it = iter(iterable)
    rows = []
    while True:
        enabled = gc.isenabled()
        gc.disable()
        try:
            chunk = list(islice(it, _ROWS_PER_BATCH - len(rows)))
            ready = []
            if all(map(isinstance, chunk, repeat(tuple))):
                rows += chunk
            else:
                for item in chunk:
                    if isinstance(item, tuple):
                        rows.append(item)
                        continue
                    if rows:
                        ready.append(rows_to_batch(rows, schema))
                        rows = []
                    ready.append(item)
            if rows and (len(rows) == _ROWS_PER_BATCH or not chunk):
                ready.append(rows_to_batch(rows, schema))
                rows = []
        finally:
            if enabled:
                gc.enable()
        yield from ready
        if not chunk:
            return


def error_text(e):
    """A Python exception as flowsql reports it (PythonError): the traceback without
    flowsql's own leading frames, or only the exception when they are all flowsql's
    (a row that does not fit the schema)."""
    import traceback
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<flowsql>":
        tb = tb.tb_next
    if tb is None:
        lines = traceback.format_exception_only(type(e), e)
    else:
        lines = traceback.format_exception(type(e), e, tb)
    return "".join(lines).rstrip("\n")


class Worker:
    """A worker process for one source; `setup` is what _dumps made of (reader,
    method, args, schema). read(partition, skip) asks it for a partition; its frames
    come on fd()."""

    def __init__(self, setup):
        import subprocess
        import sys
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, close_fds=True)
        self._send(_SOURCE.encode())
        self._send(_dumps((list(sys.path), setup)))

    def _send(self, data):
        self._process.stdin.write(len(data).to_bytes(8, "little") + data)
        self._process.stdin.flush()

    def fd(self):
        return self._process.stdout.fileno()

    def read(self, partition, skip):
        self._send(_dumps((partition, skip)))

    def ended(self):
        """How the process ended, for messages (it is killed first)."""
        self._process.kill()
        code = self._process.wait()
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"

    def stop(self):
        try:
            self._process.stdin.close()
        except OSError:
            pass
        self._process.kill()
        self._process.wait()


def serve():
    """The worker's loop (see above); it ends when flowsql closes its stdin."""
    import os
    import pickle
    import sys
    out = os.fdopen(os.dup(1), "wb")  # buffered: a frame is written whole
    os.dup2(2, 1)  # what user code prints goes to stderr, not into the frames

    def receive():
        head = sys.stdin.buffer.read(8)
        if len(head) < 8:
            return None
        return pickle.loads(sys.stdin.buffer.read(int.from_bytes(head, "little")))

    def frame(tag, data):
        out.write(tag + len(data).to_bytes(8, "little"))
        out.write(data)
        out.flush()

    path, setup = receive()
    sys.path[:] = path
    try:
        reader, method, args, schema = pickle.loads(setup)
        setup_error = None
    except BaseException as e:
        setup_error = error_text(e)
    while (request := receive()) is not None:
        partition, skip = request
        if setup_error is not None:
            frame(b"U", setup_error.encode())
            continue
        try:
            for batch in batches(getattr(reader, method)(partition, *args), schema):
                if skip > 0:
                    skip -= 1
                    continue
                if not isinstance(batch, pa.RecordBatch):
                    if not hasattr(batch, "__arrow_c_array__"):
                        frame(b"T", type(batch).__name__.encode())
                        break
                    batch = pa.record_batch(batch)
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, batch.schema) as writer:
                    writer.write_batch(batch)
                frame(b"B", sink.getvalue())
            else:
                out.write(b"E")
                out.flush()
        except BrokenPipeError:
            return
        except BaseException as e:
            frame(b"X", error_text(e).encode())
)py";

/// The helpers' module, made once. REQUIRES: the GIL held.
Result<PyObject*> Bridge() {
  static PyObject* module = nullptr;  // made and read with the GIL held
  if (module != nullptr) return module;
  Ref made(PyModule_New("flowsql_bridge"));
  if (!made) return PythonError("the python connector's bridge");
  PyObject* dict = PyModule_GetDict(made.get());
  if (PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0) {
    return PythonError("the python connector's bridge");
  }
  // Worker processes run this source too (worker.h).
  Ref source(PyUnicode_FromString(kSource));
  if (!source || PyDict_SetItemString(dict, "_SOURCE", source.get()) != 0) {
    return PythonError("the python connector's bridge");
  }
  Ref code(Py_CompileString(kSource, kInternalFile, Py_file_input));
  if (!code) return PythonError("the python connector's bridge");
  Ref run(PyEval_EvalCode(code.get(), dict, dict));
  if (!run) return PythonError("the python connector's bridge");
  module = made.get();
  Py_INCREF(module);  // for the process
  return module;
}

}  // namespace

Result<Ref> CallBridge(const char* function, const std::string& what,
                       std::initializer_list<PyObject*> args) {
  ARROW_ASSIGN_OR_RAISE(PyObject * bridge, Bridge());
  Ref callable(PyObject_GetAttrString(bridge, function));
  if (!callable) return PythonError("the python connector's bridge");
  Ref tuple(PyTuple_New(static_cast<Py_ssize_t>(args.size())));
  if (!tuple) return PythonError("the python connector's bridge");
  Py_ssize_t i = 0;
  for (PyObject* arg : args) {
    Py_INCREF(arg);
    PyTuple_SET_ITEM(tuple.get(), i++, arg);
  }
  Ref result(PyObject_CallObject(callable.get(), tuple.get()));
  if (!result) return PythonError(what, /*traceback=*/false);
  return result;
}

}  // namespace flowsql::python
