// The per-format half of the file source: each format knows how to inspect one
// file's schema and how to open a batch reader over one file.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/conform.h"
#include "connectors/file/read_settings.h"

namespace parquet::arrow {
struct SchemaField;
}

namespace flowsql::file {

/// What a scan did, for EXPLAIN ANALYZE-style checks and tests. Thread-safe counters.
struct ScanStats {
  std::atomic<int64_t> bytes_read{0};  // bytes pulled from CSV/JSON inputs
  std::atomic<int64_t> files_opened{0};
  std::atomic<int64_t> row_groups_read{0};     // Parquet
  std::atomic<int64_t> row_groups_skipped{0};  // Parquet, pruned by statistics
  std::atomic<int64_t> batches_read{0};        // batches the format readers produced
};

/// One file as inspected.
struct FileInfo {
  std::string path;
  /// The schema this file contributes to the source (types and columns options applied,
  /// JSON date/timestamp strings typed).
  std::shared_ptr<arrow::Schema> schema;
  /// The schema the format reader produces natively for this file (JSON: before the
  /// date/timestamp casts). Equal to `schema` for most formats.
  std::shared_ptr<arrow::Schema> raw_schema;
  /// Parquet: the file's row groups and size in bytes (0 for other formats), so
  /// that a large file can be read as several splits.
  int row_groups = 0;
  /// Parquet: the rows of each row group.
  std::vector<int64_t> row_group_rows;
  int64_t size = 0;
  /// Parquet: the rows its footer counts; -1 when unknown.
  int64_t rows = -1;
  /// False when only the names of the columns were read (InspectNames): the source's
  /// schema gives their types.
  bool typed = true;
};

/// One file to scan.
struct FileScan {
  const FileInfo* file = nullptr;
  /// The source's full (unified) schema.
  std::shared_ptr<arrow::Schema> schema;
  /// Columns wanted, in order; all in `schema`. May be empty (only row counts wanted).
  std::vector<std::string> columns;
  /// A filter a format may use to skip data (Parquet row groups); may be literal(true).
  arrow::compute::Expression filter = arrow::compute::literal(true);
  std::shared_ptr<ScanStats> stats;
  /// Parquet: read only the row groups [row_group_begin, row_group_end); -1: to the
  /// last one.
  int row_group_begin = 0;
  int row_group_end = -1;
};

class FormatReader {
 public:
  virtual ~FormatReader() = default;
  /// Reads enough of `path` to know its schema (a first block, a footer).
  virtual Result<FileInfo> Inspect(const std::string& path) = 0;
  /// Reads only what names `path`'s columns (a CSV header), for a file whose types
  /// come from other files: its fields are typed null. Formats that cannot name
  /// columns more cheaply than they type them inspect the file.
  virtual Result<FileInfo> InspectNames(const std::string& path) { return Inspect(path); }
  /// Opens a reader over one file. Its batches hold at least the wanted columns that
  /// exist in the file, possibly with other types or more columns; the caller
  /// conforms them (ConformByName). Errors name the file.
  virtual Result<std::shared_ptr<arrow::RecordBatchReader>> Open(
      const FileScan& scan) = 0;
};

/// The reader for settings.format.
std::unique_ptr<FormatReader> MakeFormatReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeCsvReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeJsonReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeParquetReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeIpcReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeOrcReader(const ReadSettings& settings);
std::unique_ptr<FormatReader> MakeAvroReader(const ReadSettings& settings);

/// Opens `path` of settings.storage for sequential reading, decompressed by
/// settings.compression (unset: as its extension says, CompressionFromPath), counting
/// bytes into `stats`.
Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(
    const ReadSettings& settings, const std::string& path,
    std::shared_ptr<ScanStats> stats);

/// Up to `nbytes` of `in` as a buffer, through in->Read(nbytes, out): the other half
/// of an InputStream that implements that one.
Result<std::shared_ptr<arrow::Buffer>> ReadBuffer(arrow::io::InputStream* in,
                                                  int64_t nbytes);

/// Calls `f` with each line of `in` (without its '\n') until `f` returns false or the
/// stream ends; a read error ends it too. For finding the line an error is about.
void ForEachLine(arrow::io::InputStream* in,
                 const std::function<bool(std::string_view)>& f);

/// Applies the `types` and `columns` settings to an inferred schema.
Result<std::shared_ptr<arrow::Schema>> ApplyTypeSettings(
    const std::shared_ptr<arrow::Schema>& inferred, const ReadSettings& settings);

/// What MapBatches applies to each batch.
using BatchMap = std::function<Result<std::shared_ptr<arrow::RecordBatch>>(
    std::shared_ptr<arrow::RecordBatch>)>;

/// `inner`'s batches, each through `map` in order (which may keep state). Its
/// schema() is `inner`'s, which `map` may change: readers of it conform by name.
std::shared_ptr<arrow::RecordBatchReader> MapBatches(
    std::shared_ptr<arrow::RecordBatchReader> inner, BatchMap map);

/// Wraps a format's reader: errors name `path`, batches are counted into `stats`.
std::shared_ptr<arrow::RecordBatchReader> NameErrors(
    std::shared_ptr<arrow::RecordBatchReader> inner, std::string path,
    std::shared_ptr<ScanStats> stats);

/// Appends the Parquet leaf columns of `field` (its column indices) to `out`: what
/// a FileReader reads to give the field.
void CollectLeaves(const parquet::arrow::SchemaField& field, std::vector<int>* out);

/// Prefixes an error with the file it concerns ("data/x.csv: ...").
Status WithPath(const Status& st, const std::string& path);

}  // namespace flowsql::file
