// Manual timing of the JSON decoder on one core (not run by default; tests never
// assert on time):
//   build/flowsql_common_tests --gtest_also_run_disabled_tests \
//     --gtest_filter='JsonDecoderBench.*'
// FLOWSQL_BENCH_PAGE_MB sets the page size (default 64).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "common/json_decoder.h"
#include "common/test_macros.h"

namespace flowsql::json {
namespace {

/// Records shaped as an API's (and bench/'s orders): numbers, short strings, a
/// timestamp, a nested object and a list.
std::string Records(size_t bytes, bool ndjson) {
  static const char* kCities[] = {"Oslo", "Lima", "Pune", "Kyiv", "Doha", "Baku"};
  static const char* kStatus[] = {"shipped", "pending", "returned"};
  std::string out = ndjson ? "" : "{\"meta\": {\"next\": \"abc\"}, \"data\": [";
  for (int64_t i = 0; out.size() < bytes; ++i) {
    if (!ndjson && i > 0) out += ",";
    out += "{\"id\": " + std::to_string(i) +
           ", \"customer\": " + std::to_string(i * 7919 % 100000) + ", \"city\": \"" +
           kCities[i % 6] + "\", \"status\": \"" + kStatus[i % 3] +
           "\", \"amount\": " + std::to_string(i % 1000) + "." + std::to_string(i % 97) +
           ", \"qty\": " + std::to_string(i % 13) + ", \"created\": \"2024-03-0" +
           std::to_string(1 + i % 9) + "T10:1" + std::to_string(i % 10) +
           ":00Z\", \"owner\": {\"name\": \"n" + std::to_string(i % 50) +
           "\", \"tier\": " + std::to_string(i % 4) + "}, \"tags\": [\"a\", \"b" +
           std::to_string(i % 5) + "\"]}";
    if (ndjson) out += "\n";
  }
  if (!ndjson) out += "]}";
  return out;
}

void Time(const std::string& name, const std::string& page, const std::string& path,
          bool flatten) {
  DecodeOptions options;
  options.records_path = *RecordsPath::Parse(path);
  options.flatten = flatten;
  SchemaInferrer inferrer(options);
  ASSERT_OK(inferrer.Feed(page));
  ASSERT_OK_AND_ASSIGN(auto decoder, Decoder::Make(inferrer.schema(), options));
  double best = 1e9;
  int64_t rows = 0;
  for (int run = 0; run < 3; ++run) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_OK_AND_ASSIGN(auto decoded, decoder->DecodePage(page));
    best = std::min(
        best,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    rows = decoded.batch->num_rows();
  }
  std::printf("%-28s %8.1f MB, %9lld rows: %7.1f MB/s\n", name.c_str(), page.size() / 1e6,
              static_cast<long long>(rows), page.size() / 1e6 / best);
}

size_t PageBytes() {
  const char* mb = std::getenv("FLOWSQL_BENCH_PAGE_MB");
  return (mb ? std::strtoul(mb, nullptr, 10) : 64) << 20;
}

TEST(JsonDecoderBench, DISABLED_LargePages) {
  const std::string array = Records(PageBytes(), false);
  Time("array page at $.data", array, "$.data", false);
  Time("array page, flatten", array, "$.data", true);
  const std::string ndjson = Records(PageBytes(), true);
  Time("NDJSON page", ndjson, "$", false);
}

}  // namespace
}  // namespace flowsql::json
