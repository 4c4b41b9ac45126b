// The Python half of the python connector: a module of helpers run in the embedded
// interpreter (their source is in bridge.cc), for what Python does best or only:
//
//   rows_to_batch(rows, schema) -> pyarrow.RecordBatch
//       tuples (or pyspark Rows) in bulk: transposed by zip() and converted by
//       pyarrow.array() per column, both in C, with no Python bytecode per row. A row
//       of the wrong length, or a value its column cannot hold, is a ValueError
//       naming the column.
//   spark_schema(schema) -> pyarrow.Schema
//       a PySpark DataSource's schema(): a DDL string ("id INT, tags ARRAY<STRING>")
//       parsed without a JVM, or a StructType, as Spark types map to Arrow's
//       (TIMESTAMP: microseconds in UTC; TIMESTAMP_NTZ: without a zone).
//   struct_type(schema) -> pyspark StructType of a pyarrow.Schema (for reader()).
//   takes_filters(reader), push_filters(reader, specs): a PySpark reader's
//       pushFilters() (Spark 4.1), given Spark's Filter objects made from specs.
//   spark_options(dict) -> the options as Spark gives them to a DataSource: a
//       CaseInsensitiveDict.
//   spark_writer(source, schema, overwrite, continuous) -> (writer, takes_arrow,
//       is_stream): a PySpark DataSource's streamWriter() (or, without one, writer()
//       for a statement that is not continuous), whether its write() takes
//       pyarrow.RecordBatch (an Arrow writer's) rather than Rows, and whether its
//       commit() and abort() take the batchId.
//   WriteTask(write, rows, epoch, *args): one write(iterator, *args) call in a
//       Python thread, fed by put(batch) as the sink receives batches (Rows when
//       `rows`), with pyspark.TaskContext.get() telling a PySpark writer the epoch
//       (unless it is None); finish() -> its message; abort().
//   stream_reader, is_simple, latest_offset, plan_stream, read_simple,
//   replay_simple, commit: a PySpark stream reader's calls, its offsets (dicts) as
//   JSON text with sorted keys, so that equal offsets are equal text.
#pragma once

#include <initializer_list>

#include "connectors/python/python_runtime.h"

namespace flowsql::python {

/// Calls the helper `function` with `args`. Its errors are about the user's data or
/// schema, so they come without the bridge's traceback: "`what` raised:\nValueError:
/// ...". REQUIRES: the GIL held.
Result<Ref> CallBridge(const char* function, const std::string& what,
                       std::initializer_list<PyObject*> args);

}  // namespace flowsql::python
