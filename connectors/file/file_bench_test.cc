// Manual timings (not run by default; tests never assert on time):
//   FLOWSQL_BENCH_CSV=bench/data/orders_100mb.csv \
//   build-file/flowsql_file_tests --gtest_also_run_disabled_tests
//   --gtest_filter='*Bench*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(FileBench, DISABLED_CsvToParquetZstd) {
  const char* input = std::getenv("FLOWSQL_BENCH_CSV");
  if (input == nullptr) GTEST_SKIP() << "set FLOWSQL_BENCH_CSV";
  testing::TempDir dir;
  auto start = std::chrono::steady_clock::now();
  testing::Raw source_options;
  if (const char* bs = std::getenv("FLOWSQL_BENCH_BLOCK")) {
    source_options.push_back({"block_size", bs});
  }
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(input, source_options));
  ASSERT_OK_AND_ASSIGN(auto schema, source->GetSchema());
  testing::Raw options = {{"compression", "zstd"}};
  if (const char* rg = std::getenv("FLOWSQL_BENCH_ROW_GROUP")) {
    options.push_back({"row_group_size", rg});
  }
  ASSERT_OK_AND_ASSIGN(auto sink, testing::MakeSink(dir.Join("out.parquet"), options));
  ASSERT_OK(sink->Open(schema, {}));
  ASSERT_OK_AND_ASSIGN(auto stream, ScanAll(source.get(), {}));
  int64_t rows = 0;
  double read_s = 0;
  while (true) {
    auto t = std::chrono::steady_clock::now();
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_OK(stream->ReadNext(&batch));
    read_s += Seconds(t);
    if (!batch) break;
    rows += batch->num_rows();
    ASSERT_OK(sink->Write(batch));
  }
  ASSERT_OK(sink->Commit(testing::NextEpoch()));
  std::printf("csv->parquet zstd: %lld rows in %.2f s (reading %.2f s)\n",
              static_cast<long long>(rows), Seconds(start), read_s);
}

TEST(FileBench, DISABLED_NdjsonScan) {
  const char* input = std::getenv("FLOWSQL_BENCH_NDJSON");
  if (input == nullptr) GTEST_SKIP() << "set FLOWSQL_BENCH_NDJSON";
  auto start = std::chrono::steady_clock::now();
  testing::Raw options;
  if (const char* bs = std::getenv("FLOWSQL_BENCH_BLOCK"))
    options.push_back({"block_size", bs});
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(input, options));
  ScanRequest request;
  request.columns = std::vector<std::string>{"city", "amount"};
  ASSERT_OK_AND_ASSIGN(auto stream, ScanAll(source.get(), request));
  int64_t rows = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_OK(stream->ReadNext(&batch));
    if (!batch) break;
    rows += batch->num_rows();
  }
  std::printf("ndjson scan: %lld rows in %.2f s\n", static_cast<long long>(rows),
              Seconds(start));
}

}  // namespace
}  // namespace flowsql::file
