#include "connectors/delta/delta_vacuum.h"

#include <arrow/filesystem/filesystem.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "connectors/delta/deletion_vector.h"
#include "connectors/delta/delta_schema.h"
#include "connectors/file/partitions.h"

namespace flowsql::delta {

namespace {

/// `hours` as text: "168", "0.5".
std::string Hours(double hours) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", hours);
  return text;
}

/// `uri` relative to the folder `table`, or "" when it lies outside it. Local paths
/// are compared absolute ("file:///t/x", "/t/x" and "t/x" in /).
std::string Relative(std::string uri, std::string table, bool local) {
  if (local) {
    if (uri.rfind("file://", 0) == 0) uri = uri.substr(7);
    uri = std::filesystem::absolute(uri).lexically_normal().string();
    table = std::filesystem::absolute(table).lexically_normal().string();
    while (table.size() > 1 && table.back() == '/') table.pop_back();
  }
  if (uri.rfind(table + "/", 0) != 0) return "";
  return uri.substr(table.size() + 1);
}

}  // namespace

Result<std::vector<std::string>> Vacuum(const DeltaLog& log,
                                        const VacuumSettings& settings) {
  const std::string table = "delta table " + log.table_uri();
  ARROW_ASSIGN_OR_RAISE(auto snapshot, log.Load());
  ARROW_RETURN_NOT_OK(CheckWritable(snapshot, table, nullptr));
  ARROW_ASSIGN_OR_RAISE(const double retention, RetentionHours(snapshot.metadata, table));
  const double retain = settings.retain_hours < 0 ? retention : settings.retain_hours;
  if (settings.enforce_retention && retain < retention) {
    return Status::Invalid(table, ": RETAIN ", Hours(retain),
                           " HOURS is less than the table's retention of ",
                           Hours(retention),
                           " hours (delta.deletedFileRetentionDuration): readers of the "
                           "versions in between would miss files; delta_vacuum('",
                           log.table_uri(), "', retain_hours => ", Hours(retain),
                           ", enforce_retention => false) goes ahead");
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t cutoff = now - static_cast<int64_t>(retain * 3600 * 1000);
  // What a version within the retention may read: files and deletion vectors,
  // relative to the table (the log's paths may be relative, %-encoded, or URIs).
  std::set<std::string> kept;
  const bool local = log.storage().local();
  auto keep = [&](const AddFile& file) -> Status {
    kept.insert(Relative(log.DataFileUri(file.path), log.table_uri(), local));
    if (file.deletion_vector) {
      ARROW_ASSIGN_OR_RAISE(auto uri, DeletionVectorUri(*file.deletion_vector, log));
      if (!uri.empty()) kept.insert(Relative(uri, log.table_uri(), local));
    }
    return Status::OK();
  };
  for (const auto& file : snapshot.files) ARROW_RETURN_NOT_OK(keep(file));
  for (const auto& removed : snapshot.tombstones) {
    if (removed.modification_time >= cutoff) ARROW_RETURN_NOT_OK(keep(removed));
  }
  std::vector<std::string> files;
  ARROW_RETURN_NOT_OK(log.storage().ListFiles(log.table_uri(), &files));
  // Each file of the latest version must be among those listed, or the paths are
  // not understood alike: then nothing is deleted.
  const std::set<std::string> listed(files.begin(), files.end());
  for (const auto& file : snapshot.files) {
    const std::string relative =
        Relative(log.DataFileUri(file.path), log.table_uri(), local);
    if (!relative.empty() && listed.count(relative) == 0) {
      return Status::Invalid(table, ": its latest version's file ", relative,
                             " is not in the table's folder; VACUUM deletes nothing");
    }
  }
  std::vector<std::string> deleted;
  for (const auto& relative : files) {
    if (kept.count(relative) > 0) continue;
    const std::string uri = file::Storage::Join(log.table_uri(), relative);
    ARROW_ASSIGN_OR_RAISE(
        auto info, log.storage().filesystem()->GetFileInfo(log.storage().PathOf(uri)));
    const int64_t modified = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 info.mtime().time_since_epoch())
                                 .count();
    if (modified >= cutoff) continue;  // perhaps a write still under way
    if (!settings.dry_run) ARROW_RETURN_NOT_OK(log.storage().DeleteFile(uri));
    deleted.push_back(relative);
  }
  std::sort(deleted.begin(), deleted.end());
  return deleted;
}

}  // namespace flowsql::delta
