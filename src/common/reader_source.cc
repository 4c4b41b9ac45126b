// MakeReaderSource (flowsql/connector.h): a source over readers a caller opens, one per
// scan (the Python package's registered objects).
#include <charconv>
#include <string>

#include "common/conform.h"
#include "flowsql/connector.h"

namespace flowsql {

namespace {

class ReaderSplitReader : public SplitReader {
 public:
  ReaderSplitReader(std::shared_ptr<arrow::RecordBatchReader> reader,
                    std::shared_ptr<arrow::Schema> wanted, int64_t batches,
                    std::string what)
      : reader_(std::move(reader)),
        wanted_(std::move(wanted)),
        batches_(batches),
        what_(std::move(what)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return wanted_; }

  Result<SourceBatch> Next() override {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader_->ReadNext(&batch));
    if (batch == nullptr) return SourceBatch{};
    ++batches_;
    ARROW_ASSIGN_OR_RAISE(batch, ConformByName(batch, wanted_, what_));
    return SourceBatch{std::move(batch), std::to_string(batches_)};
  }

  /// Drops the first `n` batches (a split reopened at an offset).
  Status Skip(int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ARROW_RETURN_NOT_OK(reader_->ReadNext(&batch));
      if (batch == nullptr) {
        return Status::IOError(what_, " has fewer batches than its offset (", n, ")");
      }
    }
    return Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  std::shared_ptr<arrow::Schema> wanted_;
  int64_t batches_;
  std::string what_;
};

class ReaderSource : public Source {
 public:
  ReaderSource(std::shared_ptr<arrow::Schema> schema, ReaderFactory open,
               std::string description)
      : schema_(std::move(schema)),
        open_(std::move(open)),
        description_(std::move(description)) {}

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }

  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto wanted, RequestedSchema(schema_, request));
    ARROW_ASSIGN_OR_RAISE(auto reader, open_());
    int64_t skip = 0;
    if (!range.start.empty()) {
      const char* end = range.start.data() + range.start.size();
      auto [at, error] = std::from_chars(range.start.data(), end, skip);
      if (error != std::errc() || at != end || skip < 0) {
        return Status::Invalid(description_, ": bad offset '", range.start, "'");
      }
    }
    auto split_reader = std::make_unique<ReaderSplitReader>(std::move(reader), wanted,
                                                            skip, description_);
    ARROW_RETURN_NOT_OK(split_reader->Skip(skip));
    return split_reader;
  }

  std::string Describe() const override { return description_; }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  ReaderFactory open_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Source> MakeReaderSource(std::shared_ptr<arrow::Schema> schema,
                                         ReaderFactory open, std::string description) {
  return std::make_unique<ReaderSource>(std::move(schema), std::move(open),
                                        std::move(description));
}

}  // namespace flowsql
