// The connector contract. A connector serves three SQL entry points:
//
//   FROM 'scheme://...' [WITH (...)]      a replacement scan (by URI scheme or extension)
//   FROM read_xxx('...', opt => ...)      a table function (by function name)
//   INTO 'scheme://...' / COPY ... TO     a sink
//
// and registers all of them in one RegisterXxx(Registry*) call. Batches are
// arrow::RecordBatch values; nothing else crosses the contract.
//
// Reading. A Source plans its scan as splits (a file, a row-group range, a
// partition). The runtime reads splits concurrently, each through its own
// SplitReader, with bounded buffers. Every batch carries the offset its split has
// reached; a split reopened at that offset yields exactly the rows after it. A
// source keeps no "current offset": read-ahead cannot make a checkpoint wrong.
//
// Delivery (docs/delivery.md). The runtime cuts a pipeline into epochs. Before
// any row of epoch N reaches a sink it durably logs the offset range of every
// split that N covers; it writes the rows, calls Commit({pipeline, N}) on every
// sink, logs the commit, and only then calls Source::Acknowledge() with the
// offsets now safe. A transactional sink stores (pipeline, epoch) atomically
// with its data and answers LastCommittedEpoch(), so a replayed epoch is never
// written twice: exactly-once. Other sinks are at-least-once.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/record_batch.h>
#include <arrow/type_fwd.h>
#include <arrow/util/cancel.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowsql/options.h"
#include "flowsql/status.h"

namespace flowsql {

/// What the engine asks of a scan. A source that declares a pushdown in
/// Pushdown must honour it; one that does not may ignore the field.
struct ScanRequest {
  /// Columns to produce, in this order. Empty optional: all columns.
  std::optional<std::vector<std::string>> columns;
  /// Rows for which `filter` is not true may be dropped. The engine applies the
  /// filter again after the scan, so a source may prune coarsely (row groups).
  arrow::compute::Expression filter = arrow::compute::literal(true);
  /// The scan needs no more than this many rows (only pushed when no filter stands
  /// in between). Each split may stop after `limit` rows; the runtime stops the
  /// whole scan at the total.
  std::optional<int64_t> limit;
  /// Set when the statement stops (Ctrl-C, an error elsewhere, a consumer that
  /// has seen enough). A reader blocked waiting for data returns soon after it is
  /// set, with Status::Cancelled or the end of its split.
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
};

/// What a source can do with a ScanRequest.
struct Pushdown {
  bool projection = false;
  bool filter = false;
  bool limit = false;
};

/// A part of a scan that can be read on its own, on any machine, and resumed.
struct Split {
  /// Names the split within its source, stably: planning the same source again
  /// gives the same split the same id ("data/a.parquet", "data/b.parquet#rg=4-7",
  /// "2/4"). Checkpoints are keyed on it.
  std::string id;
  /// What the source needs to read the split, opaque to the runtime.
  std::string payload;
};

/// A batch and the position its split has reached after it.
struct SourceBatch {
  /// nullptr at the end of the split. May have zero rows (an offset that moved
  /// without rows, e.g. filtered out by the source).
  std::shared_ptr<arrow::RecordBatch> batch;
  /// Opaque. Reopening the split at `offset` yields exactly the rows after
  /// `batch`. Meaningless at the end of the split.
  std::string offset;
};

/// Reads one split. Not thread-safe: one consumer calls Next() at a time.
class SplitReader {
 public:
  virtual ~SplitReader() = default;
  /// The schema of every batch: the requested columns, in order.
  virtual std::shared_ptr<arrow::Schema> schema() const = 0;
  /// The next batch, or a SourceBatch with batch == nullptr at the end. May block
  /// while no data is available; returns soon after the request's stop token is
  /// set. An unbounded split never ends on its own.
  virtual Result<SourceBatch> Next() = 0;
};

/// Where a split reader starts and stops.
struct SplitRange {
  /// An offset from a SourceBatch of this split. Empty: the split's beginning.
  std::string start;
  /// Stop exactly after the batch that reached this offset (a replay of a logged
  /// epoch). Empty: read to the end of the split.
  std::string end;
};

class Source {
 public:
  virtual ~Source() = default;

  /// The schema of a full scan: declared by the user or inferred.
  virtual Result<std::shared_ptr<arrow::Schema>> GetSchema() = 0;
  /// False for sources that never end on their own (streams, generators at a rate).
  virtual bool bounded() const { return true; }
  virtual Pushdown pushdown() const { return {}; }
  /// Plans the scan as splits. The union of all splits is the full scan. Splits
  /// may differ between calls as the data grows (a new file, a new partition);
  /// one that keeps its id keeps its meaning. The default is one split, "0".
  virtual Result<std::vector<Split>> PlanSplits(const ScanRequest& request) {
    return std::vector<Split>{Split{"0", ""}};
  }
  /// Opens a reader of `split` over `range`. REQUIRES: `split` came from
  /// PlanSplits of a source built from the same arguments (possibly in another
  /// process), and request.columns name columns of GetSchema(). Thread-safe:
  /// the runtime opens and reads several splits at once.
  virtual Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                         const SplitRange& range,
                                                         const ScanRequest& request) = 0;
  /// Tells the source that every row of each listed split up to its offset is
  /// durable in every sink. Only now may it delete a read file, commit a Kafka
  /// offset or confirm a replication slot. Offsets never move backwards; after a
  /// crash the last acknowledgement may come again. Called from one thread at a
  /// time, which need not be a thread that reads splits.
  virtual Status Acknowledge(const std::map<std::string, std::string>& offsets) {
    return Status::OK();
  }
  /// Columns a query may name that GetSchema() leaves out and `*` does not expand
  /// (the file source's `_metadata`). OpenSplit() produces one when request.columns
  /// names it.
  virtual arrow::FieldVector HiddenColumns() const { return {}; }
  /// One line for EXPLAIN, e.g. "file csv data/orders.csv".
  virtual std::string Describe() const = 0;
  /// About how many bytes a full scan reads (the planner orders joins by it); -1
  /// when unknown. REQUIRES: GetSchema() succeeded.
  virtual int64_t EstimatedBytes() const { return -1; }
  /// The exact number of rows a full scan returns when the source knows it without
  /// reading them (Parquet footers), so that count(*) needs no scan; -1 otherwise.
  /// REQUIRES: GetSchema() succeeded.
  virtual int64_t ExactRows() const { return -1; }
};

/// An epoch of a pipeline, as a sink sees it at commit.
struct Epoch {
  /// The pipeline's name: [A-Za-z0-9_.-]+, safe in file names.
  std::string pipeline;
  /// 0, 1, 2, ... per pipeline; a replay repeats a number with the same rows.
  int64_t number = 0;
};

/// How a sink is opened.
struct SinkContext {
  std::string pipeline;
  /// True when earlier runs of this pipeline committed to the sink. A resumed
  /// sink never deletes what they wrote, whatever its mode says.
  bool resumed = false;
  /// True when the pipeline commits many epochs (an unbounded input); a sink that
  /// can hold only one write refuses it here.
  bool continuous = false;
  /// True when a crashed run of this pipeline logged its first epoch but committed
  /// nothing: whatever that run left in the sink is its own, and a sink that is
  /// not transactional replaces it (error_if_exists does not apply).
  bool pending_first = false;
};

/// A sink makes written batches visible only at Commit(). Not thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;

  /// Prepares to receive batches of `schema`. Checks the write mode (an existing
  /// target under error_if_exists fails here, before any data is read).
  virtual Status Open(const std::shared_ptr<arrow::Schema>& schema,
                      const SinkContext& context) = 0;
  /// Called before the first Write() of each epoch, with the epoch that Commit() will
  /// then be given: a sink that names its output by epoch (a part uploaded in place to
  /// an object store) starts it here.
  virtual Status BeginEpoch(const Epoch& epoch) { return Status::OK(); }
  virtual Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  /// Makes every batch written since the last Commit() durable and visible,
  /// atomically, as `epoch`. A sink is committed once per epoch (continuous
  /// pipelines commit many times). A transactional sink records `epoch` with the
  /// data; committing an epoch it already holds changes nothing.
  virtual Status Commit(const Epoch& epoch) = 0;
  /// Discards what was written since the last Commit(); leaves nothing partial
  /// behind. Safe to call after a failed Write or Commit, and more than once.
  virtual Status Abort() = 0;
  /// True when the sink stores (pipeline, epoch) atomically with its data, so
  /// that LastCommittedEpoch() is exact: delivery into it is exactly-once.
  virtual bool transactional() const { return false; }
  /// The highest epoch of `pipeline` committed to this sink, or -1 when none.
  /// REQUIRES: transactional(). May be called before Open().
  virtual Result<int64_t> LastCommittedEpoch(const std::string& pipeline) { return -1; }
  /// One line for EXPLAIN.
  virtual std::string Describe() const = 0;
};

/// What a source or sink is built from.
struct ConnectorArgs {
  /// The URI or path as written, or the first positional argument of a table
  /// function. May be empty for functions such as generate_series.
  std::string uri;
  /// Positional arguments of a table function after the URI, as literal text.
  std::vector<std::string> positional;
  /// Validated options: WITH (...), named arguments, COPY options.
  Options options;
  /// A sink's condition options (OptionType::kCondition) that are set, by name: each
  /// a boolean expression over the sink's input columns (field references by name,
  /// not bound to a schema).
  std::map<std::string, arrow::compute::Expression> conditions;
  /// The statement's stop token (Ctrl-C): what a source does before its readers run
  /// (GetSchema, PlanSplits: a server's first answer) ends with Cancelled when it is
  /// set.
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
};

/// Opens one reader per scan of a reader source (MakeReaderSource).
using ReaderFactory = std::function<Result<std::shared_ptr<arrow::RecordBatchReader>>()>;

/// A bounded source of one split; each scan reads the batches of a reader that
/// `open` returns, whose batches must have the columns of `schema` (by name; they
/// are cast to its types). An offset counts batches: a split reopened at one
/// opens a new reader and skips that many. `description` is for EXPLAIN.
std::unique_ptr<Source> MakeReaderSource(std::shared_ptr<arrow::Schema> schema,
                                         ReaderFactory open, std::string description);

/// A connector's declaration. Options are declared once and validated by the
/// engine before the factories are called.
struct ConnectorSpec {
  std::string name;
  std::string doc;
  /// URI schemes served ("file"); "" serves bare paths.
  std::vector<std::string> schemes;
  /// When set, the connector serves a URI of its schemes only when this returns true
  /// (the file connector takes the http(s) URLs that name a file by its extension);
  /// Registry::FindByUri then tries the next connector registered for the scheme.
  std::function<bool(const std::string& uri)> serves_uri;
  /// Table functions served, each with options it presets ({"read_csv",
  /// {{"format","csv"}}}).
  std::map<std::string, std::map<std::string, std::string>> functions;
  /// Positional arguments taken by the table functions, in order (for docs).
  std::vector<std::string> positional_names;
  /// True when the first positional argument of a table function is the URI.
  bool functions_take_uri = true;
  std::vector<OptionSpec> source_options;
  std::vector<OptionSpec> sink_options;
  std::function<Result<std::unique_ptr<Source>>(const ConnectorArgs&)> make_source;
  std::function<Result<std::unique_ptr<Sink>>(const ConnectorArgs&)> make_sink;
};

/// Connectors by scheme and function name. Not thread-safe while registering;
/// read-only afterwards.
class Registry {
 public:
  Status Register(ConnectorSpec spec);

  /// The connector serving `uri`: the first registered for its scheme ("file://x",
  /// "gen://", else "") whose serves_uri, if any, accepts it. Returns nullptr when
  /// none does.
  const ConnectorSpec* FindByUri(const std::string& uri) const;
  const ConnectorSpec* FindByFunction(const std::string& name) const;
  const ConnectorSpec* FindByName(const std::string& name) const;
  const std::vector<ConnectorSpec>& connectors() const { return connectors_; }

 private:
  std::vector<ConnectorSpec> connectors_;
};

/// Registers every connector built into this binary.
Status RegisterBuiltinConnectors(Registry* registry);
/// Releases what connectors hold for the whole process (the AWS SDK of s3://). Call
/// once at the end of main, after every source and sink is gone.
void ShutdownConnectors();

/// The scheme of `uri` ("file" for "file:///x"), or "" for a bare path.
std::string UriScheme(const std::string& uri);

/// Reads every split of `source`, one after the other, in planned order: the
/// plain sequential scan (tests, small internal reads). The runtime reads splits
/// in parallel instead.
Result<std::shared_ptr<arrow::RecordBatchReader>> ScanAll(Source* source,
                                                          const ScanRequest& request);

/// One split's read, as bytes: what a remote executor needs to open the split
/// with the same connector, arguments and request (the filter included).
struct ScanTask {
  std::string connector;
  ConnectorArgs args;
  ScanRequest request;  // the stop token does not travel
  Split split;
  SplitRange range;
};

Result<std::string> SerializeScanTask(const ScanTask& task);
Result<ScanTask> DeserializeScanTask(const std::string& bytes);

}  // namespace flowsql
