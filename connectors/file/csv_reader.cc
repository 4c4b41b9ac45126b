// CSV through arrow::csv::StreamingReader: blocks of settings.block_size bytes, parsed
// and converted on Arrow's CPU pool, read ahead on its I/O pool.
#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/csv/api.h>
#include <arrow/csv/parser.h>
#include <arrow/io/interfaces.h>
#include <arrow/type.h>
#include <arrow/util/utf8.h>
#include <arrow/util/value_parsing.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>

#include "connectors/file/format_reader.h"

namespace flowsql::file {

namespace {

/// Follows the quotes of what passes through it: whether one is open at the end,
/// and at which byte it opened. Quotes alone are looked at (memchr), unless an
/// escape character makes the bytes before each one matter.
class QuoteTrackingStream : public arrow::io::InputStream {
 public:
  QuoteTrackingStream(std::shared_ptr<arrow::io::InputStream> inner, char quote,
                      std::optional<char> escape)
      : inner_(std::move(inner)), quote_(quote), escape_(escape) {}

  Status Close() override { return inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  Result<int64_t> Tell() const override { return inner_->Tell(); }
  Result<int64_t> Read(int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(int64_t n, inner_->Read(nbytes, out));
    Follow(static_cast<const char*>(out), n);
    return n;
  }
  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, inner_->Read(nbytes));
    Follow(reinterpret_cast<const char*>(buf->data()), buf->size());
    return buf;
  }
  /// The offset (in the decompressed stream) of the quote still open, or -1.
  int64_t open_quote_offset() const { return in_quote_ ? open_offset_ : -1; }

 private:
  void Toggle(int64_t offset) {
    in_quote_ = !in_quote_;  // a doubled quote inside a value toggles twice
    if (in_quote_) open_offset_ = offset;
  }
  void Follow(const char* p, int64_t n) {
    if (!escape_) {
      for (const char* q = p;
           (q = static_cast<const char*>(std::memchr(q, quote_, p + n - q))) != nullptr;
           ++q) {
        Toggle(seen_ + (q - p));
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        if (escaped_) {
          escaped_ = false;
        } else if (in_quote_ && p[i] == *escape_) {
          escaped_ = true;
        } else if (p[i] == quote_) {
          Toggle(seen_ + i);
        }
      }
    }
    seen_ += n;
  }

  std::shared_ptr<arrow::io::InputStream> inner_;
  const char quote_;
  const std::optional<char> escape_;
  bool in_quote_ = false, escaped_ = false;
  int64_t seen_ = 0, open_offset_ = -1;
};

/// Text with each invalid UTF-8 sequence replaced by U+FFFD (`replace`) or dropped.
Result<std::shared_ptr<arrow::Array>> RepairUtf8(const arrow::Array& column,
                                                 bool replace) {
  const auto& bytes = static_cast<const arrow::BinaryArray&>(column);
  arrow::StringBuilder out;
  ARROW_RETURN_NOT_OK(out.Reserve(bytes.length()));
  std::string fixed;
  for (int64_t i = 0; i < bytes.length(); ++i) {
    if (bytes.IsNull(i)) {
      ARROW_RETURN_NOT_OK(out.AppendNull());
      continue;
    }
    std::string_view v = bytes.GetView(i);
    if (arrow::util::ValidateUTF8(v)) {
      ARROW_RETURN_NOT_OK(out.Append(v));
      continue;
    }
    fixed.clear();
    size_t at = 0;
    while (at < v.size()) {
      // The longest valid prefix of a sequence starting here (1 to 4 bytes).
      size_t n = 0;
      for (size_t len = 1; len <= 4 && at + len <= v.size(); ++len) {
        if (arrow::util::ValidateUTF8(v.substr(at, len))) {
          n = len;
          break;
        }
      }
      if (n == 0) {
        if (replace) fixed += "\xEF\xBF\xBD";
        ++at;
      } else {
        fixed.append(v.substr(at, n));
        at += n;
      }
    }
    ARROW_RETURN_NOT_OK(out.Append(fixed));
  }
  return out.Finish();
}

/// The number of the first line of `path` (decompressed) for which `match` holds;
/// 0 when none does.
int64_t FirstLine(const std::string& path, const ReadSettings& settings,
                  const std::function<bool(std::string_view)>& match) {
  auto in = OpenInputStream(settings, path, nullptr);
  if (!in.ok()) return 0;
  int64_t line = 0, found = 0;
  ForEachLine(in->get(), [&](std::string_view text) {
    ++line;
    if (match(text)) found = line;
    return found == 0;
  });
  return found;
}

/// Field `k` of a CSV line, its quotes removed (a plain split: enough to find it).
std::string_view Field(std::string_view line, size_t k, char delimiter) {
  for (size_t i = 0; i < k; ++i) {
    const size_t at = line.find(delimiter);
    if (at == std::string_view::npos) return {};
    line.remove_prefix(at + 1);
  }
  line = line.substr(0, line.find(delimiter));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() >= 2 && line.front() == '"' && line.back() == '"') {
    line = line.substr(1, line.size() - 2);
  }
  return line;
}

/// Arrow's conversion errors ("In CSV column #1: CSV conversion error to int64:
/// invalid value 'abc'", "... invalid UTF8 data") with the column's name, the line
/// and what to do; other errors as they are.
Status ExplainCsvError(const Status& st, const std::string& path,
                       const ReadSettings& settings, const arrow::Schema& file_schema) {
  const std::string& message = st.message();
  const size_t hash = message.find("column #");
  if (hash == std::string::npos) return st;
  const size_t k = std::strtoul(message.c_str() + hash + 8, nullptr, 10);
  const bool known = k < static_cast<size_t>(file_schema.num_fields());
  const std::string column = known ? file_schema.field(static_cast<int>(k))->name() : "?";
  if (message.find("invalid UTF8") != std::string::npos) {
    const int64_t line = FirstLine(path, settings, [](std::string_view text) {
      return !arrow::util::ValidateUTF8(text);
    });
    return Status::Invalid(
        path, ": invalid UTF-8 in column '", column, "' at line ", line,
        "; set invalid_utf8 = 'replace' (U+FFFD) or 'ignore' (drop the "
        "bad bytes) to read it anyway");
  }
  static const std::string kValue = "invalid value '";
  const size_t at = message.find(kValue);
  const size_t to = message.find("conversion error to ");
  if (at == std::string::npos || to == std::string::npos) return st;
  const std::string value =
      message.substr(at + kValue.size(), message.rfind('\'') - at - kValue.size());
  const std::string type =
      known ? ArrowTypeToSql(*file_schema.field(static_cast<int>(k))->type())
            : message.substr(to + 20, message.find(':', to) - to - 20);
  const int64_t line = FirstLine(path, settings, [&](std::string_view text) {
    return Field(text, k, settings.delimiter) == value;
  });
  return Status::Invalid(path, ": column '", column, "' is read as ", type,
                         " (as the sampled input showed, or types declared), but line ",
                         line, " holds '", value, "'; declare its type, e.g. types = {'",
                         column,
                         "': 'VARCHAR'}, or set sample_size = -1 to infer types from "
                         "all of the input");
}

/// Arrow's CSV batches made honest: a quote still open at the end of the file is an
/// error (Arrow's parser, meeting a quote that never closes, takes the rest of its
/// block as one value and loses those rows without a word); invalid UTF-8 is an
/// error naming column and line, or, with invalid_utf8 = replace|ignore, the
/// columns read as bytes are repaired into text.
class CheckedCsvReader : public arrow::RecordBatchReader {
 public:
  CheckedCsvReader(std::shared_ptr<arrow::RecordBatchReader> inner,
                   std::shared_ptr<QuoteTrackingStream> quotes, std::string path,
                   const ReadSettings& settings,
                   std::shared_ptr<arrow::Schema> file_schema,
                   std::vector<std::string> repaired, std::shared_ptr<arrow::Schema> out)
      : inner_(std::move(inner)),
        quotes_(std::move(quotes)),
        path_(std::move(path)),
        settings_(settings),
        file_schema_(std::move(file_schema)),
        repaired_(std::move(repaired)),
        out_(std::move(out)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }
  Status Close() override { return inner_->Close(); }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    Status st = inner_->ReadNext(batch);
    if (!st.ok()) return ExplainCsvError(st, path_, settings_, *file_schema_);
    if (*batch) return Repair(batch);
    if (quotes_ == nullptr || quotes_->open_quote_offset() < 0) return Status::OK();
    // The line of that byte: the file read again (the error path only).
    const int64_t offset = quotes_->open_quote_offset();
    int64_t start = 0;
    const int64_t line = FirstLine(path_, settings_, [&](std::string_view text) {
      start += static_cast<int64_t>(text.size()) + 1;
      return start > offset;
    });
    return Status::Invalid(path_, ": the quote (", settings_.quote, ") opened at line ",
                           line,
                           " is never closed, and the rows after it would be lost; fix "
                           "the file, or set quote = '' if it has no quoted values");
  }

 private:
  Status Repair(std::shared_ptr<arrow::RecordBatch>* batch) const {
    if (repaired_.empty()) return Status::OK();
    const bool replace = settings_.invalid_utf8 == InvalidUtf8::kReplace;
    arrow::ArrayVector columns = (*batch)->columns();
    for (int i = 0; i < (*batch)->num_columns(); ++i) {
      const std::string& name = (*batch)->schema()->field(i)->name();
      if (std::find(repaired_.begin(), repaired_.end(), name) == repaired_.end())
        continue;
      ARROW_ASSIGN_OR_RAISE(columns[i], RepairUtf8(*columns[i], replace));
    }
    *batch = arrow::RecordBatch::Make(out_, (*batch)->num_rows(), std::move(columns));
    return Status::OK();
  }

  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<QuoteTrackingStream> quotes_;
  std::string path_;
  const ReadSettings settings_;  // a copy: the reader may outlive its source
  std::shared_ptr<arrow::Schema> file_schema_;  // the file's columns, in file order
  std::vector<std::string> repaired_;           // read as bytes, repaired into text
  std::shared_ptr<arrow::Schema> out_;
};

class CsvReader : public FormatReader {
 public:
  explicit CsvReader(ReadSettings settings) : settings_(std::move(settings)) {}

  Result<FileInfo> Inspect(const std::string& path) override {
    FileInfo info;
    info.path = path;
    if (!settings_.columns.empty()) {
      ARROW_ASSIGN_OR_RAISE(info.schema, ApplyTypeSettings(arrow::schema({}), settings_));
      info.raw_schema = info.schema;
      return info;
    }
    auto read = ReadOptions();
    read.autogenerate_column_names = !settings_.header;
    // Types are inferred from the first block: sample_size = -1 makes it the file.
    if (settings_.sample_all) read.block_size = 1 << 30;
    auto convert = ConvertOptions();
    if (!settings_.auto_detect) convert.default_column_type = arrow::utf8();
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputStream(settings_, path, nullptr));
    auto reader = arrow::csv::StreamingReader::Make(arrow::io::default_io_context(),
                                                    input, read, ParseOptions(), convert);
    if (!reader.ok()) return WithPath(reader.status(), path);
    std::shared_ptr<arrow::Schema> inferred = (*reader)->schema();
    (void)(*reader)->Close();
    arrow::FieldVector fields;
    for (int i = 0; i < inferred->num_fields(); ++i) {
      auto f = inferred->field(i);
      if (!settings_.header) f = f->WithName("column" + std::to_string(i));
      // Invalid UTF-8 made Arrow guess BLOB: it is text with bad bytes, which reading
      // reports (or repairs, invalid_utf8).
      if (f->type()->id() == arrow::Type::BINARY) f = f->WithType(arrow::utf8());
      // Microseconds, like SQL engines, whatever precision the first block showed.
      if (f->type()->id() == arrow::Type::TIMESTAMP) {
        const auto& ts = static_cast<const arrow::TimestampType&>(*f->type());
        f = f->WithType(arrow::timestamp(arrow::TimeUnit::MICRO, ts.timezone()));
      }
      fields.push_back(f);
    }
    ARROW_ASSIGN_OR_RAISE(info.schema,
                          ApplyTypeSettings(arrow::schema(fields), settings_));
    info.raw_schema = info.schema;
    return info;
  }

  /// The header line alone, parsed by Arrow's parser (quotes, escapes, empty lines).
  Result<FileInfo> InspectNames(const std::string& path) override {
    // Lines to skip before the header are skipped by the reader itself.
    if (!settings_.columns.empty() || settings_.skip_rows > 0) return Inspect(path);
    ARROW_ASSIGN_OR_RAISE(auto input, OpenInputStream(settings_, path, nullptr));
    arrow::csv::BlockParser parser(ParseOptions(), /*num_cols=*/-1, /*first_row=*/0,
                                   /*max_num_rows=*/1);
    std::string data;
    for (bool eof = false; !eof && parser.num_rows() == 0;) {
      // A first line longer than a block: Arrow's reader says what is wrong with it.
      if (static_cast<int64_t>(data.size()) > settings_.block_size) return Inspect(path);
      auto chunk = input->Read(64 << 10);
      if (!chunk.ok()) return WithPath(chunk.status(), path);
      eof = (*chunk)->size() == 0;
      data.append(reinterpret_cast<const char*>((*chunk)->data()), (*chunk)->size());
      std::string_view text = data;
      if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 BOM
      uint32_t used = 0;
      Status st = eof ? parser.ParseFinal(text, &used) : parser.Parse(text, &used);
      if (!st.ok()) return WithPath(st, path);
    }
    // An empty file: as Inspect says it.
    if (parser.num_rows() == 0) return Inspect(path);
    arrow::FieldVector fields;
    RETURN_NOT_OK(
        parser.VisitLastRow([&](const uint8_t* value, uint32_t size, bool, bool) {
          fields.push_back(arrow::field(
              settings_.header ? std::string(reinterpret_cast<const char*>(value), size)
                               : "column" + std::to_string(fields.size()),
              arrow::null()));
          return Status::OK();
        }));
    FileInfo info;
    info.path = path;
    info.schema = info.raw_schema = arrow::schema(std::move(fields));
    info.typed = false;
    return info;
  }

  Result<std::shared_ptr<arrow::RecordBatchReader>> Open(const FileScan& scan) override {
    const auto& file_schema = scan.file->schema;
    auto read = ReadOptions();
    read.column_names = file_schema->field_names();
    read.autogenerate_column_names = false;
    read.skip_rows =
        static_cast<int32_t>(settings_.skip_rows + (settings_.header ? 1 : 0));
    auto convert = ConvertOptions();
    std::vector<std::string> repaired;
    for (const auto& name : scan.columns) {
      if (file_schema->GetFieldIndex(name) < 0) continue;
      convert.include_columns.push_back(name);
      auto target = scan.schema->GetFieldByName(name);
      if (!target) continue;
      convert.column_types[name] = target->type();
      if (settings_.invalid_utf8 != InvalidUtf8::kError &&
          target->type()->id() == arrow::Type::STRING) {
        convert.column_types[name] = arrow::binary();  // repaired after reading
        repaired.push_back(name);
      }
    }
    if (convert.include_columns.empty() && file_schema->num_fields() > 0) {
      // Only row counts are wanted: read the cheapest column.
      convert.include_columns.push_back(file_schema->field(0)->name());
      convert.column_types[file_schema->field(0)->name()] = arrow::utf8();
    }
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::io::InputStream> input,
                          OpenInputStream(settings_, scan.file->path, scan.stats));
    std::shared_ptr<QuoteTrackingStream> quotes;
    if (settings_.quote != '\0') {
      quotes =
          std::make_shared<QuoteTrackingStream>(input, settings_.quote, settings_.escape);
      input = quotes;
    }
    auto reader = arrow::csv::StreamingReader::Make(arrow::io::default_io_context(),
                                                    input, read, ParseOptions(), convert);
    if (!reader.ok()) {
      return WithPath(
          ExplainCsvError(reader.status(), scan.file->path, settings_, *file_schema),
          scan.file->path);
    }
    // What the batches hold once repaired: text where bytes were read.
    arrow::FieldVector fields = (*reader)->schema()->fields();
    for (auto& f : fields) {
      if (std::find(repaired.begin(), repaired.end(), f->name()) != repaired.end()) {
        f = f->WithType(arrow::utf8());
      }
    }
    auto out = std::make_shared<CheckedCsvReader>(
        *reader, std::move(quotes), scan.file->path, settings_, file_schema,
        std::move(repaired), arrow::schema(fields));
    return NameErrors(std::move(out), scan.file->path, scan.stats);
  }

 private:
  arrow::csv::ReadOptions ReadOptions() const {
    auto o = arrow::csv::ReadOptions::Defaults();
    o.use_threads = true;
    o.block_size = static_cast<int32_t>(settings_.block_size);
    o.skip_rows = static_cast<int32_t>(settings_.skip_rows);
    return o;
  }

  arrow::csv::ParseOptions ParseOptions() const {
    auto o = arrow::csv::ParseOptions::Defaults();
    o.delimiter = settings_.delimiter;
    o.quote_char = settings_.quote;
    o.quoting = settings_.quote != '\0';
    if (settings_.escape) {
      o.escaping = true;
      o.escape_char = *settings_.escape;
    }
    o.newlines_in_values = settings_.newlines_in_values;
    return o;
  }

  arrow::csv::ConvertOptions ConvertOptions() const {
    auto o = arrow::csv::ConvertOptions::Defaults();
    // Like DuckDB: an empty field is NULL in every column, and no other text means
    // NULL unless asked for.
    o.null_values = {settings_.null_string ? *settings_.null_string : ""};
    o.strings_can_be_null = true;
    o.quoted_strings_can_be_null = settings_.allow_quoted_nulls;
    if (!settings_.timestamp_format.empty()) {
      o.timestamp_parsers = {
          arrow::TimestampParser::MakeStrptime(settings_.timestamp_format),
          arrow::TimestampParser::MakeISO8601()};
    }
    return o;
  }

  ReadSettings settings_;
};

}  // namespace

std::unique_ptr<FormatReader> MakeCsvReader(const ReadSettings& settings) {
  return std::make_unique<CsvReader>(settings);
}

}  // namespace flowsql::file
