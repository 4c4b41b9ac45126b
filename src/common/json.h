// JSON text helpers shared by the JSON writers, to_json() and the CLI.
#pragma once

#include <arrow/array.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flowsql/status.h"

namespace flowsql {

/// Appends `s` to `out` as a quoted JSON string, escaping quotes, backslashes and
/// control characters. REQUIRES: s is UTF-8 (it is copied as is).
void AppendJsonString(std::string_view s, std::string* out);
/// Appends `list` as a JSON array of strings: ["a","b"].
void AppendJsonStrings(const std::vector<std::string>& list, std::string* out);

/// Writes the values of one Arrow array as JSON: numbers and booleans as such, text
/// quoted, decimals as bare numbers, dates, timestamps and other types as their
/// ISO 8601 text, structs and maps as objects, lists as arrays, NULL as null.
class JsonValueWriter {
 public:
  virtual ~JsonValueWriter() = default;
  /// Appends the value at `i`. REQUIRES: 0 <= i < the array's length.
  virtual void Write(int64_t i, std::string* out) const = 0;
};

/// The writer of `array`'s values; NotImplemented for a type JSON cannot hold.
Result<std::unique_ptr<JsonValueWriter>> MakeJsonValueWriter(
    std::shared_ptr<arrow::Array> array);

}  // namespace flowsql
