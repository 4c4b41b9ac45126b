// The durable state of named pipelines (docs/delivery.md):
//
//   <state_dir>/<pipeline>/pipeline            name and plan fingerprint
//   <state_dir>/<pipeline>/offsets/<epoch>     every split's range in that epoch
//   <state_dir>/<pipeline>/commits/<epoch>     written once every sink has the epoch
//
// Every file is written to a temporary name, fsynced, renamed into place and its
// directory fsynced, so a crash leaves either the old state or the new.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowsql/connector.h"

namespace flowsql {

/// Where one split of one scan stands in an epoch.
struct SplitProgress {
  std::string scan;  // the scan's key within the pipeline ("0", "1", ...)
  Split split;
  SplitRange range;  // the epoch covers (range.start, range.end]
  /// The split ended within or before this epoch: range.end is its end (empty:
  /// wherever the split ends).
  bool done = false;
  /// The epoch reads (range.start, range.end] of this split; false for splits
  /// carried along unchanged.
  bool read = false;
};

struct OffsetEntry {
  int64_t epoch = -1;
  std::vector<SplitProgress> splits;
};

struct CommitEntry {
  int64_t epoch = -1;
  int64_t rows = 0;        // rows the epoch wrote to each sink
  int64_t total_rows = 0;  // rows of every epoch up to this one
  int64_t time_ms = 0;     // wall clock at commit, milliseconds since the epoch
};

/// Valid names: 1..128 characters of [A-Za-z0-9_.-], not starting with '.'.
Status ValidatePipelineName(const std::string& name);

/// A pipeline's state directory. Not thread-safe.
class PipelineState {
 public:
  /// Opens (creating if missing) `state_dir`/`name` and locks it for this process:
  /// a pipeline runs once at a time. With `reset`, deletes what it held first. A
  /// fingerprint different from the recorded one is a user error.
  static Result<PipelineState> Open(const std::string& state_dir, const std::string& name,
                                    const std::string& fingerprint, bool reset);

  /// The newest entries, if any.
  const std::optional<OffsetEntry>& last_offsets() const { return last_offsets_; }
  const std::optional<CommitEntry>& last_commit() const { return last_commit_; }

  Status WriteOffsets(const OffsetEntry& entry);
  /// Records the commit and drops entries older than kKeep epochs.
  Status WriteCommit(const CommitEntry& entry);

  static constexpr int64_t kKeep = 100;

 private:
  std::string dir_;
  std::shared_ptr<int> lock_;  // the locked file descriptor, closed with the state
  std::optional<OffsetEntry> last_offsets_;
  std::optional<CommitEntry> last_commit_;
};

/// What `flowsql pipelines` shows of one pipeline.
struct PipelineSummary {
  std::string name;
  std::optional<OffsetEntry> offsets;
  std::optional<CommitEntry> commit;
};

/// Every pipeline under `state_dir`, by name.
Result<std::vector<PipelineSummary>> ListPipelines(const std::string& state_dir);

}  // namespace flowsql
