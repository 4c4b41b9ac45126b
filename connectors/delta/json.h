// simdjson helpers of the delta connector.
#pragma once

#include <simdjson.h>

#include <utility>

namespace flowsql::delta {

/// The value of a simdjson lookup, or `fallback` when it failed (missing, another
/// type).
template <typename T, typename R>
T ValueOr(R&& result, T fallback) {
  T value;
  return std::forward<R>(result).get(value) == simdjson::SUCCESS ? value : fallback;
}

}  // namespace flowsql::delta
