// JSON (arrays of objects) and NDJSON through arrow::json::StreamingReader. A JSON
// array is converted to NDJSON on the fly (json_array_stream.h). The schema comes from
// the first block; string columns whose values there all parse as dates or ISO 8601
// timestamps become date32 / timestamp[us] (cast after reading, since Arrow's JSON
// converter does not parse them).
#include <arrow/array.h>
#include <arrow/compute/cast.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <arrow/json/api.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/value_parsing.h>

#include <cctype>
#include <cstdlib>
#include <functional>

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

/// Keeps `out`'s columns of each batch, counts the rows, and rewrites errors with
/// `explain(error, rows delivered before it)`.
class ExplainingReader : public arrow::RecordBatchReader {
 public:
  using Explain = std::function<Status(const Status&, int64_t)>;
  ExplainingReader(std::shared_ptr<arrow::RecordBatchReader> inner,
                   std::shared_ptr<arrow::Schema> out, Explain explain)
      : inner_(std::move(inner)), out_(std::move(out)), explain_(std::move(explain)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }
  Status Close() override { return inner_->Close(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    Status st = inner_->ReadNext(batch);
    if (!st.ok()) return explain_(st, rows_);
    if (*batch == nullptr) return Status::OK();
    rows_ += (*batch)->num_rows();
    arrow::ArrayVector columns;
    for (const auto& f : out_->fields()) {
      auto column = (*batch)->GetColumnByName(f->name());
      if (column == nullptr)
        return Status::Invalid("JSON reader lost column ", f->name());
      columns.push_back(std::move(column));
    }
    *batch = arrow::RecordBatch::Make(out_, (*batch)->num_rows(), std::move(columns));
    return Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<arrow::Schema> out_;
  Explain explain_;
  int64_t rows_ = 0;
};

class JsonReader : public FormatReader {
 public:
  explicit JsonReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(path, nullptr));
    auto parse = arrow::json::ParseOptions::Defaults();
    auto made = arrow::json::StreamingReader::Make(input, InferOptions(), parse);
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
    if (!made.ok()) return WithPath(ExplainError(made.status(), path, 0), path);
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
      made = arrow::json::StreamingReader::Make(input, InferOptions(), parse);
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
    if (settings_.columns.empty()) {
      // An inferred schema: a key it lacks, seen later, is an error, never dropped.
      // Every column is read then, and the wanted ones kept.
      parse.explicit_schema = raw;
      parse.unexpected_field_behavior = arrow::json::UnexpectedFieldBehavior::Error;
    }
    ARROW_ASSIGN_OR_RAISE(auto input, OpenJson(scan.file->path, scan.stats));
    auto reader = arrow::json::StreamingReader::Make(input, ReadOptions(), parse);
    if (!reader.ok() && IsEmptyStream(reader.status())) {
      return arrow::RecordBatchReader::Make({}, arrow::schema(wanted));
    }
    if (!reader.ok()) {
      return WithPath(ExplainError(reader.status(), scan.file->path, 0), scan.file->path);
    }
    auto explained = std::make_shared<ExplainingReader>(
        *reader, arrow::schema(wanted),
        // A copy of this reader (its settings): the batches may outlive the source.
        [self = *this, path = scan.file->path, raw](const Status& st, int64_t rows) {
          return self.ExplainError(st, path, rows, raw.get());
        });
    return NameErrors(std::move(explained), scan.file->path, scan.stats);
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

  /// For inferring the schema: the first block, or with sample_size = -1 one block
  /// of up to 1 GB (the whole file, for any file that size).
  arrow::json::ReadOptions InferOptions() const {
    auto o = ReadOptions();
    if (settings_.sample_all) o.block_size = 1 << 30;
    return o;
  }

  /// Arrow's JSON errors made to say where and what to do: its "row N" is counted in
  /// the block after `rows` rows; a key the schema lacks is named; a record larger
  /// than a block names block_size.
  Status ExplainError(const Status& st, const std::string& path, int64_t rows,
                      const arrow::Schema* schema = nullptr) const {
    const std::string& message = st.message();
    if (message.find("straddles two block boundaries") != std::string::npos) {
      return Status::Invalid(path, ": a JSON record is larger than block_size (",
                             settings_.block_size, " bytes); set block_size = '",
                             std::max<int64_t>(settings_.block_size * 4, 16 << 20) >> 20,
                             "MB' or larger");
    }
    if (message.find("unexpected field") != std::string::npos && schema != nullptr) {
      auto [line, key] = FindUnknownKey(path, rows, *schema);
      return Status::Invalid(path, ": ", Where(path, line), "key '", key,
                             "' is not in the schema inferred from the first block; set "
                             "sample_size = -1 to infer from the whole file, or declare "
                             "the columns");
    }
    static const std::string kRow = " in row ";
    const size_t at = message.rfind(kRow);
    if (at != std::string::npos) {
      const int64_t row = std::strtoll(message.c_str() + at + kRow.size(), nullptr, 10);
      const int64_t line = LineOfRecord(path, rows + row);
      std::string hint;
      if (message.find("changed from") != std::string::npos) {
        hint =
            "; not supported yet: a JSON column whose values change kind (number, "
            "text, object, list)";
      }
      std::string where = Where(path, line);
      if (!where.empty()) where = " " + where.substr(0, where.size() - 2);
      return Status::Invalid(path, ": ", message.substr(0, at), where, hint);
    }
    return st;
  }

  /// "at line 12: " in an NDJSON file, "in record 12: " in a JSON array.
  std::string Where(const std::string& path, int64_t line) const {
    if (line <= 0) return "";
    const bool array = IsArray(path).ValueOr(false);
    return (array ? "in record " : "at line ") + std::to_string(line) + ": ";
  }

  /// Whether `path` holds a JSON array (format json, first non-space byte '[').
  Result<bool> IsArray(const std::string& path) const {
    if (settings_.format != FileFormat::kJson) return false;
    ARROW_ASSIGN_OR_RAISE(auto sniff, OpenInputStream(settings_, path, nullptr));
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
      return c == '[';
    }
    return false;
  }

  /// The line (1-based) of record `index` (0-based, blank lines not counted) of the
  /// file as NDJSON; 0 when not found.
  int64_t LineOfRecord(const std::string& path, int64_t index) const {
    int64_t line = 0;
    int64_t record = -1;
    ForEachLine(path, [&](std::string_view text) {
      ++line;
      if (text.find_first_not_of(" \t\r") == std::string_view::npos) return true;
      return ++record < index;
    });
    return record == index ? line : 0;
  }

  /// The first record from record `from` on with a key `schema` lacks: its line and
  /// the key.
  std::pair<int64_t, std::string> FindUnknownKey(const std::string& path, int64_t from,
                                                 const arrow::Schema& schema) const {
    int64_t line = 0, record = -1;
    std::pair<int64_t, std::string> found{0, "?"};
    ForEachLine(path, [&](std::string_view text) {
      ++line;
      if (text.find_first_not_of(" \t\r") == std::string_view::npos) return true;
      if (++record < from) return true;
      auto buffer =
          std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(text.data()),
                                          static_cast<int64_t>(text.size()));
      auto table = arrow::json::TableReader::Make(
          arrow::default_memory_pool(), std::make_shared<arrow::io::BufferReader>(buffer),
          arrow::json::ReadOptions::Defaults(), arrow::json::ParseOptions::Defaults());
      if (!table.ok()) return true;
      auto read = (*table)->Read();
      if (!read.ok()) return true;
      for (const auto& f : (*read)->schema()->fields()) {
        if (schema.GetFieldIndex(f->name()) < 0) {
          found = std::make_pair(line, f->name());
          return false;
        }
      }
      return true;
    });
    return found;
  }

  /// Calls `f` with each line of `path` as NDJSON (a JSON array converted) until it
  /// returns false.
  void ForEachLine(const std::string& path,
                   const std::function<bool(std::string_view)>& f) const {
    auto in = OpenJson(path, nullptr);
    if (in.ok()) file::ForEachLine(in->get(), f);
  }

  // Opens `path` as NDJSON, converting a JSON array when the file holds one.
  Result<std::shared_ptr<arrow::io::InputStream>> OpenJson(
      const std::string& path, std::shared_ptr<ScanStats> stats) const {
    ARROW_ASSIGN_OR_RAISE(bool array, IsArray(path));
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputStream(settings_, path, std::move(stats)));
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
