// Window functions over a materialized input: each call sorts the rows by its
// partition and order keys, finds partitions, peer groups and frames, and computes
// one output column, in the input's row order. A large input is split by its
// partition keys into files computed one by one (WindowReader).
#pragma once

#include <arrow/record_batch.h>
#include <arrow/table.h>

#include <memory>
#include <vector>

#include "plan/plan.h"

namespace flowsql::plan {

/// `input` with one column per call appended (named call.output, of call.type).
/// Frames: ROWS with any bounds; RANGE with UNBOUNDED or CURRENT ROW bounds (peers).
Result<std::shared_ptr<arrow::Table>> ComputeWindows(
    const std::shared_ptr<arrow::Table>& input, const std::vector<WindowCall>& calls);

/// The window functions of `node` (a kWindow) over the rows of `input`, read once.
/// While they take at most node.spill_bytes they stay in memory. Beyond, when every
/// call partitions by some keys in common (neither floating nor nested) and
/// node.spill_directory is set, the rows go to temporary Arrow files in
/// node.spill_directory by those keys (a partition lies whole in one file), and the
/// files are computed one at a time: memory then holds one file's rows. Without
/// such keys (a call over the whole input) the rows stay in memory. The files are
/// deleted as they are read, and when the reader is destroyed.
Result<std::shared_ptr<arrow::RecordBatchReader>> WindowReader(
    std::shared_ptr<arrow::RecordBatchReader> input, const PlanNode& node);

}  // namespace flowsql::plan
