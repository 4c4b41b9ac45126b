// Session settings: SET name = value, RESET name, current_setting('name').
#pragma once

#include <optional>
#include <string>

#include "flowsql/connector.h"

namespace flowsql::plan {

/// What a session has SET. Names are case-insensitive, as in DuckDB.
///   TimeZone: the zone TIMESTAMPTZ values are shown, cast and taken apart in (an
///     IANA name or a fixed offset); default: the TZ environment variable, else the
///     system's zone (/etc/localtime), else UTC.
///   threads: the worker threads of the process's compute pool (>= 1).
struct Settings {
  std::string time_zone;
  int threads = 0;
};

/// The defaults (see Settings).
Settings DefaultSettings();

/// SET name = value, or RESET name (no value): validated, then applied (threads
/// resize the process's compute pool). An unknown name or a bad value is an error
/// that names it; `settings` is then unchanged.
Status ApplySetting(Settings* settings, const std::string& name,
                    const std::optional<std::string>& value);

/// current_setting(name): the value as text.
Result<std::string> GetSetting(const Settings& settings, const std::string& name);

}  // namespace flowsql::plan
