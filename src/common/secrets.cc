#include "common/secrets.h"

#include <algorithm>
#include <mutex>
#include <set>

namespace flowsql {

namespace {

std::mutex& Mutex() {
  static std::mutex mutex;
  return mutex;
}

/// Longest first, so that a secret containing another is replaced whole.
struct LongerFirst {
  bool operator()(const std::string& a, const std::string& b) const {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  }
};

std::set<std::string, LongerFirst>& Secrets() {
  static auto* secrets = new std::set<std::string, LongerFirst>();
  return *secrets;
}

}  // namespace

void RegisterSecret(std::string_view value) {
  if (value.size() < 4) return;
  std::lock_guard<std::mutex> lock(Mutex());
  Secrets().emplace(value);
}

std::string Redact(std::string_view text) {
  std::string out(text);
  std::lock_guard<std::mutex> lock(Mutex());
  for (const auto& secret : Secrets()) {
    size_t at = 0;
    while ((at = out.find(secret, at)) != std::string::npos) {
      out.replace(at, secret.size(), "***");
      at += 3;
    }
  }
  return out;
}

}  // namespace flowsql
