#include "cli/format.h"

#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <arrow/scalar.h>
#include <arrow/type.h>
#include <arrow/util/checked_cast.h>
#include <arrow/util/float16.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <sstream>

#include "common/sql_types.h"
#include "common/temporal.h"
#include "common/text.h"
#include "common/value_text.h"

namespace flowsql::cli {

using arrow::internal::checked_cast;

Result<OutputFormat> ParseOutputFormat(const std::string& name) {
  std::string n = AsciiLower(name);
  if (n == "table" || n == "box") return OutputFormat::kTable;
  if (n == "csv") return OutputFormat::kCsv;
  if (n == "json") return OutputFormat::kJson;
  if (n == "ndjson" || n == "jsonl" || n == "jsonlines") return OutputFormat::kNdjson;
  if (n == "arrow") return OutputFormat::kArrow;
  return Status::Invalid("unknown output format '", name,
                         "' (expected table, csv, json, ndjson or arrow)");
}

const char* OutputFormatName(OutputFormat format) {
  switch (format) {
    case OutputFormat::kTable:
      return "table";
    case OutputFormat::kCsv:
      return "csv";
    case OutputFormat::kJson:
      return "json";
    case OutputFormat::kNdjson:
      return "ndjson";
    case OutputFormat::kArrow:
      return "arrow";
  }
  return "?";
}

// --- values -------------------------------------------------------------------

namespace {

void AppendJsonObjectKey(std::string_view key, std::string* out) {
  AppendJsonString(key, out);
  out->push_back(':');
}

template <typename T>
void AppendJsonFloat(T v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr - buf);
}

void AppendJsonList(const arrow::Array& values, int64_t start, int64_t end,
                    std::string* out) {
  out->push_back('[');
  for (int64_t j = start; j < end; ++j) {
    if (j > start) out->push_back(',');
    AppendJson(values, j, out);
  }
  out->push_back(']');
}

}  // namespace

void AppendText(const arrow::Array& array, int64_t i, std::string* out,
                const std::string& null_text) {
  AppendValueText(array, i, out, null_text);
}

std::string FormatText(const arrow::Array& array, int64_t i,
                       const std::string& null_text) {
  std::string out;
  AppendValueText(array, i, &out, null_text);
  return out;
}

void AppendJson(const arrow::Array& array, int64_t i, std::string* out) {
  if (array.IsNull(i)) {
    out->append("null");
    return;
  }
  using arrow::Type;
  switch (array.type_id()) {
    case Type::NA:
      out->append("null");
      return;
    case Type::BOOL:
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      AppendValueText(array, i, out, "null");
      return;
    case Type::HALF_FLOAT: {
      auto bits = checked_cast<const arrow::HalfFloatArray&>(array).Value(i);
      AppendJsonFloat(arrow::util::Float16::FromBits(bits).ToFloat(), out);
      return;
    }
    case Type::FLOAT:
      AppendJsonFloat(checked_cast<const arrow::FloatArray&>(array).Value(i), out);
      return;
    case Type::DOUBLE:
      AppendJsonFloat(checked_cast<const arrow::DoubleArray&>(array).Value(i), out);
      return;
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::LIST_VIEW:
    case Type::FIXED_SIZE_LIST: {
      ListRow row = ListRowOf(array, i);
      AppendJsonList(*row.values, row.start, row.end, out);
      return;
    }
    case Type::STRUCT: {
      const auto& st = checked_cast<const arrow::StructArray&>(array);
      const auto& type = checked_cast<const arrow::StructType&>(*array.type());
      out->push_back('{');
      for (int f = 0; f < type.num_fields(); ++f) {
        if (f > 0) out->push_back(',');
        AppendJsonObjectKey(type.field(f)->name(), out);
        AppendJson(*st.field(f), i, out);
      }
      out->push_back('}');
      return;
    }
    case Type::MAP: {
      const auto& map = checked_cast<const arrow::MapArray&>(array);
      const int64_t start = map.value_offset(i), end = map.value_offset(i + 1);
      if (IsStringType(*map.keys()->type())) {
        out->push_back('{');
        for (int64_t j = start; j < end; ++j) {
          if (j > start) out->push_back(',');
          AppendJsonObjectKey(FormatText(*map.keys(), j), out);
          AppendJson(*map.items(), j, out);
        }
        out->push_back('}');
      } else {
        out->push_back('[');
        for (int64_t j = start; j < end; ++j) {
          if (j > start) out->push_back(',');
          out->append("{\"key\":");
          AppendJson(*map.keys(), j, out);
          out->append(",\"value\":");
          AppendJson(*map.items(), j, out);
          out->push_back('}');
        }
        out->push_back(']');
      }
      return;
    }
    case Type::DICTIONARY: {
      const auto& dict = checked_cast<const arrow::DictionaryArray&>(array);
      AppendJson(*dict.dictionary(), dict.GetValueIndex(i), out);
      return;
    }
    case Type::EXTENSION: {
      const auto& ext = checked_cast<const arrow::ExtensionArray&>(array);
      AppendJson(*ext.storage(), i, out);
      return;
    }
    default: {
      std::string text;
      AppendValueText(array, i, &text, "");
      AppendJsonString(text, out);
      return;
    }
  }
}

std::string ShortTypeName(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::NA:
      return "null";
    case Type::BOOL:
      return "boolean";
    case Type::HALF_FLOAT:
      return "float16";
    case Type::FLOAT:
      return "float";
    case Type::DOUBLE:
      return "double";
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
      return "varchar";
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY:
      return "blob";
    case Type::DATE32:
    case Type::DATE64:
      return "date";
    case Type::TIME32:
    case Type::TIME64:
      return "time";
    case Type::TIMESTAMP:
      return checked_cast<const arrow::TimestampType&>(type).timezone().empty()
                 ? "timestamp"
                 : "timestamptz";
    case Type::DURATION:
    case Type::INTERVAL_MONTHS:
    case Type::INTERVAL_DAY_TIME:
    case Type::INTERVAL_MONTH_DAY_NANO:
      return "interval";
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: {
      const auto& d = checked_cast<const arrow::DecimalType&>(type);
      return "decimal(" + std::to_string(d.precision()) + "," +
             std::to_string(d.scale()) + ")";
    }
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW:
    case Type::FIXED_SIZE_LIST:
      return ShortTypeName(*type.field(0)->type()) + "[]";
    case Type::STRUCT: {
      std::string s = "struct(";
      for (int f = 0; f < type.num_fields(); ++f) {
        if (f > 0) s += ", ";
        s += type.field(f)->name() + " " + ShortTypeName(*type.field(f)->type());
      }
      return s + ")";
    }
    case Type::MAP: {
      const auto& m = checked_cast<const arrow::MapType&>(type);
      return "map(" + ShortTypeName(*m.key_type()) + ", " +
             ShortTypeName(*m.item_type()) + ")";
    }
    case Type::DICTIONARY:
      return ShortTypeName(
          *checked_cast<const arrow::DictionaryType&>(type).value_type());
    default:
      return type.ToString();
  }
}

namespace {

/// Terminal columns of one code point: 2 for East Asian wide and fullwidth forms
/// and emoji, 0 for combining marks, 1 otherwise (what wcwidth() says in a UTF-8
/// locale, without depending on the process's locale).
int CodepointWidth(uint32_t cp) {
  if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
      (cp >= 0xFE00 && cp <= 0xFE0F)) {
    return 0;
  }
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
      (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

/// The code point starting at s[*i], advancing *i past it. Invalid bytes count
/// as one code point each.
uint32_t NextCodepoint(std::string_view s, size_t* i) {
  const unsigned char c = s[*i];
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
  size_t j = *i + 1;
  for (; extra > 0 && j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80;
       --extra, ++j) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[j]) & 0x3F);
  }
  *i = j;
  return cp;
}

}  // namespace

int64_t DisplayWidth(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size();) n += CodepointWidth(NextCodepoint(s, &i));
  return n;
}

// --- table ----------------------------------------------------------------------

namespace {

// Cuts `s` to at most `width` display columns, ending with "…" when cut.
std::string Truncate(const std::string& s, int64_t width) {
  if (DisplayWidth(s) <= width) return s;
  if (width <= 0) return "";
  std::string out;
  int64_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t next = i;
    const int w = CodepointWidth(NextCodepoint(s, &next));
    if (n + w > width - 1) break;  // room for the "…"
    n += w;
    out.append(s, i, next - i);
    i = next;
  }
  return out + "…";
}

// Makes a cell printable on one line: control characters become escapes.
std::string CleanCell(const std::string& s) {
  bool clean = true;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      clean = false;
      break;
    }
  }
  if (clean) return s;
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string Repeat(const std::string& s, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string Pad(const std::string& s, int64_t width, char align) {
  const int64_t w = DisplayWidth(s);
  if (w >= width) return s;
  const int64_t space = width - w;
  if (align == 'r') return std::string(space, ' ') + s;
  if (align == 'c') {
    return std::string(space / 2, ' ') + s + std::string(space - space / 2, ' ');
  }
  return s + std::string(space, ' ');
}

bool IsNumeric(const arrow::DataType& type) {
  return arrow::is_integer(type.id()) || arrow::is_floating(type.id()) ||
         arrow::is_decimal(type.id());
}

}  // namespace

std::string RenderTable(const TableLayout& layout, int64_t max_width,
                        int64_t max_cell_width) {
  const int64_t ncols = static_cast<int64_t>(layout.names.size());
  const bool truncated = layout.total_rows > static_cast<int64_t>(layout.rows.size());
  // Natural width of each column.
  std::vector<int64_t> width(ncols, 1);
  for (int64_t c = 0; c < ncols; ++c) {
    width[c] = std::max<int64_t>(width[c], DisplayWidth(layout.names[c]));
    if (c < static_cast<int64_t>(layout.types.size())) {
      width[c] = std::max<int64_t>(width[c], DisplayWidth(layout.types[c]));
    }
    for (const auto& row : layout.rows) {
      width[c] = std::max<int64_t>(width[c], DisplayWidth(row[c]));
    }
    width[c] = std::min(width[c], std::max<int64_t>(max_cell_width, 1));
  }
  // Columns shown: all when they fit, else as many from both ends as fit around a
  // "…" column. A column costs its width + 3 ("│ x "), plus one for the final "│".
  std::vector<int64_t> shown;  // column indices; -1 is the "…" column
  int64_t total = 1;
  for (int64_t c = 0; c < ncols; ++c) total += width[c] + 3;
  if (total <= max_width || ncols <= 1) {
    for (int64_t c = 0; c < ncols; ++c) shown.push_back(c);
  } else {
    std::vector<int64_t> left, right;
    int64_t used = 1 + 4;  // border + "…" column
    int64_t l = 0, r = ncols - 1;
    bool take_left = true;
    while (l <= r) {
      int64_t c = take_left ? l : r;
      if (used + width[c] + 3 > max_width) break;
      used += width[c] + 3;
      if (take_left) {
        left.push_back(l++);
      } else {
        right.push_back(r--);
      }
      take_left = !take_left;
    }
    if (left.empty()) {
      // Not even one column fits: show the first one, narrowed.
      left.push_back(0);
      width[0] = std::max<int64_t>(1, max_width - 1 - 4 - 3);
    }
    shown = left;
    shown.push_back(-1);
    shown.insert(shown.end(), right.rbegin(), right.rend());
  }

  auto col_width = [&](int64_t c) { return c < 0 ? int64_t{1} : width[c]; };
  auto border = [&](const char* left, const char* mid, const char* right) {
    std::string line = left;
    for (size_t k = 0; k < shown.size(); ++k) {
      if (k > 0) line += mid;
      line += Repeat("─", col_width(shown[k]) + 2);
    }
    return line + right + "\n";
  };
  auto row_line = [&](auto cell, char default_align) {
    std::string line = "│";
    for (int64_t c : shown) {
      std::string text;
      char align = default_align;
      if (c < 0) {
        text = "…";
        align = 'c';
      } else {
        text = Truncate(cell(c), width[c]);
        if (default_align == 'x') {
          align =
              c < static_cast<int64_t>(layout.right_align.size()) && layout.right_align[c]
                  ? 'r'
                  : 'l';
        }
      }
      line += " " + Pad(text, col_width(c), align) + " │";
    }
    return line + "\n";
  };

  std::string out = border("┌", "┬", "┐");
  out += row_line([&](int64_t c) { return layout.names[c]; }, 'c');
  if (!layout.types.empty()) {
    out += row_line([&](int64_t c) { return layout.types[c]; }, 'c');
  }
  out += border("├", "┼", "┤");
  for (size_t r = 0; r < layout.rows.size(); ++r) {
    if (truncated && static_cast<int64_t>(r) == layout.head) {
      out += row_line([&](int64_t) { return std::string("…"); }, 'c');
    }
    out += row_line([&](int64_t c) { return layout.rows[r][c]; }, 'x');
  }
  if (truncated && layout.head >= static_cast<int64_t>(layout.rows.size())) {
    out += row_line([&](int64_t) { return std::string("…"); }, 'c');
  }
  out += border("└", "┴", "┘");
  out += WithThousands(layout.total_rows);
  out += layout.total_rows == 1 ? " row" : " rows";
  if (truncated) out += " (" + WithThousands(layout.rows.size()) + " shown)";
  int64_t visible = 0;
  for (int64_t c : shown) visible += c >= 0;
  if (visible < ncols) {
    out +=
        "  " + std::to_string(ncols) + " columns (" + std::to_string(visible) + " shown)";
  }
  out += "\n";
  return out;
}

// --- writers ----------------------------------------------------------------------

namespace {

Status WriteAll(FILE* out, const std::string& text) {
  if (text.empty()) return Status::OK();
  if (fwrite(text.data(), 1, text.size(), out) != text.size()) {
    return Status::IOError("cannot write output: ", strerror(errno));
  }
  return Status::OK();
}

Status Flush(FILE* out) {
  if (fflush(out) != 0) return Status::IOError("cannot write output: ", strerror(errno));
  return Status::OK();
}

class CsvWriter : public ResultWriter {
 public:
  explicit CsvWriter(FILE* out) : out_(out) {}

  Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    std::string line;
    for (int c = 0; c < schema->num_fields(); ++c) {
      if (c > 0) line.push_back(',');
      AppendField(schema->field(c)->name(), &line);
    }
    line.push_back('\n');
    return WriteAll(out_, line);
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    std::string text, cell;
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      for (int c = 0; c < batch->num_columns(); ++c) {
        if (c > 0) text.push_back(',');
        const arrow::Array& column = *batch->column(c);
        if (column.IsNull(r)) continue;  // NULL: an empty field
        cell.clear();
        AppendText(column, r, &cell, "");
        AppendField(cell, &text);
      }
      text.push_back('\n');
    }
    ARROW_RETURN_NOT_OK(WriteAll(out_, text));
    return Flush(out_);
  }

  Status End() override { return Flush(out_); }

 private:
  // RFC 4180: quote fields holding a comma, quote, CR or LF; the empty string is
  // quoted ("") so that it differs from NULL.
  static void AppendField(const std::string& v, std::string* out) {
    if (!v.empty() && v.find_first_of(",\"\r\n") == std::string::npos) {
      out->append(v);
      return;
    }
    out->push_back('"');
    for (char c : v) {
      if (c == '"') out->push_back('"');
      out->push_back(c);
    }
    out->push_back('"');
  }

  FILE* out_;
};

class JsonWriter : public ResultWriter {
 public:
  JsonWriter(FILE* out, bool lines) : out_(out), lines_(lines) {}

  Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    keys_.clear();
    for (const auto& field : schema->fields()) {
      std::string key;
      AppendJsonString(field->name(), &key);
      key.push_back(':');
      keys_.push_back(std::move(key));
    }
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    std::string text;
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      if (!lines_) text += rows_ == 0 ? "[" : ",\n";
      text.push_back('{');
      for (int c = 0; c < batch->num_columns(); ++c) {
        if (c > 0) text.push_back(',');
        text += keys_[c];
        AppendJson(*batch->column(c), r, &text);
      }
      text.push_back('}');
      if (lines_) text.push_back('\n');
      ++rows_;
    }
    ARROW_RETURN_NOT_OK(WriteAll(out_, text));
    return Flush(out_);
  }

  Status End() override {
    if (!lines_) ARROW_RETURN_NOT_OK(WriteAll(out_, rows_ == 0 ? "[]\n" : "]\n"));
    return Flush(out_);
  }

 private:
  FILE* out_;
  bool lines_;
  std::vector<std::string> keys_;
  int64_t rows_ = 0;
};

// An arrow::io::OutputStream over a stdio stream (stdout may be a pipe, where
// arrow::io::FileOutputStream fails to seek).
class StdioOutputStream : public arrow::io::OutputStream {
 public:
  explicit StdioOutputStream(FILE* out) : out_(out) {}

  Status Close() override {
    closed_ = true;
    return Flush();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override { return position_; }
  Status Write(const void* data, int64_t nbytes) override {
    if (nbytes > 0 && fwrite(data, 1, static_cast<size_t>(nbytes), out_) !=
                          static_cast<size_t>(nbytes)) {
      return Status::IOError("cannot write output: ", strerror(errno));
    }
    position_ += nbytes;
    return Status::OK();
  }
  using arrow::io::OutputStream::Write;
  Status Flush() override { return cli::Flush(out_); }

 private:
  FILE* out_;
  int64_t position_ = 0;
  bool closed_ = false;
};

class ArrowWriter : public ResultWriter {
 public:
  explicit ArrowWriter(FILE* out) : out_(out) {}

  Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    stream_ = std::make_shared<StdioOutputStream>(out_);
    ARROW_ASSIGN_OR_RAISE(writer_, arrow::ipc::MakeStreamWriter(stream_, schema));
    return stream_->Flush();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    ARROW_RETURN_NOT_OK(writer_->WriteRecordBatch(*batch));
    return stream_->Flush();
  }

  Status End() override {
    ARROW_RETURN_NOT_OK(writer_->Close());
    writer_.reset();
    return stream_->Close();
  }

 private:
  FILE* out_;
  std::shared_ptr<StdioOutputStream> stream_;
  std::shared_ptr<arrow::ipc::RecordBatchWriter> writer_;
};

class TableWriter : public ResultWriter {
 public:
  TableWriter(const WriterOptions& options, FILE* out) : options_(options), out_(out) {}

  bool streaming() const override { return false; }

  Status Begin(const std::shared_ptr<arrow::Schema>& schema) override {
    schema_ = schema;
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (options_.kind == "explain") return WriteRaw(*batch);
    // Only rows that may be shown are rendered: the first head_rows and a
    // sliding window of the last tail_rows.
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      const bool to_head = static_cast<int64_t>(head_.size()) < options_.head_rows;
      const int64_t remaining = batch->num_rows() - r;
      if (!to_head && remaining > options_.tail_rows) {
        // This row will be pushed out of the tail by later rows of this batch.
        ++total_;
        ++dropped_;
        continue;
      }
      std::vector<std::string> row;
      row.reserve(batch->num_columns());
      for (int c = 0; c < batch->num_columns(); ++c) {
        std::string cell = FormatText(*batch->column(c), r);
        if (DisplayWidth(cell) > options_.max_cell_width + 1) {
          // Cut long values early: only max_cell_width columns can be shown.
          cell = Truncate(cell, options_.max_cell_width + 1);
        }
        row.push_back(CleanCell(cell));
      }
      ++total_;
      if (to_head) {
        head_.push_back(std::move(row));
      } else {
        tail_.push_back(std::move(row));
        if (static_cast<int64_t>(tail_.size()) > options_.tail_rows) {
          tail_.pop_front();
          ++dropped_;
        }
      }
    }
    return Status::OK();
  }

  Status End() override {
    if (options_.kind == "explain") return Flush(out_);
    TableLayout layout;
    for (const auto& field : schema_->fields()) {
      layout.names.push_back(CleanCell(field->name()));
      layout.types.push_back(ShortTypeName(*field->type()));
      layout.right_align.push_back(IsNumeric(*field->type()));
    }
    layout.head = static_cast<int64_t>(head_.size());
    layout.rows = std::move(head_);
    for (auto& row : tail_) layout.rows.push_back(std::move(row));
    layout.total_rows = total_;
    if (dropped_ == 0) layout.total_rows = static_cast<int64_t>(layout.rows.size());
    ARROW_RETURN_NOT_OK(
        WriteAll(out_, RenderTable(layout, options_.max_width, options_.max_cell_width)));
    return Flush(out_);
  }

 private:
  // EXPLAIN: the plan text, line by line, outside any box.
  Status WriteRaw(const arrow::RecordBatch& batch) {
    std::string text;
    for (int64_t r = 0; r < batch.num_rows(); ++r) {
      for (int c = 0; c < batch.num_columns(); ++c) {
        if (batch.column(c)->IsNull(r)) continue;
        AppendText(*batch.column(c), r, &text);
        if (text.empty() || text.back() != '\n') text.push_back('\n');
      }
    }
    return WriteAll(out_, text);
  }

  WriterOptions options_;
  FILE* out_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::vector<std::string>> head_;
  std::deque<std::vector<std::string>> tail_;
  int64_t total_ = 0;
  int64_t dropped_ = 0;
};

}  // namespace

std::unique_ptr<ResultWriter> MakeResultWriter(const WriterOptions& options, FILE* out) {
  switch (options.format) {
    case OutputFormat::kCsv:
      return std::make_unique<CsvWriter>(out);
    case OutputFormat::kJson:
      return std::make_unique<JsonWriter>(out, false);
    case OutputFormat::kNdjson:
      return std::make_unique<JsonWriter>(out, true);
    case OutputFormat::kArrow:
      return std::make_unique<ArrowWriter>(out);
    case OutputFormat::kTable:
      break;
  }
  return std::make_unique<TableWriter>(options, out);
}

// --- connectors -------------------------------------------------------------------

namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep);

// The option's doc, with the choices of an enum.
std::string DocText(const OptionSpec& spec, bool markdown) {
  std::string doc = spec.doc;
  if (spec.type == OptionType::kEnum && !spec.choices.empty()) {
    std::vector<std::string> choices;
    for (const auto& c : spec.choices) choices.push_back(markdown ? "`" + c + "`" : c);
    if (!doc.empty() && doc.back() != '.') doc += ".";
    if (!doc.empty()) doc += " ";
    doc += "One of: " + Join(choices, ", ") + ".";
  }
  return doc;
}

// Splits `text` at spaces into lines of at most `width` columns (longer words
// stand alone).
std::vector<std::string> Wrap(const std::string& text, int64_t width) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    if (!line.empty() && DisplayWidth(line) + 1 + DisplayWidth(word) > width) {
      lines.push_back(line);
      line.clear();
    }
    if (!line.empty()) line += " ";
    line += word;
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

// "  label:      text" with `text` wrapped under itself.
std::string LabeledText(const std::string& label, const std::string& text,
                        int64_t max_width) {
  const std::string head = "  " + label + std::string(12 - label.size() - 1, ' ');
  const std::string indent(DisplayWidth(head), ' ');
  std::string out;
  const auto lines = Wrap(text, std::max<int64_t>(max_width - DisplayWidth(head), 30));
  for (size_t i = 0; i < lines.size(); ++i)
    out += (i == 0 ? head : indent) + lines[i] + "\n";
  return out;
}

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

std::string SchemesText(const ConnectorSpec& spec, bool markdown) {
  std::vector<std::string> items;
  for (const auto& s : spec.schemes) {
    if (s.empty()) {
      items.push_back("bare paths");
    } else {
      items.push_back(markdown ? "`" + s + "://`" : s + "://");
    }
  }
  return Join(items, ", ");
}

std::vector<std::string> FunctionsText(const ConnectorSpec& spec, bool markdown) {
  std::vector<std::string> items;
  for (const auto& [name, presets] : spec.functions) {
    std::string f = name + "(" + Join(spec.positional_names, ", ") + ")";
    if (markdown) f = "`" + f + "`";
    if (!presets.empty()) {
      std::vector<std::string> p;
      for (const auto& [k, v] : presets) p.push_back(k + " = '" + v + "'");
      f += " — " + Join(p, ", ");
    }
    items.push_back(f);
  }
  return items;
}

std::string MarkdownCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += " ";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Code(const std::string& s) { return s.empty() ? "" : "`" + s + "`"; }

void AppendOptionsMarkdown(const std::string& title, const std::vector<OptionSpec>& specs,
                           std::string* out) {
  *out += "### " + title + "\n\n";
  if (specs.empty()) {
    *out += "None.\n\n";
    return;
  }
  *out += "| option | type | default | aliases | description |\n";
  *out += "| --- | --- | --- | --- | --- |\n";
  for (const auto& spec : specs) {
    std::vector<std::string> aliases;
    for (const auto& a : spec.aliases) aliases.push_back(Code(a));
    *out += "| " + Code(spec.name) + " | " + OptionTypeName(spec.type) + " | " +
            MarkdownCell(Code(spec.default_value)) + " | " + Join(aliases, ", ") + " | " +
            MarkdownCell(DocText(spec, true)) + " |\n";
  }
  *out += "\n";
}

void AppendOptionsText(const std::string& title, const std::vector<OptionSpec>& specs,
                       int64_t max_width, std::string* out) {
  *out += "  " + title + ":";
  if (specs.empty()) {
    *out += " none\n";
    return;
  }
  *out += "\n";
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"name", "type", "default", "aliases", "description"});
  for (const auto& spec : specs) {
    rows.push_back({spec.name, OptionTypeName(spec.type),
                    spec.default_value.empty() ? "-" : spec.default_value,
                    spec.aliases.empty() ? "-" : Join(spec.aliases, ", "),
                    DocText(spec, false)});
  }
  std::array<int64_t, 4> width{};
  for (const auto& row : rows) {
    for (int c = 0; c < 4; ++c) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  int64_t doc_column = 4;
  for (int c = 0; c < 4; ++c) doc_column += width[c] + 2;
  // Descriptions wrap in their column, or under the row when the column is too narrow.
  const bool beside = max_width - doc_column >= 30;
  const int64_t doc_width = beside ? max_width - doc_column : max_width - 8;
  for (const auto& row : rows) {
    std::string line = "    ";
    for (int c = 0; c < 4; ++c) line += Pad(row[c], width[c], 'l') + "  ";
    const auto doc = Wrap(row[4], doc_width);
    if (beside) {
      line += doc[0];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    *out += line + "\n";
    for (size_t i = beside ? 1 : 0; i < doc.size(); ++i) {
      if (doc[i].empty()) continue;
      *out += std::string(beside ? doc_column : 8, ' ') + doc[i] + "\n";
    }
  }
}

}  // namespace

std::string FormatConnectors(const Registry& registry, bool markdown, int64_t max_width) {
  std::string out;
  if (markdown) {
    out += "# Connectors\n\n";
    out += "Generated by `flowsql connectors --markdown`; do not edit by hand.\n\n";
    for (const auto& spec : registry.connectors()) {
      out += "## " + spec.name + "\n\n";
      if (!spec.doc.empty()) out += spec.doc + "\n\n";
      if (!spec.schemes.empty()) out += "- URIs: " + SchemesText(spec, true) + "\n";
      auto functions = FunctionsText(spec, true);
      if (!functions.empty()) {
        out += "- Table functions: " + Join(functions, "; ") + "\n";
      }
      out += std::string("- Reads: ") + (spec.make_source ? "yes" : "no") +
             ", writes: " + (spec.make_sink ? "yes" : "no") + "\n\n";
      if (spec.make_source || !spec.source_options.empty()) {
        AppendOptionsMarkdown("Source options (`FROM ... WITH (...)`)",
                              spec.source_options, &out);
      }
      if (spec.make_sink || !spec.sink_options.empty()) {
        AppendOptionsMarkdown("Sink options (`INTO ... WITH (...)`)", spec.sink_options,
                              &out);
      }
    }
    return out;
  }
  bool first = true;
  for (const auto& spec : registry.connectors()) {
    if (!first) out += "\n";
    first = false;
    for (const auto& line : Wrap(spec.name + (spec.doc.empty() ? "" : " — " + spec.doc),
                                 std::max<int64_t>(max_width, 40))) {
      out += line + "\n";
    }
    if (!spec.schemes.empty())
      out += LabeledText("uris:", SchemesText(spec, false), max_width);
    auto functions = FunctionsText(spec, false);
    if (!functions.empty()) {
      out += LabeledText("functions:", Join(functions, "; "), max_width);
    }
    if (spec.make_source || !spec.source_options.empty()) {
      AppendOptionsText("source options", spec.source_options, max_width, &out);
    }
    if (spec.make_sink || !spec.sink_options.empty()) {
      AppendOptionsText("sink options", spec.sink_options, max_width, &out);
    }
  }
  return out;
}

// --- progress ---------------------------------------------------------------------

std::string WithThousands(int64_t n) {
  const uint64_t u = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  std::string digits = std::to_string(u);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  if (n < 0) out.push_back('-');
  std::reverse(out.begin(), out.end());
  return out;
}

void ProgressLine::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  active_ = enabled_;
  drawn_ = false;
  start_ = std::chrono::steady_clock::now();
  last_draw_ = start_;
}

void ProgressLine::Update(int64_t rows, int64_t bytes) {
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || !active_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < std::chrono::seconds(1)) return;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  char mb[32];
  snprintf(mb, sizeof(mb), "%.1f MB", static_cast<double>(bytes) / 1e6);
  std::string line = "\r  " + WithThousands(rows) + " rows  " + mb + "  " +
                     WithThousands(static_cast<int64_t>(rows / seconds)) +
                     " rows/s\x1b[K";
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  drawn_ = true;
}

void ProgressLine::ClearLocked() {
  if (drawn_) {
    static const char kClear[] = "\r\x1b[K";
    ssize_t ignored = write(STDERR_FILENO, kClear, sizeof(kClear) - 1);
    (void)ignored;
    drawn_ = false;
  }
}

void ProgressLine::Suspend() {
  std::lock_guard<std::mutex> lock(mutex_);
  ClearLocked();
  active_ = false;
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  ClearLocked();
  active_ = false;
}

}  // namespace flowsql::cli
