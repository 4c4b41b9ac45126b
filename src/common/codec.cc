#include "common/codec.h"

#include <charconv>

#include "common/numbers.h"

namespace flowsql {

void AppendField(std::string_view value, std::string* out) {
  out->append(std::to_string(value.size()));
  out->push_back(':');
  out->append(value);
  out->push_back(',');
}

void AppendField(int64_t value, std::string* out) {
  AppendField(std::to_string(value), out);
}

std::string StableHash(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[i] = kHex[h & 15];
  return out;
}

Result<std::string> FieldReader::String() {
  size_t colon = data_.find(':', pos_);
  size_t length = 0;
  if (colon == std::string_view::npos || colon == pos_ ||
      std::from_chars(data_.data() + pos_, data_.data() + colon, length).ptr !=
          data_.data() + colon ||
      length > data_.size() - colon - 1 || colon + 1 + length >= data_.size() ||
      data_[colon + 1 + length] != ',') {
    return Status::IOError(what_, " is corrupt at byte ", pos_);
  }
  std::string value(data_.substr(colon + 1, length));
  pos_ = colon + 2 + length;
  return value;
}

Result<int64_t> FieldReader::Int() {
  ARROW_ASSIGN_OR_RAISE(std::string text, String());
  auto value = ParseInt64(text);
  if (!value) return Status::IOError(what_, " is corrupt: '", text, "' is not a number");
  return *value;
}

}  // namespace flowsql
