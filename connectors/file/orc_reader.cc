// ORC through Arrow's adapter: the wanted columns, a stripe at a time.
#include <arrow/adapters/orc/adapter.h>
#include <arrow/io/file.h>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

/// Keeps an ORC file reader alive for the batch reader made from it.
class OrcBatches : public arrow::RecordBatchReader {
 public:
  OrcBatches(std::unique_ptr<arrow::adapters::orc::ORCFileReader> file,
             std::shared_ptr<arrow::RecordBatchReader> batches)
      : file_(std::move(file)), batches_(std::move(batches)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return batches_->schema(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    return batches_->ReadNext(batch);
  }

 private:
  std::unique_ptr<arrow::adapters::orc::ORCFileReader> file_;
  std::shared_ptr<arrow::RecordBatchReader> batches_;
};

class OrcReader : public FormatReader {
 public:
  explicit OrcReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(path, nullptr));
    auto schema = reader->ReadSchema();
    if (!schema.ok()) return WithPath(schema.status(), path);
    info.raw_schema = (*schema)->RemoveMetadata();
    ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(info.raw_schema, settings_));
    info.rows = reader->NumberOfRows();
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    std::vector<std::string> names;
    for (const auto& name : scan.columns) {
      if (scan.file->raw_schema->GetFieldIndex(name) >= 0) names.push_back(name);
    }
    if (names.empty() && scan.file->raw_schema->num_fields() > 0) {
      names.push_back(scan.file->raw_schema->field(0)->name());
    }
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(scan.file->path, scan.stats));
    const int64_t batch = settings_.batch_size > 0 ? settings_.batch_size : 64 * 1024;
    auto batches = reader->GetRecordBatchReader(batch, names);
    if (!batches.ok()) return WithPath(batches.status(), scan.file->path);
    return NameErrors(std::make_shared<OrcBatches>(std::move(reader), *batches),
                      scan.file->path, scan.stats);
  }

 private:
  Result<std::unique_ptr<arrow::adapters::orc::ORCFileReader>> OpenReader(
      const std::string& path, const std::shared_ptr<ScanStats>& stats) {
    ARROW_ASSIGN_OR_RAISE(auto file, settings_.storage->OpenFile(path));
    auto reader =
        arrow::adapters::orc::ORCFileReader::Open(file, arrow::default_memory_pool());
    if (!reader.ok()) {
      return Status::Invalid(path, ": not an ORC file: ", reader.status().message());
    }
    if (stats) stats->files_opened++;
    return std::move(*reader);
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeOrcReader(const ReadSettings& settings) {
  return std::make_unique<OrcReader>(settings);
}

}  // namespace flowsql::file
