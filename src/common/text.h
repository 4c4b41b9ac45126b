// ASCII text helpers: SQL keywords, identifiers, option names and type names fold
// case and trim blanks the same way everywhere.
#pragma once

#include <string>
#include <string_view>

namespace flowsql {

/// `text` with ASCII letters lower-cased (other bytes, UTF-8 included, kept).
std::string AsciiLower(std::string text);
/// `text` with ASCII letters upper-cased.
std::string AsciiUpper(std::string text);
/// True when `a` and `b` are equal but for ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
/// `text` without leading and trailing spaces, tabs, CRs and LFs.
std::string TrimBlanks(std::string_view text);

}  // namespace flowsql
