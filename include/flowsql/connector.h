// The connector contract. A connector serves three SQL entry points:
//
//   FROM 'scheme://...' [WITH (...)]      a replacement scan (by URI scheme or extension)
//   FROM read_xxx('...', opt => ...)      a table function (by function name)
//   INTO 'scheme://...' / COPY ... TO     a sink
//
// and registers all of them in one RegisterXxx(Registry*) call. Batches are
// arrow::RecordBatch values; nothing else crosses the contract.
//
// Delivery: the runtime writes batches to a Sink, calls Commit(), and only then
// persists the source offsets those batches covered. That is at-least-once; with
// an idempotent or transactional sink it is exactly-once.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/record_batch.h>
#include <arrow/type_fwd.h>

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
  /// Stop after this many rows (only pushed when no filter stands in between).
  std::optional<int64_t> limit;
  /// Resume after this position (a value from BatchStream::offset()). Empty: start.
  std::string start_offset;
};

/// What a source can do with a ScanRequest.
struct Pushdown {
  bool projection = false;
  bool filter = false;
  bool limit = false;
};

/// A stream of batches from one scan. Not thread-safe: one consumer pulls.
/// A slow consumer pauses the scan; implementations keep bounded buffers.
class BatchStream : public arrow::RecordBatchReader {
 public:
  /// The position after the last batch returned by ReadNext(), from which a new
  /// scan can resume (ScanRequest::start_offset). Empty for sources that cannot resume.
  virtual std::string offset() const { return ""; }
};

class Source {
 public:
  virtual ~Source() = default;

  /// The schema of a full scan: declared by the user or inferred.
  virtual Result<std::shared_ptr<arrow::Schema>> GetSchema() = 0;
  /// False for sources that never end on their own (streams, generators at a rate).
  virtual bool bounded() const { return true; }
  virtual Pushdown pushdown() const { return {}; }
  /// Starts a scan. REQUIRES: request.columns name columns of GetSchema().
  virtual Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) = 0;
  /// One line for EXPLAIN, e.g. "file csv data/orders.csv".
  virtual std::string Describe() const = 0;
};

/// A sink makes written batches visible only at Commit(). Not thread-safe.
class Sink {
 public:
  virtual ~Sink() = default;

  /// Prepares to receive batches of `schema`. Checks the write mode (an existing
  /// target under error_if_exists fails here, before any data is read).
  virtual Status Open(const std::shared_ptr<arrow::Schema>& schema) = 0;
  virtual Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  /// Makes every batch written since the last Commit() durable and visible,
  /// atomically. A sink may be committed many times (continuous pipelines).
  virtual Status Commit() = 0;
  /// Discards what was written since the last Commit(); leaves nothing partial
  /// behind. Safe to call after a failed Write or Commit, and more than once.
  virtual Status Abort() = 0;
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
};

/// A connector's declaration. Options are declared once and validated by the
/// engine before the factories are called.
struct ConnectorSpec {
  std::string name;
  std::string doc;
  /// URI schemes served ("file"); "" serves bare paths.
  std::vector<std::string> schemes;
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

  /// The connector serving `uri`: by scheme ("file://x", "gen://"), else "".
  /// Returns nullptr when none does.
  const ConnectorSpec* FindByUri(const std::string& uri) const;
  const ConnectorSpec* FindByFunction(const std::string& name) const;
  const std::vector<ConnectorSpec>& connectors() const { return connectors_; }

 private:
  std::vector<ConnectorSpec> connectors_;
};

/// Registers every connector built into this binary.
Status RegisterBuiltinConnectors(Registry* registry);

/// The scheme of `uri` ("file" for "file:///x"), or "" for a bare path.
std::string UriScheme(const std::string& uri);

}  // namespace flowsql
