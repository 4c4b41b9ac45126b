#include <arrow/api.h>
#include <gtest/gtest.h>

#include "connectors/file/json_array_stream.h"
#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

using testing::Cell;
using testing::ReadAll;
using testing::ReadFile;
using testing::TempDir;

const char* kNdjson =
    R"({"i": 1, "d": 1.5, "b": true, "day": "2024-01-02", "ts": "2024-01-02T03:04:05.5", "s": "x", "o": {"k": 1, "v": "a"}, "l": [1, 2]})"
    "\n"
    R"({"i": 2, "d": null, "b": false, "day": "2024-02-03", "ts": "2024-01-02 03:04:06", "s": null, "o": {"k": 2, "v": "b"}, "l": []})"
    "\n";

void ExpectInferred(const arrow::Table& table) {
  auto schema = table.schema();
  EXPECT_EQ(schema->GetFieldByName("i")->type()->ToString(), "int64");
  EXPECT_EQ(schema->GetFieldByName("d")->type()->ToString(), "double");
  EXPECT_EQ(schema->GetFieldByName("b")->type()->ToString(), "bool");
  EXPECT_EQ(schema->GetFieldByName("day")->type()->ToString(), "date32[day]");
  EXPECT_EQ(schema->GetFieldByName("ts")->type()->ToString(), "timestamp[us]");
  EXPECT_EQ(schema->GetFieldByName("s")->type()->ToString(), "string");
  EXPECT_EQ(schema->GetFieldByName("o")->type()->id(), arrow::Type::STRUCT);
  EXPECT_EQ(schema->GetFieldByName("l")->type()->id(), arrow::Type::LIST);
  EXPECT_EQ(table.num_rows(), 2);
  EXPECT_EQ(Cell(table, "day", 1), "2024-02-03");
  EXPECT_EQ(Cell(table, "ts", 0), "2024-01-02 03:04:05.500000");
  EXPECT_EQ(Cell(table, "s", 1), "null");
  EXPECT_EQ(Cell(table, "o", 1), "{k:int64 = 2, v:string = b}");
}

TEST(JsonReader, NdjsonInference) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Write("t.ndjson", kNdjson)));
  ExpectInferred(*table);
}

TEST(JsonReader, JsonExtensionHoldingNdjson) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Write("t.json", kNdjson)));
  ExpectInferred(*table);
}

TEST(JsonReader, PrettyPrintedArray) {
  TempDir dir;
  std::string lines = kNdjson;
  std::string array = "  [\n";
  size_t nl = lines.find('\n');
  array += lines.substr(0, nl) + ",\n\n   " +
           lines.substr(nl + 1, lines.size() - nl - 2) + "\n]\n";
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Write("t.json", array)));
  ExpectInferred(*table);
}

TEST(JsonReader, ArrayWithTrickyStrings) {
  TempDir dir;
  auto path = dir.Write(
      "t.json",
      "[{\"s\": \"a, ]}\\\" [{\" },\n {\"s\":\"line\\nbreak\"} , {\"s\": \"\"}]");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->num_rows(), 3);
  EXPECT_EQ(Cell(*table, "s", 0), "a, ]}\" [{");
  EXPECT_EQ(Cell(*table, "s", 1), "line\nbreak");
}

TEST(JsonReader, TimestampWithZoneIsUtc) {
  TempDir dir;
  auto path = dir.Write("t.ndjson",
                        "{\"t\": \"2024-01-02T03:04:05Z\"}\n"
                        "{\"t\": \"2024-01-02T05:04:05+02:00\"}\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->schema()->field(0)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(Cell(*table, "t", 1), Cell(*table, "t", 0));
}

TEST(JsonReader, MixedStringsStayText) {
  TempDir dir;
  auto path = dir.Write("t.ndjson", "{\"t\": \"2024-01-02\"}\n{\"t\": \"soon\"}\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->schema()->field(0)->type()->ToString(), "string");
}

TEST(JsonReader, FieldsAppearingLaterAndProjection) {
  TempDir dir;
  auto path = dir.Write("t.ndjson", "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"c\": 3}\n");
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  ScanRequest request;
  request.columns = std::vector<std::string>{"b"};
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request));
  EXPECT_EQ(table->schema()->ToString(), "b: string");
  EXPECT_EQ(table->num_rows(), 2);
}

TEST(JsonReader, TypesAndColumnsOptions) {
  TempDir dir;
  auto path = dir.Write("t.ndjson", "{\"a\": 1, \"d\": \"2024-01-01\", \"x\": 5}\n");
  ASSERT_OK_AND_ASSIGN(auto t1, ReadFile(path, {{"types", "a=VARCHAR,d=VARCHAR"}}));
  EXPECT_EQ(t1->schema()->ToString(), "a: string\nd: string\nx: int64");
  ASSERT_OK_AND_ASSIGN(auto t2,
                       ReadFile(path, {{"columns", "d=DATE,a=DOUBLE,missing=INTEGER"}}));
  EXPECT_EQ(t2->schema()->ToString(), "d: date32[day]\na: double\nmissing: int32");
  EXPECT_EQ(Cell(*t2, "a", 0), "1");
  EXPECT_EQ(Cell(*t2, "missing", 0), "null");
}

TEST(JsonReader, ReadNdjsonPresetOnJsonlAndGzip) {
  TempDir dir;
  dir.Write("t.jsonl", kNdjson);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Join("t.jsonl"), {{"format", "ndjson"}}));
  ExpectInferred(*table);
  ASSERT_EQ(std::system(("gzip -k " + dir.Join("t.jsonl")).c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto gz, ReadFile(dir.Join("t.jsonl.gz")));
  ExpectInferred(*gz);
}

TEST(JsonReader, LimitStopsEarlyOnLargeArray) {
  TempDir dir;
  std::string content = "[";
  for (int i = 0; i < 200000; ++i) {
    content += (i ? ",\n" : "") + std::string("{\"id\": ") + std::to_string(i) +
               ", \"name\": \"some name here\"}";
  }
  content += "]";
  auto path = dir.Write("big.json", content);
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path, {{"block_size", "64KB"}}));
  ScanRequest request;
  request.limit = 5;
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request));
  EXPECT_EQ(table->num_rows(), 5);
  EXPECT_LT(source->last_scan_stats()->bytes_read.load(),
            static_cast<int64_t>(content.size()) / 2);
  // And a full read gets every row.
  ASSERT_OK_AND_ASSIGN(auto all, ReadAll(source.get()));
  EXPECT_EQ(all->num_rows(), 200000);
  EXPECT_EQ(Cell(*all, "id", 199999), "199999");
}

TEST(JsonReader, MalformedNdjsonNamesFile) {
  TempDir dir;
  auto path = dir.Write("bad.ndjson", "{\"a\": 1}\n{\"a\": 2,,}\n");
  auto result = ReadFile(path);
  ASSERT_FALSE(result.ok());
  std::string msg = result.status().message();
  // The file's line, not Arrow's row within its block.
  EXPECT_EQ(msg,
            path +
                ": at line 2: malformed JSON: The JSON document has an improper "
                "structure: missing or superfluous commas, braces, missing keys, etc.");
}

TEST(JsonReader, MalformedArrayNamesFileAndOffset) {
  TempDir dir;
  auto path = dir.Write("bad.json", "[{\"a\": 1}, {\"a\": 2}");
  auto result = ReadFile(path);
  ASSERT_FALSE(result.ok());
  std::string msg = result.status().message();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("unterminated JSON array at byte 19"), std::string::npos) << msg;
  auto trailing = ReadFile(dir.Write("bad2.json", "[{\"a\": 1}] x"));
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.status().message().find("after the JSON array at byte 11"),
            std::string::npos)
      << trailing.status().message();
}

TEST(JsonReader, PrettyPrintedDocumentsAcrossBlocks) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 3000; ++i) {
    content += "{\n  \"id\": " + std::to_string(i) +
               ",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}\n";
  }
  content += "{\n  \"id\": 3000,\n  \"tags\": [\"x\"]";  // cut short
  auto path = dir.Write("pretty.json", content);
  auto result = ReadFile(path, {{"block_size", "4KB"}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            path + ": at line 21001: malformed JSON: the document is incomplete");
  auto whole = dir.Write("pretty2.json", content + "}\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(whole, {{"block_size", "4KB"}}));
  EXPECT_EQ(table->num_rows(), 3001);
  EXPECT_EQ(Cell(*table, "id", 2999), "2999");
  EXPECT_EQ(Cell(*table, "tags", 3000), "list<item: string>[x]");
  // One pretty-printed document larger than a block names the option.
  std::string big = "{\n";
  for (int i = 0; i < 2000; ++i) big += "  \"k" + std::to_string(i) + "\": 1,\n";
  big += "  \"end\": 1\n}\n";
  auto large = ReadFile(dir.Write("big.json", big), {{"block_size", "4KB"}});
  ASSERT_FALSE(large.ok());
  EXPECT_NE(large.status().message().find("a JSON record is larger than block_size"),
            std::string::npos)
      << large.status().message();
}

TEST(JsonReader, FilesUnionByNameWidenAndNumberTheirRows) {
  TempDir dir;
  dir.Write("a.ndjson", "{\"x\": 1}\n{\"x\": 2}\n");
  dir.Write("b.ndjson", "{\"x\": 1.5, \"y\": \"s\"}\n");
  ASSERT_OK_AND_ASSIGN(auto table,
                       ReadFile(dir.Join("*.ndjson"), {{"file_row_number", "true"}}));
  EXPECT_EQ(table->schema()->ToString(), "x: double\ny: string\nfile_row_number: int64");
  ASSERT_EQ(table->num_rows(), 3);
  EXPECT_EQ(Cell(*table, "x", 2), "1.5");
  EXPECT_EQ(Cell(*table, "y", 0), "null");
  EXPECT_EQ(Cell(*table, "file_row_number", 1), "1");
  EXPECT_EQ(Cell(*table, "file_row_number", 2), "0");
}

TEST(JsonReader, ByteOrderMarkIsSkipped) {
  TempDir dir;
  for (const char* name : {"b.ndjson", "b.json"}) {
    const std::string body = std::string(name) == "b.json" ? "[{\"a\": 1}, {\"a\": 2}]"
                                                           : "{\"a\": 1}\n{\"a\": 2}\n";
    ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Write(name, "\xEF\xBB\xBF" + body)));
    EXPECT_EQ(table->num_rows(), 2) << name;
    EXPECT_EQ(Cell(*table, "a", 1), "2") << name;
  }
}

TEST(JsonReader, InvalidUtf8NamesTheLine) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 3000; ++i) content += "{\"s\": \"ok\"}\n";
  content += "{\"s\": \"bad\xff\"}\n";
  auto path = dir.Write("u.ndjson", content);
  auto result = ReadFile(path, {{"block_size", "8KB"}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            path + ": at line 3001: the text is not valid UTF-8");
}

TEST(JsonReader, ValueOfAnotherKindNamesLineAndKey) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 5000; ++i) content += "{\"a\": " + std::to_string(i) + "}\n";
  content += "{\"a\": \"text\"}\n";
  auto path = dir.Write("kinds.ndjson", content);
  auto result = ReadFile(path, {{"block_size", "16KB"}});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(
      result.status().message(),
      path +
          ": at line 5001: key 'a': expected BIGINT, found a string (\"text\"); the "
          "columns were inferred from the first block: set sample_size = -1 to infer "
          "them from the whole file, or declare them");
  // Inferred from the whole file, the column is text.
  ASSERT_OK_AND_ASSIGN(auto table,
                       ReadFile(path, {{"block_size", "16KB"}, {"sample_size", "-1"}}));
  EXPECT_EQ(table->schema()->ToString(), "a: string");
  EXPECT_EQ(Cell(*table, "a", 5000), "text");
  EXPECT_EQ(Cell(*table, "a", 4999), "4999");
}

}  // namespace
}  // namespace flowsql::file

namespace flowsql::file {
namespace {

TEST(JsonReader, EmptyFilesHaveNoRows) {
  testing::TempDir dir;
  for (const char* name : {"e.ndjson", "e.json"}) {
    auto path = dir.Write(name, "");
    auto table = testing::ReadFile(path);
    if (table.ok()) {
      EXPECT_EQ((*table)->num_rows(), 0) << name;
    } else {
      EXPECT_NE(table.status().message().find(path), std::string::npos)
          << table.status().message();
    }
  }
  ASSERT_OK_AND_ASSIGN(auto empty_array, testing::ReadFile(dir.Write("a.json", " [ ] ")));
  EXPECT_EQ(empty_array->num_rows(), 0);
}

}  // namespace
}  // namespace flowsql::file
