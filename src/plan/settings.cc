#include "plan/settings.h"

#include <arrow/util/thread_pool.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <thread>

#include "common/numbers.h"
#include "common/temporal.h"
#include "common/text.h"

namespace flowsql::plan {

namespace {

std::string SystemTimeZone() {
  if (const char* tz = std::getenv("TZ"); tz != nullptr && *tz != '\0') {
    std::string zone = *tz == ':' ? tz + 1 : tz;
    if (CheckTimeZone(zone).ok()) return zone;
  }
  // /etc/localtime links into the zoneinfo tree: .../zoneinfo/Europe/Berlin.
  char target[PATH_MAX];
  ssize_t n = readlink("/etc/localtime", target, sizeof(target) - 1);
  if (n > 0) {
    std::string path(target, static_cast<size_t>(n));
    size_t at = path.find("zoneinfo/");
    if (at != std::string::npos) {
      std::string zone = path.substr(at + 9);
      if (CheckTimeZone(zone).ok()) return zone;
    }
  }
  return "UTC";
}

int DefaultThreads() {
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

Settings DefaultSettings() {
  Settings s;
  s.time_zone = SystemTimeZone();
  s.threads = arrow::GetCpuThreadPoolCapacity();
  return s;
}

Status ApplySetting(Settings* settings, const std::string& name,
                    const std::optional<std::string>& value) {
  const std::string key = AsciiLower(name);
  if (key == "timezone") {
    std::string zone = value ? *value : SystemTimeZone();
    ARROW_RETURN_NOT_OK(CheckTimeZone(zone));
    settings->time_zone = zone;
    return Status::OK();
  }
  if (key == "threads" || key == "worker_threads") {
    int64_t n = DefaultThreads();
    if (value) {
      auto parsed = ParseInt64(*value);
      if (!parsed || *parsed < 1 || *parsed > 1024) {
        return Status::Invalid("setting ", name,
                               " must be an integer from 1 to 1024, got '", *value, "'");
      }
      n = *parsed;
    }
    ARROW_RETURN_NOT_OK(arrow::SetCpuThreadPoolCapacity(static_cast<int>(n)));
    settings->threads = static_cast<int>(n);
    return Status::OK();
  }
  return Status::Invalid("unknown setting '", name, "' (settings: TimeZone, threads)");
}

Result<std::string> GetSetting(const Settings& settings, const std::string& name) {
  const std::string key = AsciiLower(name);
  if (key == "timezone") return settings.time_zone;
  if (key == "threads" || key == "worker_threads")
    return std::to_string(settings.threads);
  return Status::Invalid("unknown setting '", name, "' (settings: TimeZone, threads)");
}

}  // namespace flowsql::plan
