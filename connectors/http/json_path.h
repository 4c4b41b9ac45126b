// Values at a path in a JSON document: where a page's records, total, cursor or next
// URL are. Paths are the JSONPath subset APIs need: "$.data.items", "meta.next",
// "$.links[0].href", "$['odd key']"; "$" or "" is the document itself.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flowsql/status.h"

namespace flowsql::httpapi {

/// One step of a path: a member name, or an array index when `index` >= 0.
struct PathStep {
  std::string name;
  int64_t index = -1;
};

/// Parses `path`; an error says what is wrong with it (the caller names the option).
Result<std::vector<PathStep>> ParsePath(std::string_view path);

/// The element at `path` below `root`, or nullopt when a step is missing (or null
/// on the way).
std::optional<simdjson::dom::element> Find(simdjson::dom::element root,
                                           const std::vector<PathStep>& path);

/// A scalar as text: a string as is, a number or boolean as JSON writes it; nullopt
/// for null, an object or an array.
std::optional<std::string> ScalarText(simdjson::dom::element value);

}  // namespace flowsql::httpapi
