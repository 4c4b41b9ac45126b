// Source options, parsed once from validated Options.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connectors/file/format.h"
#include "connectors/file/storage.h"
#include "flowsql/options.h"

namespace flowsql::file {

using NamedTypes = std::vector<std::pair<std::string, std::shared_ptr<arrow::DataType>>>;

/// How to read the files of one source. Built by ParseReadSettings.
/// What reading does with text that is not valid UTF-8 (`invalid_utf8`).
enum class InvalidUtf8 { kError, kReplace, kIgnore };

struct ReadSettings {
  /// The format, from the `format` option or the first file's extension.
  FileFormat format = FileFormat::kCsv;
  // CSV
  char delimiter = ',';
  bool header = true;
  char quote = '"';
  std::optional<char> escape;
  std::optional<std::string> null_string;
  /// A quoted null spelling ("") is NULL too (DuckDB's allow_quoted_nulls).
  bool allow_quoted_nulls = true;
  int64_t skip_rows = 0;
  bool newlines_in_values = false;
  // All formats
  /// Full declared schema (`columns`); empty: inferred.
  NamedTypes columns;
  /// Type overrides for some columns (`types`).
  NamedTypes types;
  bool auto_detect = true;
  std::string timestamp_format;
  /// Maximum rows per batch; 0: as the format yields them.
  int64_t batch_size = 0;
  /// Bytes read per block by the CSV and JSON readers.
  int64_t block_size = 4 << 20;
  bool union_by_name = true;
  /// CSV: an error naming column and line, or bad bytes replaced by U+FFFD or dropped.
  InvalidUtf8 invalid_utf8 = InvalidUtf8::kError;
  /// JSON: infer the schema from the whole file (`sample_size = -1`).
  bool sample_all = false;
  /// key=value folders as columns (`hive_partitioning`); unset: when the files have
  /// them.
  std::optional<bool> hive_partitioning;
  /// A `filename` column holding each row's file (`filename`).
  bool filename = false;
  /// A `file_row_number` column: each row's place in its file, from 0.
  bool file_row_number = false;
  /// CSV and JSON: the stream codec of every file (`compression`); unset: each
  /// file's extension says (CompressionFromPath).
  std::optional<arrow::Compression::type> compression;
  /// Where the files are (set by the file source; the local disk by default).
  std::shared_ptr<const Storage> storage = Storage::Local();
};

/// Reads the source options. `first_path` gives the format when `format` is unset.
/// Errors name the option ("option 'delimiter': expected one character").
Result<ReadSettings> ParseReadSettings(const Options& options,
                                       const std::string& first_path);

/// Parses a kMap option value of SQL types (name=TYPE pairs).
Result<NamedTypes> ParseNamedTypes(const Options& options, const std::string& name);

}  // namespace flowsql::file
