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
///   memory_limit: what an operator that can spill holds in memory, in bytes
///     ('4GB', '512MiB'); default 80% of the machine's (or the cgroup's) memory, as
///     DuckDB's. A window
///     operator's input beyond a quarter of it goes to temp_directory.
///   temp_directory: where spilled rows go; default the system's temporary
///     directory; '' never spills (as DuckDB).
struct Settings {
  std::string time_zone;
  int threads = 0;
  int64_t memory_limit = 0;
  std::string temp_directory;
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
