// File formats, paths and SQL type names shared by the file source and sink.
#pragma once

#include <arrow/type_fwd.h>
#include <arrow/util/compression.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sql_types.h"
#include "common/text.h"
#include "connectors/file/storage.h"
#include "flowsql/status.h"

namespace flowsql::file {

enum class FileFormat { kCsv, kJson, kNdjson, kParquet, kIpc, kOrc, kAvro };

/// "csv", "json", "ndjson", "parquet", "ipc", "orc", "avro".
const char* FormatName(FileFormat format);
/// The extension a written file of `format` gets, without the dot ("parquet").
const char* FormatExtension(FileFormat format);
/// Parses a `format` option value: csv, tsv, json, ndjson, jsonl, parquet, ipc, arrow,
/// feather, orc, avro. Case-insensitive. Unknown names are user errors.
Result<FileFormat> FormatFromName(const std::string& name);

/// What a file name says about its content.
struct PathFormat {
  FileFormat format;
  /// The stream compression of a CSV or JSON file: .gz, .zst, .bz2, .lz4.
  arrow::Compression::type compression = arrow::Compression::UNCOMPRESSED;
  bool tab_separated = false;  // .tsv
};
/// The format implied by `path`'s extension (".csv", ".tsv.gz", ".json.zst",
/// ".parquet", ...), or nullopt when the extension is unknown.
std::optional<PathFormat> FormatFromPath(const std::string& path);
/// The stream compression `path`'s last extension names: .gz/.gzip gzip, .zst/.zstd
/// zstd, .bz2 bzip2, .lz4 LZ4 frames; else UNCOMPRESSED.
arrow::Compression::type CompressionFromPath(const std::string& path);
/// The extension of a stream codec, with its dot (".gz", ".zst", ".bz2", ".lz4"); ""
/// for none.
std::string CompressionExtension(arrow::Compression::type codec);
/// A stream codec by name, for CSV and JSON (the `compression` options): gzip, zstd,
/// bz2 (bzip2), lz4, none. `option` names the option in errors.
Result<arrow::Compression::type> StreamCompressionFromName(const std::string& name,
                                                           const std::string& option);

/// Turns a URI or bare path into a local path: "file:///abs" -> "/abs",
/// "file://rel/x" -> "rel/x", "x.csv" -> "x.csv".
std::string UriToPath(const std::string& uri);
/// True when `path` contains glob characters (* ? [ {).
bool HasGlob(const std::string& path);
/// `path` without the ?query and #fragment of an http(s) URL, which say nothing of the
/// file's name ("https://h/x.csv.gz?sig=abc" -> "https://h/x.csv.gz"); other paths
/// whole.
std::string WithoutQuery(const std::string& path);

/// The files a source path stands for, sorted by name: the file itself; the files
/// below a directory, in its folders too (those whose extension gives `format`, or
/// any known format when `format` is unset, then only those of the first file's
/// format); or the matches of a glob: `*`, `?`, `[...]` within a name, `**` across
/// folders, `{a,b}` alternatives. Names starting with `.` or `_` are skipped.
/// Errors: "file not found: <path>", "no files match '<glob>'". Paths and URIs of
/// `storage` ("s3://bucket/dir/*.parquet"). An http(s) URL is one file, whatever it
/// holds ('?' and '[' are no globs there, and a server has no folders to list).
Result<std::vector<std::string>> ResolvePaths(const std::string& path,
                                              std::optional<FileFormat> format,
                                              const Storage& storage = *Storage::Local());

}  // namespace flowsql::file
