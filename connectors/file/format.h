// File formats, paths and SQL type names shared by the file source and sink.
#pragma once

#include <arrow/type_fwd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sql_types.h"
#include "common/text.h"
#include "flowsql/status.h"

namespace flowsql::file {

enum class FileFormat { kCsv, kJson, kNdjson, kParquet, kIpc };

/// "csv", "json", "ndjson", "parquet", "ipc".
const char* FormatName(FileFormat format);
/// The extension a written file of `format` gets, without the dot ("parquet").
const char* FormatExtension(FileFormat format);
/// Parses a `format` option value: csv, tsv, json, ndjson, jsonl, parquet, ipc, arrow,
/// feather. Case-insensitive. Unknown names are user errors.
Result<FileFormat> FormatFromName(const std::string& name);

/// What a file name says about its content.
struct PathFormat {
  FileFormat format;
  bool gzip = false;           // ends in .gz
  bool tab_separated = false;  // .tsv
};
/// The format implied by `path`'s extension (".csv", ".tsv.gz", ".parquet", ...), or
/// nullopt when the extension is unknown.
std::optional<PathFormat> FormatFromPath(const std::string& path);
/// True when `path` ends in ".gz".
bool IsGzipPath(const std::string& path);

/// Turns a URI or bare path into a local path: "file:///abs" -> "/abs",
/// "file://rel/x" -> "rel/x", "x.csv" -> "x.csv".
std::string UriToPath(const std::string& uri);
/// True when `path` contains glob characters (* ? [).
bool HasGlob(const std::string& path);

/// The files a source path stands for, sorted by name: the file itself; the files of
/// a directory (those whose extension gives `format`, or any known format when
/// `format` is unset, then only those of the first file's format); or the matches of
/// a glob. Errors: "file not found: <path>", "no files match '<glob>'".
Result<std::vector<std::string>> ResolvePaths(const std::string& path,
                                              std::optional<FileFormat> format);

}  // namespace flowsql::file
