// Every connector's sources and sinks, through the same checks. To add a
// connector, add its cases to Sources() and Sinks() below.
#include "test/conformance/conformance.h"

#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <tuple>

#include "common/test_macros.h"
#include "connectors/file/storage.h"

namespace flowsql::conformance {
namespace {

namespace fs = std::filesystem;
namespace cp = arrow::compute;

const Registry& TheRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    (void)cp::Initialize();
    (void)RegisterBuiltinConnectors(r);
    return r;
  }();
  return *registry;
}

std::string Dir() {
  static std::string dir = [] {
    auto d =
        fs::temp_directory_path() / ("flowsql_conformance_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d.string();
  }();
  return dir;
}

/// Object-store roots to run the file cases in too ("s3://bucket,gs://bucket"), from
/// FLOWSQL_CONFORMANCE_ROOTS; test/integration/test_object_stores.py starts the
/// servers, sets it and runs this binary.
std::vector<std::string> StoreRoots() {
  std::vector<std::string> out;
  const char* env = std::getenv("FLOWSQL_CONFORMANCE_ROOTS");
  std::string roots = env == nullptr ? "" : env;
  size_t start = 0;
  while (start < roots.size()) {
    size_t comma = roots.find(',', start);
    if (comma == std::string::npos) comma = roots.size();
    if (comma > start) out.push_back(roots.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

/// "s3://bucket" -> "s3".
std::string SchemeOf(const std::string& root) { return root.substr(0, root.find(':')); }

/// Every object or file below `uri` (hidden ones too), as full paths.
std::vector<std::string> ListAll(const std::string& uri) {
  auto storage = file::Storage::Open(uri, Options()).ValueOrDie();
  std::vector<std::string> names;
  if (storage->KindOf(uri).ValueOr(file::Storage::Kind::kMissing) !=
      file::Storage::Kind::kDirectory) {
    return names;
  }
  (void)storage->ListFiles(uri, &names, /*hidden=*/true);
  for (auto& n : names) n = file::Storage::Join(uri, n);
  return names;
}

/// ids [first, first + n) and a name column.
std::shared_ptr<arrow::RecordBatch> Batch(int64_t first, int64_t n) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int64_t i = first; i < first + n; ++i) {
    (void)ids.Append(i);
    (void)names.Append("name " + std::to_string(i));
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, n, {*ids.Finish(), *names.Finish()});
}

Result<std::unique_ptr<Sink>> MakeSink(const std::string& connector,
                                       const ConnectorArgs& args) {
  return TheRegistry().FindByName(connector)->make_sink(args);
}

/// Writes 3 files of each format under `root`, 1000 ids each (0..2999), with the
/// file sink.
/// Writes ids i * 1000 .. i * 1000 + 999 into file `uri` with the file sink.
void WriteFixtureFile(const std::string& uri, int i) {
  auto args =
      MakeArgs(TheRegistry(), "file", uri, {{"mode", "overwrite"}}, true).ValueOrDie();
  auto sink = MakeSink("file", args).ValueOrDie();
  auto batch = Batch(i * 1000, 1000);
  Status st = sink->Open(batch->schema(), {});
  if (st.ok()) st = sink->BeginEpoch({"fixture", 0});
  if (st.ok()) st = sink->Write(batch);
  if (st.ok()) st = sink->Commit({"fixture", 0});
  if (!st.ok()) ADD_FAILURE() << "fixture " << uri << ": " << st.ToString();
}

void WriteFixtures(const std::string& root) {
  for (const char* ext : {"csv", "parquet", "ndjson", "avro"}) {
    if (root == Dir()) fs::create_directories(Dir() + "/" + ext);
    for (int i = 0; i < 3; ++i) {
      WriteFixtureFile(root + "/" + ext + "/part" + std::to_string(i) + "." + ext, i);
    }
  }
}

/// A Delta table under `dir` (a local folder), as the log describes one: the 3
/// Parquet files of 1000 ids each (0..2999) that the file sink writes, added by one
/// commit with their statistics.
void WriteDeltaFixture(const std::string& dir) {
  fs::create_directories(dir + "/_delta_log");
  std::ofstream log(dir + "/_delta_log/00000000000000000000.json");
  log << R"({"protocol":{"minReaderVersion":1,"minWriterVersion":2}})"
      << "\n"
      << R"({"metaData":{"id":"conformance","format":{"provider":"parquet","options":{}},)"
      << R"("schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",)"
      << R"(\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":)"
      << R"(\"name\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}}]}",)"
      << R"("partitionColumns":[],"configuration":{},"createdTime":0}})"
      << "\n";
  for (int i = 0; i < 3; ++i) {
    const std::string name = "part" + std::to_string(i) + ".parquet";
    WriteFixtureFile(dir + "/" + name, i);
    log << R"({"add":{"path":")" << name << R"(","partitionValues":{},"size":)"
        << fs::file_size(dir + "/" + name)
        << R"(,"modificationTime":0,"dataChange":true,"stats":"{\"numRecords\":1000,)"
        << R"(\"minValues\":{\"id\":)" << i * 1000 << R"(},\"maxValues\":{\"id\":)"
        << i * 1000 + 999 << R"(},\"nullCount\":{\"id\":0}}"}})"
        << "\n";
  }
}

/// Python sources and sinks come from test/plugins: the embedded interpreter reads
/// PYTHONPATH when it starts, at the first of them.
void SetPluginPath() {
  static bool done = false;
  if (done) return;
  done = true;
  const std::string plugins = (std::filesystem::current_path() / "test/plugins").string();
  const char* path = std::getenv("PYTHONPATH");
  setenv("PYTHONPATH", (plugins + (path ? std::string(":") + path : "")).c_str(), 1);
}

std::vector<SourceCase> Sources() {
  const auto& r = TheRegistry();
  std::vector<SourceCase> out;
  const char* file_schema = "id: int64\nname: string";
  std::vector<std::pair<std::string, std::string>> roots = {{"file", Dir()}};
  for (const auto& root : StoreRoots()) {
    roots.push_back({SchemeOf(root), root + "/sources"});
  }
  for (const auto& [prefix, root] : roots) {
    WriteFixtures(root);
    for (const char* ext : {"csv", "parquet", "ndjson", "avro"}) {
      out.push_back(
          {prefix + "_" + ext, "file",
           MakeArgs(r, "file", root + "/" + ext + "/*." + ext, {}, false).ValueOrDie(),
           file_schema, "id", 0, 3000});
    }
  }
  // The http source, against test/servers/http_api.py serving server.records(250)
  // 25 a page (test/cli/test_http_api.py starts it and sets the variable).
  if (const char* api = std::getenv("FLOWSQL_CONFORMANCE_HTTP_API")) {
    const std::string base = api;
    const char* http_schema =
        "id: int64\nname: string\nprice: double\nactive: bool\nowner: struct<id: "
        "int64, name: string>";
    using Raw = std::vector<std::pair<std::string, std::string>>;
    for (auto [name, path, options] :
         std::vector<std::tuple<std::string, std::string, Raw>>{
             {"http_offset_pages",
              "/open/offset",
              {{"paginate", "offset"},
               {"page_size", "30"},
               {"total_path", "$.meta.total"}}},
             {"http_page_chain", "/open/page", {{"paginate", "page"}}},
             {"http_cursor_chain", "/open/cursor", {}},
             {"http_link_chain", "/open/link", {{"paginate", "link_header"}}}}) {
      out.push_back({name, "http",
                     MakeArgs(r, "http", base + path, options, false).ValueOrDie(),
                     http_schema, "id", 0, 250});
    }
    // Polling streams (unbounded): every offset type that follows the records, each
    // poll 25 records after the offset it sends.
    for (auto [name, query, options] :
         std::vector<std::tuple<std::string, std::string, Raw>>{
             {"http_poll_max_field",
              "?since={id}",
              {{"offset_field", "id"}, {"initial_offset", "-1"}}},
             {"http_poll_incremental",
              "?start={start}",
              {{"offset_field", "start"},
               {"offset_type", "incremental"},
               {"initial_offset", "0"}}},
             {"http_poll_cursor",
              "?since={next_since}",
              {{"offset_field", "next_since"},
               {"offset_type", "cursor"},
               {"initial_offset", "-1"}}}}) {
      options.push_back({"streaming", "true"});
      options.push_back({"interval", "10ms"});
      out.push_back(
          {name, "http",
           MakeArgs(r, "http", base + "/open/poll" + query, options, false).ValueOrDie(),
           http_schema, "id", 0, 250});
    }
  }
  WriteDeltaFixture(Dir() + "/delta");
  out.push_back(
      {"delta", "delta",
       MakeArgs(r, "delta", "delta://" + Dir() + "/delta", {}, false).ValueOrDie(),
       file_schema, "id", 0, 3000});
  auto series =
      MakeArgs(r, "generate", "", {{"function", "generate_series"}, {"splits", "4"}},
               false, {"0", "9999"})
          .ValueOrDie();
  out.push_back({"generate_series", "generate", series, "generate_series: int64",
                 "generate_series", 0, 10000});
  auto gen = MakeArgs(r, "generate", "",
                      {{"rows", "5000"}, {"splits", "3"}, {"start", "7"}}, false)
                 .ValueOrDie();
  const char* gen_schema =
      "id: int64\nts: timestamp[us, tz=UTC]\nvalue: double\ncategory: string";
  out.push_back({"generate", "generate", gen, gen_schema, "id", 7, 5000});
  // Unbounded (no rows): each of the 3 splits read up to its 1000 rows.
  auto stream = MakeArgs(r, "generate", "",
                         {{"splits", "3"}, {"start", "7"}, {"batch_size", "300"}}, false)
                    .ValueOrDie();
  out.push_back({"generate_unbounded", "generate", stream, gen_schema, "id", 7, 3000});
  SetPluginPath();
  auto items = MakeArgs(r, "python", "python://seed_sources.Items",
                        {{"partitions", "4"}, {"batches", "3"}}, false)
                   .ValueOrDie();
  out.push_back({"python_seed_001", "python", items,
                 "id: int64\nname: string\nprice: decimal128(10, 2)\nat: timestamp[us, "
                 "tz=UTC]\ntags: list<item: string>",
                 "id", 0, 1200});
  // The same, read in worker processes (workers = true).
  auto items_workers =
      MakeArgs(r, "python", "python://seed_sources.Items",
               {{"partitions", "4"}, {"batches", "3"}, {"workers", "true"}}, false)
          .ValueOrDie();
  out.push_back({"python_seed_001_workers", "python", items_workers, out.back().schema,
                 "id", 0, 1200});
  const char* tuples_schema =
      "id: int64\nname: string\nprice: decimal128(10, 2)\nat: timestamp[us, "
      "tz=UTC]\nday: date32[day]\nok: bool\nratio: double\ntags: "
      "list<item: string>\nattrs: map<string, int32>\nowner: struct<id: "
      "int32, name: string>";
  auto tuples = MakeArgs(r, "python", "python://spark_sources.Tuples",
                         {{"partitions", "3"}, {"rows", "500"}}, false)
                    .ValueOrDie();
  out.push_back(
      {"python_pyspark_tuples", "python", tuples, tuples_schema, "id", 0, 1500});
  // 20000 rows a partition: several batches of 8192 rows, and a Row at the end.
  auto tuples_workers =
      MakeArgs(r, "python", "python://spark_sources.Tuples",
               {{"partitions", "3"}, {"rows", "20000"}, {"workers", "true"}}, false)
          .ValueOrDie();
  out.push_back({"python_pyspark_tuples_workers", "python", tuples_workers, tuples_schema,
                 "id", 0, 60000});
  // A PySpark stream of ids 0..599, 60 a microbatch in two partitions.
  const std::string total = Dir() + "/python_stream_total";
  std::ofstream(total) << 600;
  auto stream_ids = MakeArgs(r, "python", "python://spark_sources.Counter",
                             {{"streaming", "true"},
                              {"interval", "20ms"},
                              {"total_file", total},
                              {"step", "60"}},
                             false)
                        .ValueOrDie();
  out.push_back({"python_pyspark_stream", "python", stream_ids,
                 "id: int64\nlabel: string", "id", 0, 600});
  return out;
}

Result<std::shared_ptr<arrow::Table>> ReadDirectory(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto storage, file::Storage::Open(path, Options()));
  ARROW_ASSIGN_OR_RAISE(auto kind, storage->KindOf(path));
  bool any = kind == file::Storage::Kind::kFile;
  if (kind == file::Storage::Kind::kDirectory) {
    std::vector<std::string> names;
    ARROW_RETURN_NOT_OK(storage->ListFiles(path, &names));
    any = !names.empty();
  }
  if (!any) return arrow::Table::MakeEmpty(Batch(0, 0)->schema());
  ARROW_ASSIGN_OR_RAISE(auto args, MakeArgs(TheRegistry(), "file", path, {}, false));
  ARROW_ASSIGN_OR_RAISE(auto source, TheRegistry().FindByName("file")->make_source(args));
  ARROW_ASSIGN_OR_RAISE(auto reader, ScanAll(source.get(), {}));
  return reader->ToTable();
}

/// The rows of the Delta table at `path`'s latest version (none without a log).
Result<std::shared_ptr<arrow::Table>> ReadDelta(const std::string& path) {
  if (!fs::exists(path + "/_delta_log")) {
    return arrow::Table::MakeEmpty(Batch(0, 0)->schema());
  }
  ARROW_ASSIGN_OR_RAISE(auto args,
                        MakeArgs(TheRegistry(), "delta", "delta://" + path, {}, false));
  ARROW_ASSIGN_OR_RAISE(auto source,
                        TheRegistry().FindByName("delta")->make_source(args));
  ARROW_ASSIGN_OR_RAISE(auto reader, ScanAll(source.get(), {}));
  return reader->ToTable();
}

std::vector<SinkCase> Sinks() {
  const auto& r = TheRegistry();
  std::vector<SinkCase> out;
  int n = 0;
  std::vector<std::pair<std::string, std::string>> roots = {{"file", Dir()}};
  for (const auto& root : StoreRoots()) roots.push_back({SchemeOf(root), root});
  for (const auto& [prefix, root] : roots) {
    using Raw = std::vector<std::pair<std::string, std::string>>;
    for (auto [name, uri, options] :
         std::vector<std::tuple<std::string, std::string, Raw>>{
             {"_dir_parquet", "sink_parquet/", {{"format", "parquet"}}},
             {"_dir_ndjson", "sink_ndjson/", {{"format", "ndjson"}}},
             {"_dir_csv", "sink_csv/", {{"format", "csv"}}},
             {"_dir_avro", "sink_avro/", {{"format", "avro"}}},
             // Many files per epoch: a new file every 40 rows; a folder per name.
             {"_dir_rotated",
              "rotated/",
              {{"format", "csv"}, {"max_rows_per_file", "40"}}},
             {"_dir_partitioned",
              "partitioned/",
              {{"format", "parquet"}, {"partition_by", "name"}}},
             {"_single_parquet", "single.parquet", {{"format", "parquet"}}},
             {"_single_avro", "single.avro", {{"format", "avro"}}}}) {
      // A folder per name: 150 folders an epoch, too slow a round trip for the
      // object stores' servers; their rotated case writes many files per epoch too.
      if (name == "_dir_partitioned" && prefix != "file") continue;
      SinkCase c;
      c.name = prefix + name;
      c.connector = "file";
      std::string path = root + "/sinks" + std::to_string(n++) + "/" + uri;
      c.args = MakeArgs(r, "file", path, options, true).ValueOrDie();
      c.read = [path] { return ReadDirectory(path); };
      out.push_back(std::move(c));
    }
  }
  // Python sinks (test/plugins): a folder of one parquet part per epoch, exactly-once
  // through the class's last committed epoch.
  SetPluginPath();
  for (const auto& [name, cls] : std::vector<std::pair<std::string, std::string>>{
           {"python_seed_001", "seed_sources.PartsSink"},
           {"python_pyspark_arrow", "spark_sinks.ArrowParts"}}) {
    SinkCase c;
    c.name = name;
    c.connector = "python";
    c.folder = Dir() + "/sinks" + std::to_string(n++);
    const std::string path = c.folder + "/parts";
    c.args =
        MakeArgs(r, "python", "python://" + cls, {{"path", path}}, true).ValueOrDie();
    c.read = [path] { return ReadDirectory(path); };
    out.push_back(std::move(c));
  }
  // Delta tables, exactly-once through the log's txn actions; unpartitioned,
  // partitioned (a folder per name), and merged by id.
  using Raw = std::vector<std::pair<std::string, std::string>>;
  for (const auto& [name, options] : std::vector<std::pair<std::string, Raw>>{
           {"delta", {{"mode", "append"}}},
           {"delta_partitioned", {{"mode", "append"}, {"partition_by", "name"}}},
           {"delta_merge", {{"mode", "merge"}, {"merge_on", "id"}}}}) {
    SinkCase c;
    c.name = name;
    c.connector = "delta";
    c.folder = Dir() + "/sinks" + std::to_string(n++);
    const std::string path = c.folder + "/table";
    c.args = MakeArgs(r, "delta", "delta://" + path, options, true).ValueOrDie();
    c.read = [path] { return ReadDelta(path); };
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<int64_t> Expected(const SourceCase& c) {
  std::vector<int64_t> out(c.rows);
  std::iota(out.begin(), out.end(), c.first);
  return out;
}

/// The rows a read of one of `splits` splits takes: all of them (-1) for a bounded
/// source; an unbounded one's never end, so each is read up to its share of the case.
int64_t Share(const Source& source, const SourceCase& c, size_t splits) {
  return source.bounded() ? -1 : c.rows / static_cast<int64_t>(splits);
}

/// The first `rows` of `keys` (all when rows is -1): a read up to a count ends with a
/// whole batch, which may reach past it.
std::vector<int64_t> Cut(std::vector<int64_t> keys, int64_t rows) {
  if (rows >= 0 && static_cast<int64_t>(keys.size()) > rows) keys.resize(rows);
  return keys;
}

void PrintTo(const SourceCase& c, std::ostream* os) { *os << c.name; }
void PrintTo(const SinkCase& c, std::ostream* os) { *os << c.name; }

class SourceConformance : public ::testing::TestWithParam<SourceCase> {
 protected:
  std::shared_ptr<Source> Make() {
    return TheRegistry()
        .FindByName(GetParam().connector)
        ->make_source(GetParam().args)
        .ValueOrDie();
  }
};

TEST_P(SourceConformance, ReportsItsSchema) {
  auto source = Make();
  ASSERT_OK_AND_ASSIGN(auto schema, source->GetSchema());
  EXPECT_EQ(schema->ToString(), GetParam().schema);
}

TEST_P(SourceConformance, UnionOfSplitsIsTheFullScan) {
  auto source = Make();
  ASSERT_OK_AND_ASSIGN(auto splits, source->PlanSplits({}));
  ASSERT_FALSE(splits.empty());
  const int64_t share = Share(*source, GetParam(), splits.size());
  std::set<std::string> ids;
  std::vector<int64_t> keys;
  for (const auto& split : splits) {
    EXPECT_TRUE(ids.insert(split.id).second) << "split id twice: " << split.id;
    ASSERT_OK_AND_ASSIGN(auto read, ReadSplit(source.get(), split, {}, {}, share));
    ASSERT_OK_AND_ASSIGN(auto k, Keys(read.batches, GetParam().key));
    k = Cut(std::move(k), share);
    keys.insert(keys.end(), k.begin(), k.end());
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, Expected(GetParam()));
  // Planning again gives the same splits.
  ASSERT_OK_AND_ASSIGN(auto again, source->PlanSplits({}));
  ASSERT_EQ(again.size(), splits.size());
  for (size_t i = 0; i < splits.size(); ++i) EXPECT_EQ(again[i].id, splits[i].id);
}

TEST_P(SourceConformance, HonoursDeclaredPushdowns) {
  auto source = Make();
  const auto& c = GetParam();
  const Pushdown pushdown = source->pushdown();
  ASSERT_OK_AND_ASSIGN(auto splits, source->PlanSplits({}));
  const int64_t share = Share(*source, c, splits.size());
  if (pushdown.projection) {
    ScanRequest request;
    request.columns = std::vector<std::string>{c.key};
    for (const auto& split : splits) {
      ASSERT_OK_AND_ASSIGN(auto read, ReadSplit(source.get(), split, {}, request, share));
      for (const auto& b : read.batches) {
        ASSERT_EQ(b->num_columns(), 1);
        EXPECT_EQ(b->schema()->field(0)->name(), c.key);
      }
    }
  }
  // An unbounded source's filter would be read up to a count of the rows it kept,
  // which a filter makes unknown; none declares one.
  if (pushdown.filter && source->bounded()) {
    // A source may keep extra rows, never drop a matching one.
    ScanRequest request;
    const int64_t half = c.first + c.rows / 2;
    request.filter = cp::less(cp::field_ref(c.key), cp::literal(half));
    std::vector<int64_t> matching;
    for (const auto& split : splits) {
      ASSERT_OK_AND_ASSIGN(auto read, ReadSplit(source.get(), split, {}, request));
      ASSERT_OK_AND_ASSIGN(auto k, Keys(read.batches, c.key));
      for (int64_t v : k) {
        if (v < half) matching.push_back(v);
      }
    }
    std::sort(matching.begin(), matching.end());
    auto expected = Expected(c);
    expected.resize(c.rows / 2);
    EXPECT_EQ(matching, expected);
  }
  if (pushdown.limit) {
    ScanRequest request;
    request.limit = 7;
    for (const auto& split : splits) {
      // A limit ends even an unbounded split; the share stops one that ignores it.
      ASSERT_OK_AND_ASSIGN(auto read, ReadSplit(source.get(), split, {}, request, share));
      int64_t rows = 0;
      for (const auto& b : read.batches) rows += b->num_rows();
      EXPECT_LE(rows, 7) << split.id;
    }
  }
}

TEST_P(SourceConformance, ResumesFromAnyOffset) {
  auto source = Make();
  ScanRequest request;
  ASSERT_OK_AND_ASSIGN(auto splits, source->PlanSplits(request));
  const int64_t share = Share(*source, GetParam(), splits.size());
  for (const auto& split : splits) {
    ASSERT_OK_AND_ASSIGN(auto full, ReadSplit(source.get(), split, {}, request, share));
    ASSERT_OK_AND_ASSIGN(auto all, Keys(full.batches, GetParam().key));
    size_t before = 0;
    for (size_t i = 0; i < full.offsets.size() && i < 12; ++i) {
      before += full.batches[i]->num_rows();
      // An unbounded split resumed is read as far as the full read went.
      const int64_t left = share < 0 ? -1 : static_cast<int64_t>(all.size() - before);
      ASSERT_OK_AND_ASSIGN(auto rest, ReadSplit(source.get(), split,
                                                {full.offsets[i], ""}, request, left));
      ASSERT_OK_AND_ASSIGN(auto keys, Keys(rest.batches, GetParam().key));
      EXPECT_EQ(Cut(std::move(keys), left),
                std::vector<int64_t>(all.begin() + before, all.end()))
          << split.id << " from " << full.offsets[i];
      // A replay of a logged range stops exactly at its end, an unbounded split's
      // too (one row more is read if it does not).
      if (i + 2 < full.offsets.size()) {
        size_t n = full.batches[i + 1]->num_rows() + full.batches[i + 2]->num_rows();
        ASSERT_OK_AND_ASSIGN(
            auto range,
            ReadSplit(source.get(), split, {full.offsets[i], full.offsets[i + 2]},
                      request, share < 0 ? -1 : static_cast<int64_t>(n) + 1));
        ASSERT_OK_AND_ASSIGN(auto ranged, Keys(range.batches, GetParam().key));
        EXPECT_EQ(ranged,
                  std::vector<int64_t>(all.begin() + before, all.begin() + before + n));
      }
    }
  }
}

TEST_P(SourceConformance, ScanTaskRoundTripsThroughBytes) {
  auto source = Make();
  const auto& c = GetParam();
  ScanTask task;
  task.connector = c.connector;
  task.args = c.args;
  task.request.columns = std::vector<std::string>{c.key};
  task.request.filter = cp::greater_equal(cp::field_ref(c.key), cp::literal(c.first + 1));
  ASSERT_OK_AND_ASSIGN(auto splits, source->PlanSplits(task.request));
  task.split = splits.back();
  ASSERT_OK_AND_ASSIGN(auto bytes, SerializeScanTask(task));
  ASSERT_OK_AND_ASSIGN(auto back, DeserializeScanTask(bytes));
  EXPECT_TRUE(back.request.filter.Equals(task.request.filter));
  EXPECT_EQ(back.split.payload, task.split.payload);
  // Elsewhere: a source built from the shipped arguments reads the same rows.
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Source> remote,
                       TheRegistry().FindByName(back.connector)->make_source(back.args));
  ASSERT_OK(remote->GetSchema().status());
  const int64_t share = Share(*source, c, splits.size());
  ASSERT_OK_AND_ASSIGN(
      auto there, ReadSplit(remote.get(), back.split, back.range, back.request, share));
  ASSERT_OK_AND_ASSIGN(auto here,
                       ReadSplit(source.get(), task.split, {}, task.request, share));
  ASSERT_OK_AND_ASSIGN(auto a, Keys(there.batches, c.key));
  ASSERT_OK_AND_ASSIGN(auto b, Keys(here.batches, c.key));
  EXPECT_EQ(Cut(std::move(a), share), Cut(std::move(b), share));
  EXPECT_FALSE(DeserializeScanTask("garbage").ok());
}

INSTANTIATE_TEST_SUITE_P(Connectors, SourceConformance, ::testing::ValuesIn(Sources()),
                         [](const auto& info) { return info.param.name; });

class SinkConformance : public ::testing::TestWithParam<SinkCase> {
 protected:
  std::unique_ptr<Sink> Make() {
    return MakeSink(GetParam().connector, GetParam().args).ValueOrDie();
  }
  int64_t Rows() { return GetParam().read().ValueOrDie()->num_rows(); }
  /// Everything the case writes is under its own folder ("<root>/sinksN").
  static std::string Folder() {
    if (!GetParam().folder.empty()) return GetParam().folder;
    const std::string& uri = GetParam().args.uri;
    return uri.substr(0, uri.find('/', uri.find("/sinks") + 1));
  }
  void SetUp() override {
    const std::string folder = Folder();
    auto storage = file::Storage::Open(folder, Options()).ValueOrDie();
    for (const auto& name : ListAll(folder)) ASSERT_OK(storage->DeleteFile(name));
    std::error_code ec;
    if (storage->local()) fs::remove_all(folder, ec);
  }
  /// Writes `batch` as part of `epoch`, as the runtime does.
  static Status WriteIn(Sink* sink, int64_t epoch,
                        const std::shared_ptr<arrow::RecordBatch>& batch) {
    ARROW_RETURN_NOT_OK(sink->BeginEpoch({"p", epoch}));
    return sink->Write(batch);
  }
};

TEST_P(SinkConformance, AbortLeavesNothing) {
  auto sink = Make();
  ASSERT_OK(sink->Open(Batch(0, 0)->schema(), {"p", false}));
  ASSERT_OK(WriteIn(sink.get(), 0, Batch(0, 100)));
  ASSERT_OK(sink->Abort());
  EXPECT_EQ(Rows(), 0);
  for (const auto& name : ListAll(Folder())) {
    // A directory sink keeps its pipeline's lock file; it holds no data.
    if (name.find("/.lock-") != std::string::npos) continue;
    ADD_FAILURE() << "left behind: " << name;
  }
}

TEST_P(SinkConformance, CommitIsAtomic) {
  auto sink = Make();
  ASSERT_OK(sink->Open(Batch(0, 0)->schema(), {"p", false}));
  ASSERT_OK(WriteIn(sink.get(), 0, Batch(0, 100)));
  ASSERT_OK(sink->Write(Batch(100, 50)));
  EXPECT_EQ(Rows(), 0) << "rows visible before Commit()";
  ASSERT_OK(sink->Commit({"p", 0}));
  EXPECT_EQ(Rows(), 150);
}

TEST_P(SinkConformance, ReplayedEpochIsIdempotent) {
  auto sink = Make();
  if (!sink->transactional()) GTEST_SKIP() << "at-least-once sink";
  ASSERT_OK(sink->Open(Batch(0, 0)->schema(), {"p", false}));
  ASSERT_OK(WriteIn(sink.get(), 0, Batch(0, 100)));
  ASSERT_OK(sink->Commit({"p", 0}));
  ASSERT_OK(WriteIn(sink.get(), 1, Batch(100, 10)));
  ASSERT_OK(sink->Commit({"p", 1}));
  // A restart after a crash before the commit log: epoch 1 again.
  sink.reset();
  auto again = Make();
  ASSERT_OK(again->Open(Batch(0, 0)->schema(), {"p", true}));
  ASSERT_OK_AND_ASSIGN(int64_t last, again->LastCommittedEpoch("p"));
  EXPECT_EQ(last, 1);
  ASSERT_OK(WriteIn(again.get(), 1, Batch(100, 10)));
  ASSERT_OK(again->Commit({"p", 1}));
  EXPECT_EQ(Rows(), 110);
  ASSERT_OK(WriteIn(again.get(), 2, Batch(110, 5)));
  ASSERT_OK(again->Commit({"p", 2}));
  EXPECT_EQ(Rows(), 115);
}

INSTANTIATE_TEST_SUITE_P(Connectors, SinkConformance, ::testing::ValuesIn(Sinks()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace flowsql::conformance
