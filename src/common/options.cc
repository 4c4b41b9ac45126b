#include "flowsql/options.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/secrets.h"
#include "common/text.h"

namespace flowsql {

namespace {

bool ParseInt(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool ParseDouble(const std::string& text, double* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || std::isnan(v)) return false;
  *out = v;
  return true;
}

bool ParseBool(const std::string& text, bool* out) {
  std::string t = AsciiLower(text);
  if (t == "true" || t == "1" || t == "on" || t == "yes" || t == "t") {
    *out = true;
    return true;
  }
  if (t == "false" || t == "0" || t == "off" || t == "no" || t == "f") {
    *out = false;
    return true;
  }
  return false;
}

// Splits "12.5ms" into number and unit.
bool SplitNumberUnit(const std::string& text, double* number, std::string* unit) {
  size_t i = 0;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return false;
  char* end = nullptr;
  std::string num = text.substr(0, i);
  *number = std::strtod(num.c_str(), &end);
  if (*end != '\0') return false;
  size_t j = i;
  while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
  *unit = AsciiLower(text.substr(j));
  return true;
}

/// The entries of an EncodeMap() text.
std::vector<std::pair<std::string, std::string>> DecodeMap(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.empty()) return out;
  std::string key, value;
  bool in_value = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == ',') {
      out.emplace_back(std::move(key), std::move(value));
      key.clear();
      value.clear();
      in_value = false;
    } else if (text[i] == '=' && !in_value) {
      in_value = true;
    } else {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      (in_value ? value : key) += text[i];
    }
  }
  return out;
}

/// "k=v,k=v" as users write it in a string: a comma splits only where a '=' follows
/// before the next comma, so that types such as DECIMAL(10,2) keep theirs.
std::vector<std::pair<std::string, std::string>> SplitMapText(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    while (comma != std::string::npos) {
      size_t next_eq = text.find('=', comma);
      size_t next_comma = text.find(',', comma + 1);
      if (next_eq != std::string::npos &&
          (next_comma == std::string::npos || next_eq < next_comma)) {
        break;
      }
      comma = next_comma;
    }
    std::string item = text.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = item.find('=');
    if (eq != std::string::npos) {
      out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// `text` with each ${NAME} replaced by the environment variable NAME ($${ is a
/// literal ${). `bad` words the error for an unset variable or an unclosed ${.
template <typename Bad>
Result<std::string> SubstituteEnv(const std::string& text, const Bad& bad) {
  if (text.find("${") == std::string::npos) return text;
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 2;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i];
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string::npos) return bad("'${' without a closing '}'");
    const std::string name = text.substr(i + 2, close - i - 2);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return bad("environment variable '" + name + "' is not set");
    }
    out += value;
    i = close;
  }
  return out;
}

}  // namespace

std::string EncodeMap(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  auto append = [&](const std::string& text) {
    for (char c : text) {
      if (c == '\\' || c == ',' || c == '=') out += '\\';
      out += c;
    }
  };
  for (const auto& [key, value] : entries) {
    if (!out.empty()) out += ',';
    append(key);
    out += '=';
    append(value);
  }
  return out;
}

const char* OptionTypeName(OptionType type) {
  switch (type) {
    case OptionType::kString:
      return "string";
    case OptionType::kInt:
      return "integer";
    case OptionType::kDouble:
      return "number";
    case OptionType::kBool:
      return "boolean";
    case OptionType::kDuration:
      return "duration";
    case OptionType::kSize:
      return "size";
    case OptionType::kEnum:
      return "enum";
    case OptionType::kMap:
      return "map";
    case OptionType::kCondition:
      return "condition";
  }
  return "?";
}

Result<int64_t> ParseDurationMillis(const std::string& text) {
  double n;
  std::string unit;
  if (!SplitNumberUnit(text, &n, &unit)) {
    return Status::Invalid("not a duration: '", text, "' (expected e.g. '1s', '250ms')");
  }
  double ms;
  if (unit.empty() || unit == "s" || unit == "sec" || unit == "second" ||
      unit == "seconds") {
    ms = n * 1000;
  } else if (unit == "ms" || unit == "millisecond" || unit == "milliseconds") {
    ms = n;
  } else if (unit == "us" || unit == "microseconds") {
    ms = n / 1000;
  } else if (unit == "m" || unit == "min" || unit == "minute" || unit == "minutes") {
    ms = n * 60000;
  } else if (unit == "h" || unit == "hour" || unit == "hours") {
    ms = n * 3600000;
  } else {
    return Status::Invalid("not a duration: '", text, "' (unknown unit '", unit, "')");
  }
  return static_cast<int64_t>(std::llround(ms));
}

Result<int64_t> ParseSizeBytes(const std::string& text) {
  double n;
  std::string unit;
  if (!SplitNumberUnit(text, &n, &unit)) {
    return Status::Invalid("not a size: '", text, "' (expected e.g. '64MB')");
  }
  double mult;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "kb") {
    mult = 1e3;
  } else if (unit == "mb") {
    mult = 1e6;
  } else if (unit == "gb") {
    mult = 1e9;
  } else if (unit == "kib") {
    mult = 1024.0;
  } else if (unit == "mib") {
    mult = 1024.0 * 1024;
  } else if (unit == "gib") {
    mult = 1024.0 * 1024 * 1024;
  } else {
    return Status::Invalid("not a size: '", text, "' (unknown unit '", unit, "')");
  }
  return static_cast<int64_t>(n * mult);
}

Result<Options> Options::Validate(const std::vector<OptionSpec>& specs,
                                  const std::vector<RawOption>& raw,
                                  const std::string& context) {
  Options out;
  for (const auto& spec : specs) {
    if (!spec.default_value.empty()) out.values_[spec.name] = spec.default_value;
  }
  for (const auto& opt : raw) {
    std::string name = AsciiLower(opt.name);
    const OptionSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (AsciiLower(s.name) == name ||
          std::any_of(s.aliases.begin(), s.aliases.end(),
                      [&](const std::string& a) { return AsciiLower(a) == name; })) {
        spec = &s;
        break;
      }
    }
    std::string where = opt.position.empty() ? "" : " at " + opt.position;
    if (spec == nullptr) {
      auto any = std::find_if(specs.begin(), specs.end(),
                              [](const OptionSpec& s) { return s.name == kAnyOption; });
      if (any != specs.end()) spec = &*any;
    }
    if (spec == nullptr) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
      return Status::Invalid("unknown option '", opt.name, "'", where, " for ", context,
                             "; known options: ", known.empty() ? "(none)" : known);
    }
    // An option the catch-all spec takes keeps the name the user wrote.
    const std::string key = spec->name == kAnyOption ? opt.name : spec->name;
    if (out.set_.count(key)) {
      return Status::Invalid("option '", key, "' given twice", where);
    }
    auto bad = [&](const std::string& why) {
      return Status::Invalid("option '", opt.name, "'", where, " for ", context, ": ",
                             why);
    };
    std::string value;
    std::vector<std::pair<std::string, std::string>> entries;
    if (spec->type == OptionType::kMap) {
      // Entry by entry, so that a variable's value holding ',' or '=' stays whole.
      entries = opt.map ? DecodeMap(opt.value) : SplitMapText(opt.value);
      for (auto& [key, entry] : entries) {
        ARROW_ASSIGN_OR_RAISE(key, SubstituteEnv(key, bad));
        ARROW_ASSIGN_OR_RAISE(entry, SubstituteEnv(entry, bad));
      }
      value = EncodeMap(entries);
    } else {
      ARROW_ASSIGN_OR_RAISE(value, SubstituteEnv(opt.value, bad));
    }
    switch (spec->type) {
      case OptionType::kString:
      case OptionType::kMap:
      case OptionType::kCondition:
        break;
      case OptionType::kInt: {
        int64_t v;
        if (!ParseInt(value, &v)) return bad("expected an integer, got '" + value + "'");
        break;
      }
      case OptionType::kDouble: {
        double v;
        if (!ParseDouble(value, &v)) return bad("expected a number, got '" + value + "'");
        break;
      }
      case OptionType::kBool: {
        bool v;
        if (!ParseBool(value, &v))
          return bad("expected true or false, got '" + value + "'");
        value = v ? "true" : "false";
        break;
      }
      case OptionType::kDuration: {
        auto r = ParseDurationMillis(value);
        if (!r.ok()) return bad(r.status().message());
        break;
      }
      case OptionType::kSize: {
        auto r = ParseSizeBytes(value);
        if (!r.ok()) return bad(r.status().message());
        break;
      }
      case OptionType::kEnum: {
        std::string v = AsciiLower(value);
        bool found = false;
        std::string all;
        for (const auto& c : spec->choices) {
          all += (all.empty() ? "" : ", ") + c;
          if (AsciiLower(c) == v) found = true;
        }
        if (!found) return bad("expected one of " + all + ", got '" + value + "'");
        value = v;
        break;
      }
    }
    if (spec->secret) {
      RegisterSecret(value);
      for (const auto& entry : entries) RegisterSecret(entry.second);
    }
    out.values_[key] = value;
    out.set_[key] = true;
  }
  return out;
}

std::string Options::GetString(const std::string& name,
                               const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int64_t Options::GetInt(const std::string& name, int64_t fallback) const {
  int64_t v;
  auto it = values_.find(name);
  return it != values_.end() && ParseInt(it->second, &v) ? v : fallback;
}

double Options::GetDouble(const std::string& name, double fallback) const {
  double v;
  auto it = values_.find(name);
  return it != values_.end() && ParseDouble(it->second, &v) ? v : fallback;
}

bool Options::GetBool(const std::string& name, bool fallback) const {
  bool v;
  auto it = values_.find(name);
  return it != values_.end() && ParseBool(it->second, &v) ? v : fallback;
}

int64_t Options::GetMillis(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  auto r = ParseDurationMillis(it->second);
  return r.ok() ? *r : fallback;
}

std::vector<std::pair<std::string, std::string>> Options::GetMap(
    const std::string& name) const {
  return DecodeMap(GetString(name));
}

}  // namespace flowsql
