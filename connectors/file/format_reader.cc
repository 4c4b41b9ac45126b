#include "connectors/file/format_reader.h"

#include <arrow/array/util.h>
#include <arrow/compute/cast.h>
#include <arrow/io/buffered.h>
#include <arrow/io/compressed.h>
#include <arrow/io/file.h>
#include <arrow/util/compression.h>

#include "common/http_client.h"
#include "connectors/file/block_stream.h"

namespace flowsql::file {

namespace {

/// The buffer before an LZ4 file's stream, through which its first bytes are looked at.
constexpr int64_t kLz4PeekBuffer = 64 << 10;

/// Forwards reads to `inner` and counts bytes; owns what the stream depends on
/// (a decompression codec).
class CountingInputStream : public arrow::io::InputStream {
 public:
  CountingInputStream(std::shared_ptr<arrow::io::InputStream> inner,
                      std::shared_ptr<ScanStats> stats,
                      std::shared_ptr<arrow::util::Codec> codec)
      : inner_(std::move(inner)), stats_(std::move(stats)), codec_(std::move(codec)) {}

  ~CountingInputStream() override { (void)inner_->Close(); }

  Status Close() override { return inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  Result<int64_t> Tell() const override { return inner_->Tell(); }

  Result<int64_t> Read(int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(int64_t n, inner_->Read(nbytes, out));
    if (stats_) stats_->bytes_read += n;
    return n;
  }
  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, inner_->Read(nbytes));
    if (stats_) stats_->bytes_read += buf->size();
    return buf;
  }

 private:
  std::shared_ptr<arrow::io::InputStream> inner_;
  std::shared_ptr<ScanStats> stats_;
  std::shared_ptr<arrow::util::Codec> codec_;
};

class ErrorNamingReader : public arrow::RecordBatchReader {
 public:
  ErrorNamingReader(std::shared_ptr<arrow::RecordBatchReader> inner, std::string path,
                    std::shared_ptr<ScanStats> stats)
      : inner_(std::move(inner)), path_(std::move(path)), stats_(std::move(stats)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    Status st = inner_->ReadNext(batch);
    if (!st.ok()) return WithPath(st, path_);
    if (*batch && stats_) stats_->batches_read++;
    return st;
  }
  Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::string path_;
  std::shared_ptr<ScanStats> stats_;
};

class MappingReader : public arrow::RecordBatchReader {
 public:
  MappingReader(std::shared_ptr<arrow::RecordBatchReader> inner, BatchMap map)
      : inner_(std::move(inner)), map_(std::move(map)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_RETURN_NOT_OK(inner_->ReadNext(batch));
    if (*batch == nullptr) return Status::OK();
    ARROW_ASSIGN_OR_RAISE(*batch, map_(std::move(*batch)));
    return Status::OK();
  }
  Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  BatchMap map_;
};

}  // namespace

std::shared_ptr<arrow::RecordBatchReader> MapBatches(
    std::shared_ptr<arrow::RecordBatchReader> inner, BatchMap map) {
  return std::make_shared<MappingReader>(std::move(inner), std::move(map));
}

std::shared_ptr<arrow::RecordBatchReader> NameErrors(
    std::shared_ptr<arrow::RecordBatchReader> inner, std::string path,
    std::shared_ptr<ScanStats> stats) {
  return std::make_shared<ErrorNamingReader>(std::move(inner), std::move(path),
                                             std::move(stats));
}

Result<std::shared_ptr<arrow::Buffer>> ReadBuffer(arrow::io::InputStream* in,
                                                  int64_t nbytes) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateResizableBuffer(nbytes));
  ARROW_ASSIGN_OR_RAISE(int64_t n, in->Read(nbytes, buffer->mutable_data()));
  ARROW_RETURN_NOT_OK(buffer->Resize(n));
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

Status WithPath(const Status& st, const std::string& path) {
  if (st.ok()) return st;
  if (st.message().rfind(path, 0) == 0) return st;
  // An http(s) URL names itself, its secrets removed.
  if (http::IsHttpUrl(path) && st.message().rfind(http::RedactUrl(path), 0) == 0) {
    return st;
  }
  return st.WithMessage(path, ": ", st.message());
}

Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(
    const ReadSettings& settings, const std::string& path,
    std::shared_ptr<ScanStats> stats) {
  ARROW_ASSIGN_OR_RAISE(auto in, settings.storage->OpenStream(path));
  std::shared_ptr<arrow::util::Codec> codec;
  auto type = settings.compression.value_or(CompressionFromPath(path));
  if (type == arrow::Compression::LZ4_FRAME) {
    // LZ4 frames, or Hadoop's LZ4 blocks as Spark writes them: the first bytes tell.
    ARROW_ASSIGN_OR_RAISE(
        auto buffered, arrow::io::BufferedInputStream::Create(
                           kLz4PeekBuffer, arrow::default_memory_pool(), std::move(in)));
    ARROW_ASSIGN_OR_RAISE(std::string_view head, buffered->Peek(kLz4FrameMagic.size()));
    in = std::move(buffered);
    if (!head.empty() && head != kLz4FrameMagic) {
      ARROW_ASSIGN_OR_RAISE(in, MakeHadoopLz4InputStream(std::move(in)));
      type = arrow::Compression::UNCOMPRESSED;  // decoded already
    }
  }
  if (type == arrow::Compression::SNAPPY) {
    ARROW_ASSIGN_OR_RAISE(in, MakeSnappyInputStream(std::move(in)));
  } else if (type != arrow::Compression::UNCOMPRESSED) {
    ARROW_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(type));
    ARROW_ASSIGN_OR_RAISE(in, arrow::io::CompressedInputStream::Make(codec.get(), in));
  }
  if (stats) stats->files_opened++;
  return std::make_shared<CountingInputStream>(std::move(in), std::move(stats),
                                               std::move(codec));
}

void ForEachLine(arrow::io::InputStream* in,
                 const std::function<bool(std::string_view)>& f) {
  std::string pending;
  while (true) {
    auto chunk = in->Read(1 << 20);
    if (!chunk.ok()) return;
    if ((*chunk)->size() == 0) break;
    pending.append(reinterpret_cast<const char*>((*chunk)->data()), (*chunk)->size());
    size_t start = 0, nl;
    while ((nl = pending.find('\n', start)) != std::string::npos) {
      if (!f(std::string_view(pending).substr(start, nl - start))) return;
      start = nl + 1;
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) f(std::string_view(pending));
}

Result<std::shared_ptr<arrow::Schema>> ApplyTypeSettings(
    const std::shared_ptr<arrow::Schema>& inferred, const ReadSettings& settings) {
  arrow::FieldVector fields;
  if (!settings.columns.empty()) {
    for (const auto& [name, type] : settings.columns) {
      fields.push_back(arrow::field(name, type));
    }
  } else {
    fields = inferred->fields();
  }
  for (auto& f : fields) {
    for (const auto& [name, type] : settings.types) {
      if (f->name() == name) f = f->WithType(type);
    }
  }
  return arrow::schema(std::move(fields));
}

std::unique_ptr<FormatReader> MakeFormatReader(const ReadSettings& settings) {
  switch (settings.format) {
    case FileFormat::kCsv:
      return MakeCsvReader(settings);
    case FileFormat::kJson:
    case FileFormat::kNdjson:
      return MakeJsonReader(settings);
    case FileFormat::kParquet:
      return MakeParquetReader(settings);
    case FileFormat::kIpc:
      return MakeIpcReader(settings);
    case FileFormat::kOrc:
      return MakeOrcReader(settings);
    case FileFormat::kAvro:
      return MakeAvroReader(settings);
  }
  return nullptr;
}

}  // namespace flowsql::file
