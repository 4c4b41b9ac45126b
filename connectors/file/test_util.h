// Helpers for the file connector's tests.
#pragma once

#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/test_macros.h"
#include "connectors/file/file_options.h"
#include "connectors/file/file_sink.h"
#include "connectors/file/file_source.h"

namespace flowsql::file::testing {

/// Registers Arrow's compute functions once per test binary, as the engine does.
class ComputeEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_TRUE(arrow::compute::Initialize().ok()); }
};
inline ::testing::Environment* const kComputeEnvironment =
    ::testing::AddGlobalTestEnvironment(new ComputeEnvironment);

/// A directory under /tmp, removed with its content when the object dies.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/flowsql_file_test_XXXXXX";
    char* made = ::mkdtemp(tmpl);
    path_ = made ? made : "/tmp";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  /// Writes `content` to `name` and returns its path.
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = Join(name);
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

using Raw = std::vector<std::pair<std::string, std::string>>;

inline Result<Options> SourceOptions(const Raw& raw) {
  std::vector<RawOption> opts;
  for (const auto& [k, v] : raw) opts.push_back({k, v, ""});
  return Options::Validate(SourceOptionSpecs(), opts, "file source");
}

inline Result<Options> SinkOptions(const Raw& raw) {
  std::vector<RawOption> opts;
  for (const auto& [k, v] : raw) opts.push_back({k, v, ""});
  return Options::Validate(SinkOptionSpecs(), opts, "file sink");
}

inline Result<std::unique_ptr<FileSource>> MakeSource(const std::string& uri,
                                                      const Raw& raw = {}) {
  ConnectorArgs args;
  args.uri = uri;
  ARROW_ASSIGN_OR_RAISE(args.options, SourceOptions(raw));
  return std::make_unique<FileSource>(args);
}

inline Result<std::unique_ptr<Sink>> MakeSink(const std::string& uri,
                                              const Raw& raw = {}) {
  ConnectorArgs args;
  args.uri = uri;
  ARROW_ASSIGN_OR_RAISE(args.options, SinkOptions(raw));
  return MakeFileSink(args);
}

/// A new epoch for each commit of a test (epochs only grow).
inline Epoch NextEpoch() {
  static int64_t next = 0;
  return Epoch{"test", next++};
}

/// Scans everything into one table; checks every batch has the stream's schema.
inline Result<std::shared_ptr<arrow::Table>> ReadAll(Source* source,
                                                     const ScanRequest& request = {},
                                                     int* batches = nullptr) {
  ARROW_ASSIGN_OR_RAISE(auto stream, ScanAll(source, request));
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(stream->ReadNext(&batch));
    if (!batch) break;
    if (!batch->schema()->Equals(*stream->schema())) {
      return Status::Invalid("batch schema ", batch->schema()->ToString(),
                             " != stream schema ", stream->schema()->ToString());
    }
    out.push_back(batch);
  }
  if (batches) *batches = static_cast<int>(out.size());
  return arrow::Table::FromRecordBatches(stream->schema(), out);
}

inline Result<std::shared_ptr<arrow::Table>> ReadFile(const std::string& uri,
                                                      const Raw& raw = {}) {
  ARROW_ASSIGN_OR_RAISE(auto source, MakeSource(uri, raw));
  ARROW_ASSIGN_OR_RAISE(auto schema, source->GetSchema());
  ARROW_ASSIGN_OR_RAISE(auto table, ReadAll(source.get()));
  if (!table->schema()->Equals(*schema)) {
    return Status::Invalid("scan schema differs from GetSchema()");
  }
  return table;
}

/// Value of row `row` of column `name` as text ("null" for null).
inline std::string Cell(const arrow::Table& table, const std::string& name, int64_t row) {
  auto column = table.GetColumnByName(name);
  if (!column) return "<no column " + name + ">";
  auto scalar = column->GetScalar(row);
  if (!scalar.ok()) return "<" + scalar.status().ToString() + ">";
  return (*scalar)->is_valid ? (*scalar)->ToString() : "null";
}

/// Runs the project's Python (from the repo root) and returns its exit status.
inline int RunPython(const std::string& code) {
  std::string cmd = ".venv/bin/python -c '" + code + "'";
  return std::system(cmd.c_str());
}

}  // namespace flowsql::file::testing
