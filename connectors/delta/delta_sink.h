// Writes into a Delta table (a local folder, on S3 or Azure: its commits need
// conditional puts, Storage::PutIfAbsent): INTO 'delta://path' WITH (mode = ...).
//
// Each epoch writes Parquet files (Snappy; partitioned into key=value folders, the
// partition columns left out of the files) and then one commit, the log's next
// version, with an `add` action per file (its statistics: numRecords, minValues,
// maxValues, nullCount), a `txn` action (appId: the pipeline, version: the epoch),
// and for a new table `protocol` and `metaData`; `commitInfo` names flowsql.
//
// Atomic commits: the commit is put only if its version's file is absent (a
// hard link locally, If-None-Match on S3 and Azure); when it exists another writer
// won. A blind
// append then tries the next version; an overwrite, or an append that finds the
// schema changed, fails naming the version. A failed epoch leaves files no commit
// references (Abort deletes those it can).
//
// Merge (mode 'merge', merge_on): an epoch's rows upsert by key. Of the rows of one
// key in an epoch the last counts: it replaces the table's rows of that key, or
// removes them when it meets delete_on; a key the table lacks is inserted (unless it
// deletes). A row with a NULL key matches nothing. The commit removes the files
// that hold a matched key and adds them rewritten without those rows: only files
// whose partition values and statistics may hold an incoming key are read (their
// key columns first), and those that hold none are left as they are. Memory holds
// the epoch's rows and one batch of a rewritten file. A merge that another writer
// commits beside fails, naming the version.
//
// Schema: the query's columns must be the table's (a narrower integer or a float
// widens). With merge_schema, the table's columns the query lacks are written NULL,
// and the query's the table lacks are added to it: the first commit writes a
// metaData action with the wider schema, and is not retried on a conflict.
//
// Checkpoints: every delta.checkpointInterval versions (default 10), a Parquet
// checkpoint, written a chunk of actions at a time.
//
// Exactly-once: LastCommittedEpoch(pipeline) is the pipeline's `txn` version in the
// latest snapshot, so a replayed epoch (one the table held when the run began) is
// not committed twice.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connectors/delta/delta_log.h"
#include "connectors/file/batch_writer.h"
#include "flowsql/connector.h"

namespace flowsql::delta {

enum class WriteMode { kAppend, kOverwrite, kErrorIfExists, kMerge };

/// What a merge matches rows on, and which incoming rows delete.
struct MergeSettings {
  std::vector<std::string> on;  // the key columns (merge_on)
  /// Incoming rows meeting it remove their key's rows (delete_on); over the query's
  /// columns, unbound. Columns only it reads are not written unless the table has them.
  std::optional<arrow::compute::Expression> delete_on;
};

struct DeltaWriteSettings {
  WriteMode mode = WriteMode::kErrorIfExists;
  std::vector<std::string> partition_by;  // a new table's
  MergeSettings merge;                    // mode kMerge
  bool merge_schema = false;   // the query's columns the table lacks are added to it
  int64_t optimize_every = 0;  // compact the table after every N commits (0: never)
};

/// What OPTIMIZE rewrites: files smaller than `target_size` (0: the table's
/// delta.targetFileSize, else 100 MiB), bin-packed per partition; with `zorder_by`,
/// every file of a partition, its rows in Z-order of those columns.
struct OptimizeSettings {
  std::vector<std::string> zorder_by;
  int64_t target_size = 0;
};

/// What an OPTIMIZE did, as delta-rs counts it.
struct OptimizeMetrics {
  int64_t files_added = 0, files_removed = 0, partitions_optimized = 0;
  int64_t total_considered_files = 0, total_files_skipped = 0;
};

class DeltaSink : public Sink {
 public:
  DeltaSink(std::shared_ptr<DeltaLog> log, DeltaWriteSettings settings);
  ~DeltaSink() override;

  /// OPTIMIZE: compacts the table's files (settings), in one commit (operation
  /// OPTIMIZE, dataChange false: no row changes) that removes them and adds the
  /// rewritten ones. Nothing to compact commits nothing. Fails, committing nothing,
  /// when another writer commits meanwhile. Memory: one batch at a time; with
  /// zorder_by, the rows of one partition. Called on a sink that is not open.
  Result<OptimizeMetrics> Optimize(const OptimizeSettings& settings);

  Status Open(const std::shared_ptr<arrow::Schema>& schema,
              const SinkContext& context) override;
  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override;
  Status Commit(const Epoch& epoch) override;
  Status Abort() override;
  bool transactional() const override { return true; }
  Result<int64_t> LastCommittedEpoch(const std::string& pipeline) override;
  std::string Describe() const override;

 private:
  struct ColumnStats;
  struct Output;
  /// A new data file in `folder` ("" when unpartitioned), of partition `values`.
  Result<Output*> NewOutput(
      const std::string& folder,
      const std::map<std::string, std::optional<std::string>>& values);
  /// Writes `rows` (of schema_) into the files of their partitions.
  Status Append(const std::shared_ptr<arrow::RecordBatch>& rows);
  /// Writes `rows` (of schema_) into `out`, keeping its statistics.
  Status WriteTo(Output* out, const arrow::RecordBatch& rows);
  /// The epoch's merge: rewrites the files holding its keys, appends its upserts.
  Status Merge();
  /// Takes the table of `snapshot` as what the writes build on: its version, schema,
  /// partition columns and checkpoint interval.
  Status AdoptTable(const Snapshot& snapshot);
  /// file_schema_ and file_columns_, from schema_ and partition_by_.
  void SetFileColumns();
  /// The commit's actions but txn, commitInfo and the new table's, as JSON lines.
  /// `data_change`: false when they move rows without changing them (OPTIMIZE).
  Result<std::string> AddActions(bool data_change = true);
  /// Writes a checkpoint when the version just committed is a multiple of the
  /// table's checkpoint interval.
  Status MaybeCheckpoint();
  /// The commitInfo action, as a line: `operation`, its operationParameters (the
  /// object's members, as JSON), the read version, engineInfo flowsql.
  std::string CommitInfo(const char* operation, const std::string& parameters,
                         bool blind_append, int64_t now) const;
  /// Writes `actions` as version `version`; false when that version exists.
  Result<bool> TryCommit(int64_t version, const std::string& actions);
  /// TryCommit; on an error, whose outcome is unknown, the files written are kept
  /// (no longer Abort's to delete): the commit may reference them.
  Result<bool> TryCommitOrKeep(int64_t version, const std::string& actions);

  std::shared_ptr<DeltaLog> log_;
  WriteMode mode_;
  std::vector<std::string> partition_by_;
  int64_t optimize_every_;
  int64_t commits_since_optimize_ = 0;
  std::shared_ptr<arrow::Schema> schema_;       // what the table holds (Delta types)
  std::shared_ptr<arrow::Schema> file_schema_;  // schema_ but the partition columns
  std::vector<int> file_columns_;               // file_schema_'s columns in schema_
  std::string schema_string_;
  int64_t read_version_ = -1;         // the snapshot the writes build on (-1: no table)
  int64_t checkpoint_interval_ = 10;  // delta.checkpointInterval
  int64_t held_at_open_ = -1;         // the pipeline's last epoch in the table at Open()
  bool overwrite_pending_ = false;    // the next commit replaces the table's files
  std::vector<AddFile> replaced_;     // the files an overwrite or a merge removes
  std::vector<std::unique_ptr<Output>> outputs_;  // the files the commit adds
  std::map<std::string, Output*> appending_;      // outputs_ Append writes, by folder
  MergeSettings merge_;
  bool merge_schema_;  // the query's columns the table lacks are added to it
  /// The table's metadata with the columns added, for the next commit to write.
  std::optional<Metadata> evolved_;
  std::string table_schema_string_;  // with evolved_: the table's, before it
  // A merge's epoch so far: its rows (of schema_), and whether each deletes.
  std::vector<std::shared_ptr<arrow::RecordBatch>> incoming_;
  std::vector<std::shared_ptr<arrow::Array>> incoming_deletes_;
};

}  // namespace flowsql::delta
