// Format writers used by the file sink: each writes record batches to one output
// stream as they come (nothing is held beyond a Parquet row group).
#pragma once

#include <arrow/io/interfaces.h>
#include <arrow/record_batch.h>
#include <arrow/util/type_fwd.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "connectors/file/format.h"

namespace flowsql::file {

struct WriteSettings {
  FileFormat format = FileFormat::kParquet;
  /// Parquet/IPC codec; for CSV/JSON only GZIP or UNCOMPRESSED.
  arrow::Compression::type compression = arrow::Compression::UNCOMPRESSED;
  std::optional<int> compression_level;
  int64_t row_group_size = 1048576;
  /// Parquet: dictionary encoding and column statistics (min, max, null count).
  bool dictionary = true;
  bool statistics = true;
  bool header = true;
  char delimiter = ',';
};

class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  /// REQUIRES: batch has the schema given to MakeBatchWriter.
  virtual Status Write(const arrow::RecordBatch& batch) = 0;
  /// Writes the footer, flushes and closes the stream. Called once.
  virtual Status Close() = 0;
};

/// A writer of `settings.format` over `out`. `write_header` is false when appending
/// CSV rows to a file that already has one. `out` is closed by Close().
Result<std::unique_ptr<BatchWriter>> MakeBatchWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema, bool write_header = true);

/// NDJSON (one object per line) or, with `array`, a JSON array of objects.
Result<std::unique_ptr<BatchWriter>> MakeJsonWriter(
    std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema, bool array);

/// An Avro object container file: nullable columns as unions with null, timestamps as
/// (local-)timestamp-millis or -micros, decimals as bytes, nested types nested; the
/// codec from settings.compression (none, GZIP as deflate, SNAPPY, ZSTD, BZ2).
/// Errors name a column Avro cannot hold.
Result<std::unique_ptr<BatchWriter>> MakeAvroWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema);

/// Appends the JSON text of rows [0, n) of `batch` to `out`, one object per line.
/// Exposed for tests.
Status AppendJsonRows(const arrow::RecordBatch& batch, std::string* out);

}  // namespace flowsql::file
