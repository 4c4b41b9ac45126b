// Warnings: a statement did what was asked, but the user should know something about
// it (records a source skipped as on_bad_record = 'skip' said). Printed at once on
// standard error as "Warning: <text>", secrets redacted. Thread-safe.
#pragma once

#include <string_view>

namespace flowsql {

void Warn(std::string_view text);

}  // namespace flowsql
