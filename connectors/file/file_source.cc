#include "connectors/file/file_source.h"

#include <arrow/type.h>

#include <algorithm>

namespace flowsql::file {

namespace {

/// Batches from the files of a source, one file after the other, conformed to the
/// projected schema, cut at batch_size rows and stopped at the limit.
class FileBatchStream : public BatchStream {
 public:
  FileBatchStream(std::shared_ptr<FormatReader> reader,
                  std::shared_ptr<std::vector<FileInfo>> files,
                  std::shared_ptr<arrow::Schema> full, std::shared_ptr<arrow::Schema> out,
                  arrow::compute::Expression filter, std::optional<int64_t> limit,
                  int64_t batch_size, std::shared_ptr<ScanStats> stats)
      : reader_(std::move(reader)),
        files_(std::move(files)),
        full_(std::move(full)),
        out_(std::move(out)),
        filter_(std::move(filter)),
        remaining_(limit.value_or(-1)),
        batch_size_(batch_size),
        stats_(std::move(stats)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (remaining_ != 0) {
      if (pending_ && pending_offset_ < pending_->num_rows()) {
        int64_t n = pending_->num_rows() - pending_offset_;
        if (batch_size_ > 0) n = std::min(n, batch_size_);
        if (remaining_ > 0) n = std::min(n, remaining_);
        *out = pending_->Slice(pending_offset_, n);
        pending_offset_ += n;
        if (remaining_ > 0) remaining_ -= n;
        if (remaining_ == 0) return Close();
        return Status::OK();
      }
      pending_ = nullptr;
      pending_offset_ = 0;
      if (current_ == nullptr) {
        if (next_file_ >= files_->size()) return Status::OK();
        FileScan scan;
        scan.file = &(*files_)[next_file_++];
        scan.schema = full_;
        scan.columns = out_->field_names();
        scan.filter = filter_;
        scan.stats = stats_;
        ARROW_ASSIGN_OR_RAISE(current_, reader_->Open(scan));
        current_path_ = scan.file->path;
      }
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(current_->ReadNext(&batch));
      if (batch == nullptr) {
        ARROW_RETURN_NOT_OK(current_->Close());
        current_ = nullptr;
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(pending_, Conform(batch, out_, current_path_));
    }
    return Status::OK();
  }

  Status Close() override {
    pending_ = nullptr;
    if (current_) {
      auto reader = std::move(current_);
      current_ = nullptr;
      return reader->Close();
    }
    return Status::OK();
  }

 private:
  std::shared_ptr<FormatReader> reader_;
  std::shared_ptr<std::vector<FileInfo>> files_;
  std::shared_ptr<arrow::Schema> full_;
  std::shared_ptr<arrow::Schema> out_;
  arrow::compute::Expression filter_;
  int64_t remaining_;  // -1: no limit
  int64_t batch_size_;
  std::shared_ptr<ScanStats> stats_;
  size_t next_file_ = 0;
  std::shared_ptr<arrow::RecordBatchReader> current_;
  std::string current_path_;
  std::shared_ptr<arrow::RecordBatch> pending_;
  int64_t pending_offset_ = 0;
};

}  // namespace

FileSource::FileSource(ConnectorArgs args)
    : args_(std::move(args)), path_(UriToPath(args_.uri)) {}

Status FileSource::Prepare() {
  if (prepared_) return Status::OK();
  if (path_.empty()) return Status::Invalid("file source: no path given");
  std::optional<FileFormat> format;
  if (args_.options.Has("format")) {
    ARROW_ASSIGN_OR_RAISE(format, FormatFromName(args_.options.GetString("format")));
  } else if (auto pf = FormatFromPath(path_)) {
    format = pf->format;
  }
  ARROW_ASSIGN_OR_RAISE(auto paths, ResolvePaths(path_, format));
  ARROW_ASSIGN_OR_RAISE(settings_, ParseReadSettings(args_.options, paths.front()));
  reader_ = MakeFormatReader(settings_);
  files_ = std::make_shared<std::vector<FileInfo>>();
  std::vector<std::shared_ptr<arrow::Schema>> schemas;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i == 0 || settings_.union_by_name) {
      ARROW_ASSIGN_OR_RAISE(auto info, reader_->Inspect(paths[i]));
      schemas.push_back(info.schema);
      files_->push_back(std::move(info));
    } else {
      // Without union_by_name, every file is read as the first one.
      FileInfo info = files_->front();
      info.path = paths[i];
      files_->push_back(std::move(info));
    }
  }
  if (schemas.size() == 1) {
    schema_ = schemas.front();
  } else {
    auto unified = arrow::UnifySchemas(schemas, arrow::Field::MergeOptions::Permissive());
    if (!unified.ok()) {
      return Status::Invalid("cannot combine the schemas of the files of '", path_,
                             "' by column name: ", unified.status().message());
    }
    schema_ = *unified;
  }
  for (const auto& [name, type] : settings_.types) {
    if (schema_->GetFieldIndex(name) < 0) {
      return Status::Invalid("option 'types': no column '", name, "' in ", path_,
                             "; columns: ", schema_->ToString());
    }
  }
  prepared_ = true;
  return Status::OK();
}

Result<std::shared_ptr<arrow::Schema>> FileSource::GetSchema() {
  ARROW_RETURN_NOT_OK(Prepare());
  return schema_;
}

Result<std::unique_ptr<BatchStream>> FileSource::Scan(const ScanRequest& request) {
  ARROW_RETURN_NOT_OK(Prepare());
  std::shared_ptr<arrow::Schema> out = schema_;
  if (request.columns) {
    arrow::FieldVector fields;
    for (const auto& name : *request.columns) {
      auto field = schema_->GetFieldByName(name);
      if (field == nullptr) {
        return Status::KeyError("no column '", name, "' in ", path_);
      }
      fields.push_back(field);
    }
    out = arrow::schema(std::move(fields));
  }
  last_stats_ = std::make_shared<ScanStats>();
  last_pushed_.clear();
  if (request.columns) {
    last_pushed_ += " columns=[";
    for (size_t i = 0; i < request.columns->size(); ++i) {
      last_pushed_ += (i ? "," : "") + (*request.columns)[i];
    }
    last_pushed_ += "]";
  }
  if (!request.filter.Equals(arrow::compute::literal(true))) {
    last_pushed_ += " filter=" + request.filter.ToString();
  }
  if (request.limit) last_pushed_ += " limit=" + std::to_string(*request.limit);
  return std::make_unique<FileBatchStream>(reader_, files_, schema_, std::move(out),
                                           request.filter, request.limit,
                                           settings_.batch_size, last_stats_);
}

std::string FileSource::Describe() const {
  std::string format;
  if (prepared_) {
    format = FormatName(settings_.format);
  } else if (args_.options.Has("format")) {
    format = Lower(args_.options.GetString("format"));
  } else if (auto pf = FormatFromPath(path_)) {
    format = FormatName(pf->format);
  }
  std::string out = "file " + format + " " + path_;
  if (prepared_ && files_->size() > 1) {
    out += " (" + std::to_string(files_->size()) + " files)";
  }
  return out + last_pushed_;
}

}  // namespace flowsql::file
