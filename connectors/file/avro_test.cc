#include "connectors/file/avro.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <climits>

#include "connectors/file/batch_writer.h"
#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

using testing::Cell;
using testing::ReadFile;
using testing::TempDir;

Result<std::shared_ptr<arrow::Schema>> ArrowOf(const std::string& json) {
  ARROW_ASSIGN_OR_RAISE(auto schema, avro::Schema::Parse(json));
  return avro::ToArrowSchema(schema);
}

std::string Record(const std::string& fields) {
  return R"({"type": "record", "name": "r", "fields": [)" + fields + "]}";
}

TEST(AvroSchema, MapsEveryTypeToArrow) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("null")", "null"},
      {R"("boolean")", "bool not null"},
      {R"("int")", "int32 not null"},
      {R"("long")", "int64 not null"},
      {R"("float")", "float not null"},
      {R"("double")", "double not null"},
      {R"("bytes")", "binary not null"},
      {R"("string")", "string not null"},
      {R"(["null", "long"])", "int64"},
      {R"(["string", "null"])", "string"},
      {R"(["long"])", "int64 not null"},
      {R"({"type": "enum", "name": "E", "symbols": ["A", "B"]})", "string not null"},
      {R"({"type": "fixed", "name": "F", "size": 3})", "fixed_size_binary[3] not null"},
      {R"({"type": "array", "items": ["null", "int"]})", "list<item: int32> not null"},
      {R"({"type": "map", "values": "double"})", "map<string, double> not null"},
      {R"({"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]})",
       "struct<x: int32 not null> not null"},
      {R"({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2})",
       "decimal128(10, 2) not null"},
      {R"({"type": "fixed", "name": "D", "size": 16, "logicalType": "decimal",
           "precision": 38, "scale": 9})",
       "decimal128(38, 9) not null"},
      {R"({"type": "int", "logicalType": "date"})", "date32[day] not null"},
      {R"({"type": "int", "logicalType": "time-millis"})", "time32[ms] not null"},
      {R"({"type": "long", "logicalType": "time-micros"})", "time64[us] not null"},
      {R"({"type": "long", "logicalType": "timestamp-millis"})",
       "timestamp[ms, tz=UTC] not null"},
      {R"({"type": "long", "logicalType": "timestamp-micros"})",
       "timestamp[us, tz=UTC] not null"},
      {R"({"type": "long", "logicalType": "local-timestamp-millis"})",
       "timestamp[ms] not null"},
      {R"({"type": "long", "logicalType": "local-timestamp-micros"})",
       "timestamp[us] not null"},
      {R"({"type": "string", "logicalType": "uuid"})", "string not null"},
      // Invalid or unknown logical types leave the underlying type, as the spec says.
      {R"({"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 3})",
       "binary not null"},
      {R"({"type": "long", "logicalType": "date"})", "int64 not null"},
      {R"({"type": "string", "logicalType": "json"})", "string not null"},
  };
  for (const auto& [avro_type, arrow_type] : cases) {
    ASSERT_OK_AND_ASSIGN(auto schema,
                         ArrowOf(Record(R"({"name": "c", "type": )" + avro_type + "}")));
    EXPECT_EQ(schema->field(0)->ToString(), "c: " + arrow_type) << avro_type;
  }
}

TEST(AvroSchema, ResolvesNamedTypesInTheirNamespaces) {
  ASSERT_OK_AND_ASSIGN(auto schema, ArrowOf(R"({
    "type": "record", "name": "r", "namespace": "org.x", "fields": [
      {"name": "a", "type": {"type": "fixed", "name": "Hash", "size": 4}},
      {"name": "b", "type": "Hash"},
      {"name": "c", "type": "org.x.Hash"},
      {"name": "d", "type": {"type": "record", "name": "Inner", "namespace": "y",
                             "fields": [{"name": "h", "type": "org.x.Hash"}]}},
      {"name": "e", "type": ["null", "y.Inner"]}]})"));
  EXPECT_EQ(schema->ToString(),
            "a: fixed_size_binary[4] not null\n"
            "b: fixed_size_binary[4] not null\n"
            "c: fixed_size_binary[4] not null\n"
            "d: struct<h: fixed_size_binary[4] not null> not null\n"
            "e: struct<h: fixed_size_binary[4] not null>");
  // A top level that is not a record is one column.
  ASSERT_OK_AND_ASSIGN(auto value, ArrowOf(R"(["null", "string"])"));
  EXPECT_EQ(value->ToString(), "value: string");
}

TEST(AvroSchema, ErrorsNameTheField) {
  auto st = ArrowOf(Record(R"({"name": "s", "type": {"type": "record", "name": "S",
      "fields": [{"name": "u", "type": ["int", "string", "null"]}]}})"))
                .status();
  EXPECT_EQ(st.message(),
            "field 's.u': the union [int, string, null] cannot be read: only a union of "
            "null and one other type can");
  st = ArrowOf(R"({"type": "record", "name": "Node", "fields": [
      {"name": "next", "type": ["null", "Node"]}]})")
           .status();
  EXPECT_EQ(st.message(),
            "field 'next': the recursive type 'Node' cannot be read as a column");
  st = ArrowOf(Record(R"({"name": "x", "type": "Nope"})")).status();
  EXPECT_EQ(st.message(), "field 'x': unknown type 'Nope'");
  EXPECT_FALSE(ArrowOf("{not json").ok());
  st = ArrowOf(Record(R"({"name": "d", "type": {"type": "bytes", "logicalType":
      "decimal", "precision": 40, "scale": 0}})"))
           .status();
  EXPECT_EQ(st.message(), "field 'd': decimal(40, 0) has more than 38 digits");
}

TEST(AvroEncoding, LongsRoundTrip) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{63}, int64_t{-64},
                    int64_t{64}, int64_t{1} << 40, INT64_MAX, INT64_MIN}) {
    std::string out;
    avro::PutLong(v, &out);
    const auto* p = reinterpret_cast<const uint8_t*>(out.data());
    int64_t back = 0;
    ASSERT_TRUE(avro::GetLong(&p, p + out.size(), &back)) << v;
    EXPECT_EQ(back, v);
    // One byte short: not a number.
    p = reinterpret_cast<const uint8_t*>(out.data());
    EXPECT_FALSE(avro::GetLong(&p, p + out.size() - 1, &back)) << v;
  }
  std::string one;
  avro::PutLong(-1, &one);
  EXPECT_EQ(one, "\x01");
}

TEST(AvroCodec, EveryCodecRoundTrips) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i * 7919 % 1000) + ",";
  for (const char* name : {"null", "deflate", "snappy", "zstandard", "bzip2"}) {
    ASSERT_OK_AND_ASSIGN(auto codec, avro::BlockCodec::FromName(name));
    EXPECT_STREQ(codec->name(), name);
    std::string compressed;
    ASSERT_OK(codec->Compress(data, &compressed));
    if (std::string(name) != "null") EXPECT_LT(compressed.size(), data.size() / 2);
    for (int twice = 0; twice < 2; ++twice) {  // the decompressor is reused
      ASSERT_OK_AND_ASSIGN(
          auto back, codec->Decompress(std::make_shared<arrow::Buffer>(compressed)));
      EXPECT_EQ(back->ToString(), data) << name;
    }
    if (std::string(name) != "null") {
      auto cut = arrow::Buffer::FromString(compressed.substr(0, compressed.size() / 2));
      EXPECT_FALSE(codec->Decompress(cut).ok()) << name;
    }
  }
  EXPECT_EQ(avro::BlockCodec::FromName("xz").status().message(),
            "the codec 'xz' is not supported (null, deflate, snappy, zstandard and "
            "bzip2 are)");
}

TEST(AvroCodec, SnappyChecksItsCrc) {
  ASSERT_OK_AND_ASSIGN(auto codec, avro::BlockCodec::FromName("snappy"));
  std::string compressed;
  ASSERT_OK(codec->Compress("hello avro", &compressed));
  compressed.back() ^= 1;
  EXPECT_EQ(
      codec->Decompress(std::make_shared<arrow::Buffer>(compressed)).status().message(),
      "snappy block fails its CRC check");
}

std::shared_ptr<arrow::RecordBatch> BatchOf(const arrow::FieldVector& fields,
                                            const std::vector<std::string>& json) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (size_t i = 0; i < fields.size(); ++i) {
    columns.push_back(*arrow::json::ArrayFromJSONString(fields[i]->type(), json[i]));
  }
  return arrow::RecordBatch::Make(arrow::schema(fields), columns[0]->length(), columns);
}

/// Writes `batch` as Avro into `path` with `compression`.
Status WriteAvro(
    const std::string& path, const arrow::RecordBatch& batch,
    arrow::Compression::type compression = arrow::Compression::UNCOMPRESSED) {
  ARROW_ASSIGN_OR_RAISE(auto out, arrow::io::FileOutputStream::Open(path));
  WriteSettings settings;
  settings.format = FileFormat::kAvro;
  settings.compression = compression;
  ARROW_ASSIGN_OR_RAISE(auto writer, MakeBatchWriter(settings, out, batch.schema()));
  ARROW_RETURN_NOT_OK(writer->Write(batch));
  return writer->Close();
}

TEST(AvroWriter, TypesRoundTripThroughTheReader) {
  arrow::FieldVector fields = {
      arrow::field("i8", arrow::int8()),
      arrow::field("u32", arrow::uint32(), false),
      arrow::field("f", arrow::float32()),
      arrow::field("bin", arrow::binary()),
      arrow::field("fx", arrow::fixed_size_binary(2)),
      arrow::field("dec", arrow::decimal128(38, 4)),
      arrow::field("t32", arrow::time32(arrow::TimeUnit::SECOND)),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::NANO, "UTC")),
      arrow::field("lts", arrow::timestamp(arrow::TimeUnit::MILLI)),
      arrow::field("m", arrow::map(arrow::utf8(), arrow::int64())),
      arrow::field("ll", arrow::large_list(arrow::field("x", arrow::utf8(), false))),
      arrow::field("s", arrow::struct_({arrow::field("a", arrow::utf8()),
                                        arrow::field("b", arrow::date32(), false)})),
      arrow::field("n", arrow::null()),
  };
  auto batch = BatchOf(
      fields,
      {"[-8, null]", "[4294967295, 0]", "[0.5, null]", R"(["a", null])",
       R"(["ab", null])", R"(["-9999999999999999999999999999999999.9999", "0.0001"])",
       "[3661, null]", "[1704164645123456789, -1]", "[1704164645123, null]",
       R"([[["k", 1], ["l", null]], null])", R"([["p", "q"], []])",
       R"([{"a": "z", "b": 1}, null])", "[null, null]"});
  TempDir dir;
  const auto path = dir.Join("t.avro");
  ASSERT_OK(WriteAvro(path, *batch));
  ASSERT_OK_AND_ASSIGN(auto table, ReadFile(path));
  EXPECT_EQ(table->schema()->ToString(),
            "i8: int32\n"
            "u32: int64 not null\n"
            "f: float\n"
            "bin: binary\n"
            "fx: fixed_size_binary[2]\n"
            "dec: decimal128(38, 4)\n"
            "t32: time32[ms]\n"
            "ts: timestamp[us, tz=UTC]\n"
            "lts: timestamp[ms]\n"
            "m: map<string, int64>\n"
            "ll: list<item: string not null>\n"
            "s: struct<a: string, b: date32[day] not null>\n"
            "n: null");
  EXPECT_EQ(Cell(*table, "i8", 0), "-8");
  EXPECT_EQ(Cell(*table, "u32", 0), "4294967295");
  EXPECT_EQ(Cell(*table, "bin", 0), "a");
  EXPECT_EQ(Cell(*table, "dec", 0), "-9999999999999999999999999999999999.9999");
  EXPECT_EQ(Cell(*table, "dec", 1), "0.0001");
  EXPECT_EQ(Cell(*table, "t32", 0), "01:01:01.000");
  // Nanoseconds are truncated to microseconds, towards the past.
  EXPECT_EQ(Cell(*table, "ts", 0), "2024-01-02 03:04:05.123456Z");
  EXPECT_EQ(Cell(*table, "ts", 1), "1969-12-31 23:59:59.999999Z");
  EXPECT_EQ(Cell(*table, "lts", 0), "2024-01-02 03:04:05.123");
  EXPECT_EQ(Cell(*table, "m", 0),
            "map<string, int64>[{key:string = k, value:int64 = 1}, "
            "{key:string = l, value:int64 = null}]");
  EXPECT_EQ(Cell(*table, "m", 1), "null");
  EXPECT_EQ(Cell(*table, "ll", 0), "list<item: string not null>[p, q]");
  EXPECT_EQ(Cell(*table, "s", 0), "{a:string = z, b:date32[day] = 1970-01-02}");
  EXPECT_EQ(Cell(*table, "s", 1), "null");
  EXPECT_EQ(table->num_rows(), 2);
}

TEST(AvroWriter, ErrorsNameTheColumn) {
  TempDir dir;
  const auto path = dir.Join("t.avro");
  auto bad_name = BatchOf({arrow::field("sum(x)", arrow::int64())}, {"[1]"});
  EXPECT_EQ(WriteAvro(path, *bad_name).message(),
            "column 'sum(x)': not a valid Avro name (letters, digits and _, not starting "
            "with a digit); rename it with AS");
  auto bad_type =
      BatchOf({arrow::field("d", arrow::duration(arrow::TimeUnit::SECOND))}, {"[1]"});
  EXPECT_EQ(WriteAvro(path, *bad_type).message(),
            "column 'd': Avro cannot hold the type duration[s]");
  auto bad_key = BatchOf({arrow::field("m", arrow::map(arrow::int32(), arrow::int32()))},
                         {"[[[1, 2]]]"});
  EXPECT_EQ(WriteAvro(path, *bad_key).message(),
            "column 'm': Avro maps have string keys, not int32");
  auto too_big =
      BatchOf({arrow::field("u", arrow::uint64())}, {"[1, 18446744073709551615]"});
  EXPECT_EQ(
      WriteAvro(path, *too_big).message(),
      "column 'u', row 1: the value 18446744073709551615 does not fit an Avro long");
}

TEST(AvroReader, ProjectsAndCutsBatches) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  const int64_t n = 200000;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_OK(ids.Append(i));
    ASSERT_OK(names.Append("name " + std::to_string(i)));
  }
  auto schema = arrow::schema(
      {arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(schema, n, {*ids.Finish(), *names.Finish()});
  TempDir dir;
  const auto path = dir.Join("t.avro");
  ASSERT_OK(WriteAvro(path, *batch, arrow::Compression::ZSTD));
  ASSERT_OK_AND_ASSIGN(auto source, testing::MakeSource(path));
  ScanRequest request;
  request.columns = std::vector<std::string>{"name"};
  int batches = 0;
  ASSERT_OK_AND_ASSIGN(auto table, testing::ReadAll(source.get(), request, &batches));
  EXPECT_EQ(table->schema()->ToString(), "name: string");
  EXPECT_EQ(table->num_rows(), n);
  EXPECT_EQ(batches, 4);  // 64K rows each
  EXPECT_EQ(Cell(*table, "name", n - 1), "name 199999");
}

}  // namespace
}  // namespace flowsql::file
