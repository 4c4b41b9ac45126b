#include "connectors/http/json_path.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace flowsql::httpapi {

Result<std::vector<PathStep>> ParsePath(std::string_view path) {
  std::vector<PathStep> out;
  size_t i = 0;
  if (!path.empty() && path[0] == '$') i = 1;
  auto bad = [&](const std::string& why) {
    return Status::Invalid("not a JSON path: '", std::string(path), "' (", why, ")");
  };
  bool first = true;
  while (i < path.size()) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      if (close == std::string_view::npos) return bad("'[' without ']'");
      std::string_view inside = path.substr(i + 1, close - i - 1);
      PathStep step;
      if (inside.size() >= 2 && (inside[0] == '\'' || inside[0] == '"') &&
          inside.back() == inside[0]) {
        step.name = std::string(inside.substr(1, inside.size() - 2));
      } else if (!inside.empty() && std::all_of(inside.begin(), inside.end(), [](char c) {
                   return std::isdigit(static_cast<unsigned char>(c));
                 })) {
        auto parsed =
            std::from_chars(inside.data(), inside.data() + inside.size(), step.index);
        if (parsed.ec != std::errc()) return bad("an index too large");
      } else {
        return bad("expected [n] or ['name']");
      }
      out.push_back(std::move(step));
      i = close + 1;
    } else {
      if (path[i] == '.') {
        ++i;
      } else if (!first) {
        return bad("expected '.' or '[' at character " + std::to_string(i + 1));
      }
      const size_t end = path.find_first_of(".[", i);
      std::string_view name =
          path.substr(i, end == std::string_view::npos ? end : end - i);
      if (name.empty()) return bad("an empty name");
      out.push_back(PathStep{std::string(name), -1});
      i = end == std::string_view::npos ? path.size() : end;
    }
    first = false;
  }
  return out;
}

std::optional<simdjson::dom::element> Find(simdjson::dom::element root,
                                           const std::vector<PathStep>& path) {
  simdjson::dom::element at = root;
  for (const auto& step : path) {
    simdjson::dom::element next;
    if (step.index >= 0) {
      if (at.type() != simdjson::dom::element_type::ARRAY) return std::nullopt;
      if (at.at(static_cast<size_t>(step.index)).get(next) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    } else {
      if (at.type() != simdjson::dom::element_type::OBJECT) return std::nullopt;
      if (at.get_object().at_key(step.name).get(next) != simdjson::SUCCESS) {
        return std::nullopt;
      }
    }
    at = next;
  }
  return at;
}

std::optional<std::string> ScalarText(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(value.get_string().value_unsafe());
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
    case simdjson::dom::element_type::BOOL:
      return simdjson::minify(value);
    default:
      return std::nullopt;
  }
}

}  // namespace flowsql::httpapi
