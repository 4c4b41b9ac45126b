// Continuous pipelines: source -> stateless transform -> sink, committed in
// epochs, with source offsets checkpointed after each sink commit.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "flowsql/connector.h"

namespace flowsql {

/// A per-batch transform (filter and projection). Returns nullptr or an empty
/// batch when every row is filtered out.
using BatchTransform = std::function<Result<std::shared_ptr<arrow::RecordBatch>>(
    const std::shared_ptr<arrow::RecordBatch>&)>;

struct PipelineOptions {
  /// Commit once this many rows are pending. 0: no row trigger.
  int64_t flush_rows = 0;
  /// Commit at least this often while rows are pending. 0: no time trigger.
  int64_t flush_interval_ms = 0;
  /// Stop after this many output rows (LIMIT). -1: none.
  int64_t limit = -1;
  /// Directory for checkpoints. Empty: no checkpoints, always start from scratch.
  std::string state_dir;
  /// Names the checkpoint file inside state_dir (a hash of the statement text).
  std::string pipeline_id;
  /// Polled between batches: when it becomes true the pipeline commits what it has
  /// and returns OK.
  std::atomic<bool>* interrupt = nullptr;
  /// Called after each commit with the total rows and bytes committed so far.
  std::function<void(int64_t rows, int64_t bytes)> on_commit;
};

struct PipelineStats {
  int64_t rows_written = 0;  // rows committed to the sink
  int64_t commits = 0;
  std::string last_offset;   // offset persisted with the last commit
};

/// Runs `source` through `transform` into `sink` until the source ends, the limit
/// is reached or `interrupt` is set. REQUIRES: sink->Open() was called.
///
/// Delivery: after each sink Commit() the source offset of the last batch covered
/// is written atomically to state_dir/<pipeline_id>.offset; on start, a saved
/// offset is passed to the scan as ScanRequest::start_offset. A crash between the
/// two may repeat the last epoch (at-least-once), never skip rows.
/// On a failed Write or Commit the sink is aborted and the error returned.
Result<PipelineStats> RunPipeline(Source* source, ScanRequest request,
                                  const BatchTransform& transform, Sink* sink,
                                  const PipelineOptions& options);

/// Reads the offset saved for `pipeline_id` in `state_dir`, or "" when none.
Result<std::string> LoadOffset(const std::string& state_dir, const std::string& pipeline_id);

}  // namespace flowsql
