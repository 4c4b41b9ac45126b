// Numbers from text, checked: no exceptions, no silent wrap-around.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace flowsql {

/// The whole of `text` as a decimal int64 (an optional leading '-'), or nullopt
/// when it is not one or does not fit.
std::optional<int64_t> ParseInt64(std::string_view text);

/// The whole of `text` as a double, or nullopt when it is not a number or
/// overflows (1e400). An underflow (1e-400) gives the nearest double, 0.
std::optional<double> ParseDouble(std::string_view text);

}  // namespace flowsql
