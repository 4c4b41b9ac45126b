#include "common/warnings.h"

#include <cstdio>
#include <mutex>
#include <string>

#include "common/secrets.h"

namespace flowsql {

void Warn(std::string_view text) {
  static std::mutex mutex;  // one line at a time
  const std::string line = "Warning: " + Redact(text) + "\n";
  std::lock_guard<std::mutex> lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace flowsql
