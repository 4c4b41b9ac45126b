// What the file sinks share: the parsed sink options and the names of part files.
// FileSink (local disk) and ObjectSink (object stores) write one file per epoch, or
// one single file; PartitionedSink writes many per epoch (partitions, rotation) and
// builds them from single-file sinks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connectors/file/batch_writer.h"
#include "connectors/file/storage.h"
#include "flowsql/connector.h"

namespace flowsql::file {

enum class Mode { kErrorIfExists, kOverwrite, kAppend, kIgnore };

const char* ModeName(Mode mode);

struct SinkSettings {
  WriteSettings write;
  Mode mode = Mode::kErrorIfExists;
  std::string path;
  bool directory = false;
  std::shared_ptr<const Storage> storage;
  /// The storage options the user set (endpoint, credentials), to read the target
  /// back when appending.
  Options storage_options;
  /// Hive partition columns (`partition_by`): a folder per value, `name=value/`.
  std::vector<std::string> partition_by;
  /// File rotation: a new file after this many rows (`max_rows_per_file`) or about
  /// this many bytes (`max_file_size`); 0 for no limit.
  int64_t max_rows_per_file = 0;
  int64_t max_file_size = 0;
  /// A path template's folders below `path` ("date={YYYY-MM-DD}", "{country}"):
  /// braces hold date tokens (YYYY MM DD HH mm ss) filled from `timestamp_column`, or
  /// a column name filled with the row's value.
  std::vector<std::string> path_template;
  /// The TIMESTAMP or DATE column of the date tokens; empty: the first such column.
  std::string timestamp_column;
};

Result<SinkSettings> ParseSinkSettings(const ConnectorArgs& args);

/// The extension of part files: the format's, then the codec's for CSV and JSON
/// ("csv.zst").
std::string PartExtension(const WriteSettings& write);
/// "part-<epoch, 8 digits>-<pipeline>.": what a pipeline's part names start with.
std::string PartPrefix(int64_t epoch, const std::string& pipeline);
/// The epoch a part name "part-<epoch, 8+ digits>-..." starts with, and in `rest`
/// what follows the digits ("-<pipeline>.<ext>"); -1 when `name` is not a part.
int64_t PartNameEpoch(const std::string& name, std::string* rest);
/// Overwrite of a folder: deletes the files below `settings.path` of the format being
/// written, but those in `keep` (URIs); hidden files stay.
Status RemoveOtherDataFiles(const SinkSettings& settings,
                            const std::vector<std::string>& keep);
/// Eight random hex digits, for temporary names.
std::string RandomHex();

/// A sink writing `settings.path` as one file (settings.directory is false), on the
/// local disk or an object store.
std::unique_ptr<Sink> MakeSingleFileSink(SinkSettings settings);

/// A folder sink writing several files per epoch (partition_by, rotation).
std::unique_ptr<Sink> MakePartitionedSink(SinkSettings settings);

}  // namespace flowsql::file
