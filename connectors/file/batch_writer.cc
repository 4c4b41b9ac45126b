#include "connectors/file/batch_writer.h"

#include <arrow/adapters/orc/adapter.h>
#include <arrow/csv/api.h>
#include <arrow/io/compressed.h>
#include <arrow/ipc/api.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "connectors/file/block_stream.h"

namespace flowsql::file {

namespace {

// A writer that also owns the stream below it (and a codec for compressed output).
class RecordBatchWriterAdapter : public BatchWriter {
 public:
  RecordBatchWriterAdapter(std::shared_ptr<arrow::ipc::RecordBatchWriter> writer,
                           std::shared_ptr<arrow::io::OutputStream> out,
                           std::shared_ptr<arrow::util::Codec> codec)
      : writer_(std::move(writer)), out_(std::move(out)), codec_(std::move(codec)) {}

  Status Write(const arrow::RecordBatch& batch) override {
    return writer_->WriteRecordBatch(batch);
  }
  Status Close() override {
    ARROW_RETURN_NOT_OK(writer_->Close());
    return out_->Close();
  }

 private:
  std::shared_ptr<arrow::ipc::RecordBatchWriter> writer_;
  std::shared_ptr<arrow::io::OutputStream> out_;
  std::shared_ptr<arrow::util::Codec> codec_;
};

class ParquetBatchWriter : public BatchWriter {
 public:
  ParquetBatchWriter(std::unique_ptr<parquet::arrow::FileWriter> writer,
                     std::shared_ptr<arrow::io::OutputStream> out)
      : writer_(std::move(writer)), out_(std::move(out)) {}

  Status Write(const arrow::RecordBatch& batch) override {
    return writer_->WriteRecordBatch(batch);
  }
  Status Close() override {
    ARROW_RETURN_NOT_OK(writer_->Close());
    return out_->Close();
  }

 private:
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  std::shared_ptr<arrow::io::OutputStream> out_;
};

// Wraps `out` in a compressed stream when asked (CSV and JSON); `codec` receives the
// codec to keep alive.
Result<std::shared_ptr<arrow::io::OutputStream>> MaybeCompress(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    std::shared_ptr<arrow::util::Codec>* codec) {
  if (settings.compression == arrow::Compression::UNCOMPRESSED) return out;
  if (settings.compression == arrow::Compression::SNAPPY) {
    return MakeSnappyOutputStream(std::move(out));
  }
  int level =
      settings.compression_level.value_or(arrow::util::kUseDefaultCompressionLevel);
  ARROW_ASSIGN_OR_RAISE(*codec, arrow::util::Codec::Create(settings.compression, level));
  return arrow::io::CompressedOutputStream::Make(codec->get(), out);
}

Result<std::unique_ptr<BatchWriter>> MakeCsvWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema, bool write_header) {
  for (const auto& f : schema->fields()) {
    if (arrow::is_nested(f->type()->id())) {
      return Status::Invalid("CSV cannot hold column '", f->name(), "' of type ",
                             f->type()->ToString(), "; write JSON or Parquet instead");
    }
  }
  std::shared_ptr<arrow::util::Codec> codec;
  ARROW_ASSIGN_OR_RAISE(out, MaybeCompress(settings, std::move(out), &codec));
  auto options = arrow::csv::WriteOptions::Defaults();
  options.include_header = settings.header && write_header;
  options.delimiter = settings.delimiter;
  options.batch_size = 16384;
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::csv::MakeCSVWriter(out, schema, options));
  return std::make_unique<RecordBatchWriterAdapter>(std::move(writer), std::move(out),
                                                    std::move(codec));
}

Result<std::unique_ptr<BatchWriter>> MakeParquetWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema) {
  parquet::WriterProperties::Builder props;
  props.compression(settings.compression);
  if (settings.compression_level) props.compression_level(*settings.compression_level);
  props.max_row_group_length(settings.row_group_size);
  if (settings.dictionary) {
    props.enable_dictionary();
  } else {
    props.disable_dictionary();
  }
  if (settings.statistics) {
    props.enable_statistics();
  } else {
    props.disable_statistics();
  }
  parquet::ArrowWriterProperties::Builder arrow_props;
  arrow_props.store_schema();
  arrow_props.set_use_threads(true);
  auto writer = parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(),
                                                 out, props.build(), arrow_props.build());
  if (!writer.ok()) {
    return Status::Invalid("cannot write this schema as Parquet: ",
                           writer.status().message());
  }
  return std::make_unique<ParquetBatchWriter>(std::move(*writer), std::move(out));
}

Result<std::unique_ptr<BatchWriter>> MakeIpcWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema) {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  if (settings.compression != arrow::Compression::UNCOMPRESSED) {
    int level =
        settings.compression_level.value_or(arrow::util::kUseDefaultCompressionLevel);
    ARROW_ASSIGN_OR_RAISE(options.codec,
                          arrow::util::Codec::Create(settings.compression, level));
  }
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(out, schema, options));
  return std::make_unique<RecordBatchWriterAdapter>(std::move(writer), std::move(out),
                                                    nullptr);
}

class OrcBatchWriter : public BatchWriter {
 public:
  OrcBatchWriter(std::unique_ptr<arrow::adapters::orc::ORCFileWriter> writer,
                 std::shared_ptr<arrow::io::OutputStream> out)
      : writer_(std::move(writer)), out_(std::move(out)) {}

  Status Write(const arrow::RecordBatch& batch) override { return writer_->Write(batch); }
  Status Close() override {
    ARROW_RETURN_NOT_OK(writer_->Close());
    return out_->Close();
  }

 private:
  std::unique_ptr<arrow::adapters::orc::ORCFileWriter> writer_;
  std::shared_ptr<arrow::io::OutputStream> out_;  // outlives the writer's pointer to it
};

Result<std::unique_ptr<BatchWriter>> MakeOrcWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out) {
  arrow::adapters::orc::WriteOptions options;
  options.compression = settings.compression;
  options.stripe_size = 64 << 20;
  auto writer = arrow::adapters::orc::ORCFileWriter::Open(out.get(), options);
  if (!writer.ok()) {
    return Status::Invalid("cannot write ORC: ", writer.status().message());
  }
  return std::make_unique<OrcBatchWriter>(std::move(*writer), std::move(out));
}

}  // namespace

Result<std::unique_ptr<BatchWriter>> MakeBatchWriter(
    const WriteSettings& settings, std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema, bool write_header) {
  switch (settings.format) {
    case FileFormat::kCsv:
      return MakeCsvWriter(settings, std::move(out), schema, write_header);
    case FileFormat::kJson:
    case FileFormat::kNdjson: {
      std::shared_ptr<arrow::util::Codec> codec;
      ARROW_ASSIGN_OR_RAISE(out, MaybeCompress(settings, std::move(out), &codec));
      if (codec) {
        // The codec must outlive the stream: keep it with a wrapper-free trick, a
        // shared_ptr aliasing the stream's lifetime to the codec's.
        auto holder =
            std::make_shared<std::pair<std::shared_ptr<arrow::util::Codec>,
                                       std::shared_ptr<arrow::io::OutputStream>>>(codec,
                                                                                  out);
        out = std::shared_ptr<arrow::io::OutputStream>(holder, holder->second.get());
      }
      return MakeJsonWriter(std::move(out), schema, settings.format == FileFormat::kJson);
    }
    case FileFormat::kParquet:
      return MakeParquetWriter(settings, std::move(out), schema);
    case FileFormat::kIpc:
      return MakeIpcWriter(settings, std::move(out), schema);
    case FileFormat::kOrc:
      return MakeOrcWriter(settings, std::move(out));
    case FileFormat::kAvro:
      return MakeAvroWriter(settings, std::move(out), schema);
  }
  return Status::Invalid("unknown format");
}

}  // namespace flowsql::file
