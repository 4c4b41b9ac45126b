#include <arrow/api.h>
#include <gtest/gtest.h>

#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

using testing::Cell;
using testing::ReadAll;
using testing::ReadFile;
using testing::TempDir;

TEST(CsvReader, InfersTypes) {
  TempDir dir;
  auto path = dir.Write("t.csv",
                        "i,d,b,day,ts,s\n"
                        "1,1.5,true,2024-01-02,2024-01-02 03:04:05,x\n"
                        "2,,false,2024-02-03,2024-01-02T03:04:05.123456,\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  auto schema = table->schema();
  EXPECT_EQ(schema->field(0)->type()->ToString(), "int64");
  EXPECT_EQ(schema->field(1)->type()->ToString(), "double");
  EXPECT_EQ(schema->field(2)->type()->ToString(), "bool");
  EXPECT_EQ(schema->field(3)->type()->ToString(), "date32[day]");
  EXPECT_EQ(schema->field(4)->type()->ToString(), "timestamp[us]");
  EXPECT_EQ(schema->field(5)->type()->ToString(), "string");
  EXPECT_EQ(table->num_rows(), 2);
  EXPECT_EQ(Cell(*table, "d", 1), "null");  // empty non-text field is NULL
  EXPECT_EQ(Cell(*table, "s", 1), "null");  // like DuckDB, also in text columns
  EXPECT_EQ(Cell(*table, "ts", 1), "2024-01-02 03:04:05.123456");
}

TEST(CsvReader, QuotedEmptyIsEmptyString) {
  TempDir dir;
  auto path = dir.Write("t.csv", "s,n\n\"\",1\n,2\nNA,3\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(Cell(*table, "s", 0), "null");  // DuckDB's default
  EXPECT_EQ(Cell(*table, "s", 1), "null");
  EXPECT_EQ(Cell(*table, "s", 2), "NA");
  ASSERT_OK_AND_ASSIGN(auto quoted, ReadFile(path, {{"allow_quoted_nulls", "false"}}));
  EXPECT_EQ(Cell(*quoted, "s", 0), "");
  EXPECT_EQ(Cell(*quoted, "s", 1), "null");
}

TEST(CsvReader, FileUriAndRelativePath) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a\n1\n2\n");
  ASSERT_OK_AND_ASSIGN(auto t1, ReadFile("file://" + path));
  EXPECT_EQ(t1->num_rows(), 2);
  auto rel = std::filesystem::relative(path).string();
  ASSERT_OK_AND_ASSIGN(auto t2, ReadFile("file://" + rel));
  EXPECT_EQ(t2->num_rows(), 2);
}

TEST(CsvReader, DelimiterOption) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a;b\n1;x\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"delim", ";"}}));
  EXPECT_EQ(table->num_columns(), 2);
  EXPECT_EQ(Cell(*table, "b", 0), "x");
}

TEST(CsvReader, TsvExtensionMeansTab) {
  TempDir dir;
  auto path = dir.Write("t.tsv", "a\tb\n1\tx\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->num_columns(), 2);
}

TEST(CsvReader, NoHeader) {
  TempDir dir;
  auto path = dir.Write("t.csv", "1,x\n2,y\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"header", "false"}}));
  EXPECT_EQ(table->num_rows(), 2);
  EXPECT_EQ(table->schema()->field(0)->name(), "column0");
  EXPECT_EQ(Cell(*table, "column1", 1), "y");
}

TEST(CsvReader, NullString) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a,s\n1,x\n\\N,\\N\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"nullstr", "\\N"}}));
  EXPECT_EQ(table->schema()->field(0)->type()->id(), arrow::Type::INT64);
  EXPECT_EQ(Cell(*table, "a", 1), "null");
  EXPECT_EQ(Cell(*table, "s", 1), "null");
}

TEST(CsvReader, SkipRows) {
  TempDir dir;
  auto path = dir.Write("t.csv", "garbage line\nanother\na,b\n1,2\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"skip", "2"}}));
  EXPECT_EQ(table->schema()->field_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(table->num_rows(), 1);
}

TEST(CsvReader, ColumnsDeclareSchema) {
  TempDir dir;
  auto path = dir.Write("t.csv", "x,y\n1,2.5\n");
  ASSERT_OK_AND_ASSIGN(auto table,
                       ReadFile(path, {{"columns", "id=INTEGER,amount=DECIMAL(10,2)"}}));
  EXPECT_EQ(table->schema()->ToString(), "id: int32\namount: decimal128(10, 2)");
  EXPECT_EQ(table->num_rows(), 1);
  EXPECT_EQ(Cell(*table, "amount", 0), "2.50");
}

TEST(CsvReader, TypesOverride) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a,b\n1,2\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"dtypes", "a=VARCHAR,b=DOUBLE"}}));
  EXPECT_EQ(table->schema()->ToString(), "a: string\nb: double");
  auto missing = ReadFile(path, {{"types", "zzz=INTEGER"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("zzz"), std::string::npos);
}

TEST(CsvReader, AutoDetectOffReadsText) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a,b\n1,2\n");
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path, {{"auto_detect", "false"}}));
  EXPECT_EQ(table->schema()->ToString(), "a: string\nb: string");
}

TEST(CsvReader, TimestampFormat) {
  TempDir dir;
  auto path = dir.Write("t.csv", "t\n02/01/2024 10:30\n");
  ASSERT_OK_AND_ASSIGN(auto table,
                       ReadFile(path, {{"timestampformat", "%d/%m/%Y %H:%M"}}));
  EXPECT_EQ(table->schema()->field(0)->type()->id(), arrow::Type::TIMESTAMP);
  EXPECT_EQ(Cell(*table, "t", 0), "2024-01-02 10:30:00.000000");
}

TEST(CsvReader, QuoteAndEscape) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a,b\n'x,1',\"q\\\"q\"\n");
  ASSERT_OK_AND_ASSIGN(auto t1, ReadFile(path, {{"quote", "'"}}));
  EXPECT_EQ(Cell(*t1, "a", 0), "x,1");
  auto path2 = dir.Write("t2.csv", "a\n\"q\\\"q\"\n");
  ASSERT_OK_AND_ASSIGN(auto t2, ReadFile(path2, {{"escape", "\\"}}));
  EXPECT_EQ(Cell(*t2, "a", 0), "q\"q");
}

TEST(CsvReader, Projection) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a,b,c\n1,2,3\n4,5,6\n");
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  ScanRequest request;
  request.columns = std::vector<std::string>{"c", "a"};
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request));
  EXPECT_EQ(table->schema()->field_names(), (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(Cell(*table, "c", 1), "6");
  // No columns at all: row counts only.
  request.columns = std::vector<std::string>{};
  ASSERT_OK_AND_ASSIGN(auto counts, ReadAll(source.get(), request));
  EXPECT_EQ(counts->num_columns(), 0);
  EXPECT_EQ(counts->num_rows(), 2);
}

TEST(CsvReader, LimitStopsEarly) {
  TempDir dir;
  std::string content = "a,b\n";
  for (int i = 0; i < 800000; ++i) content += std::to_string(i) + ",some text here\n";
  auto path = dir.Write("big.csv", content);
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path, {{"block_size", "64KB"}}));
  ScanRequest request;
  request.limit = 10;
  int batches = 0;
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request, &batches));
  EXPECT_EQ(table->num_rows(), 10);
  EXPECT_EQ(batches, 1);
  auto stats = source->last_scan_stats();
  EXPECT_LT(stats->bytes_read.load(), static_cast<int64_t>(content.size()) / 2);
  EXPECT_LE(stats->batches_read.load(), 1);
}

TEST(CsvReader, BatchSize) {
  TempDir dir;
  std::string content = "a\n";
  for (int i = 0; i < 1000; ++i) content += std::to_string(i) + "\n";
  auto path = dir.Write("t.csv", content);
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path, {{"batch_size", "100"}}));
  int batches = 0;
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), {}, &batches));
  EXPECT_EQ(table->num_rows(), 1000);
  EXPECT_EQ(batches, 10);
}

TEST(CsvReader, GlobAndDirectoryUnifyByName) {
  TempDir dir;
  dir.Write("d/part-1.csv", "a,b\n1,x\n");
  dir.Write("d/part-2.csv", "b,a,c\ny,2.5,true\n");
  dir.Write("d/notes.md", "ignored");
  for (const auto& uri : {dir.Join("d"), dir.Join("d/part-*.csv")}) {
    ASSERT_OK_AND_ASSIGN(auto table, ReadFile(uri));
    EXPECT_EQ(table->schema()->ToString(), "a: double\nb: string\nc: bool");
    EXPECT_EQ(table->num_rows(), 2);
    EXPECT_EQ(Cell(*table, "a", 1), "2.5");
    EXPECT_EQ(Cell(*table, "c", 0), "null");
  }
  auto none = ReadFile(dir.Join("d/zzz-*.csv"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no files match '" + dir.Join("d/zzz-*.csv") + "'");
}

TEST(CsvReader, Gzip) {
  TempDir dir;
  dir.Write("t.csv", "a,b\n1,x\n2,y\n");
  ASSERT_EQ(std::system(("gzip -k " + dir.Join("t.csv")).c_str()), 0);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Join("t.csv.gz")));
  EXPECT_EQ(table->num_rows(), 2);
  EXPECT_EQ(Cell(*table, "b", 1), "y");
}

TEST(CsvReader, MissingFile) {
  auto result = ReadFile("/nonexistent/dir/x.csv");
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsInvalid());
  EXPECT_EQ(result.status().message(), "file not found: /nonexistent/dir/x.csv");
}

TEST(CsvReader, MalformedNamesFileAndRow) {
  TempDir dir;
  auto path = dir.Write("bad.csv", "a,b\n1,2\n3,4,5\n");
  auto result = ReadFile(path);
  ASSERT_FALSE(result.ok());
  std::string msg = result.status().message();
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("Expected 2 columns, got 3"), std::string::npos) << msg;
}

TEST(CsvReader, DescribeNamesFormatAndPath) {
  TempDir dir;
  auto path = dir.Write("t.csv", "a\n1\n");
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  EXPECT_EQ(source->Describe(), "file csv " + path);
}

}  // namespace
}  // namespace flowsql::file
