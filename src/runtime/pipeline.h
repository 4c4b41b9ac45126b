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
  std::string last_offset;  // offset persisted with the last commit
};

/// Runs `source` through `transform` into `sink` until the source ends, the limit
/// is reached or `interrupt` is set. REQUIRES: sink->Open() was called.
///
/// Batches are read on the calling thread. Commits happen when flush_rows rows are
/// pending, when flush_interval_ms passed since the last commit with rows pending
/// (checked after each batch), at the limit, at the end of the source and on
/// interrupt. The clock and `interrupt` are only checked between batches, so an
/// unbounded source must return from ReadNext() at least every ~100 ms, with an
/// empty batch when it has no rows yet (the generate connector does); a slower
/// source delays time-based commits and interrupts until its next batch.
/// The last batch is sliced so that exactly `limit` rows are written. A run that
/// ends on its own commits at least once, even with no rows.
///
/// Delivery: after each sink Commit() the source offset of the last batch covered
/// is written atomically to state_dir/<pipeline_id>.offset (state_dir is created
/// if missing); on start, a saved offset is passed to the scan as
/// ScanRequest::start_offset. A crash between the two may repeat the last epoch
/// (at-least-once), never skip rows. A batch sliced at the limit is not covered,
/// so a rerun repeats it rather than skipping its remaining rows. Sources whose
/// offsets are empty get no checkpoint file.
/// On a failed source read, transform, Write or Commit the sink is aborted and
/// the error returned; sink failures are runtime errors (IOError), never user
/// errors. Rows committed before stay committed and their offset saved.
Result<PipelineStats> RunPipeline(Source* source, ScanRequest request,
                                  const BatchTransform& transform, Sink* sink,
                                  const PipelineOptions& options);

/// Reads the offset saved for `pipeline_id` in `state_dir`, or "" when none (or
/// when state_dir is empty).
Result<std::string> LoadOffset(const std::string& state_dir,
                               const std::string& pipeline_id);

}  // namespace flowsql
