// VACUUM of a Delta table: deletes the files in its folder that no version within
// the retention period needs.
#pragma once

#include <string>
#include <vector>

#include "connectors/delta/delta_log.h"

namespace flowsql::delta {

struct VacuumSettings {
  /// Files removed from the table longer ago than this are deleted; < 0: the table's
  /// delta.deletedFileRetentionDuration (7 days unless it says otherwise).
  double retain_hours = -1;
  bool dry_run = false;  // list what would be deleted, delete nothing
  /// Refuse a retention below the table's, which would take files from readers of
  /// versions still in it (Spark's retentionDurationCheck, delta-rs's
  /// enforce_retention_duration).
  bool enforce_retention = true;
};

/// Deletes (unless dry_run) the data and deletion-vector files under the table's
/// folder that its latest version does not reference, that no `remove` within the
/// retention took out of it, and that were last modified before the retention: what
/// a failed write left, and what old versions alone referenced. Files and folders
/// whose names start with '_' or '.' (the log) are never touched. Returns the
/// paths, relative to the table, sorted.
Result<std::vector<std::string>> Vacuum(const DeltaLog& log,
                                        const VacuumSettings& settings);

}  // namespace flowsql::delta
