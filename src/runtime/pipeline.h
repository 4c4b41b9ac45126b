// The runtime: every write statement is a pipeline, sources -> plan -> sinks, cut
// into epochs. A batch write is one epoch; a continuous pipeline (an unbounded
// input) commits an epoch every flush_rows rows or flush_interval, until its
// inputs end, its LIMIT is reached or it is stopped. docs/delivery.md tells the
// guarantees this gives.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flowsql/connector.h"
#include "runtime/scanner.h"
#include "runtime/state.h"

namespace flowsql {

/// An input of the plan that the runtime reads through epochs, split by split.
struct PipelineScan {
  /// Names the scan in the pipeline's state; stable for the same plan ("0", "1").
  std::string key;
  std::shared_ptr<Source> source;
  ScanRequest request;
};

/// Runs the statement's plan once over `inputs` (one pull per PipelineSpec::scans
/// entry, in order) and returns its output: what one epoch writes.
using PlanRun = std::function<Result<std::shared_ptr<arrow::RecordBatchReader>>(
    std::vector<BatchPull> inputs)>;

struct PipelineSpec {
  /// Names the pipeline in the state directory and in transactional sinks.
  std::string name;
  /// Identifies the plan: a restart with another fingerprint is refused.
  std::string fingerprint;
  /// Where the offset and commit logs live. Empty: no state; a run starts afresh.
  std::string state_dir;
  /// Forget the pipeline's state before starting.
  bool reset = false;
  /// True when an input is unbounded: epochs are cut by the flush settings.
  bool continuous = false;
  /// Continuous: commit once this many input rows are in the epoch (0: no row
  /// trigger) and at least every flush_interval_ms (0: no time trigger).
  int64_t flush_rows = 0;
  int64_t flush_interval_ms = 0;
  /// Continuous: stop after writing this many rows (-1: no limit).
  int64_t limit = -1;
  std::vector<PipelineScan> scans;
  PlanRun run_plan;
  /// The schema of the plan's output, given to the sinks.
  std::shared_ptr<arrow::Schema> schema;
  /// Not owned; opened, written, committed and aborted by the runtime.
  std::vector<Sink*> sinks;
  /// Continuous: a stop commits the epoch in progress and returns OK. Batch: a
  /// stop aborts every sink (targets stay as they were) and returns Cancelled.
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
  /// Called with the rows and bytes written so far: per batch in a batch write,
  /// after each commit in a continuous one (from the thread that commits).
  std::function<void(int64_t rows, int64_t bytes)> progress;
  /// Called after each commit with the epoch, the rows written so far (as
  /// progress) and the epoch's offset entry, from the thread that commits.
  std::function<void(int64_t epoch, int64_t rows, const OffsetEntry& entry)> commit;
  /// Splits of a bounded scan read ahead at once.
  int threads = 2;
};

struct PipelineStats {
  int64_t rows_written = 0;  // rows this run committed (per sink)
  int64_t epochs = 0;        // epochs this run committed, replays included
  int64_t replayed = 0;      // epochs replayed from the offset log
  bool stopped = false;      // a continuous pipeline ended by the stop token
};

/// Runs a pipeline to its end. Delivery, in this order per epoch N:
///   1. offset log N (every split's range) is durable;
///   2. the plan's rows go to every sink;
///   3. every sink commits N;
///   4. commit log N is durable;
///   5. each source is acknowledged with the offsets it reached.
/// On start, an epoch logged but not committed is replayed from exactly its
/// logged ranges into the sinks that lack it (a transactional sink that already
/// holds it is skipped), then reading goes on after the logged ranges.
/// Errors: a failed read, plan or sink aborts every sink and is returned; sink
/// failures are runtime errors (IOError), never user errors. Epochs committed
/// before stay committed.
/// Fault injection for the crash suite: FLOWSQL_FAULT=<point>[:<epoch>] kills the
/// process with SIGKILL at after_offset_log, mid_write, after_sink_commit,
/// before_commit_log or before_ack.
Result<PipelineStats> RunPipeline(const PipelineSpec& spec);

}  // namespace flowsql
