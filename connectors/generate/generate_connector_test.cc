#include "connectors/generate/generate_connector.h"

#include <arrow/array.h>
#include <arrow/table.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace flowsql {
namespace {

const ConnectorSpec& Spec() {
  static Registry* registry = [] {
    auto* r = new Registry();
    EXPECT_TRUE(RegisterGenerateConnector(r).ok());
    return r;
  }();
  return registry->connectors().front();
}

/// Builds a source the way the engine does: validates named options, then applies
/// the function's presets.
Result<std::unique_ptr<Source>> MakeFunction(const std::string& function,
                                             std::vector<std::string> positional,
                                             std::vector<RawOption> named = {}) {
  const ConnectorSpec& spec = Spec();
  ConnectorArgs args;
  args.positional = std::move(positional);
  ARROW_ASSIGN_OR_RAISE(args.options,
                        Options::Validate(spec.source_options, named, "generate"));
  for (const auto& [k, v] : spec.functions.at(function)) args.options.Set(k, v);
  return spec.make_source(args);
}

Result<std::unique_ptr<Source>> MakeUri(const std::string& uri,
                                        std::vector<RawOption> with = {}) {
  const ConnectorSpec& spec = Spec();
  ConnectorArgs args;
  args.uri = uri;
  ARROW_ASSIGN_OR_RAISE(args.options,
                        Options::Validate(spec.source_options, with, "generate"));
  return spec.make_source(args);
}

struct Scanned {
  std::shared_ptr<arrow::Table> table;
  std::vector<std::string> offsets;
  int batches = 0;
};

/// Opens the first split from `start`.
Result<std::unique_ptr<SplitReader>> Open(Source* source, const ScanRequest& request,
                                          const std::string& start = "") {
  ARROW_ASSIGN_OR_RAISE(auto splits, source->PlanSplits(request));
  return source->OpenSplit(splits.at(0), SplitRange{start, ""}, request);
}

/// Reads every split, one after the other; the first from `start`.
Scanned Read(Source* source, ScanRequest request = {}, const std::string& start = "") {
  Scanned out;
  auto splits = source->PlanSplits(request).ValueOrDie();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::shared_ptr<arrow::Schema> schema;
  for (size_t i = 0; i < splits.size(); ++i) {
    auto reader =
        source->OpenSplit(splits[i], SplitRange{i == 0 ? start : "", ""}, request)
            .ValueOrDie();
    schema = reader->schema();
    while (true) {
      auto next = reader->Next().ValueOrDie();
      if (!next.batch) break;
      batches.push_back(next.batch);
      out.offsets.push_back(next.offset);
      ++out.batches;
    }
  }
  out.table = arrow::Table::FromRecordBatches(schema, batches).ValueOrDie();
  return out;
}

std::vector<int64_t> Ints(const std::shared_ptr<arrow::Table>& table, int col = 0) {
  std::vector<int64_t> out;
  for (const auto& chunk : table->column(col)->chunks()) {
    auto a = std::static_pointer_cast<arrow::Int64Array>(chunk);
    for (int64_t i = 0; i < a->length(); ++i) out.push_back(a->Value(i));
  }
  return out;
}

std::vector<int64_t> Series(const std::string& fn, std::vector<std::string> args) {
  auto source = MakeFunction(fn, std::move(args)).ValueOrDie();
  return Ints(Read(source.get()).table);
}

using V = std::vector<int64_t>;

TEST(GenerateSeries, InclusiveBoundsAndSteps) {
  EXPECT_EQ(Series("generate_series", {"1", "5"}), (V{1, 2, 3, 4, 5}));
  EXPECT_EQ(Series("generate_series", {"1", "10", "3"}), (V{1, 4, 7, 10}));
  EXPECT_EQ(Series("generate_series", {"1", "9", "3"}), (V{1, 4, 7}));
  EXPECT_EQ(Series("generate_series", {"3"}), (V{0, 1, 2, 3}));
  EXPECT_EQ(Series("generate_series", {"5", "5"}), (V{5}));
  EXPECT_EQ(Series("generate_series", {" -2 ", "2"}), (V{-2, -1, 0, 1, 2}));
}

TEST(GenerateSeries, NegativeStepsAndEmpty) {
  EXPECT_EQ(Series("generate_series", {"5", "1", "-2"}), (V{5, 3, 1}));
  EXPECT_EQ(Series("range", {"5", "1", "-2"}), (V{5, 3}));
  EXPECT_EQ(Series("generate_series", {"5", "1"}), V{});
  EXPECT_EQ(Series("generate_series", {"1", "5", "-1"}), V{});
  EXPECT_EQ(Series("range", {"0"}), V{});
}

TEST(GenerateSeries, ExtremeBounds) {
  EXPECT_EQ(Series("generate_series", {"9223372036854775806", "9223372036854775807"}),
            (V{9223372036854775806LL, 9223372036854775807LL}));
  EXPECT_EQ(Series("generate_series", {"-9223372036854775808", "9223372036854775807",
                                       "9223372036854775807"}),
            (V{INT64_MIN, -1, 9223372036854775806LL}));
  EXPECT_TRUE(IsUserError(
      MakeFunction("range", {"-9223372036854775808", "9223372036854775807"}).status()));
  EXPECT_TRUE(IsUserError(MakeFunction("range", {"99999999999999999999"}).status()));
}

TEST(GenerateSeries, RangeExcludesStop) {
  EXPECT_EQ(Series("range", {"1", "5"}), (V{1, 2, 3, 4}));
  EXPECT_EQ(Series("range", {"3"}), (V{0, 1, 2}));
  EXPECT_EQ(Series("range", {"0", "10", "5"}), (V{0, 5}));
  EXPECT_EQ(Series("range", {"0", "11", "5"}), (V{0, 5, 10}));
}

TEST(GenerateSeries, ColumnNamesAndBounded) {
  auto gs = MakeFunction("generate_series", {"1", "3"}).ValueOrDie();
  EXPECT_TRUE(gs->bounded());
  EXPECT_EQ(gs->GetSchema().ValueOrDie()->ToString(), "generate_series: int64");
  auto r = MakeFunction("range", {"1", "3"}).ValueOrDie();
  EXPECT_EQ(r->GetSchema().ValueOrDie()->field(0)->name(), "range");
}

TEST(GenerateSeries, BatchesLimitAndProjection) {
  auto source = MakeFunction("generate_series", {"1", "200000"}).ValueOrDie();
  auto all = Read(source.get());
  EXPECT_EQ(all.table->num_rows(), 200000);
  EXPECT_EQ(all.batches, 4);  // default batch_size 65536
  ScanRequest request;
  request.limit = 1500;
  auto limited = Read(source.get(), request);
  EXPECT_EQ(limited.table->num_rows(), 1500);
  EXPECT_EQ(Ints(limited.table).back(), 1500);
  request.columns = std::vector<std::string>{};
  auto no_columns = Read(source.get(), request);
  EXPECT_EQ(no_columns.table->num_columns(), 0);
  EXPECT_EQ(no_columns.table->num_rows(), 1500);
}

TEST(GenerateSeries, ResumeFromOffset) {
  auto source = MakeFunction("generate_series", {"0", "99"}, {{"batch_size", "10", ""}})
                    .ValueOrDie();
  auto all = Read(source.get());
  ScanRequest request;
  auto rest = Ints(Read(source.get(), request, all.offsets[2]).table);
  ASSERT_EQ(rest.size(), 70u);
  EXPECT_EQ(rest.front(), 30);
}

TEST(GenerateSeries, Errors) {
  auto st = MakeFunction("generate_series", {"1", "10", "0"}).status();
  EXPECT_TRUE(IsUserError(st));
  EXPECT_NE(st.message().find("step must not be 0"), std::string::npos) << st.message();
  st = MakeFunction("generate_series", {"1", "x"}).status();
  EXPECT_TRUE(IsUserError(st));
  EXPECT_NE(st.message().find("stop) must be an integer, got 'x'"), std::string::npos)
      << st.message();
  st = MakeFunction("range", {"1.5", "3"}).status();
  EXPECT_TRUE(IsUserError(st));
  st = MakeFunction("range", {}).status();
  EXPECT_TRUE(IsUserError(st));
  st = MakeFunction("range", {"1", "2", "3", "4"}).status();
  EXPECT_TRUE(IsUserError(st));
  st = MakeFunction("generate_series", {"1", "3"}, {{"rate", "10", ""}}).status();
  EXPECT_NE(st.message().find("'rate' does not apply"), std::string::npos)
      << st.message();
}

TEST(Generate, ColumnsAndDeterministicValues) {
  auto source = MakeFunction("generate", {}, {{"rows", "3000", ""}}).ValueOrDie();
  EXPECT_TRUE(source->bounded());
  EXPECT_EQ(source->GetSchema().ValueOrDie()->ToString(),
            "id: int64\nts: timestamp[us, tz=UTC]\nvalue: double\ncategory: string");
  auto a = Read(source.get());
  auto b = Read(source.get());
  ASSERT_EQ(a.table->num_rows(), 3000);
  EXPECT_EQ(Ints(a.table).front(), 0);
  EXPECT_EQ(Ints(a.table).back(), 2999);
  EXPECT_EQ(a.batches, 1);
  EXPECT_EQ(a.offsets.front().substr(0, 5), "3000@");
  EXPECT_TRUE(a.table->column(2)->Equals(*b.table->column(2)));
  EXPECT_TRUE(a.table->column(3)->Equals(*b.table->column(3)));
  int seen[5] = {0, 0, 0, 0, 0};
  double sum = 0;
  auto values =
      std::static_pointer_cast<arrow::DoubleArray>(a.table->column(2)->chunk(0));
  auto cats = std::static_pointer_cast<arrow::StringArray>(a.table->column(3)->chunk(0));
  for (int64_t i = 0; i < values->length(); ++i) {
    ASSERT_GE(values->Value(i), 0.0);
    ASSERT_LT(values->Value(i), 1.0);
    sum += values->Value(i);
    std::string c = cats->GetString(i);
    ASSERT_EQ(c.size(), 1u);
    ASSERT_GE(c[0], 'a');
    ASSERT_LE(c[0], 'e');
    ++seen[c[0] - 'a'];
  }
  EXPECT_NEAR(sum / values->length(), 0.5, 0.05);
  for (int n : seen) EXPECT_GT(n, 100);

  // Another seed gives other values; the same id with the same seed the same.
  auto other = MakeFunction("generate", {}, {{"rows", "3000", ""}, {"seed", "7", ""}})
                   .ValueOrDie();
  EXPECT_FALSE(a.table->column(2)->Equals(*Read(other.get()).table->column(2)));
}

TEST(Generate, ResumeFromOffsetEqualsContinuation) {
  auto source =
      MakeFunction("generate", {},
                   {{"rows", "1000", ""}, {"batch_size", "100", ""}, {"start", "5", ""}})
          .ValueOrDie();
  ScanRequest request;
  request.columns = std::vector<std::string>{"value", "id", "category"};
  auto all = Read(source.get(), request);
  ASSERT_EQ(all.table->num_rows(), 1000);
  EXPECT_EQ(all.table->schema()->field(0)->name(), "value");
  EXPECT_EQ(all.offsets[3].substr(0, 4), "405@");
  auto rest = Read(source.get(), request, all.offsets[3]);
  ASSERT_EQ(rest.table->num_rows(), 600);
  EXPECT_TRUE(rest.table->Equals(*all.table->Slice(400)));
  // Resuming at the end yields nothing.
  EXPECT_EQ(Read(source.get(), request, all.offsets.back()).table->num_rows(), 0);
  EXPECT_TRUE(IsUserError(Open(source.get(), request, "not-an-id").status()));
}

TEST(Generate, LimitOnUnboundedReturns) {
  auto source = MakeFunction("generate", {}).ValueOrDie();
  EXPECT_FALSE(source->bounded());
  ScanRequest request;
  request.limit = 2500;
  request.columns = std::vector<std::string>{"id"};
  auto scanned = Read(source.get(), request);
  EXPECT_EQ(scanned.table->num_rows(), 2500);
  EXPECT_EQ(scanned.table->num_columns(), 1);
  EXPECT_EQ(scanned.offsets.back().substr(0, 5), "2500@");
}

TEST(Generate, RateLimitingHolds) {
  auto source = MakeFunction("generate", {}, {{"rate", "1000", ""}, {"rows", "200", ""}})
                    .ValueOrDie();
  auto t0 = std::chrono::steady_clock::now();
  auto scanned = Read(source.get());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  EXPECT_EQ(scanned.table->num_rows(), 200);
  EXPECT_GE(ms, 150);
  EXPECT_GE(scanned.batches, 2);  // batches of ~100 ms worth of rows
}

TEST(Generate, LowRateWaitsForDueRows) {
  // At 5 rows/s the 2nd row is due 200 ms after the first; the reader waits for it.
  auto source =
      MakeFunction("generate", {}, {{"rate", "5", ""}, {"rows", "2", ""}}).ValueOrDie();
  auto t0 = std::chrono::steady_clock::now();
  auto scanned = Read(source.get());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  EXPECT_EQ(scanned.table->num_rows(), 2);
  EXPECT_GE(ms, 150);
}

TEST(Generate, StopTokenEndsAWait) {
  auto source = MakeFunction("generate", {}, {{"rate", "0.01", ""}}).ValueOrDie();
  arrow::StopSource stop;
  ScanRequest request;
  request.stop = stop.token();
  auto reader = Open(source.get(), request).ValueOrDie();
  ASSERT_EQ(reader->Next().ValueOrDie().batch->num_rows(), 1);  // due at once
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.RequestStop();
  });
  auto next = reader->Next();
  stopper.join();
  EXPECT_TRUE(next.status().IsCancelled()) << next.status().ToString();
}

TEST(Generate, ReplayIsDeterministic) {
  // ts follows from the offset: a replay of a range yields the same rows.
  auto source =
      MakeFunction("generate", {}, {{"rate", "100000", ""}, {"rows", "3000", ""}})
          .ValueOrDie();
  auto first = Read(source.get());
  ASSERT_EQ(first.table->num_rows(), 3000);
  auto offset = first.offsets[0];
  const int64_t head = std::stoll(offset.substr(0, offset.find('@')));
  ASSERT_GT(head, 0);
  auto a = Read(source.get(), {}, offset);
  auto b = Read(source.get(), {}, offset);
  EXPECT_TRUE(a.table->Equals(*b.table));
  EXPECT_TRUE(a.table->Equals(*first.table->Slice(head)));
}

TEST(Generate, SplitsPartitionTheIds) {
  auto source = MakeFunction("generate", {}, {{"rows", "30", ""}, {"splits", "3", ""}})
                    .ValueOrDie();
  auto splits = source->PlanSplits({}).ValueOrDie();
  ASSERT_EQ(splits.size(), 3u);
  EXPECT_EQ(splits[1].id, "1/3");
  auto ids = Ints(Read(source.get()).table);
  std::sort(ids.begin(), ids.end());
  ASSERT_EQ(ids.size(), 30u);
  for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(ids[i], i);
  auto series =
      MakeFunction("generate_series", {"1", "10"}, {{"splits", "4", ""}}).ValueOrDie();
  EXPECT_EQ(Ints(Read(series.get()).table),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(Generate, UriQueryParameters) {
  auto source = MakeUri("generate://?rows=10&batch_size=4&seed=3").ValueOrDie();
  EXPECT_TRUE(source->bounded());
  auto scanned = Read(source.get());
  EXPECT_EQ(scanned.table->num_rows(), 10);
  EXPECT_EQ(scanned.batches, 3);
  // WITH options win over the URI's.
  source = MakeUri("generate://?rows=10", {{"rows", "3", ""}}).ValueOrDie();
  EXPECT_EQ(Read(source.get()).table->num_rows(), 3);
  EXPECT_NE(source->Describe().find("generate rate=0 rows=3"), std::string::npos)
      << source->Describe();
  EXPECT_FALSE(MakeUri("generate://").ValueOrDie()->bounded());
  EXPECT_FALSE(MakeUri("generate://?rows=-1").ValueOrDie()->bounded());
  EXPECT_TRUE(IsUserError(MakeUri("generate://orders?rows=1").status()));
  EXPECT_TRUE(IsUserError(MakeUri("generate://?rows").status()));
}

TEST(Generate, Errors) {
  auto st = MakeUri("generate://?rate=fast").status();
  EXPECT_TRUE(IsUserError(st));
  EXPECT_NE(st.message().find("option 'rate'"), std::string::npos) << st.message();
  st = MakeUri("generate://?speed=1").status();
  EXPECT_NE(st.message().find("unknown option 'speed'"), std::string::npos)
      << st.message();
  st = MakeFunction("generate", {}, {{"speed", "1", ""}}).status();
  EXPECT_NE(st.message().find("unknown option 'speed'"), std::string::npos)
      << st.message();
  st = MakeFunction("generate", {"100"}).status();
  EXPECT_NE(st.message().find("named arguments only"), std::string::npos) << st.message();
  st = MakeFunction("generate", {}, {{"rate", "-1", ""}}).status();
  EXPECT_TRUE(IsUserError(st));
  st = MakeFunction("generate", {}, {{"batch_size", "0", ""}}).status();
  EXPECT_TRUE(IsUserError(st));
  st = MakeFunction("generate", {}, {{"rows", "1.5", ""}}).status();
  EXPECT_TRUE(IsUserError(st));
  auto source = MakeFunction("generate", {}).ValueOrDie();
  ScanRequest request;
  request.columns = std::vector<std::string>{"nope"};
  EXPECT_TRUE(IsUserError(Open(source.get(), request).status()));
}

TEST(Generate, RowsPerMinuteAlias) {
  auto source =
      MakeFunction("generate", {}, {{"rows_per_minute", "600", ""}}).ValueOrDie();
  EXPECT_NE(source->Describe().find("rate=10 "), std::string::npos) << source->Describe();
  source = MakeFunction("generate", {}, {{"rows_per_second", "7", ""}}).ValueOrDie();
  EXPECT_NE(source->Describe().find("rate=7 "), std::string::npos) << source->Describe();
}

}  // namespace
}  // namespace flowsql
