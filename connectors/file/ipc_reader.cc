// Arrow IPC: the file format (.arrow, .feather v2), else the stream format.
#include <arrow/io/file.h>
#include <arrow/ipc/api.h>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

// Reads the record batches of an IPC file in order.
class IpcFileBatches : public arrow::RecordBatchReader {
 public:
  explicit IpcFileBatches(std::shared_ptr<arrow::ipc::RecordBatchFileReader> file)
      : file_(std::move(file)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return file_->schema(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (next_ >= file_->num_record_batches()) {
      *batch = nullptr;
      return Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(*batch, file_->ReadRecordBatch(next_++));
    return Status::OK();
  }

 private:
  std::shared_ptr<arrow::ipc::RecordBatchFileReader> file_;
  int next_ = 0;
};

class IpcReader : public FormatReader {
 public:
  explicit IpcReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(path, {}, nullptr));
    info.raw_schema = reader->schema()->RemoveMetadata();
    ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(info.raw_schema, settings_));
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    std::vector<int> fields;
    for (const auto& name : scan.columns) {
      int i = scan.file->raw_schema->GetFieldIndex(name);
      if (i >= 0) fields.push_back(i);
    }
    if (fields.empty() && scan.file->raw_schema->num_fields() > 0) fields.push_back(0);
    std::sort(fields.begin(), fields.end());
    ARROW_ASSIGN_OR_RAISE(auto reader, OpenReader(scan.file->path, fields, scan.stats));
    return NameErrors(std::move(reader), scan.file->path, scan.stats);
  }

 private:
  Result<std::shared_ptr<arrow::RecordBatchReader>> OpenReader(
      const std::string& path, std::vector<int> fields,
      std::shared_ptr<ScanStats> stats) {
    auto options = arrow::ipc::IpcReadOptions::Defaults();
    options.included_fields = std::move(fields);
    options.use_threads = true;
    ARROW_ASSIGN_OR_RAISE(auto file, settings_.storage->OpenFile(path));
    auto as_file = arrow::ipc::RecordBatchFileReader::Open(file, options);
    if (as_file.ok()) {
      if (stats) stats->files_opened++;
      return std::make_shared<IpcFileBatches>(*as_file);
    }
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputStream(settings_, path, stats));
    auto as_stream = arrow::ipc::RecordBatchStreamReader::Open(input, options);
    if (!as_stream.ok()) {
      return Status::Invalid(
          path, ": not an Arrow IPC file or stream: ", as_stream.status().message());
    }
    return *as_stream;
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeIpcReader(const ReadSettings& settings) {
  return std::make_unique<IpcReader>(settings);
}

}  // namespace flowsql::file
