// A Delta table's schema (metaData.schemaString: Spark's StructType as JSON) as
// Arrow's, and the protocol features a reader must understand.
#pragma once

#include <arrow/scalar.h>
#include <arrow/type.h>

#include <memory>
#include <optional>
#include <string>

#include "connectors/delta/delta_log.h"
#include "flowsql/status.h"

namespace flowsql::delta {

/// The Arrow schema of a schemaString. Spark types map as the Delta protocol says:
/// long -> int64, timestamp -> timestamp[us, UTC], timestamp_ntz -> timestamp[us],
/// decimal(p,s) -> decimal128(p,s), array / map / struct nest. A field's Delta
/// metadata is kept as the Arrow field's (column mapping's physical name among it).
Result<std::shared_ptr<arrow::Schema>> SchemaFromDelta(const std::string& schema_string);

/// `schema` as a schemaString: the Delta types of its columns (timestamps of any unit
/// as Delta's microseconds, large strings as strings). An error names a column whose
/// type Delta cannot hold (unsigned integers, times, ...).
Result<std::string> SchemaToDelta(const arrow::Schema& schema);

/// The physical name of a field under column mapping, else its name.
std::string PhysicalName(const arrow::Field& field);

/// True when the table's fields have physical names of their own
/// (delta.columnMapping.mode = name).
bool MapsColumns(const Snapshot& snapshot);

/// `batch`, read from a data file of a table that maps columns (its columns and
/// nested fields by physical name), with the logical names of `schema`'s fields.
/// Columns that are not in `schema` pass as they are.
Result<std::shared_ptr<arrow::RecordBatch>> ToLogicalNames(
    const std::shared_ptr<arrow::RecordBatch>& batch, const arrow::Schema& schema);

/// OK when flowsql can read a table with `snapshot`'s protocol and configuration; an
/// error naming the feature it lacks otherwise, never wrong rows.
Status CheckReadable(const Snapshot& snapshot, const std::string& table);

/// OK when flowsql can write to a table with `snapshot`'s protocol and configuration;
/// an error naming the feature otherwise. `removal` names a write that removes rows
/// ("overwritten", "merged into"), which an append-only table refuses; nullptr for
/// one that does not (an append, OPTIMIZE).
Status CheckWritable(const Snapshot& snapshot, const std::string& table,
                     const char* removal);

/// A partition value as the log writes it ("2024-03-01", "1.5", "true", NULL as
/// nullopt or "") as a scalar of `type`.
Result<std::shared_ptr<arrow::Scalar>> PartitionScalar(
    const std::optional<std::string>& text, const std::shared_ptr<arrow::DataType>& type);

}  // namespace flowsql::delta
