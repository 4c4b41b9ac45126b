#include "plan/plan.h"

#include <arrow/acero/exec_plan.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/compute/api.h>
#include <arrow/io/interfaces.h>
#include <arrow/table.h>
#include <arrow/util/async_generator.h>
#include <arrow/util/iterator.h>
#include <arrow/util/thread_pool.h>

#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "common/codec.h"
#include "plan/lateral.h"
#include "plan/unnest.h"
#include "plan/window.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
namespace ac = arrow::acero;

PlanPtr MakeNode(NodeKind kind, std::vector<PlanPtr> inputs) {
  auto n = std::make_shared<PlanNode>();
  n->kind = kind;
  n->inputs = std::move(inputs);
  return n;
}

PlanPtr ClonePlan(const PlanPtr& node) {
  auto copy = std::make_shared<PlanNode>(*node);
  for (auto& in : copy->inputs) in = ClonePlan(in);
  return copy;
}

bool OutputsLeftOnly(ac::JoinType type) {
  return type == ac::JoinType::LEFT_SEMI || type == ac::JoinType::LEFT_ANTI;
}
bool OutputsRightOnly(ac::JoinType type) {
  return type == ac::JoinType::RIGHT_SEMI || type == ac::JoinType::RIGHT_ANTI;
}

bool IsUnbounded(const PlanNode& node) {
  if (node.kind == NodeKind::kScan) return !node.source->bounded() && !node.pushed.limit;
  for (const auto& in : node.inputs) {
    if (IsUnbounded(*in)) return node.kind != NodeKind::kLimit || node.count < 0;
  }
  return false;
}

bool BlocksOnUnbounded(const PlanNode& node) {
  bool blocking = node.kind == NodeKind::kAggregate || node.kind == NodeKind::kSort ||
                  node.kind == NodeKind::kJoin || node.kind == NodeKind::kWindow;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const auto& in = node.inputs[i];
    if (BlocksOnUnbounded(*in)) return true;
    // A hash join reads its right (build) side fully; the left side streams.
    bool reads_all = blocking && !(node.kind == NodeKind::kJoin && i == 0);
    if (reads_all && IsUnbounded(*in)) return true;
  }
  return false;
}

namespace {

/// `text` without the "#<n>" suffixes of internal names, outside the "..." of
/// string constants ('Brand#12' stays whole).
std::string Clean(const std::string& text) {
  auto digit = [&](size_t i) {
    return i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
  };
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\' && i + 1 < text.size()) {
      out += c;
      out += text[++i];  // an escaped character, a quote too
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '#' && digit(i + 1)) {
      while (digit(i + 1)) ++i;
      continue;
    }
    out += c;
  }
  return out;
}

cp::Expression Rename(const cp::Expression& e,
                      const std::map<std::string, std::string>& names) {
  if (const auto* ref = e.field_ref()) {
    if (ref->name()) {
      auto it = names.find(*ref->name());
      if (it != names.end()) return cp::field_ref(it->second);
    }
    return e;
  }
  if (const auto* call = e.call()) {
    std::vector<cp::Expression> args;
    for (const auto& a : call->arguments) args.push_back(Rename(a, names));
    return cp::call(call->function_name, std::move(args), call->options);
  }
  return e;
}

/// `e` with flowsql's decimal comparisons as Arrow's own: a source tests a pushed
/// filter with arrow::dataset (a Parquet reader prunes row groups by "less", and
/// knows nothing of "decimal_less"); both give the same answer.
cp::Expression WithArrowComparisons(const cp::Expression& e) {
  const auto* call = e.call();
  if (call == nullptr) return e;
  std::vector<cp::Expression> args;
  for (const auto& a : call->arguments) args.push_back(WithArrowComparisons(a));
  std::string name = call->function_name;
  static const std::set<std::string> kDecimal = {
      "decimal_equal",      "decimal_not_equal", "decimal_less",
      "decimal_less_equal", "decimal_greater",   "decimal_greater_equal"};
  if (kDecimal.count(name)) name = name.substr(std::string("decimal_").size());
  return cp::call(name, std::move(args), call->options);
}

void Require(const cp::Expression& e, std::set<std::string>* out) {
  for (const auto& ref : cp::FieldsInExpression(e)) {
    if (ref.name()) out->insert(*ref.name());
  }
}

void PushProjection(const PlanPtr& node, std::set<std::string> required) {
  switch (node->kind) {
    case NodeKind::kScan: {
      if (!node->source->pushdown().projection) return;
      std::vector<std::string> columns;
      arrow::FieldVector fields;
      std::vector<std::string> source_columns;
      for (int i = 0; i < node->schema->num_fields(); ++i) {
        if (required.count(node->schema->field(i)->name())) {
          columns.push_back(node->source_columns[i]);
          fields.push_back(node->schema->field(i));
          source_columns.push_back(node->source_columns[i]);
        }
      }
      if (fields.empty() && node->schema->num_fields() > 0) {
        columns.push_back(node->source_columns[0]);
        fields.push_back(node->schema->field(0));
        source_columns.push_back(node->source_columns[0]);
      }
      if (static_cast<int>(fields.size()) == node->schema->num_fields() &&
          node->hidden_columns == 0) {
        return;
      }
      node->pushed.columns = columns;
      node->schema = arrow::schema(fields);
      node->source_columns = source_columns;
      node->projection_pushed = true;
      return;
    }
    case NodeKind::kValues:
      return;
    case NodeKind::kFilter:
      Require(node->predicate, &required);
      break;
    case NodeKind::kProject: {
      // Columns nobody above reads are dropped (a view's SELECT * keeps only what
      // the query uses); when none is read, all stay (the row count needs one).
      std::vector<cp::Expression> exprs;
      arrow::FieldVector fields;
      for (size_t i = 0; i < node->exprs.size(); ++i) {
        if (required.count(node->schema->field(static_cast<int>(i))->name())) {
          exprs.push_back(node->exprs[i]);
          fields.push_back(node->schema->field(static_cast<int>(i)));
        }
      }
      if (!exprs.empty() && exprs.size() < node->exprs.size()) {
        node->exprs = std::move(exprs);
        node->schema = arrow::schema(fields);
      }
      required.clear();
      for (const auto& e : node->exprs) Require(e, &required);
      break;
    }
    case NodeKind::kAggregate:
      required.clear();
      required.insert(node->keys.begin(), node->keys.end());
      for (const auto& a : node->aggregates) {
        if (!a.input.empty()) required.insert(a.input);
      }
      break;
    case NodeKind::kJoin:
      Require(node->predicate, &required);
      required.insert(node->left_keys.begin(), node->left_keys.end());
      required.insert(node->right_keys.begin(), node->right_keys.end());
      break;
    case NodeKind::kSort:
      for (const auto& k : node->sort_keys) {
        if (k.target.name()) required.insert(*k.target.name());
      }
      break;
    case NodeKind::kLimit:
      break;
    case NodeKind::kWindow:
      for (const auto& w : node->windows) {
        required.insert(w.args.begin(), w.args.end());
        required.insert(w.partition.begin(), w.partition.end());
        for (const auto& k : w.order) {
          if (k.target.name()) required.insert(*k.target.name());
        }
      }
      break;
    case NodeKind::kUnnest:
      required.insert(node->unnest_columns.begin(), node->unnest_columns.end());
      break;
    case NodeKind::kLateral: {
      // The input columns read above or by the arguments, then the calls' columns.
      for (const auto& e : node->exprs) Require(e, &required);
      const int left = node->inputs[0]->schema->num_fields();
      arrow::FieldVector fields;
      for (int i = 0; i < node->schema->num_fields(); ++i) {
        if (i >= left || required.count(node->schema->field(i)->name())) {
          fields.push_back(node->schema->field(i));
        }
      }
      node->schema = arrow::schema(std::move(fields));
      break;
    }
    case NodeKind::kUnion:
      // Inputs are projections that must keep every column for the union's schema.
      for (const auto& in : node->inputs) {
        std::set<std::string> all;
        for (const auto& f : in->schema->fields()) all.insert(f->name());
        PushProjection(in, all);
      }
      return;
  }
  for (const auto& in : node->inputs) PushProjection(in, required);
}

// Moves filters down: a filter over a projection that only renames the columns it
// reads goes below it (through views' SELECT *), and two filters merge, so that a
// filter reaches the scan.
void SinkFilters(const PlanPtr& node) {
  while (node->kind == NodeKind::kFilter) {
    const PlanPtr below = node->inputs[0];
    if (below->kind == NodeKind::kFilter) {
      node->predicate = cp::and_(below->predicate, node->predicate);
      node->inputs = below->inputs;
      continue;
    }
    if (below->kind != NodeKind::kProject) break;
    std::map<std::string, std::string> names;
    for (size_t i = 0; i < below->exprs.size(); ++i) {
      const auto* ref = below->exprs[i].field_ref();
      if (ref && ref->name()) {
        names[below->schema->field(static_cast<int>(i))->name()] = *ref->name();
      }
    }
    bool renames_only = true;
    for (const auto& ref : cp::FieldsInExpression(node->predicate)) {
      renames_only = renames_only && ref.name() && names.count(*ref.name());
    }
    if (!renames_only) break;
    // Swap the two nodes in place: the parent's pointer now holds the projection.
    PlanNode filter = *node;
    PlanNode project = *below;
    filter.predicate = Rename(filter.predicate, names);
    filter.inputs = project.inputs;
    filter.schema = project.inputs[0]->schema;
    project.inputs = {below};
    *below = std::move(filter);
    *node = std::move(project);
    SinkFilters(below);
    return;
  }
  for (const auto& in : node->inputs) SinkFilters(in);
}

void PushFilters(const PlanPtr& node) {
  for (const auto& in : node->inputs) PushFilters(in);
  if (node->kind != NodeKind::kFilter) return;
  const auto& scan = node->inputs[0];
  if (scan->kind != NodeKind::kScan || !scan->source->pushdown().filter) return;
  std::map<std::string, std::string> names;
  for (int i = 0; i < scan->schema->num_fields(); ++i) {
    names[scan->schema->field(i)->name()] = scan->source_columns[i];
  }
  scan->pushed.filter = WithArrowComparisons(Rename(node->predicate, names));
  scan->filter_pushed = true;
}

void PushLimits(const PlanPtr& node) {
  for (const auto& in : node->inputs) PushLimits(in);
  if (node->kind != NodeKind::kLimit || node->count < 0) return;
  PlanPtr below = node->inputs[0];
  while (below->kind == NodeKind::kProject) below = below->inputs[0];
  if (below->kind != NodeKind::kScan || !below->source->pushdown().limit) return;
  below->pushed.limit = node->offset + node->count;
  below->limit_pushed = true;
}

}  // namespace

/// count(*) over a whole source that knows its row count (Parquet footers) becomes
/// a constant: no scan at all.
void CountFromMetadata(const PlanPtr& node) {
  for (const auto& in : node->inputs) CountFromMetadata(in);
  if (node->kind != NodeKind::kAggregate || !node->keys.empty() ||
      node->aggregates.empty()) {
    return;
  }
  for (const auto& a : node->aggregates) {
    if (a.function != "count_all") return;
  }
  const PlanNode* below = node->inputs[0].get();
  while (below->kind == NodeKind::kProject) below = below->inputs[0].get();
  if (below->kind != NodeKind::kScan || below->pushed.limit ||
      !(below->pushed.filter == cp::literal(true))) {
    return;
  }
  const int64_t rows = below->source->ExactRows();
  if (rows < 0) return;
  arrow::ArrayVector columns;
  for (size_t i = 0; i < node->aggregates.size(); ++i) {
    arrow::Int64Builder b;
    if (!b.Append(rows).ok()) return;
    auto column = b.Finish();
    if (!column.ok()) return;
    columns.push_back(*column);
  }
  node->kind = NodeKind::kValues;
  node->inputs.clear();
  node->values = arrow::RecordBatch::Make(node->schema, 1, columns);
}

void Optimize(const PlanPtr& root) {
  std::set<std::string> all;
  for (const auto& f : root->schema->fields()) all.insert(f->name());
  SinkFilters(root);
  PushFilters(root);
  PushLimits(root);
  PushProjection(root, all);
  CountFromMetadata(root);
}

std::string ToString(const PlanNode& node, int indent, bool children,
                     const Profile* profile) {
  std::ostringstream out;
  out << std::string(indent * 2, ' ');
  auto names = [&](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
    return Clean(s);
  };
  switch (node.kind) {
    case NodeKind::kScan: {
      // Planned first: a source describes what planning found (files pruned).
      auto splits = node.source->PlanSplits(node.pushed);
      out << "Scan " << node.source->Describe();
      if (splits.ok()) out << " splits=" << splits->size();
      if (node.projection_pushed)
        out << "\n"
            << std::string(indent * 2 + 4, ' ')
            << "pushed projection: " << names(*node.pushed.columns);
      if (node.filter_pushed)
        out << "\n"
            << std::string(indent * 2 + 4, ' ')
            << "pushed filter: " << node.pushed.filter.ToString();
      if (node.limit_pushed)
        out << "\n"
            << std::string(indent * 2 + 4, ' ') << "pushed limit: " << *node.pushed.limit;
      break;
    }
    case NodeKind::kValues:
      if (node.table) {
        out << "Values (" << node.table->num_rows() << " rows, read once)";
      } else {
        out << "Values (1 row)";
      }
      break;
    case NodeKind::kFilter:
      out << "Filter " << Clean(node.predicate.ToString());
      break;
    case NodeKind::kProject: {
      out << "Project ";
      for (size_t i = 0; i < node.exprs.size(); ++i) {
        std::string e = Clean(node.exprs[i].ToString());
        std::string n = Clean(node.schema->field(static_cast<int>(i))->name());
        out << (i ? ", " : "") << e;
        if (e != n) out << " AS " << n;
      }
      break;
    }
    case NodeKind::kAggregate: {
      out << "Aggregate";
      if (!node.keys.empty()) out << " keys=[" << names(node.keys) << "]";
      if (!node.aggregates.empty()) {
        out << " aggregates=[";
        for (size_t i = 0; i < node.aggregates.size(); ++i) {
          const auto& a = node.aggregates[i];
          out << (i ? ", " : "") << a.function << "(" << Clean(a.input) << ")";
        }
        out << "]";
      }
      break;
    }
    case NodeKind::kJoin:
      out << "HashJoin " << ac::ToString(node.join_type) << " left=["
          << names(node.left_keys) << "] right=[" << names(node.right_keys) << "]";
      if (node.predicate != cp::literal(true))
        out << " filter=" << Clean(node.predicate.ToString());
      break;
    case NodeKind::kSort: {
      out << "Sort ";
      for (size_t i = 0; i < node.sort_keys.size(); ++i) {
        const auto& k = node.sort_keys[i];
        out << (i ? ", " : "")
            << Clean(k.target.name() ? *k.target.name() : k.target.ToString())
            << (k.order == cp::SortOrder::Descending ? " DESC" : " ASC")
            << (k.null_placement == cp::NullPlacement::AtStart ? " NULLS FIRST" : "");
      }
      break;
    }
    case NodeKind::kLimit:
      out << "Limit "
          << (node.count < 0 ? std::string("ALL") : std::to_string(node.count));
      if (node.offset) out << " OFFSET " << node.offset;
      break;
    case NodeKind::kUnion:
      out << "Union";
      break;
    case NodeKind::kUnnest:
      out << "Unnest";
      for (size_t i = 0; i < node.unnest_columns.size(); ++i) {
        out << (i ? ", " : " ") << Clean(node.unnest_columns[i]);
      }
      break;
    case NodeKind::kLateral: {
      out << (node.join_type == ac::JoinType::LEFT_OUTER ? "LeftLateral " : "Lateral ")
          << node.connector << "(";
      for (size_t i = 0; i < node.exprs.size(); ++i) {
        out << (i ? ", " : "") << Clean(node.exprs[i].ToString());
      }
      for (const auto& [k, v] : node.args.options.values()) {
        if (node.args.options.IsSet(k)) out << ", " << k << " => " << v;
      }
      out << ")";
      break;
    }
    case NodeKind::kWindow:
      out << "Window";
      for (size_t i = 0; i < node.windows.size(); ++i) {
        const auto& w = node.windows[i];
        out << (i ? ", " : " ") << w.function << "(" << names(w.args) << ")";
        if (w.offset != 1) out << " n=" << w.offset;
        if (w.default_value) out << " default=" << w.default_value->ToString();
        if (w.frame.has_frame) {
          auto bound = [](const sql::FrameBound& b) {
            using K = sql::FrameBound::Kind;
            switch (b.kind) {
              case K::kUnboundedPreceding:
                return std::string("UNBOUNDED PRECEDING");
              case K::kPreceding:
                return std::to_string(b.offset) + " PRECEDING";
              case K::kCurrentRow:
                return std::string("CURRENT ROW");
              case K::kFollowing:
                return std::to_string(b.offset) + " FOLLOWING";
              default:
                return std::string("UNBOUNDED FOLLOWING");
            }
          };
          out << " frame=" << (w.frame.rows ? "ROWS " : "RANGE ") << bound(w.frame.start)
              << " AND " << bound(w.frame.end);
        }
        if (!w.partition.empty()) out << " partition=[" << names(w.partition) << "]";
        if (!w.order.empty()) {
          out << " order=[";
          for (size_t k = 0; k < w.order.size(); ++k) {
            out << (k ? ", " : "") << Clean(*w.order[k].target.name())
                << (w.order[k].order == cp::SortOrder::Descending ? " DESC" : "")
                << (w.order[k].null_placement == cp::NullPlacement::AtStart
                        ? " NULLS FIRST"
                        : "");
          }
          out << "]";
        }
      }
      break;
  }
  out << "\n";
  if (profile != nullptr) {
    std::string measured = profile->Describe(node);
    if (!measured.empty()) {
      out << std::string(indent * 2 + 4, ' ') << "actual: " << measured << "\n";
    }
  }
  if (!children) return out.str();
  for (const auto& in : node.inputs) out << ToString(*in, indent + 1, true, profile);
  return out.str();
}

namespace {

/// Gives a source's batch the plan's internal names and types, checking the contract.
Result<std::shared_ptr<arrow::RecordBatch>> Conform(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::shared_ptr<arrow::Schema>& schema, const std::string& source) {
  if (batch->num_columns() != schema->num_fields()) {
    return Status::Invalid(source, " returned ", batch->num_columns(),
                           " columns, expected ", schema->num_fields());
  }
  std::vector<std::shared_ptr<arrow::Array>> columns = batch->columns();
  for (int i = 0; i < schema->num_fields(); ++i) {
    if (!columns[i]->type()->Equals(*schema->field(i)->type())) {
      ARROW_ASSIGN_OR_RAISE(auto cast, cp::Cast(*columns[i], schema->field(i)->type()));
      columns[i] = cast;
    }
  }
  return arrow::RecordBatch::Make(schema, batch->num_rows(), std::move(columns));
}

bool IsOrdered(const PlanNode& node) {
  switch (node.kind) {
    case NodeKind::kScan:
    case NodeKind::kValues:
    case NodeKind::kSort:
      return true;
    case NodeKind::kFilter:
    case NodeKind::kProject:
    case NodeKind::kLimit:
      return IsOrdered(*node.inputs[0]);
    default:
      return false;
  }
}

// The columns a node really produces after pushdown (Filter, Sort and Limit keep
// their input's, whose schema may have shrunk).
std::shared_ptr<arrow::Schema> LiveSchema(const PlanNode& node) {
  switch (node.kind) {
    case NodeKind::kFilter:
    case NodeKind::kSort:
    case NodeKind::kLimit:
      return LiveSchema(*node.inputs[0]);
    case NodeKind::kWindow: {
      arrow::FieldVector fields = LiveSchema(*node.inputs[0])->fields();
      for (const auto& w : node.windows) fields.push_back(arrow::field(w.output, w.type));
      return arrow::schema(fields);
    }
    case NodeKind::kUnnest: {
      arrow::FieldVector fields = LiveSchema(*node.inputs[0])->fields();
      for (auto& f : fields) {
        if (std::find(node.unnest_columns.begin(), node.unnest_columns.end(),
                      f->name()) != node.unnest_columns.end()) {
          f = node.schema->field(node.schema->GetFieldIndex(f->name()));
        }
      }
      return arrow::schema(fields);
    }
    case NodeKind::kLateral: {
      arrow::FieldVector fields = LiveSchema(*node.inputs[0])->fields();
      const int n = node.schema->num_fields();
      for (int i = n - static_cast<int>(node.source_columns.size()); i < n; ++i) {
        fields.push_back(node.schema->field(i));
      }
      return arrow::schema(fields);
    }
    case NodeKind::kJoin: {
      auto left = LiveSchema(*node.inputs[0]);
      if (OutputsLeftOnly(node.join_type)) return left;
      if (OutputsRightOnly(node.join_type)) return LiveSchema(*node.inputs[1]);
      arrow::FieldVector fields = left->fields();
      auto right = LiveSchema(*node.inputs[1]);
      for (const auto& f : right->fields()) fields.push_back(f);
      return arrow::schema(fields);
    }
    default:
      return node.schema;
  }
}

}  // namespace

namespace {

/// Adds the columns each conjunct of `e` reads, as one text per conjunct.
void ConjunctColumns(const cp::Expression& e, std::set<std::string>* out) {
  const auto* call = e.call();
  if (call != nullptr &&
      (call->function_name == "and_kleene" || call->function_name == "and")) {
    for (const auto& a : call->arguments) ConjunctColumns(a, out);
    return;
  }
  std::string columns;
  for (const auto& ref : cp::FieldsInExpression(e)) columns += ref.ToString() + ",";
  out->insert(columns);
}

/// The conditions of a predicate, those on the same columns counted once (a range,
/// x >= a AND x <= b, selects like one condition, not two).
int Conditions(const cp::Expression& e) {
  std::set<std::string> columns;
  ConjunctColumns(e, &columns);
  return static_cast<int>(columns.size());
}

}  // namespace

double EstimateSize(const PlanNode& node) {
  switch (node.kind) {
    case NodeKind::kScan: {
      int64_t bytes = node.source->EstimatedBytes();
      return bytes < 0 ? double(1 << 30) : double(bytes);
    }
    case NodeKind::kValues:
      return node.values ? double(node.values->num_rows() * 16)
                         : double(node.table->num_rows() * 16);
    case NodeKind::kFilter:
      // Each condition keeps about 30% of the rows (a guess, as planners without
      // statistics make): five conditions on a fact table leave it small.
      return EstimateSize(*node.inputs[0]) * std::pow(0.3, Conditions(node.predicate));
    case NodeKind::kAggregate:
      return EstimateSize(*node.inputs[0]) / 10;
    case NodeKind::kLimit:
      return node.count < 0 ? EstimateSize(*node.inputs[0])
                            : std::min(EstimateSize(*node.inputs[0]), node.count * 16.0);
    case NodeKind::kJoin:
    case NodeKind::kUnion: {
      double out = 0;
      for (const auto& in : node.inputs) {
        out = node.kind == NodeKind::kUnion ? out + EstimateSize(*in)
                                            : std::max(out, EstimateSize(*in));
      }
      return out;
    }
    default:
      return EstimateSize(*node.inputs[0]);
  }
}

ac::Declaration SourceDeclaration(const PlanNode& scan, BatchPull pull) {
  auto schema = scan.schema;
  auto name = scan.source->Describe();
  auto it = arrow::MakeFunctionIterator(
      [pull = std::move(pull), schema,
       name]() -> Result<std::shared_ptr<arrow::RecordBatch>> {
        ARROW_ASSIGN_OR_RAISE(auto batch, pull());
        if (batch == nullptr) return batch;
        return Conform(batch, schema, name);
      });
  // The pull blocks while its scanner waits for data: it gets a thread of its own,
  // a few batches ahead, so that it never holds a thread of the IO pool that the
  // scanner's readers need (ten blocked scans would starve an 8-thread pool).
  // The generator must go before its thread: destroyed after it, the thread pool
  // drops a task the generator has queued, and the generator's destructor then waits
  // for that task forever (a plan closed at the wrong moment hung; members are
  // destroyed in reverse order, lambda captures in no specified one).
  struct Background {
    std::shared_ptr<arrow::internal::ThreadPool> thread;
    arrow::AsyncGenerator<std::shared_ptr<arrow::RecordBatch>> gen;
  };
  auto background = std::make_shared<Background>();
  background->thread = arrow::internal::ThreadPool::Make(1).ValueOrDie();
  background->gen =
      arrow::MakeBackgroundGenerator(std::move(it), background->thread.get(),
                                     /*max_q=*/4, /*q_restart=*/2)
          .ValueOrDie();
  std::function<arrow::Future<std::optional<cp::ExecBatch>>()> exec_gen = [background]() {
    return background->gen().Then([](const std::shared_ptr<arrow::RecordBatch>& batch)
                                      -> std::optional<cp::ExecBatch> {
      if (!batch) return std::nullopt;
      return cp::ExecBatch(*batch);
    });
  };
  return ac::Declaration(
      "source", ac::SourceNodeOptions(scan.schema, exec_gen, cp::Ordering::Implicit()));
}

namespace {

/// Pulls a running plan's output through a sink node with tight backpressure: a
/// slow consumer (a sink writing files) pauses the sources at ~32 MB of queued
/// output, where Acero's default waits for 1 GiB.
class PlanReader : public arrow::RecordBatchReader {
 public:
  PlanReader(std::shared_ptr<ac::ExecPlan> plan, std::shared_ptr<arrow::Schema> schema,
             std::function<arrow::Future<std::optional<cp::ExecBatch>>()> gen)
      : plan_(std::move(plan)), schema_(std::move(schema)), gen_(std::move(gen)) {}
  ~PlanReader() override { (void)Close(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (plan_ == nullptr) return Status::OK();
    auto next = gen_().result();
    if (!next.ok()) {
      (void)Close();
      return Explain(next.status());
    }
    if (!next->has_value()) {
      // The end: report an error the plan finished with.
      Status st = plan_->finished().status();
      plan_.reset();
      return Explain(st);
    }
    ARROW_ASSIGN_OR_RAISE(*out, (*next)->ToRecordBatch(schema_));
    return Status::OK();
  }

  Status Close() override {
    if (plan_ == nullptr) return Status::OK();
    plan_->StopProducing();
    (void)plan_->finished().status();
    plan_.reset();
    return Status::OK();
  }

 private:
  /// Arrow's checked kernels say only "overflow": say what the user can do.
  static Status Explain(const Status& st) {
    if (st.IsInvalid() && st.message() == "overflow") {
      return Status::Invalid(
          "integer overflow in +, - or * (the result does not fit its type); CAST an "
          "operand to a wider type such as BIGINT or DOUBLE");
    }
    return st;
  }

  std::shared_ptr<ac::ExecPlan> plan_;
  std::shared_ptr<arrow::Schema> schema_;
  std::function<arrow::Future<std::optional<cp::ExecBatch>>()> gen_;
};

}  // namespace

Result<std::unique_ptr<arrow::RecordBatchReader>> ToReader(
    ac::Declaration declaration, std::shared_ptr<arrow::Schema> schema) {
  ac::QueryOptions options;
  options.use_threads = true;
  ARROW_ASSIGN_OR_RAISE(auto plan, ac::ExecPlan::Make(options));
  std::function<arrow::Future<std::optional<cp::ExecBatch>>()> gen;
  ac::SinkNodeOptions sink(&gen, ac::BackpressureOptions(8 << 20, 32 << 20));
  ARROW_RETURN_NOT_OK(ac::Declaration::Sequence({std::move(declaration), {"sink", sink}})
                          .AddToPlan(plan.get())
                          .status());
  ARROW_RETURN_NOT_OK(plan->Validate());
  plan->StartProducing();
  return std::make_unique<PlanReader>(std::move(plan), std::move(schema), std::move(gen));
}

void CollectScans(const PlanPtr& node, std::vector<PlanPtr>* out) {
  if (node->kind == NodeKind::kScan) out->push_back(node);
  for (const auto& in : node->inputs) CollectScans(in, out);
}

namespace {

void Fingerprint(const PlanNode& node, std::string* out) {
  *out +=
      std::to_string(static_cast<int>(node.kind)) + "(" + node.schema->ToString() + ";";
  switch (node.kind) {
    case NodeKind::kScan: {
      *out += node.connector + "|" + node.args.uri + "|";
      for (const auto& p : node.args.positional) *out += p + ",";
      for (const auto& [k, v] : node.args.options.values()) *out += k + "=" + v + ",";
      for (const auto& c : node.source_columns) *out += c + ",";
      *out += "|" + node.pushed.filter.ToString();
      if (node.pushed.columns) {
        for (const auto& c : *node.pushed.columns) *out += c + ",";
      }
      if (node.pushed.limit) *out += "limit=" + std::to_string(*node.pushed.limit);
      break;
    }
    case NodeKind::kValues:
      if (node.values) *out += node.values->ToString();
      break;
    default:
      *out += ToString(node, 0, /*children=*/false);
  }
  for (const auto& in : node.inputs) Fingerprint(*in, out);
  *out += ")";
}

}  // namespace

std::string Fingerprint(const PlanNode& node) {
  std::string text;
  Fingerprint(node, &text);
  return StableHash(text);
}

namespace {

Result<ac::Declaration> LowerNode(const PlanPtr& node, const ScanLowering& lower_scan,
                                  Profile* profile, const arrow::StopToken& stop) {
  std::vector<ac::Declaration::Input> inputs;
  for (const auto& in : node->inputs) {
    ARROW_ASSIGN_OR_RAISE(auto d, Lower(in, lower_scan, profile, stop));
    inputs.push_back(std::move(d));
  }
  switch (node->kind) {
    case NodeKind::kScan:
      return lower_scan(*node);
    case NodeKind::kValues: {
      std::shared_ptr<arrow::Table> table = node->table;
      if (table == nullptr) {
        ARROW_ASSIGN_OR_RAISE(table, arrow::Table::FromRecordBatches({node->values}));
      }
      return ac::Declaration("table_source", ac::TableSourceNodeOptions(table));
    }
    case NodeKind::kFilter:
      return ac::Declaration("filter", std::move(inputs),
                             ac::FilterNodeOptions(node->predicate));
    case NodeKind::kProject: {
      std::vector<std::string> names;
      for (const auto& f : node->schema->fields()) names.push_back(f->name());
      return ac::Declaration("project", std::move(inputs),
                             ac::ProjectNodeOptions(node->exprs, names));
    }
    case NodeKind::kAggregate: {
      std::vector<cp::Aggregate> aggs;
      bool grouped = !node->keys.empty();
      for (const auto& a : node->aggregates) {
        std::vector<arrow::FieldRef> target;
        if (!a.input.empty()) target.emplace_back(a.input);
        aggs.emplace_back((grouped ? "hash_" : "") + a.function, a.options,
                          std::move(target), a.output);
      }
      std::vector<arrow::FieldRef> keys;
      for (const auto& k : node->keys) keys.emplace_back(k);
      return ac::Declaration("aggregate", std::move(inputs),
                             ac::AggregateNodeOptions(std::move(aggs), std::move(keys)));
    }
    case NodeKind::kJoin: {
      // Acero's hash join carries only flat columns; refuse nested ones up front
      // rather than failing inside the running plan.
      for (size_t side = 0; side < 2; ++side) {
        const auto& keys = side == 0 ? node->left_keys : node->right_keys;
        auto schema = LiveSchema(*node->inputs[side]);
        for (const auto& f : schema->fields()) {
          if (arrow::is_nested(f->type()->id()) &&
              std::find(keys.begin(), keys.end(), f->name()) == keys.end()) {
            return Status::NotImplemented(
                "joins cannot carry LIST, STRUCT or MAP columns yet (column '",
                Clean(f->name()), "')");
          }
        }
      }
      std::vector<arrow::FieldRef> lk, rk;
      for (const auto& k : node->left_keys) lk.emplace_back(k);
      for (const auto& k : node->right_keys) rk.emplace_back(k);
      ac::HashJoinNodeOptions opts(node->join_type, lk, rk, node->predicate, "", "");
      if (node->null_equal_keys) {
        for (auto& c : opts.key_cmp) c = ac::JoinKeyCmp::IS;
      }
      return ac::Declaration("hashjoin", std::move(inputs), std::move(opts));
    }
    case NodeKind::kSort:
      return ac::Declaration("order_by", std::move(inputs),
                             ac::OrderByNodeOptions(cp::Ordering(node->sort_keys)));
    case NodeKind::kLimit: {
      int64_t count = node->count < 0 ? std::numeric_limits<int64_t>::max() : node->count;
      if (IsOrdered(*node->inputs[0])) {
        return ac::Declaration("fetch", std::move(inputs),
                               ac::FetchNodeOptions(node->offset, count));
      }
      // Without an order Acero cannot fetch: run the input, then slice it.
      auto input = std::get<ac::Declaration>(std::move(inputs[0]));
      ARROW_ASSIGN_OR_RAISE(auto table, ac::DeclarationToTable(std::move(input)));
      int64_t offset = std::min(node->offset, table->num_rows());
      table = table->Slice(offset, std::min(count, table->num_rows() - offset));
      return ac::Declaration("table_source", ac::TableSourceNodeOptions(table));
    }
    case NodeKind::kUnion:
      return ac::Declaration("union", std::move(inputs), ac::ExecNodeOptions{});
    case NodeKind::kUnnest:
      return UnnestDeclaration(std::get<ac::Declaration>(std::move(inputs[0])),
                               node->unnest_columns);
    case NodeKind::kLateral:
      return LateralDeclaration(std::get<ac::Declaration>(std::move(inputs[0])), *node,
                                stop);
    case NodeKind::kWindow: {
      // Window functions see whole partitions: run the input, then compute.
      auto input = std::get<ac::Declaration>(std::move(inputs[0]));
      ARROW_ASSIGN_OR_RAISE(auto reader, ac::DeclarationToReader(std::move(input)));
      ARROW_ASSIGN_OR_RAISE(
          auto windows,
          WindowReader(std::shared_ptr<arrow::RecordBatchReader>(std::move(reader)),
                       *node));
      return ac::Declaration("record_batch_reader_source",
                             ac::RecordBatchReaderSourceNodeOptions(std::move(windows)));
    }
  }
  return Status::Invalid("unknown plan node");
}

}  // namespace

Result<ac::Declaration> Lower(const PlanPtr& node, const ScanLowering& lower_scan,
                              Profile* profile, arrow::StopToken stop) {
  ARROW_ASSIGN_OR_RAISE(auto declaration, LowerNode(node, lower_scan, profile, stop));
  if (profile == nullptr) return declaration;
  auto measured = std::make_shared<NodeProfile>();
  profile->nodes[node.get()] = measured;
  return Profiled(std::move(declaration), std::move(measured), profile->start);
}

}  // namespace flowsql::plan
