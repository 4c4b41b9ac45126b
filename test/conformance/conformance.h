// The connector conformance suite: one set of checks that every source and sink
// passes. A new connector adds its cases to conformance_test.cc's lists and gets
// schema, pushdowns, splits, resume, scan-task round trips, abort, atomic commit
// and idempotent replay checked. An unbounded source (a stream) is read up to a
// count of rows where a bounded one is read to its end, and gets the same checks.
#pragma once

#include <arrow/table.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flowsql/connector.h"

namespace flowsql::conformance {

/// A source to check: how to build it, and what a full scan must hold.
struct SourceCase {
  std::string name;
  std::string connector;  // as registered
  ConnectorArgs args;     // options already validated (use MakeArgs)
  std::string schema;     // arrow::Schema::ToString() of GetSchema()
  /// An int64 column whose values, sorted, must be exactly 0..rows-1 + first. An
  /// unbounded source (bounded() false) is read up to rows / splits rows a split:
  /// each split's share, in order.
  std::string key;
  int64_t first = 0;
  int64_t rows = 0;
};

/// A sink to check: it writes into `uri`, and `read` reads what is committed.
struct SinkCase {
  std::string name;
  std::string connector;
  ConnectorArgs args;
  /// Reads back the committed rows (an empty table when there are none).
  std::function<Result<std::shared_ptr<arrow::Table>>()> read;
  /// The folder everything the sink writes goes under, emptied before each check
  /// ("<root>/sinksN"). Empty: the one args.uri is in.
  std::string folder;
};

/// Validates `raw` against the connector's source (sink) options.
Result<ConnectorArgs> MakeArgs(const Registry& registry, const std::string& connector,
                               const std::string& uri,
                               std::vector<std::pair<std::string, std::string>> raw,
                               bool sink, std::vector<std::string> positional = {});

/// Reads one split over `range`: its batches and the offset after each.
struct SplitRead {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::vector<std::string> offsets;
};
/// `max_rows` >= 0 (a split of an unbounded source, which never ends on its own):
/// stops after the batch that brings the rows read to `max_rows` or more (none read
/// for 0), or at the split's end. A split that has given fewer after kUnboundedWait
/// is an error (a guard against a hang, not a check of speed).
Result<SplitRead> ReadSplit(Source* source, const Split& split, const SplitRange& range,
                            const ScanRequest& request, int64_t max_rows = -1);
inline constexpr std::chrono::seconds kUnboundedWait{60};

/// The int64 values of `column` in `batches`, in order.
Result<std::vector<int64_t>> Keys(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::string& column);

}  // namespace flowsql::conformance
