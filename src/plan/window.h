// Window functions over a materialized input: each call sorts the rows by its
// partition and order keys, finds partitions, peer groups and frames, and computes
// one output column, in the input's row order.
#pragma once

#include <arrow/table.h>

#include <memory>
#include <vector>

#include "plan/plan.h"

namespace flowsql::plan {

/// `input` with one column per call appended (named call.output, of call.type).
/// Frames: ROWS with any bounds; RANGE with UNBOUNDED or CURRENT ROW bounds (peers).
Result<std::shared_ptr<arrow::Table>> ComputeWindows(
    const std::shared_ptr<arrow::Table>& input, const std::vector<WindowCall>& calls);

}  // namespace flowsql::plan
