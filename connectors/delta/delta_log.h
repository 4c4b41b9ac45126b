// A Delta table's transaction log (_delta_log/), as PROTOCOL.md of delta-io/delta
// describes it: the JSON commits (00000000000000000007.json), Parquet checkpoints
// (classic, 00000000000000000010.checkpoint.parquet, and multi-part,
// ...checkpoint.0000000001.0000000003.parquet) and _last_checkpoint.
//
// A snapshot of version N is the state after commit N: the latest checkpoint at or
// before N, then the commits after it, replayed in order. An `add` makes a data file
// part of the table, a `remove` takes it out (a file is known by its path and its
// deletion vector); the last `metaData` and `protocol` hold; each application's last
// `txn` says which of its transactions the table holds.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/file/storage.h"
#include "flowsql/status.h"

namespace flowsql::delta {

/// The reader and writer features a table requires.
struct Protocol {
  int32_t min_reader_version = 1;
  int32_t min_writer_version = 2;
  std::vector<std::string> reader_features;  // readerVersion 3
  std::vector<std::string> writer_features;  // writerVersion 7
};

struct Metadata {
  std::string id;
  std::string schema_string;  // Spark's StructType as JSON
  std::vector<std::string> partition_columns;
  std::map<std::string, std::string> configuration;
  int64_t created_time = 0;
};

/// A data file's deletion vector: the rows of the file that are deleted.
struct DeletionVector {
  std::string storage_type;  // "u": a file by UUID, "i": inline, "p": a path
  std::string path_or_inline;
  int32_t offset = 0;
  int32_t size_in_bytes = 0;
  int64_t cardinality = 0;
  /// What, with the file's path, tells a file of the table from another.
  std::string UniqueId() const {
    return storage_type + path_or_inline + (offset ? "@" + std::to_string(offset) : "");
  }
};

/// A data file of the table (an `add` action).
struct AddFile {
  std::string path;  // as the log has it: relative to the table, %-encoded
  /// Partition column (physical name) to its value as text; nullopt: NULL.
  std::map<std::string, std::optional<std::string>> partition_values;
  int64_t size = 0;
  int64_t modification_time = 0;
  std::string stats;  // JSON: numRecords, minValues, maxValues, nullCount; may be empty
  std::optional<DeletionVector> deletion_vector;
};

/// One commit as DESCRIBE HISTORY shows it.
struct CommitInfo {
  int64_t version = 0;
  int64_t timestamp = 0;  // ms since the epoch
  std::string operation;
  std::string parameters;  // operationParameters, as JSON
  std::string engine;      // engineInfo
};

struct Snapshot {
  int64_t version = -1;
  int64_t timestamp = 0;  // of the commit, ms since the epoch
  Protocol protocol;
  Metadata metadata;
  std::vector<AddFile> files;
  /// The files `remove` actions took out (and none added back), as the log and its
  /// checkpoints still have them: modification_time is the deletionTimestamp. What
  /// VACUUM keeps for the retention, and a checkpoint carries on.
  std::vector<AddFile> tombstones;
  std::map<std::string, int64_t> app_versions;  // txn: appId -> version
};

/// The table's delta.deletedFileRetentionDuration ("interval 1 week 2 days") in hours,
/// 7 days when it has none; an error naming `table` when it cannot be read.
Result<double> RetentionHours(const Metadata& metadata, const std::string& table);

/// The log of the table at `table_uri` (a folder, local or in an object store).
class DeltaLog {
 public:
  DeltaLog(std::shared_ptr<const file::Storage> storage, std::string table_uri);

  /// The snapshot at `version` (nullopt: the latest). Errors name the table, and the
  /// version when it does not exist.
  Result<Snapshot> Load(std::optional<int64_t> version = std::nullopt) const;
  /// The latest snapshot; nullopt when the folder holds no table yet.
  Result<std::optional<Snapshot>> LoadLatest() const;
  /// The latest version whose commit is at or before `timestamp_ms`: its
  /// inCommitTimestamp, else the commit file's modification time (as delta-rs and
  /// Spark read them).
  Result<int64_t> VersionAt(int64_t timestamp_ms) const;
  /// The commits still in the log, newest first.
  Result<std::vector<CommitInfo>> History() const;
  /// Writes a classic Parquet checkpoint of `snapshot` (its protocol, metadata, txn
  /// and add actions, and the remove actions of its tombstones within the
  /// retention), a chunk of actions at a time, then _last_checkpoint. The
  /// checkpoint appears whole (written under a temporary name, then renamed).
  Status WriteCheckpoint(const Snapshot& snapshot) const;

  const std::string& table_uri() const { return table_uri_; }
  const file::Storage& storage() const { return *storage_; }
  const std::shared_ptr<const file::Storage>& storage_ptr() const { return storage_; }
  /// The URI of `path` as an add action has it (relative and %-encoded, or absolute).
  std::string DataFileUri(const std::string& path) const;

 private:
  struct Listing;
  Result<Listing> List() const;
  /// The snapshot at `version` (nullopt: the latest) of the log `listing` lists.
  Result<Snapshot> Replay(const Listing& listing, std::optional<int64_t> version) const;
  /// Calls `f` with each commit still in the log, newest first, reading each
  /// commit's file only when it comes to it, until `f` returns false.
  Status ForEachCommit(const std::function<bool(const CommitInfo&)>& f) const;

  std::shared_ptr<const file::Storage> storage_;
  std::string table_uri_;
  std::string log_uri_;
};

}  // namespace flowsql::delta
