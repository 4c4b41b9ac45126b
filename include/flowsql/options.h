// Connector options are data: each connector declares them once (name, type,
// default, doc, aliases), and the engine validates what the user wrote in
// WITH (...), a table function's named arguments or a COPY option list against
// that declaration before anything runs. `flowsql connectors` prints the same
// declarations.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flowsql/status.h"

namespace flowsql {

enum class OptionType {
  kString,
  kInt,        // a whole number
  kDouble,     // a number
  kBool,       // true/false, 1/0, on/off
  kDuration,   // '1s', '250ms', '2m', '1h', or a number of seconds
  kSize,       // '64MB', '1GiB', or a number of bytes
  kEnum,       // one of OptionSpec::choices (case-insensitive)
  kMap,        // {'a': 'INT', 'b': 'VARCHAR'}, or the text 'a=INT,b=VARCHAR'; stored
               // as EncodeMap() makes it, read with Options::GetMap()
  kCondition,  // a sink's SQL condition over the rows it writes (op = 'D'), bound by
               // the engine (ConnectorArgs::conditions)
};

const char* OptionTypeName(OptionType type);

/// The name of an OptionSpec that takes every option no other spec names, as a
/// string under the name the user wrote (a plugin's options: Python sources).
inline constexpr char kAnyOption[] = "*";

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kString;
  std::string default_value;  // empty: no default
  std::string doc;
  std::vector<std::string> aliases = {};
  std::vector<std::string> choices = {};  // for kEnum
  /// A password, key or token: its value is redacted wherever text is shown
  /// (common/secrets.h), and `flowsql connectors` says so.
  bool secret = false;
};

/// One option as the user wrote it. `value` is the literal's text (strings
/// unquoted); `position` is where it stands in the statement ("line 1:40"), or empty.
struct RawOption {
  std::string name;
  std::string value;
  std::string position;
  /// True when `value` is EncodeMap() of a map literal ({'k': 'v', ...}), whose keys
  /// and values are kept exactly. False: plain text; a kMap option then splits it
  /// as "k=v,k=v" (a comma splits only where a '=' follows, so DECIMAL(10,2) stays).
  bool map = false;
};

/// The stored form of a kMap value: "k=v,k=v" with '\\', ',' and '=' inside keys and
/// values escaped by a backslash, so any text survives. Options::GetMap() reverses it.
std::string EncodeMap(const std::vector<std::pair<std::string, std::string>>& entries);

/// Options validated against a declaration. Values are stored under their
/// canonical names; defaults are filled in.
class Options {
 public:
  Options() = default;

  /// Checks every raw option against `specs`: unknown names (aliases and case
  /// allowed), ill-typed values and duplicates are errors that name the option.
  /// `context` names the connector in messages ("file source"). In every value
  /// (each key and value of a map) ${NAME} is replaced by the environment variable
  /// NAME, an error naming the option and the variable when it is not set; $${
  /// stands for a literal ${. A secret option's value is registered as a secret
  /// after the replacement.
  static Result<Options> Validate(const std::vector<OptionSpec>& specs,
                                  const std::vector<RawOption>& raw,
                                  const std::string& context);

  /// True when the user set `name` (defaults do not count).
  bool IsSet(const std::string& name) const { return set_.count(name) > 0; }
  /// True when the option has a value, set or default.
  bool Has(const std::string& name) const { return values_.count(name) > 0; }

  std::string GetString(const std::string& name, const std::string& fallback = "") const;
  int64_t GetInt(const std::string& name, int64_t fallback = 0) const;
  double GetDouble(const std::string& name, double fallback = 0) const;
  bool GetBool(const std::string& name, bool fallback = false) const;
  /// kDuration options, in milliseconds.
  int64_t GetMillis(const std::string& name, int64_t fallback = 0) const;
  /// kMap options as ordered key/value pairs, exactly as written.
  std::vector<std::pair<std::string, std::string>> GetMap(const std::string& name) const;

  /// Sets a value directly (used by table functions that preset options).
  void Set(const std::string& name, std::string value) {
    values_[name] = std::move(value);
    set_[name] = true;
  }
  /// Sets a value without marking it as set by the user (a default).
  void SetDefault(const std::string& name, std::string value) {
    values_[name] = std::move(value);
  }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> set_;
};

/// Parses a duration ('1s', '250ms', '2m', '1h', '3') into milliseconds.
Result<int64_t> ParseDurationMillis(const std::string& text);
/// Parses a size ('64MB', '1GiB', '1000') into bytes.
Result<int64_t> ParseSizeBytes(const std::string& text);

}  // namespace flowsql
