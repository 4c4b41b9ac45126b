// Files that survive a crash: fsync, atomic replacement, and directory listings
// that report errors instead of throwing. The state directory and the file sink
// both write through these.
#pragma once

#include <string>
#include <vector>

#include "flowsql/status.h"

namespace flowsql {

/// fsyncs a file, or a directory (after a rename or link in it). Errors are
/// IOError naming the path.
Status SyncPath(const std::string& path, bool directory);

/// Replaces `path` with `data`: written to a hidden temporary file beside it,
/// fsynced, renamed onto `path`, and the directory fsynced, so that a crash leaves
/// the old content or the new.
Status WriteFileAtomically(const std::string& path, const std::string& data);

/// The names in `dir`, without "." and "..". A missing directory lists empty;
/// other errors are IOError naming it.
Result<std::vector<std::string>> ListDirectory(const std::string& dir);

}  // namespace flowsql
