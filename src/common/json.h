// JSON text helpers shared by the JSON writers and the CLI.
#pragma once

#include <string>
#include <string_view>

namespace flowsql {

/// Appends `s` to `out` as a quoted JSON string, escaping quotes, backslashes and
/// control characters. REQUIRES: s is UTF-8 (it is copied as is).
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace flowsql
