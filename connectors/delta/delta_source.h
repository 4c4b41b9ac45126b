// A Delta table as a source: one version of it (the latest, or `version` /
// `timestamp` for time travel), read from its log (delta_log.h).
//
// Splits are the version's data files (Parquet), read in parallel; a split's offset
// is the rows it has produced, as the file source's. Partition columns come from
// the log's partitionValues, not from the files. A filter skips files before any
// is opened: by their partition values, and by the statistics the log keeps per
// file (numRecords, minValues, maxValues, nullCount). EXPLAIN shows the version and
// the files read and skipped.
//
// Deletion vectors drop the rows they name (deletion_vector.h); under column
// mapping (name mode) the files' physical names are read as the logical ones.
//
// A table whose protocol needs what flowsql cannot read fails with an error naming
// the feature (CheckReadable), never with wrong rows.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "connectors/delta/delta_log.h"
#include "connectors/file/format_reader.h"
#include "flowsql/connector.h"

namespace flowsql::delta {

class DeltaSource : public Source {
 public:
  /// `version` or `timestamp_ms` (at most one) picks the version; neither: the latest.
  DeltaSource(std::shared_ptr<DeltaLog> log, std::optional<int64_t> version,
              std::optional<int64_t> timestamp_ms, int64_t batch_size);
  /// Reads `snapshot` (a writer's: a merge reads the files it rewrites).
  DeltaSource(std::shared_ptr<DeltaLog> log, Snapshot snapshot);

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  Pushdown pushdown() const override { return {true, true, false}; }
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  std::string Describe() const override;
  int64_t ExactRows() const override;

  /// What the log says of the rows of the snapshot's file `index`: its partition
  /// values, and the ranges and null counts of its statistics, as conditions over
  /// the table's columns that each of its rows meets. REQUIRES: GetSchema() succeeded.
  const std::vector<arrow::compute::Expression>& known(size_t index) const {
    return known_[index];
  }

 private:
  /// Loads the snapshot, once. REQUIRES: mutex_ held.
  Status Prepare();
  /// known(index), from the log. `rows`: the file's numRecords, or -1 when its
  /// statistics lack them.
  std::vector<arrow::compute::Expression> Known(size_t index, int64_t* rows) const;

  std::shared_ptr<DeltaLog> log_;
  std::optional<int64_t> version_, timestamp_ms_;
  bool given_ = false;  // snapshot_ was given: not loaded
  int64_t batch_size_;

  mutable std::mutex mutex_;
  bool prepared_ = false;
  Status prepare_status_;
  Snapshot snapshot_;
  std::shared_ptr<arrow::Schema> schema_;
  bool maps_columns_ = false;  // the files name columns by physical names
  std::vector<std::string> partition_columns_;
  std::vector<std::vector<arrow::compute::Expression>> known_;  // by file
  int64_t exact_rows_ = -1;  // the live rows by the log's statistics; -1: unknown
  std::shared_ptr<file::FormatReader> reader_;
  std::string explained_;  // what the last PlanSplits kept and skipped
};

}  // namespace flowsql::delta
