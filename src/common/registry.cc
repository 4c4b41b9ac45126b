#include <algorithm>
#include <cctype>

#include "flowsql/connector.h"

namespace flowsql {

std::string UriScheme(const std::string& uri) {
  size_t pos = uri.find("://");
  if (pos == std::string::npos || pos == 0) return "";
  std::string scheme = uri.substr(0, pos);
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' &&
        c != '.') {
      return "";
    }
  }
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme;
}

Status Registry::Register(ConnectorSpec spec) {
  for (const auto& c : connectors_) {
    if (c.name == spec.name)
      return Status::Invalid("connector registered twice: ", spec.name);
  }
  connectors_.push_back(std::move(spec));
  return Status::OK();
}

const ConnectorSpec* Registry::FindByUri(const std::string& uri) const {
  std::string scheme = UriScheme(uri);
  for (const auto& c : connectors_) {
    if (std::find(c.schemes.begin(), c.schemes.end(), scheme) != c.schemes.end())
      return &c;
  }
  return nullptr;
}

const ConnectorSpec* Registry::FindByFunction(const std::string& name) const {
  for (const auto& c : connectors_) {
    if (c.functions.count(name)) return &c;
  }
  return nullptr;
}

}  // namespace flowsql
