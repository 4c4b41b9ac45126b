// flowsql errors are arrow::Status values. Two kinds matter to callers:
// user errors (bad SQL, unknown or ill-typed options, missing files), which the CLI
// reports with exit code 1, and runtime failures (I/O, servers), exit code 2.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <string>

namespace flowsql {

using arrow::Result;
using arrow::Status;

/// A user error: the statement or its options are wrong. `where` is a position
/// ("line 1:14") or a name ("option 'delimiter'"); it leads the message.
inline Status UserError(const std::string& message) { return Status::Invalid(message); }

/// True for errors the user caused and can fix by changing the statement.
inline bool IsUserError(const Status& st) {
  return st.IsInvalid() || st.IsTypeError() || st.IsKeyError() || st.IsNotImplemented() ||
         st.IsIndexError();
}

}  // namespace flowsql
