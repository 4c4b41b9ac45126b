#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "connectors/file/batch_writer.h"
#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

namespace fs = std::filesystem;
using testing::Cell;
using testing::MakeSink;
using testing::ReadFile;
using testing::RunPython;
using testing::TempDir;

std::shared_ptr<arrow::RecordBatch> MakeBatch(bool nested = true, int64_t first_id = 1) {
  arrow::FieldVector fields = {
      arrow::field("id", arrow::int64()),
      arrow::field("price", arrow::float64()),
      arrow::field("ok", arrow::boolean()),
      arrow::field("name", arrow::utf8()),
      arrow::field("day", arrow::date32()),
      arrow::field("at", arrow::timestamp(arrow::TimeUnit::MICRO)),
      arrow::field("amount", arrow::decimal128(10, 2)),
  };
  std::vector<std::string> json = {
      "[" + std::to_string(first_id) + ", " + std::to_string(first_id + 1) + ", null]",
      "[1.5, -2.25, null]",
      "[true, false, null]",
      R"(["plain", "quote \" comma , newline \n tab \t", null])",
      "[19724, 0, null]",
      "[1704164645123456, 0, null]",
      R"(["12.50", "-0.01", null])",
  };
  if (nested) {
    fields.push_back(
        arrow::field("obj", arrow::struct_({arrow::field("k", arrow::int64()),
                                            arrow::field("v", arrow::utf8())})));
    fields.push_back(arrow::field("tags", arrow::list(arrow::utf8())));
    json.push_back(R"([{"k": 1, "v": "a"}, null, {"k": null, "v": "c"}])");
    json.push_back(R"([["x", "y"], [], null])");
  }
  auto schema = arrow::schema(fields);
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (size_t i = 0; i < fields.size(); ++i) {
    columns.push_back(*arrow::json::ArrayFromJSONString(fields[i]->type(), json[i]));
  }
  return arrow::RecordBatch::Make(schema, 3, columns);
}

Status WriteOnce(const std::string& uri, const testing::Raw& raw,
                 std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
  ARROW_ASSIGN_OR_RAISE(auto sink, MakeSink(uri, raw));
  ARROW_RETURN_NOT_OK(sink->Open(batches.front()->schema(), {}));
  for (const auto& b : batches) ARROW_RETURN_NOT_OK(sink->Write(b));
  return sink->Commit(testing::NextEpoch());
}

void ExpectRoundTrip(const arrow::Table& table, bool nested) {
  ASSERT_EQ(table.num_rows(), 3);
  EXPECT_EQ(Cell(table, "id", 1), "2");
  EXPECT_EQ(Cell(table, "id", 2), "null");
  EXPECT_EQ(Cell(table, "price", 1), "-2.25");
  EXPECT_EQ(Cell(table, "ok", 0), "true");
  EXPECT_EQ(Cell(table, "name", 1), "quote \" comma , newline \n tab \t");
  EXPECT_EQ(Cell(table, "name", 2), "null");
  EXPECT_EQ(Cell(table, "day", 0), "2024-01-02");
  // ORC stores nanoseconds: the same instant with three more digits.
  auto at = Cell(table, "at", 0);
  EXPECT_TRUE(at == "2024-01-02 03:04:05.123456" || at == "2024-01-02 03:04:05.123456000")
      << at;
  EXPECT_EQ(table.GetColumnByName("day")->type()->id(), arrow::Type::DATE32);
  EXPECT_EQ(table.GetColumnByName("at")->type()->id(), arrow::Type::TIMESTAMP);
  // Decimals come back as decimals (Parquet, IPC) or numbers (CSV, JSON).
  auto amount = Cell(table, "amount", 0);
  EXPECT_TRUE(amount == "12.50" || amount == "12.5") << amount;
  if (nested) {
    EXPECT_EQ(table.GetColumnByName("obj")->type()->id(), arrow::Type::STRUCT);
    EXPECT_EQ(Cell(table, "obj", 1), "null");
    EXPECT_EQ(table.GetColumnByName("tags")->type()->id(), arrow::Type::LIST);
    EXPECT_EQ(Cell(table, "tags", 2), "null");
  }
}

class RoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(RoundTrip, WritesAndReadsBack) {
  TempDir dir;
  std::string name = GetParam();
  bool nested =
      name.find(".csv") == std::string::npos && name.find(".tsv") == std::string::npos;
  auto path = dir.Join(name);
  ASSERT_OK(WriteOnce(path, {}, {MakeBatch(nested)}));
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  ExpectRoundTrip(*table, nested);
  // Nothing but the target is left in the directory.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip,
                         ::testing::Values("t.csv", "t.tsv", "t.csv.gz", "t.ndjson",
                                           "t.json", "t.jsonl.gz", "t.csv.zst",
                                           "t.tsv.bz2", "t.ndjson.lz4", "t.json.zst",
                                           "t.parquet", "t.arrow", "t.orc", "t.avro"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) {
                             if (c == '.') c = '_';
                           }
                           return n;
                         });

TEST(JsonWriter, EscapesAndFormats) {
  std::string out;
  ASSERT_OK(AppendJsonRows(*MakeBatch(), &out));
  auto first = out.substr(0, out.find('\n'));
  EXPECT_EQ(first,
            R"({"id":1,"price":1.5,"ok":true,"name":"plain","day":"2024-01-02",)"
            R"("at":"2024-01-02 03:04:05.123456","amount":12.50,"obj":{"k":1,"v":"a"},)"
            R"("tags":["x","y"]})");
  EXPECT_NE(out.find(R"("name":"quote \" comma , newline \n tab \t")"),
            std::string::npos);
  EXPECT_NE(out.find(R"("id":null)"), std::string::npos);
}

TEST(FileSink, ErrorIfExists) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a\n1\n");
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(path));
  auto st = sink->Open(MakeBatch(false)->schema(), {});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_EQ(st.message(), path + " already exists; use mode = 'overwrite' or 'append'");
}

TEST(FileSink, OverwriteAndDuckDbAliases) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a\n1\n");
  ASSERT_OK(WriteOnce(path, {{"mode", "overwrite"}}, {MakeBatch(false)}));
  ASSERT_OK_AND_ASSIGN(auto t1, ReadFile(path));
  EXPECT_EQ(t1->num_rows(), 3);
  ASSERT_OK(WriteOnce(
      path,
      {{"OVERWRITE", "true"}, {"FORMAT", "csv"}, {"HEADER", "true"}, {"DELIMITER", "|"}},
      {MakeBatch(false, 10)}));
  ASSERT_OK_AND_ASSIGN(auto t2, ReadFile(path, {{"sep", "|"}}));
  EXPECT_EQ(Cell(*t2, "id", 0), "10");
  ASSERT_OK(WriteOnce(path, {{"mode", "ignore"}}, {MakeBatch(false, 20)}));
  ASSERT_OK_AND_ASSIGN(auto t3, ReadFile(path, {{"sep", "|"}}));
  EXPECT_EQ(Cell(*t3, "id", 0), "10");
}

TEST(FileSink, AppendSingleFiles) {
  for (std::string name : {"t.csv", "t.ndjson", "t.parquet", "t.json", "t.arrow"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    bool nested = name != "t.csv";
    auto path = dir.Join(name);
    ASSERT_OK(WriteOnce(path, {}, {MakeBatch(nested, 1)}));
    ASSERT_OK(WriteOnce(path, {{"APPEND", "true"}}, {MakeBatch(nested, 100)}));
    ASSERT_OK(WriteOnce(path, {{"mode", "append"}}, {MakeBatch(nested, 200)}));
    ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
    ASSERT_EQ(table->num_rows(), 9);
    EXPECT_EQ(Cell(*table, "id", 0), "1");
    EXPECT_EQ(Cell(*table, "id", 3), "100");
    EXPECT_EQ(Cell(*table, "id", 7), "201");
  }
}

TEST(FileSink, AbortLeavesNothing) {
  TempDir dir;
  auto path = dir.Join("t.parquet");
  {
    ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(path));
    ASSERT_OK(sink->Open(MakeBatch()->schema(), {}));
    ASSERT_OK(sink->Write(MakeBatch()));
    ASSERT_OK(sink->Abort());
    ASSERT_OK(sink->Abort());  // twice is fine
  }
  {
    // Destroyed without Commit or Abort.
    ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(path));
    ASSERT_OK(sink->Open(MakeBatch()->schema(), {}));
    ASSERT_OK(sink->Write(MakeBatch()));
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(FileSink, FailedWriteLeavesOldTargetIntact) {
  TempDir dir;
  auto path = dir.Write("t.parquet", "");
  ASSERT_OK(WriteOnce(path, {{"mode", "overwrite"}}, {MakeBatch()}));
  auto before = fs::file_size(path);
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(path, {{"mode", "overwrite"}}));
  ASSERT_OK(sink->Open(MakeBatch()->schema(), {}));
  ASSERT_OK(sink->Write(MakeBatch()));
  // A batch of another schema fails the write.
  std::shared_ptr<arrow::Array> x =
      *arrow::json::ArrayFromJSONString(arrow::utf8(), "[\"a\"]");
  auto other =
      arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::utf8())}), 1, {x});
  EXPECT_FALSE(sink->Write(other).ok());
  ASSERT_OK(sink->Abort());
  EXPECT_EQ(fs::file_size(path), before);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->num_rows(), 3);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileSink, SingleFileCommittedTwiceNeedsDirectory) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(dir.Join("t.ndjson")));
  ASSERT_OK(sink->Open(MakeBatch()->schema(), {}));
  ASSERT_OK(sink->Write(MakeBatch()));
  ASSERT_OK(sink->Commit(testing::NextEpoch()));
  ASSERT_OK(sink->Commit(testing::NextEpoch()));  // nothing new: fine
  auto st = sink->Write(MakeBatch());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("continuous writes need a directory target"),
            std::string::npos)
      << st.message();
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename();
    if (name[0] != '.') out.push_back(name);  // not the pipeline's lock file
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(FileSink, DirectoryTargetPartFiles) {
  TempDir dir;
  auto target = dir.Join("out/");
  ASSERT_OK_AND_ASSIGN(auto sink, MakeSink(target, {{"format", "parquet"}}));
  ASSERT_OK(sink->Open(MakeBatch()->schema(), {}));
  ASSERT_OK(sink->Write(MakeBatch(true, 1)));
  ASSERT_OK(sink->Write(MakeBatch(true, 10)));
  ASSERT_OK(sink->Commit({"p", 0}));
  ASSERT_OK(sink->Commit({"p", 1}));  // no rows: no part
  ASSERT_OK(sink->Write(MakeBatch(true, 20)));
  ASSERT_OK(sink->Commit({"p", 2}));
  ASSERT_OK(sink->Write(MakeBatch(true, 30)));
  ASSERT_OK(sink->Abort());  // this part is dropped
  auto files = Files(dir.Join("out"));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], "part-00000000-p.parquet");
  EXPECT_EQ(files[1], "part-00000002-p.parquet");
  EXPECT_TRUE(sink->transactional());
  ASSERT_OK_AND_ASSIGN(int64_t last, sink->LastCommittedEpoch("p"));
  EXPECT_EQ(last, 2);
  ASSERT_OK_AND_ASSIGN(last, sink->LastCommittedEpoch("other"));
  EXPECT_EQ(last, -1);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(target));
  EXPECT_EQ(table->num_rows(), 9);

  // A replayed epoch finds its part there: the first copy stays, nothing doubles.
  ASSERT_OK(sink->Write(MakeBatch(true, 90)));
  ASSERT_OK(sink->Commit({"p", 2}));
  EXPECT_EQ(Files(dir.Join("out")).size(), 2u);
  ASSERT_OK_AND_ASSIGN(table, ReadFile(target));
  EXPECT_EQ(table->num_rows(), 9);
  sink.reset();  // one writer per pipeline and directory at a time

  // error_if_exists on a non-empty directory.
  ASSERT_OK_AND_ASSIGN(auto again, MakeSink(target));
  auto st = again->Open(MakeBatch()->schema(), {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("already exists and is not empty"), std::string::npos);

  // append adds parts.
  ASSERT_OK(WriteOnce(target, {{"mode", "append"}}, {MakeBatch(true, 40)}));
  files = Files(dir.Join("out"));
  ASSERT_EQ(files.size(), 3u);

  // A resumed pipeline never deletes what its earlier runs wrote.
  ASSERT_OK_AND_ASSIGN(auto resumed, MakeSink(target, {{"mode", "overwrite"}}));
  ASSERT_OK(resumed->Open(MakeBatch()->schema(), {"p", /*resumed=*/true}));
  ASSERT_OK(resumed->Write(MakeBatch(true, 60)));
  ASSERT_OK(resumed->Commit({"p", 3}));
  EXPECT_EQ(Files(dir.Join("out")).size(), 4u);

  // overwrite replaces every old part at the first commit.
  ASSERT_OK(WriteOnce(target, {{"mode", "overwrite"}}, {MakeBatch(true, 50)}));
  files = Files(dir.Join("out"));
  ASSERT_EQ(Files(dir.Join("out")).size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto replaced, ReadFile(target));
  EXPECT_EQ(replaced->num_rows(), 3);
  EXPECT_EQ(Cell(*replaced, "id", 0), "50");
}

TEST(FileSink, CompressedPartsKeepTheirFormatsExtension) {
  // ORC and Avro compress inside the file: gzip/deflate adds no ".gz".
  for (auto [format, codec] : {std::pair{"orc", "gzip"}, {"avro", "deflate"}}) {
    TempDir dir;
    auto target = dir.Join("out/");
    ASSERT_OK(
        WriteOnce(target, {{"format", format}, {"compression", codec}}, {MakeBatch()}));
    auto files = Files(dir.Join("out"));
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].substr(files[0].rfind('.') + 1), format) << files[0];
    ASSERT_OK_AND_ASSIGN(auto table, ReadFile(target));
    EXPECT_EQ(table->num_rows(), 3);
  }
}

TEST(FileSink, CompressionOptions) {
  TempDir dir;
  auto path = dir.Join("t.parquet");
  ASSERT_OK(
      WriteOnce(path, {{"compression", "zstd"}, {"row_group_size", "2"}}, {MakeBatch()}));
  EXPECT_EQ(RunPython("import pyarrow.parquet as pq; m = pq.ParquetFile(\"" + path +
                      "\").metadata; assert m.num_row_groups == 2, m; "
                      "assert m.row_group(0).column(0).compression == \"ZSTD\""),
            0);
  // CSV and JSON take stream codecs only.
  auto bad =
      WriteOnce(dir.Join("t.csv"), {{"compression", "brotli"}}, {MakeBatch(false)});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "option 'compression': csv files cannot use 'brotli'");
  auto no_bz2 = WriteOnce(dir.Join("u.parquet"), {{"compression", "bz2"}}, {MakeBatch()});
  ASSERT_FALSE(no_bz2.ok());
  EXPECT_EQ(no_bz2.message(), "option 'compression': parquet files cannot use 'bz2'");
  auto no_deflate =
      WriteOnce(dir.Join("t.csv"), {{"compression", "deflate"}}, {MakeBatch(false)});
  EXPECT_EQ(no_deflate.message(), "option 'compression': csv files cannot use 'deflate'");
  auto no_lz4 = WriteOnce(dir.Join("t.avro"), {{"compression", "lz4"}}, {MakeBatch()});
  EXPECT_EQ(no_lz4.message(), "option 'compression': avro files cannot use 'lz4'");
  ASSERT_FALSE(testing::SinkOptions({{"compression", "rar"}}).ok());
}

TEST(FileSink, PeersReadWhatWeWrite) {
  TempDir dir;
  ASSERT_OK(WriteOnce(dir.Join("t.parquet"), {}, {MakeBatch()}));
  ASSERT_OK(WriteOnce(dir.Join("t.csv"), {}, {MakeBatch(false)}));
  ASSERT_OK(WriteOnce(dir.Join("t.ndjson"), {}, {MakeBatch()}));
  ASSERT_OK(WriteOnce(dir.Join("t.json"), {}, {MakeBatch()}));
  std::string d = dir.path();
  EXPECT_EQ(RunPython("import pyarrow.parquet as pq; t = pq.read_table(\"" + d +
                      "/t.parquet\"); assert t.num_rows == 3; "
                      "assert t.column(\"name\")[1].as_py().startswith(\"quote\")"),
            0);
  EXPECT_EQ(
      RunPython("import duckdb; r = duckdb.sql(\"SELECT sum(id), count(*), "
                "max(day)::VARCHAR FROM read_parquet(\\\"" +
                d +
                "/t.parquet\\\")\").fetchall(); assert r == [(3, 3, \"2024-01-02\")], r"),
      0);
  EXPECT_EQ(RunPython("import duckdb; r = duckdb.sql(\"SELECT sum(id), count(*) FROM "
                      "read_csv(\\\"" +
                      d + "/t.csv\\\")\").fetchall(); assert r == [(3, 3)], r"),
            0);
  EXPECT_EQ(RunPython("import duckdb; r = duckdb.sql(\"SELECT sum(id), count(*), "
                      "max(obj.k) FROM read_json(\\\"" +
                      d + "/t.ndjson\\\")\").fetchall(); assert r == [(3, 3, 1)], r"),
            0);
  EXPECT_EQ(RunPython("import json; rows = json.load(open(\"" + d +
                      "/t.json\")); assert len(rows) == 3 and rows[0][\"tags\"] == "
                      "[\"x\", \"y\"], rows"),
            0);
}

}  // namespace
}  // namespace flowsql::file
