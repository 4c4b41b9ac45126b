// The file source: one path, directory or glob of files of one format.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/file/format_reader.h"
#include "connectors/file/partitions.h"
#include "flowsql/connector.h"

namespace flowsql::file {

/// A Source over files, local or in an object store: one split per file, and row-group
/// ranges of about 64 MB for larger Parquet files. Hive partition folders (key=value) and
/// the file name may be columns too; a filter on partitions skips files. A split's offset
/// is the number of rows it has produced. Resolving the files and inferring the schema
/// happen on the first GetSchema() or PlanSplits(); after that, OpenSplit() is
/// thread-safe.
/// A split reader over one file's batches, as the file source reads them: each
/// conformed to `out` by name (ConformByName; errors name `path`), the columns of
/// `constants` (by index into `out`) filled with their value, cut at `batch_size`
/// rows (0: as read), from row `skip` up to row `end` (-1: the end). Its offset is
/// the rows read so far.
std::unique_ptr<SplitReader> MakeFileSplitReader(
    std::shared_ptr<arrow::RecordBatchReader> reader, std::shared_ptr<arrow::Schema> out,
    std::string path, int64_t skip, int64_t end, int64_t batch_size,
    std::vector<std::pair<int, std::shared_ptr<arrow::Scalar>>> constants);

/// A row-count offset of `split` into `out`; an empty offset leaves `out` as it is.
Status ParseRows(const std::string& offset, const std::string& split, int64_t* out);

class FileSource : public Source {
 public:
  explicit FileSource(ConnectorArgs args);

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  Pushdown pushdown() const override { return {true, true, true}; }
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  /// `_metadata`: STRUCT(filename VARCHAR, row_number BIGINT), each row's file and its
  /// place in it (seed 004's _metadata.filename / _metadata.row_number).
  arrow::FieldVector HiddenColumns() const override;
  std::string Describe() const override;
  int64_t EstimatedBytes() const override;
  int64_t ExactRows() const override;

  /// The counters of the scans since the last PlanSplits() (bytes read, row groups
  /// skipped, ...).
  std::shared_ptr<ScanStats> last_scan_stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  /// The files read, after resolving globs and directories. REQUIRES: GetSchema() ok.
  const std::vector<FileInfo>& files() const { return *files_; }

 private:
  Status Prepare();

  ConnectorArgs args_;
  std::string path_;
  bool prepared_ = false;
  ReadSettings settings_;
  std::shared_ptr<FormatReader> reader_;
  std::shared_ptr<std::vector<FileInfo>> files_;
  std::map<std::string, size_t> file_index_;  // path -> index into files_
  std::shared_ptr<arrow::Schema> schema_;
  /// Columns no file holds: the hive partitions, then `filename`.
  std::optional<HivePartitions> partitions_;
  std::vector<std::string> virtual_columns_;
  /// The value of virtual column `name` for file `index`.
  std::shared_ptr<arrow::Scalar> VirtualValue(const std::string& name,
                                              size_t index) const;
  int64_t estimated_bytes_ = -1;  // the files' total size, -1 when none is known
  mutable std::mutex mutex_;      // guards stats_ and pushed_
  std::shared_ptr<ScanStats> stats_ = std::make_shared<ScanStats>();
  std::string pushed_;  // EXPLAIN text of the last planned request
};

}  // namespace flowsql::file
