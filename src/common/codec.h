// A small binary encoding of strings and integers: each field is its decimal
// length, ':', the bytes, ','. Used wherever flowsql turns values into bytes and
// back (scan tasks, pipeline state), so one reader parses them all.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "flowsql/status.h"

namespace flowsql {

/// Appends `value` as one field.
void AppendField(std::string_view value, std::string* out);
void AppendField(int64_t value, std::string* out);

/// A stable 64-bit hash of `text` (FNV-1a), as 16 hex digits: the same on every
/// build and machine, so it may name things on disk.
std::string StableHash(std::string_view text);

/// Reads fields back in the order they were appended.
class FieldReader {
 public:
  /// `what` names the data in errors ("scan task", "state file 'x'").
  FieldReader(std::string_view data, std::string what)
      : data_(data), what_(std::move(what)) {}

  bool done() const { return pos_ >= data_.size(); }
  Result<std::string> String();
  Result<int64_t> Int();

 private:
  std::string_view data_;
  std::string what_;
  size_t pos_ = 0;
};

}  // namespace flowsql
