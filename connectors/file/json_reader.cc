// JSON (arrays of objects) and NDJSON through arrow::json::StreamingReader. A JSON
// array is converted to NDJSON on the fly (json_array_stream.h). The schema comes from
// the first block; string columns whose values there all parse as dates or ISO 8601
// timestamps become date32 / timestamp[us] (cast after reading, since Arrow's JSON
// converter does not parse them).
#include <arrow/array.h>
#include <arrow/compute/cast.h>
#include <arrow/io/file.h>
#include <arrow/json/api.h>
#include <arrow/type.h>
#include <arrow/util/value_parsing.h>

#include <cctype>

#include "connectors/file/format_reader.h"
#include "connectors/file/json_array_stream.h"

namespace flowsql::file {

namespace {

// Replaces null types (all values null in the first block) with utf8, so that later
// values can still be read.
std::shared_ptr<arrow::DataType> NullToString(const std::shared_ptr<arrow::DataType>& t) {
  switch (t->id()) {
    case arrow::Type::NA:
      return arrow::utf8();
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListType&>(*t);
      return arrow::list(list.value_field()->WithType(NullToString(list.value_type())));
    }
    case arrow::Type::STRUCT: {
      arrow::FieldVector fields;
      for (const auto& f : t->fields())
        fields.push_back(f->WithType(NullToString(f->type())));
      return arrow::struct_(fields);
    }
    default:
      return t;
  }
}

enum class Temporal { kNone, kDate, kTimestamp, kTimestampTz };

// What every non-null value of a string column looks like.
Temporal DetectTemporal(const arrow::Array& array) {
  const auto& strings = static_cast<const arrow::StringArray&>(array);
  Temporal kind = Temporal::kNone;
  int64_t seen = 0;
  for (int64_t i = 0; i < strings.length(); ++i) {
    if (strings.IsNull(i)) continue;
    std::string_view v = strings.GetView(i);
    Temporal k;
    if (v.size() == 10) {
      int32_t days;
      if (!arrow::internal::ParseValue<arrow::Date32Type>(v.data(), v.size(), &days)) {
        return Temporal::kNone;
      }
      k = Temporal::kDate;
    } else {
      // "YYYY-MM-DD" then 'T' or ' ': avoids taking numbers-as-strings for times.
      if (v.size() < 16 || (v[10] != 'T' && v[10] != ' ')) return Temporal::kNone;
      int64_t out;
      bool tz = v.back() == 'Z' || ((v[v.size() - 6] == '+' || v[v.size() - 6] == '-') &&
                                    v[v.size() - 3] == ':');
      auto type = arrow::timestamp(arrow::TimeUnit::MICRO);
      if (!arrow::internal::ParseTimestampISO8601(v.data(), v.size(),
                                                  arrow::TimeUnit::MICRO, &out)) {
        return Temporal::kNone;
      }
      k = tz ? Temporal::kTimestampTz : Temporal::kTimestamp;
    }
    if (seen++ > 0 && k != kind) return Temporal::kNone;
    kind = k;
  }
  return kind;
}

class JsonReader : public FormatReader {
 public:
  explicit JsonReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(path, nullptr));
    auto parse = arrow::json::ParseOptions::Defaults();
    auto made = arrow::json::StreamingReader::Make(input, ReadOptions(), parse);
    if (!made.ok() && IsEmptyStream(made.status())) {
      // No rows: no columns either, unless declared.
      ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(arrow::schema({}), settings_));
      arrow::FieldVector raw;
      for (const auto& f : info.schema->fields()) {
        raw.push_back(f->WithType(ReadableType(f->type())));
      }
      info.raw_schema = arrow::schema(raw);
      return info;
    }
    if (!made.ok()) return WithPath(made.status(), path);
    auto reader = *made;
    // Arrow infers timestamp[s] from date and timestamp strings alike: read those
    // columns as text again and look at the values.
    arrow::FieldVector inferred;
    bool temporal = false;
    for (const auto& f : reader->schema()->fields()) {
      bool ts = f->type()->id() == arrow::Type::TIMESTAMP;
      temporal = temporal || ts;
      inferred.push_back(f->WithType(ts ? arrow::utf8() : NullToString(f->type())));
    }
    if (temporal) {
      (void)reader->Close();
      parse.explicit_schema = arrow::schema(inferred);
      ARROW_ASSIGN_OR_RAISE(input, OpenJson(path, nullptr));
      made = arrow::json::StreamingReader::Make(input, ReadOptions(), parse);
      if (!made.ok()) return WithPath(made.status(), path);
      reader = *made;
    }
    std::shared_ptr<arrow::RecordBatch> first;
    ARROW_RETURN_NOT_OK(WithPath(reader->ReadNext(&first), path));
    (void)reader->Close();
    arrow::FieldVector raw_fields, fields;
    for (const auto& raw : inferred) {
      auto f = raw;
      if (raw->type()->id() == arrow::Type::STRING && first && settings_.auto_detect) {
        auto column = first->GetColumnByName(raw->name());
        if (column && column->type()->id() == arrow::Type::STRING) {
          switch (DetectTemporal(*column)) {
            case Temporal::kDate:
              f = f->WithType(arrow::date32());
              break;
            case Temporal::kTimestamp:
              f = f->WithType(arrow::timestamp(arrow::TimeUnit::MICRO));
              break;
            case Temporal::kTimestampTz:
              f = f->WithType(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"));
              break;
            case Temporal::kNone:
              break;
          }
        }
      }
      raw_fields.push_back(raw);
      fields.push_back(f);
    }
    auto raw_schema = arrow::schema(raw_fields);
    ARROW_ASSIGN_OR_RAISE(info.schema,
                          ApplyTypeSettings(arrow::schema(fields), settings_));
    // Columns declared but absent from the first block: read with their own type when
    // Arrow's JSON converter handles it, else as text then cast.
    for (const auto& f : info.schema->fields()) {
      if (raw_schema->GetFieldIndex(f->name()) >= 0) continue;
      raw_fields.push_back(f->WithType(ReadableType(f->type())));
    }
    info.raw_schema = arrow::schema(raw_fields);
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    const auto& raw = scan.file->raw_schema;
    arrow::FieldVector wanted;
    for (const auto& name : scan.columns) {
      auto f = raw->GetFieldByName(name);
      if (f) wanted.push_back(f);
    }
    if (wanted.empty() && raw->num_fields() > 0) wanted.push_back(raw->field(0));
    auto parse = arrow::json::ParseOptions::Defaults();
    parse.explicit_schema = arrow::schema(wanted);
    parse.unexpected_field_behavior = arrow::json::UnexpectedFieldBehavior::Ignore;
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(scan.file->path, scan.stats));
    auto reader = arrow::json::StreamingReader::Make(input, ReadOptions(), parse);
    if (!reader.ok() && IsEmptyStream(reader.status())) {
      return arrow::RecordBatchReader::Make({}, parse.explicit_schema);
    }
    if (!reader.ok()) return WithPath(reader.status(), scan.file->path);
    return NameErrors(*reader, scan.file->path, scan.stats);
  }

 private:
  static bool IsEmptyStream(const Status& st) {
    return st.message().find("Empty JSON") != std::string::npos;
  }

  static std::shared_ptr<arrow::DataType> ReadableType(
      const std::shared_ptr<arrow::DataType>& t) {
    if (arrow::is_integer(t->id()) || arrow::is_floating(t->id()) ||
        t->id() == arrow::Type::BOOL || t->id() == arrow::Type::STRING ||
        t->id() == arrow::Type::STRUCT || t->id() == arrow::Type::LIST) {
      return t;
    }
    return arrow::utf8();
  }

  arrow::json::ReadOptions ReadOptions() const {
    auto o = arrow::json::ReadOptions::Defaults();
    o.use_threads = true;
    o.block_size = static_cast<int32_t>(settings_.block_size);
    return o;
  }

  // Opens `path` as NDJSON, converting a JSON array when the file holds one.
  Result<std::shared_ptr<arrow::io::InputStream>> OpenJson(
      const std::string& path, std::shared_ptr<ScanStats> stats) const {
    bool array = false;
    if (settings_.format == FileFormat::kJson) {
      ARROW_ASSIGN_OR_RAISE(auto sniff,
                            OpenInputStream(path, nullptr, settings_.compression));
      ARROW_ASSIGN_OR_RAISE(auto head, sniff->Read(4096));
      (void)sniff->Close();
      for (int64_t i = 0; i < head->size(); ++i) {
        char c = static_cast<char>(head->data()[i]);
        if (std::isspace(static_cast<unsigned char>(c))) continue;
        // Skips a UTF-8 byte order mark.
        if (static_cast<unsigned char>(c) == 0xEF && i + 2 < head->size()) {
          i += 2;
          continue;
        }
        array = c == '[';
        break;
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto input,
                          OpenInputStream(path, std::move(stats), settings_.compression));
    if (array) return MakeJsonArrayToNdjsonStream(std::move(input), path);
    return input;
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeJsonReader(const ReadSettings& settings) {
  return std::make_unique<JsonReader>(settings);
}

}  // namespace flowsql::file
