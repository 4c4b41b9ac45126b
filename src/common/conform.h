// Batches made to fit a schema, for a reader whose files or calls differ in their
// columns.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <string>

#include "flowsql/connector.h"
#include "flowsql/status.h"

namespace flowsql {

/// Returns `batch` with exactly the fields of `target`: columns found by name, cast
/// when their type differs, missing ones null. Errors name `what` (a file, a call)
/// and the column.
Result<std::shared_ptr<arrow::RecordBatch>> ConformByName(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& target, const std::string& what);

/// What a split reader produces for `request`: the fields of `schema` that
/// request.columns names, in that order (all of them when it is unset). A name the
/// schema lacks is a KeyError.
Result<std::shared_ptr<arrow::Schema>> RequestedSchema(
    const std::shared_ptr<arrow::Schema>& schema, const ScanRequest& request);

}  // namespace flowsql
