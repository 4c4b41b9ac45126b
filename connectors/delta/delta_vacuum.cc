#include "connectors/delta/delta_vacuum.h"

#include <arrow/filesystem/filesystem.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "connectors/delta/deletion_vector.h"
#include "connectors/file/partitions.h"

namespace flowsql::delta {

namespace {

constexpr double kDefaultRetentionHours = 7 * 24;

/// delta.deletedFileRetentionDuration ("interval 7 days", "interval 12 hours") in
/// hours; the default when absent or not understood.
double RetentionHours(const Metadata& metadata) {
  auto it = metadata.configuration.find("delta.deletedFileRetentionDuration");
  if (it == metadata.configuration.end()) return kDefaultRetentionHours;
  const std::string& text = it->second;
  const char* p = text.c_str();
  while (*p != '\0' && !std::isdigit(static_cast<unsigned char>(*p))) ++p;
  char* end = nullptr;
  const double n = std::strtod(p, &end);
  if (end == p) return kDefaultRetentionHours;
  const std::string unit(end);
  if (unit.find("day") != std::string::npos) return n * 24;
  if (unit.find("hour") != std::string::npos) return n;
  if (unit.find("minute") != std::string::npos) return n / 60;
  if (unit.find("week") != std::string::npos) return n * 24 * 7;
  return kDefaultRetentionHours;
}

/// `hours` as text: "168", "0.5".
std::string Hours(double hours) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", hours);
  return text;
}

/// `uri` relative to the table's folder, or "" when it lies outside it.
std::string Relative(const std::string& uri, const std::string& table) {
  if (uri.rfind(table + "/", 0) != 0) return "";
  return uri.substr(table.size() + 1);
}

}  // namespace

Result<std::vector<std::string>> Vacuum(const DeltaLog& log,
                                        const VacuumSettings& settings) {
  const std::string table = "delta table " + log.table_uri();
  ARROW_ASSIGN_OR_RAISE(auto snapshot, log.Load());
  const double retention = RetentionHours(snapshot.metadata);
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
  // What a version within the retention may read.
  std::set<std::string> kept;
  auto keep = [&](const std::string& log_path) {
    kept.insert(file::PercentDecode(log_path));
  };
  for (const auto& file : snapshot.files) {
    keep(file.path);
    if (file.deletion_vector) {
      ARROW_ASSIGN_OR_RAISE(auto uri, DeletionVectorUri(*file.deletion_vector, log));
      if (!uri.empty()) kept.insert(Relative(uri, log.table_uri()));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto tombstones, log.Tombstones());
  for (const auto& [path, removed_at] : tombstones) {
    if (removed_at >= cutoff) keep(path);
  }
  std::vector<std::string> files;
  ARROW_RETURN_NOT_OK(log.storage().ListFiles(log.table_uri(), &files));
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
