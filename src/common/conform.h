// Batches made to fit a schema, for a reader whose files or calls differ in their
// columns.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <string>

#include "flowsql/status.h"

namespace flowsql {

/// Returns `batch` with exactly the fields of `target`: columns found by name, cast
/// when their type differs, missing ones null. Errors name `what` (a file, a call)
/// and the column.
Result<std::shared_ptr<arrow::RecordBatch>> ConformByName(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& target, const std::string& what);

}  // namespace flowsql
