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


class WriteTask:
    """One write(iterator, *args) call in a thread of its own, fed batch by batch
    through a small queue as flowsql receives them (never the whole epoch at once).
    `rows`: write() takes pyspark Rows rather than pyarrow.RecordBatch."""

    def __init__(self, write, rows, *args):
        self._queue = _queue.Queue(maxsize=2)
        self._message = None
        self._error = None
        self._thread = _threading.Thread(target=self._run, args=(write, rows, args),
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

    def _run(self, write, rows, args):
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
