// A watched folder: `FROM 'dir/*.csv' WITH (watch = true)` is an unbounded source
// that emits each new file once, when it is complete.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "connectors/file/read_settings.h"
#include "flowsql/connector.h"

namespace flowsql::file {

/// One split, "watch", that polls the path (a folder or a glob, local or on an object
/// store) every `poll_interval` and reads each file it has not read yet once the file
/// is complete: its size stayed the same for one poll (file_complete = 'stable'), or
/// "<file><marker_suffix>" exists (file_complete = 'marker'). Files are read in name
/// order, each through a FileSource of its own, conformed to the source's schema
/// (inferred from the files there at the start, or given by `columns`).
///
/// The split's offset names the files read and the rows read of the current one, so a
/// restarted pipeline reads no file again. Acknowledge() deletes
/// (`delete_after_read`) or moves (`move_after_read`) the files read: only then are
/// their rows committed in every sink.
class WatchSource : public Source {
 public:
  explicit WatchSource(ConnectorArgs args);

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  bool bounded() const override { return false; }
  Pushdown pushdown() const override { return {true, false, false}; }
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  Status Acknowledge(const std::map<std::string, std::string>& offsets) override;
  arrow::FieldVector HiddenColumns() const override;
  std::string Describe() const override;

  /// What the split's offset says: the files read, the file being read and its rows.
  struct Position {
    std::set<std::string> done;
    std::string current;
    int64_t rows = 0;
  };
  static std::string EncodePosition(const Position& position);
  static Result<Position> DecodePosition(const std::string& offset);

 private:
  Status Prepare();

  ConnectorArgs args_;
  std::string path_;
  std::shared_ptr<const Storage> storage_;
  std::shared_ptr<arrow::Schema> schema_;
  std::set<std::string> handled_;  // files deleted or moved after an acknowledgement
  std::mutex mutex_;
};

}  // namespace flowsql::file
