#include <arrow/api.h>
#include <arrow/compute/cast.h>
#include <arrow/io/file.h>
#include <arrow/ipc/api.h>
#include <arrow/json/from_string.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>

#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

using testing::Cell;
using testing::ReadAll;
using testing::ReadFile;
using testing::TempDir;

// ids 0..n-1 in row groups of `group` rows, names "n<id>".
std::shared_ptr<arrow::Table> MakeTable(int n) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(ids.Append(i).ok());
    EXPECT_TRUE(names.Append("n" + std::to_string(i)).ok());
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())});
  return arrow::Table::Make(schema, {*ids.Finish(), *names.Finish()});
}

void WriteParquet(const arrow::Table& table, const std::string& path, int64_t group) {
  auto out = *arrow::io::FileOutputStream::Open(path);
  ASSERT_TRUE(
      parquet::arrow::WriteTable(table, arrow::default_memory_pool(), out, group).ok());
  ASSERT_TRUE(out->Close().ok());
}

TEST(ParquetReader, ReadsAndProjects) {
  TempDir dir;
  auto path = dir.Join("t.parquet");
  WriteParquet(*MakeTable(1000), path, 100);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->num_rows(), 1000);
  EXPECT_EQ(table->schema()->ToString(), "id: int64\nname: string");
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  ScanRequest request;
  request.columns = std::vector<std::string>{"name"};
  ASSERT_OK_AND_ASSIGN(auto names, ReadAll(source.get(), request));
  EXPECT_EQ(names->num_columns(), 1);
  EXPECT_EQ(Cell(*names, "name", 999), "n999");
}

TEST(ParquetReader, ReadsStringViewsAsPlainStrings) {
  // A file whose stored Arrow schema holds string_view, also inside a list.
  TempDir dir;
  auto path = dir.Join("views.parquet");
  auto table = MakeTable(10);
  auto names = *arrow::compute::Cast(table->column(1), arrow::utf8_view());
  auto lists = *arrow::MakeArrayFromScalar(
      arrow::ListScalar(*arrow::MakeArrayFromScalar(arrow::StringViewScalar("x"), 2)),
      10);
  auto written = arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int64()),
                     arrow::field("name", arrow::utf8_view()),
                     arrow::field("tags", arrow::list(arrow::utf8_view()))}),
      std::vector<std::shared_ptr<arrow::ChunkedArray>>{
          table->column(0), names.chunked_array(),
          std::make_shared<arrow::ChunkedArray>(lists)});
  auto props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  auto out = *arrow::io::FileOutputStream::Open(path);
  ASSERT_TRUE(parquet::arrow::WriteTable(*written, arrow::default_memory_pool(), out, 4,
                                         parquet::default_writer_properties(), props)
                  .ok());
  ASSERT_TRUE(out->Close().ok());
  ASSERT_OK_AND_ASSIGN(auto read, ReadFile(path));
  EXPECT_EQ(read->schema()->ToString(),
            "id: int64\nname: string\ntags: list<element: string>");
  EXPECT_EQ(Cell(*read, "name", 9), "n9");
}

// Writes a timestamp column and a list of them as INT96, as Spark does by default, with
// `key_values` (if any) as the file's key-value metadata.
void WriteInt96(const std::string& path,
                std::shared_ptr<const arrow::KeyValueMetadata> key_values) {
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::MICRO),
                             arrow::default_memory_pool());
  // 9999-12-31 23:59:59.999999 and 0001-01-01: outside what nanoseconds hold.
  ASSERT_OK(ts.AppendValues({253402300799999999LL, -62135596800000000LL, 0}));
  ASSERT_OK_AND_ASSIGN(auto values, ts.Finish());
  ASSERT_OK_AND_ASSIGN(
      auto lists,
      arrow::ListArray::FromArrays(
          **arrow::json::ArrayFromJSONString(arrow::int32(), "[0, 2, 3, 3]"), *values));
  auto schema = arrow::schema(
      {arrow::field("ts", values->type()), arrow::field("list", lists->type())});
  auto props = parquet::ArrowWriterProperties::Builder()
                   .enable_deprecated_int96_timestamps()
                   ->build();
  auto out = *arrow::io::FileOutputStream::Open(path);
  ASSERT_OK_AND_ASSIGN(auto writer, parquet::arrow::FileWriter::Open(
                                        *schema, arrow::default_memory_pool(), out,
                                        parquet::default_writer_properties(), props));
  ASSERT_OK(writer->WriteTable(*arrow::Table::Make(schema, {values, lists})));
  if (key_values) ASSERT_OK(writer->AddKeyValueMetadata(key_values));
  ASSERT_OK(writer->Close());
  ASSERT_OK(out->Close());
}

TEST(ParquetReader, ReadsInt96InMicroseconds) {
  // Arrow reads INT96 in nanoseconds by default, where year 9999 wraps around.
  TempDir dir;
  auto path = dir.Join("int96.parquet");
  WriteInt96(path, nullptr);
  ASSERT_OK_AND_ASSIGN(auto read, ReadFile(path));
  EXPECT_EQ(read->schema()->ToString(),
            "ts: timestamp[us]\nlist: list<element: timestamp[us]>");
  EXPECT_EQ(Cell(*read, "ts", 0), "9999-12-31 23:59:59.999999");
  EXPECT_EQ(Cell(*read, "ts", 1), "0001-01-01 00:00:00.000000");
  EXPECT_EQ(Cell(*read, "list", 0),
            "list<element: timestamp[us]>[9999-12-31 23:59:59.999999, "
            "0001-01-01 00:00:00.000000]");
}

TEST(ParquetReader, ReadsSparksInt96AsUtcInstants) {
  // Spark writes its TIMESTAMP (an instant, in UTC) as INT96 by default, and names
  // itself in the file's metadata.
  TempDir dir;
  auto path = dir.Join("spark.parquet");
  WriteInt96(path, arrow::key_value_metadata(
                       {"org.apache.spark.sql.parquet.row.metadata"}, {"{}"}));
  ASSERT_OK_AND_ASSIGN(auto read, ReadFile(path));
  EXPECT_EQ(read->schema()->ToString(),
            "ts: timestamp[us, tz=UTC]\nlist: list<element: timestamp[us, tz=UTC]>");
  EXPECT_EQ(Cell(*read, "ts", 0), "9999-12-31 23:59:59.999999Z");
  EXPECT_EQ(Cell(*read, "list", 0),
            "list<element: timestamp[us, tz=UTC]>[9999-12-31 23:59:59.999999Z, "
            "0001-01-01 00:00:00.000000Z]");
}

TEST(ParquetReader, FilterSkipsRowGroups) {
  TempDir dir;
  auto path = dir.Join("t.parquet");
  WriteParquet(*MakeTable(1000), path, 100);  // 10 row groups
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  ScanRequest request;
  request.filter = arrow::compute::greater_equal(arrow::compute::field_ref("id"),
                                                 arrow::compute::literal(int64_t{850}));
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request));
  auto stats = source->last_scan_stats();
  EXPECT_EQ(stats->row_groups_read.load(), 2);
  EXPECT_EQ(stats->row_groups_skipped.load(), 8);
  EXPECT_EQ(table->num_rows(), 200);  // coarse: whole row groups 800..999
  EXPECT_EQ(Cell(*table, "id", 0), "800");
  EXPECT_NE(source->Describe().find("filter="), std::string::npos);
}

TEST(ParquetReader, LimitReadsOneRowGroup) {
  TempDir dir;
  auto path = dir.Join("t.parquet");
  WriteParquet(*MakeTable(100000), path, 10000);
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path, {{"batch_size", "1000"}}));
  ScanRequest request;
  request.limit = 10;
  ASSERT_OK_AND_ASSIGN(auto table, ReadAll(source.get(), request));
  EXPECT_EQ(table->num_rows(), 10);
  EXPECT_EQ(source->last_scan_stats()->batches_read.load(), 1);
}

TEST(ParquetReader, DirectoryUnifiesAndTypesOverride) {
  TempDir dir;
  std::filesystem::create_directories(dir.Join("d"));
  WriteParquet(*MakeTable(10), dir.Join("d/a.parquet"), 100);
  auto other = MakeTable(5)->SelectColumns({0}).ValueOrDie();
  WriteParquet(*other, dir.Join("d/b.parquet"), 100);
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(dir.Join("d"), {{"types", "id=VARCHAR"}}));
  EXPECT_EQ(table->num_rows(), 15);
  EXPECT_EQ(table->schema()->ToString(), "id: string\nname: string");
  EXPECT_EQ(Cell(*table, "name", 12), "null");
}

TEST(ParquetReader, NotParquetIsAnError) {
  TempDir dir;
  auto path = dir.Write("t.parquet", "this is not parquet");
  auto result = ReadFile(path);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find(path), std::string::npos)
      << result.status().message();
}

TEST(IpcReader, FileAndStreamFormats) {
  TempDir dir;
  auto table = MakeTable(50);
  {
    auto out = *arrow::io::FileOutputStream::Open(dir.Join("t.arrow"));
    auto writer = *arrow::ipc::MakeFileWriter(out, table->schema());
    ASSERT_OK(writer->WriteTable(*table));
    ASSERT_OK(writer->Close());
  }
  {
    auto out = *arrow::io::FileOutputStream::Open(dir.Join("s.ipc"));
    auto writer = *arrow::ipc::MakeStreamWriter(out, table->schema());
    ASSERT_OK(writer->WriteTable(*table));
    ASSERT_OK(writer->Close());
  }
  for (const auto& name : {"t.arrow", "s.ipc"}) {
    ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(dir.Join(name)));
    ScanRequest request;
    request.columns = std::vector<std::string>{"name"};
    ASSERT_OK_AND_ASSIGN(auto read, ReadAll(source.get(), request));
    EXPECT_EQ(read->num_rows(), 50);
    EXPECT_EQ(read->schema()->ToString(), "name: string");
  }
}

}  // namespace
}  // namespace flowsql::file
