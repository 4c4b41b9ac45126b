// Secrets (passwords, keys, tokens) must never reach a log line, an error message,
// EXPLAIN output or `flowsql pipelines`. Whoever learns a secret registers it here:
// Options::Validate for options declared secret, connectors for secrets they read
// from the environment. Whatever prints text a secret might be in passes it through
// Redact(). Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace flowsql {

/// Remembers `value` as a secret for the life of the process. Values shorter than 4
/// characters are ignored (they would redact ordinary text).
void RegisterSecret(std::string_view value);

/// `text` with every registered secret replaced by "***".
std::string Redact(std::string_view text);

}  // namespace flowsql
