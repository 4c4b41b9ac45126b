#include "plan/settings.h"

#include <arrow/util/thread_pool.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/numbers.h"
#include "common/temporal.h"
#include "common/text.h"
#include "flowsql/options.h"

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

/// 80% of the memory this process may use: the machine's, or its cgroup's limit
/// when lower (in a container).
int64_t DefaultMemoryLimit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  int64_t memory =
      pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : int64_t{1} << 32;
  if (FILE* f = std::fopen("/sys/fs/cgroup/memory.max", "r")) {
    long long limit = 0;
    if (std::fscanf(f, "%lld", &limit) == 1 && limit > 0 && limit < memory) {
      memory = limit;
    }
    std::fclose(f);
  }
  return memory / 10 * 8;
}

std::string DefaultTempDirectory() {
  std::error_code ec;
  auto dir = std::filesystem::temp_directory_path(ec);
  return ec ? "/tmp" : dir.string();
}

constexpr const char* kKnown =
    "settings: TimeZone, threads, memory_limit, temp_directory";

}  // namespace

Settings DefaultSettings() {
  Settings s;
  s.time_zone = SystemTimeZone();
  s.threads = arrow::GetCpuThreadPoolCapacity();
  s.memory_limit = DefaultMemoryLimit();
  s.temp_directory = DefaultTempDirectory();
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
  if (key == "memory_limit" || key == "max_memory") {
    int64_t bytes = DefaultMemoryLimit();
    if (value) {
      auto parsed = ParseSizeBytes(*value);
      if (!parsed.ok() || *parsed < 1) {
        return Status::Invalid("setting ", name, " must be a size such as '4GB', got '",
                               *value, "'");
      }
      bytes = *parsed;
    }
    settings->memory_limit = bytes;
    return Status::OK();
  }
  if (key == "temp_directory") {
    settings->temp_directory = value ? *value : DefaultTempDirectory();
    return Status::OK();
  }
  return Status::Invalid("unknown setting '", name, "' (", kKnown, ")");
}

Result<std::string> GetSetting(const Settings& settings, const std::string& name) {
  const std::string key = AsciiLower(name);
  if (key == "timezone") return settings.time_zone;
  if (key == "threads" || key == "worker_threads")
    return std::to_string(settings.threads);
  if (key == "memory_limit" || key == "max_memory") {
    // As DuckDB shows it: 62.5 KiB, 3.7 GiB.
    double v = static_cast<double>(settings.memory_limit);
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
      v /= 1024;
      ++u;
    }
    char text[32];
    if (u > 0) v = std::floor(v * 10) / 10;  // DuckDB truncates: 953.6 MiB for 1GB
    std::snprintf(text, sizeof(text), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return std::string(text);
  }
  if (key == "temp_directory") return settings.temp_directory;
  return Status::Invalid("unknown setting '", name, "' (", kKnown, ")");
}

}  // namespace flowsql::plan
