#include <arrow/buffer.h>

#include <algorithm>
#include <cctype>

#include "common/codec.h"
#include "common/conform.h"
#include "common/text.h"
#include "flowsql/connector.h"

namespace flowsql {

std::string UriScheme(const std::string& uri) {
  size_t pos = uri.find("://");
  if (pos == std::string::npos || pos == 0) return "";
  std::string scheme = uri.substr(0, pos);
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' &&
        c != '.') {
      return "";
    }
  }
  return AsciiLower(scheme);
}

Status Registry::Register(ConnectorSpec spec) {
  for (const auto& c : connectors_) {
    if (c.name == spec.name)
      return Status::Invalid("connector registered twice: ", spec.name);
  }
  connectors_.push_back(std::move(spec));
  return Status::OK();
}

const ConnectorSpec* Registry::FindByUri(const std::string& uri) const {
  std::string scheme = UriScheme(uri);
  for (const auto& c : connectors_) {
    if (std::find(c.schemes.begin(), c.schemes.end(), scheme) != c.schemes.end() &&
        (!c.serves_uri || c.serves_uri(uri))) {
      return &c;
    }
  }
  return nullptr;
}

const ConnectorSpec* Registry::FindByFunction(const std::string& name) const {
  for (const auto& c : connectors_) {
    if (c.functions.count(name)) return &c;
  }
  return nullptr;
}

const ConnectorSpec* Registry::FindByName(const std::string& name) const {
  for (const auto& c : connectors_) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

/// The splits of a source, read one after the other.
class SequentialScan : public arrow::RecordBatchReader {
 public:
  SequentialScan(Source* source, ScanRequest request, std::vector<Split> splits,
                 std::shared_ptr<arrow::Schema> schema)
      : source_(source),
        request_(std::move(request)),
        splits_(std::move(splits)),
        schema_(std::move(schema)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    while (remaining_ != 0) {
      if (reader_ == nullptr) {
        if (next_ >= splits_.size()) return Status::OK();
        ARROW_ASSIGN_OR_RAISE(reader_,
                              source_->OpenSplit(splits_[next_++], {}, request_));
      }
      ARROW_ASSIGN_OR_RAISE(SourceBatch b, reader_->Next());
      if (b.batch == nullptr) {
        reader_.reset();
        continue;
      }
      if (b.batch->num_rows() == 0) continue;
      *out = b.batch;
      if (remaining_ > 0) {
        if (b.batch->num_rows() > remaining_) *out = b.batch->Slice(0, remaining_);
        remaining_ -= (*out)->num_rows();
      }
      return Status::OK();
    }
    return Status::OK();
  }

  Status Close() override {
    reader_.reset();
    next_ = splits_.size();
    return Status::OK();
  }

 private:
  Source* source_;
  ScanRequest request_;
  std::vector<Split> splits_;
  std::shared_ptr<arrow::Schema> schema_;
  size_t next_ = 0;
  std::unique_ptr<SplitReader> reader_;
  int64_t remaining_ = request_.limit.value_or(-1);
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> ScanAll(Source* source,
                                                          const ScanRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto all, source->GetSchema());
  ARROW_ASSIGN_OR_RAISE(auto schema, RequestedSchema(all, request));
  ARROW_ASSIGN_OR_RAISE(auto splits, source->PlanSplits(request));
  return std::make_shared<SequentialScan>(source, request, std::move(splits), schema);
}

Result<std::string> SerializeScanTask(const ScanTask& task) {
  std::string out;
  AppendField("flowsql-scan-task-1", &out);
  AppendField(task.connector, &out);
  AppendField(task.args.uri, &out);
  AppendField(static_cast<int64_t>(task.args.positional.size()), &out);
  for (const auto& p : task.args.positional) AppendField(p, &out);
  const auto& values = task.args.options.values();
  AppendField(static_cast<int64_t>(values.size()), &out);
  for (const auto& [name, value] : values) {
    AppendField(name, &out);
    AppendField(value, &out);
    AppendField(task.args.options.IsSet(name) ? 1 : 0, &out);
  }
  const auto& columns = task.request.columns;
  AppendField(columns ? static_cast<int64_t>(columns->size()) : -1, &out);
  if (columns) {
    for (const auto& c : *columns) AppendField(c, &out);
  }
  ARROW_ASSIGN_OR_RAISE(auto filter, arrow::compute::Serialize(task.request.filter));
  AppendField(filter->ToString(), &out);
  AppendField(task.request.limit.value_or(-1), &out);
  AppendField(task.split.id, &out);
  AppendField(task.split.payload, &out);
  AppendField(task.range.start, &out);
  AppendField(task.range.end, &out);
  return out;
}

Result<ScanTask> DeserializeScanTask(const std::string& bytes) {
  FieldReader in(bytes, "scan task");
  ARROW_ASSIGN_OR_RAISE(auto magic, in.String());
  if (magic != "flowsql-scan-task-1") {
    return Status::Invalid("not a flowsql scan task (or from another version)");
  }
  ScanTask task;
  ARROW_ASSIGN_OR_RAISE(task.connector, in.String());
  ARROW_ASSIGN_OR_RAISE(task.args.uri, in.String());
  ARROW_ASSIGN_OR_RAISE(int64_t n, in.Int());
  for (int64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto p, in.String());
    task.args.positional.push_back(std::move(p));
  }
  ARROW_ASSIGN_OR_RAISE(n, in.Int());
  for (int64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto name, in.String());
    ARROW_ASSIGN_OR_RAISE(auto value, in.String());
    ARROW_ASSIGN_OR_RAISE(auto set, in.Int());
    if (set) {
      task.args.options.Set(name, std::move(value));
    } else {
      task.args.options.SetDefault(name, std::move(value));
    }
  }
  ARROW_ASSIGN_OR_RAISE(n, in.Int());
  if (n >= 0) {
    task.request.columns.emplace();
    for (int64_t i = 0; i < n; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto c, in.String());
      task.request.columns->push_back(std::move(c));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto filter, in.String());
  ARROW_ASSIGN_OR_RAISE(task.request.filter,
                        arrow::compute::Deserialize(arrow::Buffer::FromString(filter)));
  ARROW_ASSIGN_OR_RAISE(int64_t limit, in.Int());
  if (limit >= 0) task.request.limit = limit;
  ARROW_ASSIGN_OR_RAISE(task.split.id, in.String());
  ARROW_ASSIGN_OR_RAISE(task.split.payload, in.String());
  ARROW_ASSIGN_OR_RAISE(task.range.start, in.String());
  ARROW_ASSIGN_OR_RAISE(task.range.end, in.String());
  return task;
}

}  // namespace flowsql
