// NDJSON and JSON-array output, written straight from Arrow arrays (Arrow has no JSON
// writer) by common/json.h's value writers.
#include <arrow/api.h>

#include "common/json.h"
#include "connectors/file/batch_writer.h"

namespace flowsql::file {

namespace {

class JsonWriter : public BatchWriter {
 public:
  JsonWriter(std::shared_ptr<arrow::io::OutputStream> out, bool array)
      : out_(std::move(out)), array_(array) {}

  Status Write(const arrow::RecordBatch& batch) override {
    if (batch.num_rows() == 0) return Status::OK();
    std::string text;
    text.reserve(1 << 20);
    ARROW_ASSIGN_OR_RAISE(auto struct_array, batch.ToStructArray());
    ARROW_ASSIGN_OR_RAISE(auto writer, MakeJsonValueWriter(struct_array));
    for (int64_t i = 0; i < batch.num_rows(); ++i) {
      if (array_) text.append(rows_ == 0 ? "[\n" : ",\n");
      writer->Write(i, &text);
      if (!array_) text.push_back('\n');
      ++rows_;
      if (text.size() >= (1 << 20)) {
        ARROW_RETURN_NOT_OK(out_->Write(text.data(), text.size()));
        text.clear();
      }
    }
    return out_->Write(text.data(), text.size());
  }

  Status Close() override {
    if (array_) {
      std::string_view end = rows_ == 0 ? "[]\n" : "\n]\n";
      ARROW_RETURN_NOT_OK(out_->Write(end.data(), end.size()));
    }
    return out_->Close();
  }

 private:
  std::shared_ptr<arrow::io::OutputStream> out_;
  bool array_;
  int64_t rows_ = 0;
};

}  // namespace

Status AppendJsonRows(const arrow::RecordBatch& batch, std::string* out) {
  ARROW_ASSIGN_OR_RAISE(auto struct_array, batch.ToStructArray());
  ARROW_ASSIGN_OR_RAISE(auto writer, MakeJsonValueWriter(struct_array));
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    writer->Write(i, out);
    out->push_back('\n');
  }
  return Status::OK();
}

Result<std::unique_ptr<BatchWriter>> MakeJsonWriter(
    std::shared_ptr<arrow::io::OutputStream> out,
    const std::shared_ptr<arrow::Schema>& schema, bool array) {
  return std::make_unique<JsonWriter>(std::move(out), array);
}

}  // namespace flowsql::file
