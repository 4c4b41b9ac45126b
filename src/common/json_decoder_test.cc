#include "common/json_decoder.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "common/test_macros.h"

namespace flowsql::json {
namespace {

DecodeOptions Options(const std::string& records_path = "$", bool flatten = false,
                      OnBadRecord on_bad = OnBadRecord::kError) {
  DecodeOptions o;
  o.records_path = *RecordsPath::Parse(records_path);
  o.flatten = flatten;
  o.on_bad_record = on_bad;
  return o;
}

/// Infers from `page`, then decodes it with the inferred schema.
Result<std::shared_ptr<arrow::RecordBatch>> InferAndDecode(const std::string& page,
                                                           DecodeOptions options) {
  SchemaInferrer inferrer(options);
  ARROW_RETURN_NOT_OK(inferrer.Feed(page));
  ARROW_ASSIGN_OR_RAISE(auto decoder, Decoder::Make(inferrer.schema(), options));
  ARROW_ASSIGN_OR_RAISE(auto decoded, decoder->DecodePage(page));
  ARROW_RETURN_NOT_OK(decoded.batch->ValidateFull());
  return decoded.batch;
}

std::string Cell(const arrow::RecordBatch& batch, const std::string& column,
                 int64_t row) {
  auto array = batch.GetColumnByName(column);
  if (array == nullptr) return "<no column " + column + ">";
  auto scalar = array->GetScalar(row);
  return scalar.ok() ? (*scalar)->ToString() : scalar.status().ToString();
}

TEST(RecordsPath, ParsesTheSubset) {
  ASSERT_OK_AND_ASSIGN(auto root, RecordsPath::Parse("$"));
  EXPECT_TRUE(root.steps().empty());
  ASSERT_OK_AND_ASSIGN(auto path, RecordsPath::Parse("$.data['a b'][*].items"));
  ASSERT_EQ(path.steps().size(), 4u);
  EXPECT_EQ(path.steps()[0].key, "data");
  EXPECT_EQ(path.steps()[1].key, "a b");
  EXPECT_TRUE(path.steps()[2].all);
  EXPECT_EQ(path.steps()[3].key, "items");
  auto bad = RecordsPath::Parse("data.items");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "records_path 'data.items': expected '$' at character 1");
  auto unclosed = RecordsPath::Parse("$['a");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_EQ(unclosed.status().message(),
            "records_path '$['a': expected a closing quote and ']' at character 5");
}

TEST(JsonDecoder, InfersTypesOfAnArrayPage) {
  const std::string page = R"({"meta": {"next": null}, "data": {"items": [
    {"id": 1, "x": 1.5, "ok": true, "day": "2024-01-02", "ts": "2024-01-02T03:04:05.5",
     "tz": "2024-01-02T05:04:05+02:00", "s": "a", "owner": {"name": "ann", "age": 3},
     "tags": ["p", "q"], "n": null},
    {"id": 2, "x": 2, "ok": false, "day": "2024-02-03", "ts": "2024-01-02 03:04:06",
     "tz": "2024-01-02T03:04:05Z", "s": null, "owner": {"name": "bob"}, "tags": [],
     "n": null}]}})";
  ASSERT_OK_AND_ASSIGN(auto batch, InferAndDecode(page, Options("$.data.items")));
  EXPECT_EQ(batch->schema()->ToString(),
            "id: int64\nx: double\nok: bool\nday: date32[day]\nts: timestamp[us]\n"
            "tz: timestamp[us, tz=UTC]\ns: string\n"
            "owner: struct<name: string, age: int64>\ntags: list<item: string>\n"
            "n: string");
  ASSERT_EQ(batch->num_rows(), 2);
  EXPECT_EQ(Cell(*batch, "x", 1), "2");
  EXPECT_EQ(Cell(*batch, "day", 1), "2024-02-03");
  EXPECT_EQ(Cell(*batch, "ts", 0), "2024-01-02 03:04:05.500000");
  EXPECT_EQ(Cell(*batch, "tz", 0), Cell(*batch, "tz", 1));
  EXPECT_EQ(Cell(*batch, "s", 1), "null");
  EXPECT_EQ(Cell(*batch, "owner", 1), "{name:string = bob, age:int64 = null}");
  EXPECT_EQ(Cell(*batch, "tags", 0), "list<item: string>[p, q]");
  EXPECT_EQ(Cell(*batch, "tags", 1), "list<item: string>[]");
  EXPECT_EQ(Cell(*batch, "n", 0), "null");
}

TEST(JsonDecoder, NdjsonObjectAndWildcardPages) {
  ASSERT_OK_AND_ASSIGN(
      auto ndjson, InferAndDecode("{\"a\": 1}\n\n{\"a\": 2, \"b\": \"x\"}\n", Options()));
  EXPECT_EQ(ndjson->schema()->ToString(), "a: int64\nb: string");
  EXPECT_EQ(ndjson->num_rows(), 2);
  EXPECT_EQ(Cell(*ndjson, "b", 0), "null");
  // One object at the path is one record.
  ASSERT_OK_AND_ASSIGN(auto one,
                       InferAndDecode(R"({"user": {"id": 7}})", Options("$.user")));
  EXPECT_EQ(one->num_rows(), 1);
  EXPECT_EQ(Cell(*one, "id", 0), "7");
  // [*] in the middle: the items of every group.
  ASSERT_OK_AND_ASSIGN(
      auto groups,
      InferAndDecode(
          R"({"groups": [{"items": [{"v": 1}, {"v": 2}]}, {"items": [{"v": 3}]}]})",
          Options("$.groups[*].items")));
  EXPECT_EQ(groups->num_rows(), 3);
  EXPECT_EQ(Cell(*groups, "v", 2), "3");
  // A path that finds nothing: no records, no columns.
  ASSERT_OK_AND_ASSIGN(auto none,
                       InferAndDecode(R"({"data": []})", Options("$.missing")));
  EXPECT_EQ(none->num_rows(), 0);
  EXPECT_EQ(none->num_columns(), 0);
  ASSERT_OK_AND_ASSIGN(auto empty, InferAndDecode("", Options()));
  EXPECT_EQ(empty->num_rows(), 0);
}

TEST(JsonDecoder, SchemaWidensAcrossPages) {
  SchemaInferrer inferrer(Options("$.items"));
  ASSERT_OK(inferrer.Feed(R"({"items": [{"id": 1, "v": 1, "maybe": null}]})"));
  EXPECT_EQ(inferrer.schema()->ToString(), "id: int64\nv: int64\nmaybe: string");
  ASSERT_OK(inferrer.Feed(
      R"({"items": [{"id": 2, "v": 2.5, "maybe": 3, "new": {"k": true}}]})"));
  // int -> double; a key seen as null stays VARCHAR; new keys at the end.
  EXPECT_EQ(inferrer.schema()->ToString(),
            "id: int64\nv: double\nmaybe: string\nnew: struct<k: bool>");
  ASSERT_OK(inferrer.Feed(R"({"items": [{"id": "x3", "new": 5}]})"));
  EXPECT_EQ(inferrer.schema()->ToString(),
            "id: string\nv: double\nmaybe: string\nnew: string");
  EXPECT_EQ(inferrer.records(), 3);
  // A malformed page changes nothing.
  auto bad = inferrer.Feed(R"({"items": [{"id": 1, "zzz": 1}, {"id": )");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(inferrer.schema()->num_fields(), 4);
  EXPECT_EQ(inferrer.records(), 3);
  // Mixed values read into VARCHAR as their JSON text.
  ASSERT_OK_AND_ASSIGN(auto decoder,
                       Decoder::Make(inferrer.schema(), Options("$.items")));
  ASSERT_OK_AND_ASSIGN(
      auto page, decoder->DecodePage(R"({"items": [{"id": 12, "new": {"k": [1, true]}},
                                                         {"id": false, "v": 1e3}]})"));
  EXPECT_EQ(Cell(*page.batch, "id", 0), "12");
  EXPECT_EQ(Cell(*page.batch, "new", 0), R"({"k":[1,true]})");
  EXPECT_EQ(Cell(*page.batch, "id", 1), "false");
  EXPECT_EQ(Cell(*page.batch, "v", 1), "1000");
}

TEST(JsonDecoder, FlattenNamesColumnsAsDlt) {
  const std::string page =
      R"([{"id": 1, "owner": {"name": "ann", "address": {"city": "Oslo"}}, "l": [{"a": 1}]},
          {"id": 2, "owner": null}])";
  ASSERT_OK_AND_ASSIGN(auto batch, InferAndDecode(page, Options("$", true)));
  EXPECT_EQ(batch->schema()->ToString(),
            "id: int64\nowner__name: string\nowner__address__city: string\n"
            "l: list<item: struct<a: int64>>");
  EXPECT_EQ(Cell(*batch, "owner__address__city", 0), "Oslo");
  EXPECT_EQ(Cell(*batch, "owner__name", 1), "null");
}

TEST(JsonDecoder, DeclaredSchemaAndBadRecords) {
  auto schema = arrow::schema({arrow::field("id", arrow::int32()),
                               arrow::field("when", arrow::date32()),
                               arrow::field("price", arrow::decimal128(10, 2))});
  const std::string page =
      R"([{"id": 1, "when": "2024-05-06", "price": "1.25", "extra": 1},
          {"id": "2", "when": "soon"},
          {"id": 3000000000},
          [1, 2],
          {"id": 4}])";
  {
    ASSERT_OK_AND_ASSIGN(auto decoder, Decoder::Make(schema, Options()));
    auto result = decoder->DecodePage(page);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().message(),
              "record 2: key 'when': expected DATE, found a string (\"soon\")");
  }
  {
    ASSERT_OK_AND_ASSIGN(auto decoder,
                         Decoder::Make(schema, Options("$", false, OnBadRecord::kSkip)));
    ASSERT_OK_AND_ASSIGN(auto decoded, decoder->DecodePage(page));
    ASSERT_OK(decoded.batch->ValidateFull());
    EXPECT_EQ(decoded.bad_records, 3);
    EXPECT_EQ(decoded.batch->num_rows(), 2);
    EXPECT_EQ(Cell(*decoded.batch, "id", 1), "4");
    EXPECT_EQ(Cell(*decoded.batch, "price", 0), "1.25");
    EXPECT_EQ(decoded.batch->schema()->field(2)->type()->ToString(), "decimal128(10, 2)");
  }
  {
    ASSERT_OK_AND_ASSIGN(auto decoder,
                         Decoder::Make(schema, Options("$", false, OnBadRecord::kNull)));
    ASSERT_OK_AND_ASSIGN(auto decoded, decoder->DecodePage(page));
    ASSERT_OK(decoded.batch->ValidateFull());
    EXPECT_EQ(decoded.bad_records, 3);
    ASSERT_EQ(decoded.batch->num_rows(), 5);
    EXPECT_EQ(Cell(*decoded.batch, "id", 1), "2");  // a number in a string fits
    EXPECT_EQ(Cell(*decoded.batch, "when", 1), "null");
    EXPECT_EQ(Cell(*decoded.batch, "id", 2), "null");  // out of INTEGER's range
    EXPECT_EQ(Cell(*decoded.batch, "id", 3), "null");  // not an object: all null
    EXPECT_EQ(decoder->bad_records(), 3);
  }
}

TEST(JsonDecoder, NestedBadValueSkipsTheWholeRecord) {
  auto schema = arrow::schema(
      {arrow::field("s",
                    arrow::struct_({arrow::field("a", arrow::int64()),
                                    arrow::field("l", arrow::list(arrow::int64()))})),
       arrow::field("t", arrow::utf8())});
  ASSERT_OK_AND_ASSIGN(auto decoder,
                       Decoder::Make(schema, Options("$", false, OnBadRecord::kSkip)));
  ASSERT_OK_AND_ASSIGN(
      auto decoded,
      decoder->DecodePage("{\"t\": \"x\", \"s\": {\"a\": 1, \"l\": [1, \"no\"]}}\n"
                          "{\"s\": {\"l\": [2, null]}, \"t\": \"y\"}\n"));
  ASSERT_OK(decoded.batch->ValidateFull());
  EXPECT_EQ(decoded.bad_records, 1);
  ASSERT_EQ(decoded.batch->num_rows(), 1);
  EXPECT_EQ(Cell(*decoded.batch, "s", 0),
            "{a:int64 = null, l:list<item: int64> = list<item: int64>[2, null]}");
  EXPECT_EQ(Cell(*decoded.batch, "t", 0), "y");
}

TEST(JsonDecoder, UnknownKeysCanBeAnError) {
  auto options = Options();
  options.unknown_keys = UnknownKeys::kError;
  ASSERT_OK_AND_ASSIGN(
      auto decoder,
      Decoder::Make(arrow::schema({arrow::field("a", arrow::int64())}), options));
  auto result = decoder->DecodePage("{\"a\": 1}\n{\"a\": 2, \"late\": 3}\n");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "record 2: key 'late' is not in the schema");
  // The decoder is usable after an error.
  ASSERT_OK_AND_ASSIGN(auto ok, decoder->DecodePage("{\"a\": 5}"));
  EXPECT_EQ(ok.batch->num_rows(), 1);
}

TEST(JsonDecoder, MalformedAndTruncatedPagesNameTheByte) {
  ASSERT_OK_AND_ASSIGN(
      auto decoder,
      Decoder::Make(arrow::schema({arrow::field("a", arrow::int64())}), Options()));
  auto truncated = decoder->DecodePage("[{\"a\": 1}, {\"a\"");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("malformed JSON"), std::string::npos)
      << truncated.status().message();
  auto malformed = decoder->DecodePage("{\"a\": 1}\n{\"a\": 2,,}\n");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(
      malformed.status().message(),
      "byte 9: malformed JSON: The JSON document has an improper structure: missing "
      "or superfluous commas, braces, missing keys, etc.");
  auto not_utf8 = decoder->DecodePage("{\"a\": \"\xff\"}");
  ASSERT_FALSE(not_utf8.ok());
  EXPECT_NE(not_utf8.status().message().find("UTF-8"), std::string::npos)
      << not_utf8.status().message();
}

TEST(JsonDecoder, BlocksCarryTheirCutDocument) {
  auto options = Options();
  options.unknown_keys = UnknownKeys::kError;
  options.schema_hint = "; declare it";
  options.skipped_keys = {"b"};
  ASSERT_OK_AND_ASSIGN(
      auto decoder,
      Decoder::Make(arrow::schema({arrow::field("a", arrow::int64())}), options));
  std::string block = "{\"a\": 1, \"b\": [1]}\n{\"a\":\n 2, \"b\"";
  block.append(kPadding, ' ');
  size_t truncated = 0, error_offset = 0;
  ASSERT_OK(decoder->DecodeBlock(reinterpret_cast<const uint8_t*>(block.data()),
                                 block.size() - kPadding, &truncated, &error_offset));
  EXPECT_EQ(truncated, 13u);
  EXPECT_EQ(decoder->buffered_rows(), 1);
  std::string next = block.substr(block.size() - kPadding - truncated, truncated) +
                     ": 3}\n{\"a\": 4, \"c\": 1}\n";
  next.append(kPadding, ' ');
  auto st = decoder->DecodeBlock(reinterpret_cast<const uint8_t*>(next.data()),
                                 next.size() - kPadding, &truncated, &error_offset);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "key 'c' is not in the schema; declare it");
  EXPECT_EQ(error_offset, 18u);
  ASSERT_OK_AND_ASSIGN(auto batch, decoder->Flush());
  EXPECT_EQ(batch->num_rows(), 2);
  EXPECT_EQ(Cell(*batch, "a", 1), "2");
}

}  // namespace
}  // namespace flowsql::json
