#include "common/json.h"

#include <arrow/api.h>
#include <arrow/compute/cast.h>

#include <charconv>
#include <cmath>

namespace flowsql {

void AppendJsonStrings(const std::vector<std::string>& list, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(list[i], out);
  }
  out->push_back(']');
}

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('"');
}

namespace {

template <typename T>
void AppendNumber(T v, std::string* out) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
}

template <typename ArrayT>
class NumberWriter : public JsonValueWriter {
 public:
  explicit NumberWriter(std::shared_ptr<arrow::Array> a)
      : keep_(a), array_(static_cast<const ArrayT&>(*a)) {}
  void Write(int64_t i, std::string* out) const override {
    if (array_.IsNull(i)) {
      out->append("null");
      return;
    }
    auto v = array_.Value(i);
    if constexpr (std::is_floating_point_v<decltype(v)>) {
      if (!std::isfinite(v)) {
        out->append("null");
        return;
      }
    }
    AppendNumber(v, out);
  }

 private:
  std::shared_ptr<arrow::Array> keep_;
  const ArrayT& array_;
};

class BoolWriter : public JsonValueWriter {
 public:
  explicit BoolWriter(std::shared_ptr<arrow::Array> a)
      : keep_(a), array_(static_cast<const arrow::BooleanArray&>(*a)) {}
  void Write(int64_t i, std::string* out) const override {
    out->append(array_.IsNull(i) ? "null" : array_.Value(i) ? "true" : "false");
  }

 private:
  std::shared_ptr<arrow::Array> keep_;
  const arrow::BooleanArray& array_;
};

/// Strings (quoted, escaped), or with `raw` the text as is (decimals).
template <typename ArrayT>
class StringWriter : public JsonValueWriter {
 public:
  StringWriter(std::shared_ptr<arrow::Array> a, bool raw)
      : keep_(a), array_(static_cast<const ArrayT&>(*a)), raw_(raw) {}
  void Write(int64_t i, std::string* out) const override {
    if (array_.IsNull(i)) {
      out->append("null");
    } else if (raw_) {
      out->append(array_.GetView(i));
    } else {
      AppendJsonString(array_.GetView(i), out);
    }
  }

 private:
  std::shared_ptr<arrow::Array> keep_;
  const ArrayT& array_;
  bool raw_;
};

class StructWriter : public JsonValueWriter {
 public:
  static Result<std::unique_ptr<JsonValueWriter>> Make(std::shared_ptr<arrow::Array> a) {
    auto w = std::unique_ptr<StructWriter>(new StructWriter(a));
    const auto& s = static_cast<const arrow::StructArray&>(*a);
    for (int f = 0; f < s.num_fields(); ++f) {
      std::string key;
      AppendJsonString(s.struct_type()->field(f)->name(), &key);
      w->keys_.push_back(key + ":");
      ARROW_ASSIGN_OR_RAISE(auto child, MakeJsonValueWriter(s.field(f)));
      w->children_.push_back(std::move(child));
    }
    return w;
  }
  void Write(int64_t i, std::string* out) const override {
    if (keep_->IsNull(i)) {
      out->append("null");
      return;
    }
    out->push_back('{');
    for (size_t f = 0; f < children_.size(); ++f) {
      if (f) out->push_back(',');
      out->append(keys_[f]);
      children_[f]->Write(i, out);
    }
    out->push_back('}');
  }

 private:
  explicit StructWriter(std::shared_ptr<arrow::Array> a) : keep_(std::move(a)) {}
  std::shared_ptr<arrow::Array> keep_;
  std::vector<std::string> keys_;
  std::vector<std::unique_ptr<JsonValueWriter>> children_;
};

template <typename ListArrayT>
class ListWriter : public JsonValueWriter {
 public:
  static Result<std::unique_ptr<JsonValueWriter>> Make(std::shared_ptr<arrow::Array> a) {
    auto w = std::unique_ptr<ListWriter>(new ListWriter(a));
    ARROW_ASSIGN_OR_RAISE(w->values_, MakeJsonValueWriter(w->list_.values()));
    return w;
  }
  void Write(int64_t i, std::string* out) const override {
    if (list_.IsNull(i)) {
      out->append("null");
      return;
    }
    out->push_back('[');
    auto start = list_.value_offset(i);
    auto n = list_.value_length(i);
    for (decltype(n) k = 0; k < n; ++k) {
      if (k) out->push_back(',');
      values_->Write(start + k, out);
    }
    out->push_back(']');
  }

 private:
  explicit ListWriter(std::shared_ptr<arrow::Array> a)
      : keep_(a), list_(static_cast<const ListArrayT&>(*a)) {}
  std::shared_ptr<arrow::Array> keep_;
  const ListArrayT& list_;
  std::unique_ptr<JsonValueWriter> values_;
};

/// A map as an object; keys are written as text.
class MapWriter : public JsonValueWriter {
 public:
  static Result<std::unique_ptr<JsonValueWriter>> Make(std::shared_ptr<arrow::Array> a) {
    auto w = std::unique_ptr<MapWriter>(new MapWriter(a));
    ARROW_ASSIGN_OR_RAISE(auto keys,
                          arrow::compute::Cast(*w->map_.keys(), arrow::utf8()));
    w->keys_ = std::static_pointer_cast<arrow::StringArray>(keys);
    ARROW_ASSIGN_OR_RAISE(w->items_, MakeJsonValueWriter(w->map_.items()));
    return w;
  }
  void Write(int64_t i, std::string* out) const override {
    if (map_.IsNull(i)) {
      out->append("null");
      return;
    }
    out->push_back('{');
    auto start = map_.value_offset(i);
    for (int32_t k = 0; k < map_.value_length(i); ++k) {
      if (k) out->push_back(',');
      AppendJsonString(keys_->GetView(start + k), out);
      out->push_back(':');
      items_->Write(start + k, out);
    }
    out->push_back('}');
  }

 private:
  explicit MapWriter(std::shared_ptr<arrow::Array> a)
      : keep_(a), map_(static_cast<const arrow::MapArray&>(*a)) {}
  std::shared_ptr<arrow::Array> keep_;
  const arrow::MapArray& map_;
  std::shared_ptr<arrow::StringArray> keys_;
  std::unique_ptr<JsonValueWriter> items_;
};

class NullWriter : public JsonValueWriter {
 public:
  void Write(int64_t, std::string* out) const override { out->append("null"); }
};

}  // namespace

Result<std::unique_ptr<JsonValueWriter>> MakeJsonValueWriter(
    std::shared_ptr<arrow::Array> array) {
  using arrow::Type;
  switch (array->type_id()) {
    case Type::NA:
      return std::make_unique<NullWriter>();
    case Type::BOOL:
      return std::make_unique<BoolWriter>(array);
    case Type::INT8:
      return std::make_unique<NumberWriter<arrow::Int8Array>>(array);
    case Type::INT16:
      return std::make_unique<NumberWriter<arrow::Int16Array>>(array);
    case Type::INT32:
      return std::make_unique<NumberWriter<arrow::Int32Array>>(array);
    case Type::INT64:
      return std::make_unique<NumberWriter<arrow::Int64Array>>(array);
    case Type::UINT8:
      return std::make_unique<NumberWriter<arrow::UInt8Array>>(array);
    case Type::UINT16:
      return std::make_unique<NumberWriter<arrow::UInt16Array>>(array);
    case Type::UINT32:
      return std::make_unique<NumberWriter<arrow::UInt32Array>>(array);
    case Type::UINT64:
      return std::make_unique<NumberWriter<arrow::UInt64Array>>(array);
    case Type::FLOAT:
      return std::make_unique<NumberWriter<arrow::FloatArray>>(array);
    case Type::DOUBLE:
      return std::make_unique<NumberWriter<arrow::DoubleArray>>(array);
    case Type::STRING:
      return std::make_unique<StringWriter<arrow::StringArray>>(array, false);
    case Type::LARGE_STRING:
      return std::make_unique<StringWriter<arrow::LargeStringArray>>(array, false);
    case Type::STRING_VIEW:
      return std::make_unique<StringWriter<arrow::StringViewArray>>(array, false);
    case Type::BINARY:
      return std::make_unique<StringWriter<arrow::BinaryArray>>(array, false);
    case Type::LARGE_BINARY:
      return std::make_unique<StringWriter<arrow::LargeBinaryArray>>(array, false);
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256: {
      ARROW_ASSIGN_OR_RAISE(auto text, arrow::compute::Cast(*array, arrow::utf8()));
      return std::make_unique<StringWriter<arrow::StringArray>>(text, true);
    }
    case Type::STRUCT:
      return StructWriter::Make(array);
    case Type::LIST:
      return ListWriter<arrow::ListArray>::Make(array);
    case Type::LARGE_LIST:
      return ListWriter<arrow::LargeListArray>::Make(array);
    case Type::FIXED_SIZE_LIST:
      return ListWriter<arrow::FixedSizeListArray>::Make(array);
    case Type::MAP:
      return MapWriter::Make(array);
    case Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryType&>(*array->type());
      ARROW_ASSIGN_OR_RAISE(auto dense, arrow::compute::Cast(*array, dict.value_type()));
      return MakeJsonValueWriter(dense);
    }
    default: {
      // Dates, timestamps, times, durations, intervals: ISO-like text.
      auto text = arrow::compute::Cast(*array, arrow::utf8());
      if (!text.ok()) {
        return Status::NotImplemented("cannot write type ", array->type()->ToString(),
                                      " as JSON");
      }
      return std::make_unique<StringWriter<arrow::StringArray>>(*text, false);
    }
  }
}

}  // namespace flowsql
