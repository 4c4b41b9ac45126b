// The logical plan: what the binder builds from the AST, the optimizer rewrites,
// and Lower() turns into an Acero declaration.
//
// Every column inside a plan has a unique internal name ("city#3"); the binder
// maps user-visible names onto them, and the root Project restores user names.
#pragma once

#include <arrow/acero/options.h>
#include <arrow/compute/expression.h>
#include <arrow/compute/ordering.h>
#include <arrow/type.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flowsql/connector.h"
#include "plan/profile.h"
#include "runtime/pipeline.h"
#include "sql/ast.h"

namespace flowsql::plan {

struct PlanNode;
using PlanPtr = std::shared_ptr<PlanNode>;

enum class NodeKind {
  kScan,
  kValues,
  kFilter,
  kProject,
  kAggregate,
  kJoin,
  kSort,
  kLimit,
  kUnion,
  kWindow,
  kUnnest,
  kLateral
};

/// One window function call of a kWindow node. Its input columns, partition and
/// order keys are columns of the node's input (internal names).
struct WindowCall {
  /// row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
  /// last_value nth_value count_star count sum avg min max, or collect: `finish`
  /// over the list of the frame's values (median, string_agg, ...; aggregates.h)
  std::string function;
  arrow::compute::Expression finish;  // collect: over field "list"
  std::vector<std::string> args;      // argument columns (lag/lead/...: the value only)
  int64_t offset = 1;                 // lag/lead offset, ntile buckets, nth_value's n
  std::shared_ptr<arrow::Scalar> default_value;  // lag/lead default, of `type`
  std::vector<std::string> partition;
  std::vector<arrow::compute::SortKey> order;
  sql::WindowSpec frame;  // frame fields only (has_frame, rows, start, end)
  std::string output;
  std::shared_ptr<arrow::DataType> type;
};

struct AggregateCall {
  std::string function;  // Acero hash_ name without the prefix: "sum", "count_all"
  std::shared_ptr<arrow::compute::FunctionOptions> options;
  std::string input;   // internal name of the argument column, empty for count_all
  std::string output;  // internal name of the result
};

struct PlanNode {
  NodeKind kind = NodeKind::kScan;
  std::vector<PlanPtr> inputs;
  /// Output schema, internal names.
  std::shared_ptr<arrow::Schema> schema;

  // kScan: the source, the source's column name for each output field, and what
  // the optimizer pushed into it.
  std::shared_ptr<Source> source;
  std::vector<std::string> source_columns;
  ScanRequest pushed;
  bool projection_pushed = false;
  /// The last `hidden_columns` fields are the source's hidden columns: the scan always
  /// names its columns, since a source's full scan leaves them out.
  int hidden_columns = 0;
  bool filter_pushed = false;
  bool limit_pushed = false;

  // kScan: the connector and arguments the source was built from (fingerprints,
  // scan tasks shipped elsewhere).
  std::string connector;
  ConnectorArgs args;

  // kValues: one batch, or a table (a bounded input read once for a stream)
  std::shared_ptr<arrow::RecordBatch> values;
  std::shared_ptr<arrow::Table> table;

  // kFilter (predicate) and kJoin (residual filter)
  arrow::compute::Expression predicate = arrow::compute::literal(true);

  // kProject
  std::vector<arrow::compute::Expression> exprs;

  // kAggregate: group keys (internal names of input columns), then aggregates.
  std::vector<std::string> keys;
  std::vector<AggregateCall> aggregates;

  // kJoin
  arrow::acero::JoinType join_type = arrow::acero::JoinType::INNER;
  std::vector<std::string> left_keys;
  std::vector<std::string> right_keys;
  bool null_equal_keys = false;  // INTERSECT / EXCEPT compare NULLs as equal

  // kSort
  std::vector<arrow::compute::SortKey> sort_keys;

  // kLimit
  int64_t offset = 0;
  int64_t count = -1;  // -1: no limit (OFFSET only)

  // kWindow: the input's columns, then one column per call. An input larger than
  // spill_bytes (0: never) goes to files in spill_directory (WindowReader).
  std::vector<WindowCall> windows;
  int64_t spill_bytes = 0;
  std::string spill_directory;

  // kUnnest: the list columns whose elements replace them, zipped: a row per
  // element of the longest list, the shorter ones NULL there.
  std::vector<std::string> unnest_columns;

  // kLateral: a table function called once per input row (LATERAL read_csv(t.path)):
  // `exprs` are its URI and positional arguments over the input, `args` holds its
  // options, `make_source` builds it; each call's columns `source_columns` follow the
  // input's, typed as `schema` says. LEFT_OUTER keeps a row whose call gave no rows.
  // Also uses `connector`, `join_type`.
  std::function<Result<std::unique_ptr<Source>>(const ConnectorArgs&)> make_source;
};

/// Semi and anti joins output one side only: the left (LEFT_SEMI, LEFT_ANTI) or
/// the right (RIGHT_SEMI, RIGHT_ANTI, whose right side is the hash table).
bool OutputsLeftOnly(arrow::acero::JoinType type);
bool OutputsRightOnly(arrow::acero::JoinType type);

/// A node of `kind` over `inputs`; the caller fills in the rest.
PlanPtr MakeNode(NodeKind kind, std::vector<PlanPtr> inputs);

/// A deep copy of a plan (sources shared), for a subtree read more than once.
PlanPtr ClonePlan(const PlanPtr& node);

/// True when every row reaching this node's output comes from an unbounded source
/// through non-blocking nodes only.
bool IsUnbounded(const PlanNode& node);
/// True when the node can never finish (an unbounded input reaches a blocking node).
bool BlocksOnUnbounded(const PlanNode& node);

/// A rough size of a node's output in bytes, for ordering joins: a scan's estimate
/// (1 GiB when unknown), 30% of it per conjunct of a filter, a tenth through an
/// aggregate.
double EstimateSize(const PlanNode& node);

/// Pushes projections, filters and limits into scans that accept them.
void Optimize(const PlanPtr& root);

/// EXPLAIN text: one node a line, children indented (or only the node's own line);
/// with a profile (EXPLAIN ANALYZE), each node's measured output below it.
std::string ToString(const PlanNode& node, int indent = 0, bool children = true,
                     const Profile* profile = nullptr);

/// How a scan node becomes a declaration: the caller decides where its batches
/// come from (parallel splits, an epoch's buffer).
using ScanLowering =
    std::function<Result<arrow::acero::Declaration>(const PlanNode& scan)>;

/// Turns a plan into an Acero declaration; with a profile, every node's output is
/// measured into it (EXPLAIN ANALYZE). `stop` ends the reads of LATERAL calls.
Result<arrow::acero::Declaration> Lower(
    const PlanPtr& node, const ScanLowering& lower_scan, Profile* profile = nullptr,
    arrow::StopToken stop = arrow::StopToken::Unstoppable());

/// A source declaration for `scan` whose batches come from `pull` (the source's
/// own names and types), given the plan's internal names and types.
/// REQUIRES: scan.kind == kScan.
arrow::acero::Declaration SourceDeclaration(const PlanNode& scan, BatchPull pull);

/// Starts a plan and returns its output as batches of `schema` (the plan's names
/// replaced by the user's). Backpressure keeps its queued output small. Closing
/// the reader stops the plan.
Result<std::unique_ptr<arrow::RecordBatchReader>> ToReader(
    arrow::acero::Declaration declaration, std::shared_ptr<arrow::Schema> schema);

/// The scan nodes under `node`, left to right.
void CollectScans(const PlanPtr& node, std::vector<PlanPtr>* out);

/// Identifies what a plan computes: the same for the same statement however it is
/// formatted; different when a source, an option, an expression or a column changes.
std::string Fingerprint(const PlanNode& node);

}  // namespace flowsql::plan
