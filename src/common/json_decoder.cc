#include "common/json_decoder.h"

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/compute/cast.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/util/utf8.h>
#include <arrow/util/value_parsing.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "common/sql_types.h"

namespace flowsql::json {

namespace dom = simdjson::dom;
static_assert(kPadding >= simdjson::SIMDJSON_PADDING);
using simdjson::dom::element_type;

// ---------------------------------------------------------------------------------
// RecordsPath

Result<RecordsPath> RecordsPath::Parse(std::string_view text) {
  RecordsPath path;
  path.text_ = std::string(text);
  auto error = [&](size_t at, const char* what) {
    return Status::Invalid("records_path '", text, "': ", what, " at character ", at + 1);
  };
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i == text.size() || text[i] != '$') return error(i, "expected '$'");
  ++i;
  while (i < text.size()) {
    if (text[i] == '.') {
      ++i;
      if (i < text.size() && text[i] == '*') {
        path.steps_.push_back({"", true});
        ++i;
        continue;
      }
      size_t start = i;
      while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
      if (i == start) return error(start, "expected a key");
      path.steps_.push_back({std::string(text.substr(start, i - start)), false});
    } else if (text[i] == '[') {
      ++i;
      if (i < text.size() && text[i] == '*') {
        if (i + 1 >= text.size() || text[i + 1] != ']')
          return error(i + 1, "expected ']'");
        path.steps_.push_back({"", true});
        i += 2;
        continue;
      }
      if (i >= text.size() || (text[i] != '\'' && text[i] != '"')) {
        return error(i, "expected '*' or a quoted key");
      }
      const char quote = text[i++];
      std::string key;
      while (i < text.size() && text[i] != quote) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        key += text[i++];
      }
      if (i + 1 >= text.size() || text[i + 1] != ']') {
        return error(i, "expected a closing quote and ']'");
      }
      i += 2;
      path.steps_.push_back({std::move(key), false});
    } else if (text[i] == ' ' &&
               text.find_first_not_of(' ', i) == std::string_view::npos) {
      break;
    } else {
      return error(i, "expected '.' or '['");
    }
  }
  return path;
}

namespace {

// Calls `f` with each value `steps[i...]` select in `e` (none when a key is missing);
// an array selected by a last step that is a key gives its elements when
// `last_array_is_records`.
template <typename F>
void Select(dom::element e, const std::vector<RecordsPath::Step>& steps, size_t i,
            bool last_array_is_records, const F& f) {
  if (i == steps.size()) {
    dom::array array;
    if (last_array_is_records && e.get_array().get(array) == simdjson::SUCCESS) {
      for (dom::element item : array) f(item);
    } else {
      f(e);
    }
    return;
  }
  const auto& step = steps[i];
  if (step.all) {
    dom::array array;
    dom::object object;
    if (e.get_array().get(array) == simdjson::SUCCESS) {
      for (dom::element item : array)
        Select(item, steps, i + 1, last_array_is_records, f);
    } else if (e.get_object().get(object) == simdjson::SUCCESS) {
      for (auto field : object)
        Select(field.value, steps, i + 1, last_array_is_records, f);
    }
    return;
  }
  dom::element child;
  if (e.at_key(step.key).get(child) == simdjson::SUCCESS) {
    Select(child, steps, i + 1, last_array_is_records, f);
  }
}

/// Calls `f(record)` for each record `path` selects in document `doc`: an array at
/// the end of the path (when its last step is not [*]) gives its elements.
template <typename F>
void ForEachRecord(dom::element doc, const RecordsPath& path, const F& f) {
  const auto& steps = path.steps();
  Select(doc, steps, 0, steps.empty() || !steps.back().all, f);
}

const char* KindName(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
      return "an integer";
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

/// `e` as JSON text, shortened for an error message.
std::string Excerpt(dom::element e) {
  std::string text = simdjson::minify(e);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// ---------------------------------------------------------------------------------
// Inference

enum class Kind : uint8_t {
  kNull,
  kBool,
  kInt,
  kDouble,
  kString,
  kDate,
  kTimestamp,
  kTimestampTz,
  kObject,
  kList
};

/// What a string looks like: a date, a timestamp (with a zone), or text.
Kind ClassifyString(std::string_view v) {
  if (v.size() == 10) {
    int32_t days;
    return arrow::internal::ParseValue<arrow::Date32Type>(v.data(), v.size(), &days)
               ? Kind::kDate
               : Kind::kString;
  }
  // "YYYY-MM-DD" then 'T' or ' ': numbers in strings are not times.
  if (v.size() < 16 || (v[10] != 'T' && v[10] != ' ')) return Kind::kString;
  int64_t out;
  bool zone = false;
  if (!arrow::internal::ParseTimestampISO8601(v.data(), v.size(), arrow::TimeUnit::MICRO,
                                              &out, &zone)) {
    return Kind::kString;
  }
  return zone ? Kind::kTimestampTz : Kind::kTimestamp;
}

/// The kind that holds values of both kinds.
Kind Widen(Kind a, Kind b) {
  if (a == b || b == Kind::kNull) return a;
  if (a == Kind::kNull) return b;
  if ((a == Kind::kInt && b == Kind::kDouble) || (a == Kind::kDouble && b == Kind::kInt))
    return Kind::kDouble;
  return Kind::kString;
}

struct TypeNode {
  Kind kind = Kind::kNull;
  // kObject: the keys in the order first seen.
  std::vector<std::pair<std::string, std::unique_ptr<TypeNode>>> fields;
  std::unordered_map<std::string, size_t> index;
  // kList: the elements.
  std::unique_ptr<TypeNode> item;

  std::unique_ptr<TypeNode> Clone() const {
    auto copy = std::make_unique<TypeNode>();
    copy->kind = kind;
    for (const auto& [name, child] : fields)
      copy->fields.emplace_back(name, child->Clone());
    copy->index = index;
    if (item) copy->item = item->Clone();
    return copy;
  }

  TypeNode* Child(std::string_view key) {
    auto it = index.find(std::string(key));
    if (it != index.end()) return fields[it->second].second.get();
    index.emplace(std::string(key), fields.size());
    fields.emplace_back(std::string(key), std::make_unique<TypeNode>());
    return fields.back().second.get();
  }

  void Observe(dom::element e, bool temporal) {
    Kind k;
    switch (e.type()) {
      case element_type::NULL_VALUE:
        return;
      case element_type::BOOL:
        k = Kind::kBool;
        break;
      case element_type::INT64:
        k = Kind::kInt;
        break;
      case element_type::UINT64: {
        const uint64_t u = e.get_uint64().value_unsafe();
        k = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                ? Kind::kInt
                : Kind::kDouble;
        break;
      }
      case element_type::DOUBLE:
        k = Kind::kDouble;
        break;
      case element_type::STRING: {
        const std::string_view s = e.get_string().value_unsafe();
        k = temporal ? ClassifyString(s) : Kind::kString;
        break;
      }
      case element_type::OBJECT:
        k = Kind::kObject;
        break;
      case element_type::ARRAY:
        k = Kind::kList;
        break;
      default:
        return;
    }
    const Kind widened = Widen(kind, k);
    if (widened == Kind::kString && kind != Kind::kString) {
      fields.clear();
      index.clear();
      item.reset();
    }
    kind = widened;
    if (kind == Kind::kObject) {
      for (auto field : dom::object(e)) Child(field.key)->Observe(field.value, temporal);
    } else if (kind == Kind::kList) {
      if (!item) item = std::make_unique<TypeNode>();
      for (dom::element v : dom::array(e)) item->Observe(v, temporal);
    }
  }

  /// Fixes kNull (seen only as null) to kString, everywhere below.
  void FreezeNulls() {
    if (kind == Kind::kNull) kind = Kind::kString;
    for (auto& [name, child] : fields) child->FreezeNulls();
    if (kind == Kind::kList) {
      if (!item) item = std::make_unique<TypeNode>();
      item->FreezeNulls();
    }
  }

  std::shared_ptr<arrow::DataType> ArrowType(bool flatten) const {
    switch (kind) {
      case Kind::kNull:
      case Kind::kString:
        return arrow::utf8();
      case Kind::kBool:
        return arrow::boolean();
      case Kind::kInt:
        return arrow::int64();
      case Kind::kDouble:
        return arrow::float64();
      case Kind::kDate:
        return arrow::date32();
      case Kind::kTimestamp:
        return arrow::timestamp(arrow::TimeUnit::MICRO);
      case Kind::kTimestampTz:
        return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
      case Kind::kList:
        return arrow::list(item->ArrowType(flatten));
      case Kind::kObject: {
        arrow::FieldVector children;
        for (const auto& [name, child] : fields) {
          children.push_back(arrow::field(name, child->ArrowType(flatten)));
        }
        return arrow::struct_(children);
      }
    }
    return arrow::utf8();
  }

  /// The fields of an object node as columns; with `flatten`, nested objects' keys
  /// as `prefix__key`.
  void AppendFields(const std::string& prefix, bool flatten,
                    arrow::FieldVector* out) const {
    for (const auto& [name, child] : fields) {
      std::string full = prefix.empty() ? name : prefix + "__" + name;
      if (flatten && child->kind == Kind::kObject) {
        child->AppendFields(full, flatten, out);
      } else {
        out->push_back(arrow::field(full, child->ArrowType(flatten)));
      }
    }
  }
};

/// The offset of the first line of data[from, size) that is not valid UTF-8 or not
/// valid JSON on its own (blank lines skipped); `from` when none is. For naming the
/// line of an error simdjson reports for a whole batch.
size_t LocateError(const uint8_t* data, size_t size, size_t from) {
  dom::parser parser;
  const char* text = reinterpret_cast<const char*>(data);
  for (size_t start = from; start < size;) {
    const char* nl =
        static_cast<const char*>(std::memchr(text + start, '\n', size - start));
    const size_t end = nl ? static_cast<size_t>(nl - text) : size;
    std::string_view line(text + start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      if (!arrow::util::ValidateUTF8(line)) return start;
      dom::element e;
      if (parser.parse(line.data(), line.size(), true).get(e) != simdjson::SUCCESS) {
        return start;
      }
    }
    start = end + 1;
  }
  return from;
}

/// Calls `f(record)` (returning Status) for each record `path` selects in each
/// document of data[0, size) (padded). A document cut off at the end is left for
/// the caller (`*truncated` bytes) when `partial`, else an error. Errors set
/// `*error_offset` to where the faulty document starts, or the line whose bytes are
/// not UTF-8.
template <typename F>
Status ForEachRecordIn(dom::parser& parser, const uint8_t* data, size_t size,
                       const RecordsPath& path, bool partial, size_t* truncated,
                       size_t* error_offset, const F& f) {
  *truncated = 0;
  *error_offset = 0;
  if (size == 0) return Status::OK();
  dom::document_stream stream;
  auto error = parser.parse_many(data, size, std::max<size_t>(size, 1 << 16)).get(stream);
  if (error) return Status::Invalid("malformed JSON: ", simdjson::error_message(error));
  size_t next = 0;  // where the next document starts, at the latest
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    dom::element doc;
    error = (*it).get(doc);
    if (error) {
      // Errors of the first document may be the whole batch's (stage 1).
      *error_offset =
          it.current_index() > next ? it.current_index() : LocateError(data, size, next);
      if (error == simdjson::UTF8_ERROR) {
        return Status::Invalid("the text is not valid UTF-8");
      }
      return Status::Invalid("malformed JSON: ", simdjson::error_message(error));
    }
    *error_offset = it.current_index();
    next = it.current_index() + it.source().size();
    Status st;
    ForEachRecord(doc, path, [&](dom::element record) {
      if (st.ok()) st = f(record);
    });
    ARROW_RETURN_NOT_OK(st);
  }
  const size_t cut = stream.truncated_bytes();
  if (cut > 0 && cut <= size) {
    *error_offset = size - cut;
    if (!partial) return Status::Invalid("malformed JSON: the document is incomplete");
    *truncated = cut;
  }
  return Status::OK();
}

/// A copy of `page` followed by simdjson's padding.
/// `page` copied into `*buffer` (kept from page to page) followed by simdjson's padding.
const uint8_t* Padded(std::string_view page, std::vector<uint8_t>* buffer) {
  if (buffer->size() < page.size() + kPadding) buffer->resize(page.size() + kPadding);
  std::memcpy(buffer->data(), page.data(), page.size());
  std::memset(buffer->data() + page.size(), 0, kPadding);
  return buffer->data();
}

}  // namespace

// ---------------------------------------------------------------------------------
// SchemaInferrer

class SchemaInferrer::Impl {
 public:
  explicit Impl(DecodeOptions options) : options_(std::move(options)) {
    root_.kind = Kind::kObject;
  }

  /// Observes one record; an error when it is not an object.
  Status Observe(dom::element record) {
    if (record.type() != element_type::OBJECT) {
      return Status::Invalid("expected an object, found ", KindName(record.type()));
    }
    root_.Observe(record, options_.detect_temporal);
    ++records_;
    return Status::OK();
  }

  Status FeedBlock(const uint8_t* data, size_t size, bool partial, size_t* truncated,
                   size_t* error_offset) {
    return ForEachRecordIn(parser_, data, size, options_.records_path, partial, truncated,
                           error_offset,
                           [&](dom::element record) { return Observe(record); });
  }

  Status Feed(std::string_view page) {
    const uint8_t* padded = Padded(page, &padded_);
    auto saved = root_.Clone();
    const int64_t saved_records = records_;
    size_t truncated, error_offset;
    Status st = FeedBlock(padded, page.size(), false, &truncated, &error_offset);
    if (!st.ok()) {
      root_ = std::move(*saved);
      st = Status::Invalid(records_ > saved_records
                               ? "record " + std::to_string(records_ - saved_records + 1)
                               : "byte " + std::to_string(error_offset),
                           ": ", st.message());
      records_ = saved_records;
    }
    return st;
  }

  std::shared_ptr<arrow::Schema> schema() {
    root_.FreezeNulls();
    arrow::FieldVector fields;
    root_.AppendFields("", options_.flatten, &fields);
    return arrow::schema(std::move(fields));
  }

  int64_t records() const { return records_; }

 private:
  DecodeOptions options_;
  TypeNode root_;
  int64_t records_ = 0;
  dom::parser parser_;
  std::vector<uint8_t> padded_;  // the page being fed
};

SchemaInferrer::SchemaInferrer(DecodeOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
SchemaInferrer::~SchemaInferrer() = default;
SchemaInferrer::SchemaInferrer(SchemaInferrer&&) noexcept = default;
SchemaInferrer& SchemaInferrer::operator=(SchemaInferrer&&) noexcept = default;
Status SchemaInferrer::Feed(std::string_view page) { return impl_->Feed(page); }
Status SchemaInferrer::FeedBlock(const uint8_t* data, size_t size, size_t* truncated,
                                 size_t* error_offset) {
  return impl_->FeedBlock(data, size, true, truncated, error_offset);
}
std::shared_ptr<arrow::Schema> SchemaInferrer::schema() { return impl_->schema(); }
int64_t SchemaInferrer::records() const { return impl_->records(); }

// ---------------------------------------------------------------------------------
// Columns

namespace {

/// What went wrong in the record being decoded.
struct Problem {
  OnBadRecord mode = OnBadRecord::kError;
  bool bad = false;    // a value did not fit
  bool fatal = false;  // an error whatever on_bad_record says (an unknown key)
  std::string message;

  /// Notes that the value `v` of column `path` does not fit `expected`.
  void Mismatch(const std::string& path, const arrow::DataType& expected,
                dom::element v) {
    if (bad) return;
    bad = true;
    message = "key '" + path + "': expected " + ArrowTypeToSql(expected) + ", found " +
              KindName(v.type()) + " (" + Excerpt(v) + ")";
  }
};

class Column {
 public:
  Column(std::string path, std::shared_ptr<arrow::DataType> type)
      : path_(std::move(path)), type_(std::move(type)) {}
  virtual ~Column() = default;

  int64_t length() const { return static_cast<int64_t>(valid_.size()); }
  const std::shared_ptr<arrow::DataType>& type() const { return type_; }

  /// Appends non-null `v`. When it does not fit: with on_bad_record = null appends
  /// NULL and returns true, else appends nothing and returns false; both note the
  /// problem.
  virtual bool Append(dom::element v, Problem* problem) = 0;
  void AppendNull() {
    valid_.push_back(0);
    AppendEmpty();
  }
  /// Drops the values from row `n` on.
  virtual void Truncate(int64_t n) { valid_.resize(n); }
  /// The values so far as an array; the column is empty afterwards.
  virtual Result<std::shared_ptr<arrow::Array>> Finish() = 0;

 protected:
  bool Mismatch(dom::element v, Problem* problem) {
    problem->Mismatch(path_, *type_, v);
    if (problem->mode != OnBadRecord::kNull) return false;
    AppendNull();
    return true;
  }
  virtual void AppendEmpty() = 0;

  /// The validity bitmap (none when nothing is null) and the null count; clears it.
  Result<std::pair<std::shared_ptr<arrow::Buffer>, int64_t>> FinishValidity() {
    const int64_t n = length();
    int64_t nulls = n - std::count(valid_.begin(), valid_.end(), uint8_t{1});
    std::shared_ptr<arrow::Buffer> bitmap;
    if (nulls > 0) {
      ARROW_ASSIGN_OR_RAISE(bitmap, arrow::AllocateBitmap(n));
      arrow::internal::GenerateBitsUnrolled(
          bitmap->mutable_data(), 0, n,
          [&, i = int64_t{0}]() mutable { return valid_[i++] != 0; });
    }
    valid_.clear();
    return std::make_pair(std::move(bitmap), nulls);
  }

  template <typename T>
  static Result<std::shared_ptr<arrow::Buffer>> ToBuffer(std::vector<T>* values) {
    ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateBuffer(values->size() * sizeof(T)));
    if (!values->empty()) {
      std::memcpy(buffer->mutable_data(), values->data(), values->size() * sizeof(T));
    }
    values->clear();
    return std::shared_ptr<arrow::Buffer>(std::move(buffer));
  }

  std::string path_;
  std::shared_ptr<arrow::DataType> type_;
  std::vector<uint8_t> valid_;
};

/// A string's value for a numeric, boolean or temporal column.
template <typename ArrowType>
bool ParseText(dom::element v, typename ArrowType::c_type* out,
               const arrow::DataType& type) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) return false;
  if constexpr (std::is_same_v<ArrowType, arrow::TimestampType>) {
    return arrow::internal::ParseTimestampISO8601(
        s.data(), s.size(), static_cast<const arrow::TimestampType&>(type).unit(), out);
  } else {
    return arrow::internal::ParseValue<ArrowType>(s.data(), s.size(), out);
  }
}

/// Booleans, integers, floating point, dates and timestamps.
template <typename ArrowType>
class PrimitiveColumn : public Column {
 public:
  // Booleans are kept a byte each until finished.
  using T = std::conditional_t<std::is_same_v<ArrowType, arrow::BooleanType>, uint8_t,
                               typename ArrowType::c_type>;
  using Column::Column;

  bool Append(dom::element v, Problem* problem) override {
    T x{};
    if (!Convert(v, &x)) return Mismatch(v, problem);
    values_.push_back(x);
    valid_.push_back(1);
    return true;
  }
  void Truncate(int64_t n) override {
    Column::Truncate(n);
    values_.resize(n);
  }
  Result<std::shared_ptr<arrow::Array>> Finish() override {
    const int64_t n = length();
    ARROW_ASSIGN_OR_RAISE(auto validity, FinishValidity());
    std::shared_ptr<arrow::Buffer> values;
    if constexpr (std::is_same_v<ArrowType, arrow::BooleanType>) {
      ARROW_ASSIGN_OR_RAISE(values, arrow::AllocateBitmap(n));
      arrow::internal::GenerateBitsUnrolled(
          values->mutable_data(), 0, n,
          [&, i = int64_t{0}]() mutable { return values_[i++] != 0; });
      values_.clear();
    } else {
      ARROW_ASSIGN_OR_RAISE(values, ToBuffer(&values_));
    }
    return arrow::MakeArray(arrow::ArrayData::Make(
        type_, n, {validity.first, std::move(values)}, validity.second));
  }

 private:
  void AppendEmpty() override { values_.push_back(T{}); }

  bool Convert(dom::element v, T* out) const {
    if constexpr (std::is_same_v<ArrowType, arrow::BooleanType>) {
      bool x = false;
      if (v.get_bool().get(x) != simdjson::SUCCESS) {
        std::string_view s;
        if (v.get_string().get(s) != simdjson::SUCCESS ||
            !arrow::internal::ParseValue<arrow::BooleanType>(s.data(), s.size(), &x)) {
          return false;
        }
      }
      *out = x ? 1 : 0;
      return true;
    } else if constexpr (arrow::is_integer_type<ArrowType>::value) {
      switch (v.type()) {
        case element_type::INT64: {
          int64_t x = v.get_int64().value_unsafe();
          if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
              (x > 0 && static_cast<uint64_t>(x) > std::numeric_limits<T>::max())) {
            return false;
          }
          *out = static_cast<T>(x);
          return true;
        }
        case element_type::UINT64: {
          uint64_t x = v.get_uint64().value_unsafe();
          if (x > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
          *out = static_cast<T>(x);
          return true;
        }
        case element_type::STRING:
          return ParseText<ArrowType>(v, out, *type_);
        default:
          return false;
      }
    } else if constexpr (arrow::is_floating_type<ArrowType>::value) {
      switch (v.type()) {
        case element_type::INT64:
          *out = static_cast<T>(v.get_int64().value_unsafe());
          return true;
        case element_type::UINT64:
          *out = static_cast<T>(v.get_uint64().value_unsafe());
          return true;
        case element_type::DOUBLE:
          *out = static_cast<T>(v.get_double().value_unsafe());
          return true;
        case element_type::STRING:
          return ParseText<ArrowType>(v, out, *type_);
        default:
          return false;
      }
    } else if constexpr (std::is_same_v<ArrowType, arrow::TimestampType>) {
      if (v.type() == element_type::INT64) {
        *out = v.get_int64().value_unsafe();
        return true;
      }
      return ParseText<ArrowType>(v, out, *type_);
    } else {
      return ParseText<ArrowType>(v, out, *type_);
    }
  }

  std::vector<T> values_;
};

/// VARCHAR: strings as they are, other values as their JSON text. With `cast_to`,
/// the text is cast to that type when finished (types the decoder has no column for).
class StringColumn : public Column {
 public:
  StringColumn(std::string path, std::shared_ptr<arrow::DataType> type)
      : Column(std::move(path), std::move(type)) {
    offsets_.push_back(0);
  }

  bool Append(dom::element v, Problem* problem) override {
    switch (v.type()) {
      case element_type::STRING: {
        const std::string_view s = v.get_string().value_unsafe();
        data_.append(s.data(), s.size());
        break;
      }
      case element_type::INT64: {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof(buf), v.get_int64().value_unsafe());
        data_.append(buf, r.ptr - buf);
        break;
      }
      case element_type::UINT64: {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof(buf), v.get_uint64().value_unsafe());
        data_.append(buf, r.ptr - buf);
        break;
      }
      case element_type::BOOL:
        data_.append(v.get_bool().value_unsafe() ? "true" : "false");
        break;
      default:
        data_.append(simdjson::minify(v));
        break;
    }
    offsets_.push_back(static_cast<int64_t>(data_.size()));
    valid_.push_back(1);
    return true;
  }
  void Truncate(int64_t n) override {
    Column::Truncate(n);
    offsets_.resize(n + 1);
    data_.resize(offsets_.back());
  }
  Result<std::shared_ptr<arrow::Array>> Finish() override {
    const int64_t n = length();
    if (data_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::CapacityError("key '", path_,
                                   "': more than 2 GB of text in one batch");
    }
    ARROW_ASSIGN_OR_RAISE(auto validity, FinishValidity());
    ARROW_ASSIGN_OR_RAISE(auto offsets, arrow::AllocateBuffer((n + 1) * sizeof(int32_t)));
    auto* o = reinterpret_cast<int32_t*>(offsets->mutable_data());
    for (int64_t i = 0; i <= n; ++i) o[i] = static_cast<int32_t>(offsets_[i]);
    ARROW_ASSIGN_OR_RAISE(auto data, arrow::AllocateBuffer(data_.size()));
    if (!data_.empty()) std::memcpy(data->mutable_data(), data_.data(), data_.size());
    offsets_.assign(1, 0);
    data_.clear();
    auto array = arrow::MakeArray(arrow::ArrayData::Make(
        arrow::utf8(), n, {validity.first, std::move(offsets), std::move(data)},
        validity.second));
    if (type_->id() == arrow::Type::STRING) return array;
    auto cast = arrow::compute::Cast(*array, type_);
    if (!cast.ok()) {
      return Status::Invalid("key '", path_, "': ", cast.status().message());
    }
    return cast;
  }

 private:
  void AppendEmpty() override { offsets_.push_back(offsets_.back()); }
  std::vector<int64_t> offsets_;
  std::string data_;
};

/// A column of type null: only nulls fit.
class NullColumn : public Column {
 public:
  using Column::Column;
  bool Append(dom::element v, Problem* problem) override { return Mismatch(v, problem); }
  Result<std::shared_ptr<arrow::Array>> Finish() override {
    const int64_t n = length();
    valid_.clear();
    return std::make_shared<arrow::NullArray>(n);
  }

 private:
  void AppendEmpty() override {}
};

std::unique_ptr<Column> MakeColumn(const std::string& path,
                                   const std::shared_ptr<arrow::DataType>& type,
                                   const DecodeOptions& options);

/// The keys of an object mapped to columns (and, with flatten, to nested objects'
/// keys). Does not own the columns.
class ObjectTarget {
 public:
  struct Slot {
    std::string key;
    Column* column = nullptr;
    std::unique_ptr<ObjectTarget> nested;  // flatten: an object's keys
    size_t follow = 0;  // the slot of the key that followed this one last time
  };

  /// `unknown`: what a key no slot names is.
  explicit ObjectTarget(UnknownKeys unknown) : unknown_(unknown) {}

  /// Adds `column` under the key path `keys` (one key, or with flatten several).
  void Add(const std::vector<std::string>& keys, size_t i, Column* column) {
    Slot* slot = Find(keys[i]);
    if (slot == nullptr) {
      index_.emplace(keys[i], slots_.size());
      slots_.push_back(Slot{keys[i], nullptr, nullptr});
      slot = &slots_.back();
    }
    if (i + 1 == keys.size()) {
      slot->column = column;
    } else {
      if (!slot->nested) slot->nested = std::make_unique<ObjectTarget>(unknown_);
      slot->nested->Add(keys, i + 1, column);
    }
  }

  /// Decodes the keys of `object` into row `row` of the columns.
  bool Decode(dom::object object, int64_t row, Problem* problem) {
    // Records tend to repeat their key order: each slot remembers the one that
    // followed it last time, and that is tried before a lookup.
    size_t* follow = &first_;
    for (auto field : object) {
      Slot* slot = nullptr;
      if (*follow < slots_.size() && slots_[*follow].key == field.key) {
        slot = &slots_[*follow];
      } else {
        slot = Find(field.key);
        if (slot != nullptr) *follow = static_cast<size_t>(slot - slots_.data());
      }
      if (slot == nullptr) {
        if (unknown_ == UnknownKeys::kError) {
          problem->fatal = true;
          problem->message = "key '" + std::string(field.key) + "' is not in the schema";
          return false;
        }
        continue;
      }
      follow = &slot->follow;
      const element_type t = field.value.type();
      if (t == element_type::NULL_VALUE) continue;
      if (slot->nested) {
        dom::object inner;
        if (field.value.get_object().get(inner) == simdjson::SUCCESS) {
          if (!slot->nested->Decode(inner, row, problem)) return false;
          continue;
        }
        if (slot->column == nullptr) {
          problem->bad = true;
          if (problem->message.empty()) {
            problem->message = "key '" + std::string(field.key) +
                               "': expected an object, found " + KindName(t);
          }
          if (problem->mode != OnBadRecord::kNull) return false;
          continue;
        }
      }
      if (slot->column == nullptr || slot->column->length() > row) continue;
      if (!slot->column->Append(field.value, problem)) return false;
    }
    return true;
  }

 private:
  Slot* Find(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &slots_[it->second];
  }

  UnknownKeys unknown_;
  std::vector<Slot> slots_;
  size_t first_ = 0;  // the slot of the first key last time
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> index_;
};

class StructColumn : public Column {
 public:
  StructColumn(std::string path, std::shared_ptr<arrow::DataType> type,
               const DecodeOptions& options)
      : Column(std::move(path), std::move(type)), target_(options.unknown_keys) {
    for (const auto& f : type_->fields()) {
      children_.push_back(MakeColumn(path_ + "." + f->name(), f->type(), options));
      target_.Add({f->name()}, 0, children_.back().get());
    }
  }

  bool Append(dom::element v, Problem* problem) override {
    dom::object object;
    if (v.get_object().get(object) != simdjson::SUCCESS) return Mismatch(v, problem);
    const int64_t row = length();
    if (!target_.Decode(object, row, problem)) {
      for (auto& child : children_) child->Truncate(row);
      return false;
    }
    for (auto& child : children_) {
      if (child->length() == row) child->AppendNull();
    }
    valid_.push_back(1);
    return true;
  }
  void Truncate(int64_t n) override {
    Column::Truncate(n);
    for (auto& child : children_) child->Truncate(n);
  }
  Result<std::shared_ptr<arrow::Array>> Finish() override {
    const int64_t n = length();
    ARROW_ASSIGN_OR_RAISE(auto validity, FinishValidity());
    std::vector<std::shared_ptr<arrow::ArrayData>> children;
    for (auto& child : children_) {
      ARROW_ASSIGN_OR_RAISE(auto array, child->Finish());
      children.push_back(array->data());
    }
    auto data = arrow::ArrayData::Make(type_, n, {validity.first}, validity.second);
    data->child_data = std::move(children);
    return arrow::MakeArray(data);
  }

 private:
  void AppendEmpty() override {
    for (auto& child : children_) child->AppendNull();
  }
  std::vector<std::unique_ptr<Column>> children_;
  ObjectTarget target_;
};

class ListColumn : public Column {
 public:
  ListColumn(std::string path, std::shared_ptr<arrow::DataType> type,
             const DecodeOptions& options)
      : Column(std::move(path), std::move(type)) {
    const auto& list = static_cast<const arrow::ListType&>(*type_);
    item_ = MakeColumn(path_ + "[]", list.value_type(), options);
    offsets_.push_back(0);
  }

  bool Append(dom::element v, Problem* problem) override {
    dom::array array;
    if (v.get_array().get(array) != simdjson::SUCCESS) return Mismatch(v, problem);
    const int64_t start = item_->length();
    for (dom::element e : array) {
      if (e.type() == element_type::NULL_VALUE) {
        item_->AppendNull();
      } else if (!item_->Append(e, problem)) {
        item_->Truncate(start);
        return false;
      }
    }
    offsets_.push_back(item_->length());
    valid_.push_back(1);
    return true;
  }
  void Truncate(int64_t n) override {
    Column::Truncate(n);
    offsets_.resize(n + 1);
    item_->Truncate(offsets_.back());
  }
  Result<std::shared_ptr<arrow::Array>> Finish() override {
    const int64_t n = length();
    if (offsets_.back() > std::numeric_limits<int32_t>::max()) {
      return Status::CapacityError("key '", path_, "': too many list items in one batch");
    }
    ARROW_ASSIGN_OR_RAISE(auto validity, FinishValidity());
    ARROW_ASSIGN_OR_RAISE(auto offsets, arrow::AllocateBuffer((n + 1) * sizeof(int32_t)));
    auto* o = reinterpret_cast<int32_t*>(offsets->mutable_data());
    for (int64_t i = 0; i <= n; ++i) o[i] = static_cast<int32_t>(offsets_[i]);
    offsets_.assign(1, 0);
    ARROW_ASSIGN_OR_RAISE(auto items, item_->Finish());
    auto data = arrow::ArrayData::Make(type_, n, {validity.first, std::move(offsets)},
                                       validity.second);
    data->child_data = {items->data()};
    return arrow::MakeArray(data);
  }

 private:
  void AppendEmpty() override { offsets_.push_back(offsets_.back()); }
  std::unique_ptr<Column> item_;
  std::vector<int64_t> offsets_;
};

std::unique_ptr<Column> MakeColumn(const std::string& path,
                                   const std::shared_ptr<arrow::DataType>& type,
                                   const DecodeOptions& options) {
  switch (type->id()) {
    case arrow::Type::NA:
      return std::make_unique<NullColumn>(path, type);
    case arrow::Type::BOOL:
      return std::make_unique<PrimitiveColumn<arrow::BooleanType>>(path, type);
    case arrow::Type::INT8:
      return std::make_unique<PrimitiveColumn<arrow::Int8Type>>(path, type);
    case arrow::Type::INT16:
      return std::make_unique<PrimitiveColumn<arrow::Int16Type>>(path, type);
    case arrow::Type::INT32:
      return std::make_unique<PrimitiveColumn<arrow::Int32Type>>(path, type);
    case arrow::Type::INT64:
      return std::make_unique<PrimitiveColumn<arrow::Int64Type>>(path, type);
    case arrow::Type::UINT8:
      return std::make_unique<PrimitiveColumn<arrow::UInt8Type>>(path, type);
    case arrow::Type::UINT16:
      return std::make_unique<PrimitiveColumn<arrow::UInt16Type>>(path, type);
    case arrow::Type::UINT32:
      return std::make_unique<PrimitiveColumn<arrow::UInt32Type>>(path, type);
    case arrow::Type::UINT64:
      return std::make_unique<PrimitiveColumn<arrow::UInt64Type>>(path, type);
    case arrow::Type::FLOAT:
      return std::make_unique<PrimitiveColumn<arrow::FloatType>>(path, type);
    case arrow::Type::DOUBLE:
      return std::make_unique<PrimitiveColumn<arrow::DoubleType>>(path, type);
    case arrow::Type::DATE32:
      return std::make_unique<PrimitiveColumn<arrow::Date32Type>>(path, type);
    case arrow::Type::TIMESTAMP:
      return std::make_unique<PrimitiveColumn<arrow::TimestampType>>(path, type);
    case arrow::Type::STRUCT:
      return std::make_unique<StructColumn>(path, type, options);
    case arrow::Type::LIST:
      return std::make_unique<ListColumn>(path, type, options);
    default:
      // VARCHAR, and types read as text then cast.
      return std::make_unique<StringColumn>(path, type);
  }
}

/// Splits a flattened column name `a__b__c` into its keys.
std::vector<std::string> FlatKeys(const std::string& name) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (true) {
    size_t at = name.find("__", start);
    if (at == std::string::npos || at == 0) {
      keys.push_back(name.substr(start));
      return keys;
    }
    keys.push_back(name.substr(start, at - start));
    start = at + 2;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------
// Decoder

class Decoder::Impl {
 public:
  Impl(std::shared_ptr<arrow::Schema> schema, DecodeOptions options)
      : schema_(std::move(schema)),
        options_(std::move(options)),
        target_(options_.unknown_keys) {
    for (const auto& f : schema_->fields()) {
      columns_.push_back(MakeColumn(f->name(), f->type(), options_));
      const auto keys =
          options_.flatten ? FlatKeys(f->name()) : std::vector<std::string>{f->name()};
      target_.Add(keys, 0, columns_.back().get());
    }
    for (const auto& key : options_.skipped_keys) {
      if (schema_->GetFieldIndex(key) < 0) target_.Add({key}, 0, nullptr);
    }
  }

  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }
  int64_t rows() const { return rows_; }
  int64_t bad_records() const { return bad_records_; }

  /// Decodes one record into the next row. Errors say what is wrong, without where.
  Status Decode(dom::element record) {
    problem_.mode = options_.on_bad_record;
    problem_.bad = false;
    problem_.fatal = false;
    problem_.message.clear();
    dom::object object;
    bool ok;
    const bool is_object = record.get_object().get(object) == simdjson::SUCCESS;
    if (!is_object) {
      problem_.bad = true;
      problem_.message =
          std::string("expected an object, found ") + KindName(record.type());
      ok = false;
    } else {
      ok = target_.Decode(object, rows_, &problem_);
    }
    if (!ok) {
      if (problem_.fatal || options_.on_bad_record == OnBadRecord::kError) {
        for (auto& c : columns_) c->Truncate(rows_);
        // A record that is an object but does not fit: the schema may be at fault.
        return Status::Invalid(problem_.message,
                               is_object ? options_.schema_hint : std::string());
      }
      if (options_.on_bad_record == OnBadRecord::kSkip) {
        for (auto& c : columns_) c->Truncate(rows_);
        ++bad_records_;
        return Status::OK();
      }
      // kNull and the record is not an object: a row of nulls.
    }
    if (problem_.bad) ++bad_records_;
    for (auto& c : columns_) {
      if (c->length() == rows_) c->AppendNull();
    }
    ++rows_;
    return Status::OK();
  }

  /// The rows decoded so far as a batch; starts a new one.
  Result<std::shared_ptr<arrow::RecordBatch>> Flush() {
    arrow::ArrayVector arrays;
    for (auto& c : columns_) {
      ARROW_ASSIGN_OR_RAISE(auto array, c->Finish());
      arrays.push_back(std::move(array));
    }
    auto batch = arrow::RecordBatch::Make(schema_, rows_, std::move(arrays));
    rows_ = 0;
    return batch;
  }

  Status DecodeBlock(const uint8_t* data, size_t size, bool partial, size_t* truncated,
                     size_t* error_offset) {
    return ForEachRecordIn(parser_, data, size, options_.records_path, partial, truncated,
                           error_offset, [&](dom::element record) {
                             ++records_;
                             return Decode(record);
                           });
  }

  /// Drops the rows not flushed yet.
  void Clear() {
    for (auto& c : columns_) c->Truncate(0);
    rows_ = 0;
  }

  /// Decodes the records of every document of `page`; errors name the record (from
  /// 1), or the byte of malformed JSON, and leave no rows behind.
  Result<DecodedPage> DecodePage(std::string_view page) {
    const uint8_t* padded = Padded(page, &padded_);
    const int64_t bad_before = bad_records_;
    records_ = 0;
    size_t truncated, error_offset;
    Status st = DecodeBlock(padded, page.size(), false, &truncated, &error_offset);
    if (!st.ok()) {
      Clear();
      const bool parsed = st.message().rfind("malformed JSON", 0) != 0 &&
                          st.message().rfind("the text is not", 0) != 0;
      return Status::Invalid(parsed ? "record " + std::to_string(records_)
                                    : "byte " + std::to_string(error_offset),
                             ": ", st.message());
    }
    DecodedPage out;
    ARROW_ASSIGN_OR_RAISE(out.batch, Flush());
    out.bad_records = bad_records_ - bad_before;
    return out;
  }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  DecodeOptions options_;
  std::vector<std::unique_ptr<Column>> columns_;
  ObjectTarget target_;
  Problem problem_;
  int64_t rows_ = 0;
  int64_t records_ = 0;  // records of the page so far, for errors
  int64_t bad_records_ = 0;
  dom::parser parser_;
  std::vector<uint8_t> padded_;  // the page being decoded
};

Result<std::unique_ptr<Decoder>> Decoder::Make(std::shared_ptr<arrow::Schema> schema,
                                               DecodeOptions options) {
  if (schema == nullptr) return Status::Invalid("JSON decoder: no schema");
  return std::unique_ptr<Decoder>(
      new Decoder(std::make_unique<Impl>(std::move(schema), std::move(options))));
}

Decoder::Decoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Decoder::~Decoder() = default;
const std::shared_ptr<arrow::Schema>& Decoder::schema() const { return impl_->schema(); }
Result<DecodedPage> Decoder::DecodePage(std::string_view page) {
  return impl_->DecodePage(page);
}
int64_t Decoder::bad_records() const { return impl_->bad_records(); }
Status Decoder::DecodeBlock(const uint8_t* data, size_t size, size_t* truncated,
                            size_t* error_offset) {
  return impl_->DecodeBlock(data, size, true, truncated, error_offset);
}
int64_t Decoder::buffered_rows() const { return impl_->rows(); }
Result<std::shared_ptr<arrow::RecordBatch>> Decoder::Flush() { return impl_->Flush(); }
void Decoder::Clear() { impl_->Clear(); }

}  // namespace flowsql::json
