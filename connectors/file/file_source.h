// The file source: one path, directory or glob of files of one format.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "connectors/file/format_reader.h"
#include "flowsql/connector.h"

namespace flowsql::file {

/// A Source over local files. Resolving the files and inferring the schema happen on
/// the first GetSchema() or Scan(). Not thread-safe; a scan's stream may outlive it.
class FileSource : public Source {
 public:
  explicit FileSource(ConnectorArgs args);

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  Pushdown pushdown() const override { return {true, true, true}; }
  Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) override;
  std::string Describe() const override;

  /// The counters of the most recent Scan() (bytes read, row groups skipped, ...).
  std::shared_ptr<ScanStats> last_scan_stats() const { return last_stats_; }
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
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<ScanStats> last_stats_;
  std::string last_pushed_;
};

}  // namespace flowsql::file
