// Relational binding: FROM, joins, WHERE, GROUP BY, select lists, set operations,
// ORDER BY and LIMIT, into a logical plan of internal-named columns.
#include "plan/binder.h"

#include <arrow/array/builder_primitive.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>
#include <arrow/table.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "common/numbers.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
using arrow::Type;

namespace {

PlanPtr Node(NodeKind kind, std::vector<PlanPtr> inputs) {
  return MakeNode(kind, std::move(inputs));
}

// The constant text of a table-function argument or LIMIT.
Result<std::string> ConstText(const sql::Expr& e, const std::string& what) {
  if (e.kind == sql::ExprKind::kLiteral) return e.text;
  if (e.kind == sql::ExprKind::kUnary && e.op == "-" &&
      e.args[0]->kind == sql::ExprKind::kLiteral) {
    return "-" + e.args[0]->text;
  }
  return ErrorAt(e.loc, what + " must be a constant");
}

Result<int64_t> ConstCount(const sql::Expr& e, const std::string& what) {
  ARROW_ASSIGN_OR_RAISE(auto text, ConstText(e, what));
  if (auto v = ParseInt64(text); v && *v >= 0) return *v;
  return ErrorAt(e.loc, what + " must be a non-negative integer, got '" + text + "'");
}

/// A filter's predicate: a bare NULL (WHERE NULL) keeps no row; Acero's filter
/// wants a boolean, not the null type.
cp::Expression BooleanPredicate(const Binder::Bound& pred) {
  if (pred.type->id() == Type::NA) return cp::literal(false);
  return pred.expr;
}

}  // namespace

namespace {

/// The operands of a chain of `op` (AND or OR): a AND b AND c gives a, b, c.
void SplitChain(const sql::ExprPtr& e, const char* op, std::vector<sql::ExprPtr>* out) {
  if (e->kind == sql::ExprKind::kBinary && e->op == op) {
    SplitChain(e->args[0], op, out);
    SplitChain(e->args[1], op, out);
  } else {
    out->push_back(e);
  }
}

void SplitDisjuncts(const sql::ExprPtr& e, std::vector<sql::ExprPtr>* out) {
  SplitChain(e, "OR", out);
}

}  // namespace

void SplitConjuncts(const sql::ExprPtr& e, std::vector<sql::ExprPtr>* out) {
  SplitChain(e, "AND", out);
}

namespace {

/// The inputs of a tree of inner and cross joins (without USING), left to right,
/// and their ON conditions split into conjuncts. Any other table is one leaf.
void FlattenInnerJoins(const sql::TableRef& ref,
                       std::vector<const sql::TableRef*>* leaves,
                       std::vector<sql::ExprPtr>* conditions) {
  bool inner =
      ref.join_type == sql::JoinType::kInner || ref.join_type == sql::JoinType::kCross;
  if (ref.kind != sql::TableKind::kJoin || !inner || !ref.using_columns.empty() ||
      ref.natural) {
    leaves->push_back(&ref);
    return;
  }
  FlattenInnerJoins(*ref.left, leaves, conditions);
  FlattenInnerJoins(*ref.right, leaves, conditions);
  if (ref.on) SplitConjuncts(ref.on, conditions);
}

}  // namespace

std::string ItemName(const sql::SelectItem& item) {
  if (!item.alias.empty()) return item.alias;
  if (item.expr->kind == sql::ExprKind::kColumn) return item.expr->name;
  return ExprToString(*item.expr);
}

bool IsLateral(const sql::TableRef& ref) {
  if (ref.lateral) return true;
  // unnest(t.tags) reads the tables before it, as in DuckDB, without LATERAL.
  std::function<bool(const sql::Expr&)> reads_column = [&](const sql::Expr& e) {
    if (e.kind == sql::ExprKind::kColumn) return true;
    if (e.subquery) return false;
    return std::any_of(e.args.begin(), e.args.end(),
                       [&](const sql::ExprPtr& a) { return reads_column(*a); });
  };
  // Nor does a table function whose arguments read them (read_csv(t.path)), as in
  // PostgreSQL.
  return ref.kind == sql::TableKind::kFunction &&
         std::any_of(ref.args.begin(), ref.args.end(),
                     [&](const sql::ExprPtr& a) { return reads_column(*a); });
}

namespace {

/// The qualifiers of the columns `query` names (t in t.x), and the names its FROM
/// clauses give tables, at any depth.
struct QueryNames {
  std::set<std::string> qualifiers, tables;

  void Add(const sql::Expr& e) {
    if (e.kind == sql::ExprKind::kColumn && !e.table.empty()) {
      qualifiers.insert(AsciiLower(e.table));
    }
    for (const auto& a : e.args) Add(*a);
    if (e.subquery) Add(*e.subquery);
    if (e.over) {
      for (const auto& p : e.over->partition_by) Add(*p);
      for (const auto& o : e.over->order_by) Add(*o.expr);
    }
  }
  void Add(const sql::TableRef& ref) {
    if (!ref.alias.empty()) tables.insert(AsciiLower(ref.alias));
    if (ref.kind == sql::TableKind::kName) tables.insert(AsciiLower(ref.name));
    if (ref.left) Add(*ref.left);
    if (ref.right) Add(*ref.right);
    if (ref.on) Add(*ref.on);
    if (ref.subquery) Add(*ref.subquery);
    for (const auto& a : ref.args) Add(*a);
  }
  void Add(const sql::QueryNode& node) {
    if (node.left) Add(*node.left);
    if (node.right) Add(*node.right);
    if (node.query) Add(*node.query);
    for (const auto& row : node.rows) {
      for (const auto& v : row) Add(*v);
    }
    const sql::SelectCore& s = node.select;
    for (const auto& item : s.items) Add(*item.expr);
    if (s.from) Add(*s.from);
    for (const auto* e : {&s.where, &s.having, &s.qualify}) {
      if (*e) Add(**e);
    }
    for (const auto& g : s.group_by) Add(*g);
  }
  void Add(const sql::Query& q) {
    for (const auto& cte : q.ctes) {
      tables.insert(AsciiLower(cte.name));
      Add(*cte.query);
    }
    if (q.body) Add(*q.body);
    for (const auto& o : q.order_by) Add(*o.expr);
  }
};

/// Whether subquery `ref` names a table given by `earlier` and not by itself: it
/// reads the tables before it, a LATERAL subquery without the keyword (as DuckDB
/// takes it).
bool ReadsEarlierTables(const sql::TableRef& ref, const std::set<std::string>& earlier) {
  if (ref.kind != sql::TableKind::kSubquery || ref.lateral || !ref.subquery) return false;
  QueryNames names;
  names.Add(*ref.subquery);
  for (const auto& q : names.qualifiers) {
    if (earlier.count(q) && !names.tables.count(q)) return true;
  }
  return false;
}

/// The names the inputs of `ref` (a table, or joins of tables) go by.
void InputNames(const sql::TableRef& ref, std::set<std::string>* out) {
  if (ref.kind == sql::TableKind::kJoin) {
    InputNames(*ref.left, out);
    InputNames(*ref.right, out);
    return;
  }
  if (!ref.alias.empty()) out->insert(AsciiLower(ref.alias));
  if (ref.kind == sql::TableKind::kName) out->insert(AsciiLower(ref.name));
}

}  // namespace

sql::ExprPtr Combine(const std::string& op, std::vector<sql::ExprPtr> parts) {
  sql::ExprPtr out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    auto e = std::make_shared<sql::Expr>();
    e->kind = sql::ExprKind::kBinary;
    e->op = op;
    e->loc = parts[i]->loc;
    e->args = {out, parts[i]};
    out = e;
  }
  return out;
}

namespace {

void CollectUnnestCalls(const sql::Expr& e, std::vector<const sql::Expr*>* out) {
  if (e.kind == sql::ExprKind::kFunction && e.name == "unnest" && !e.over) {
    out->push_back(&e);
    return;
  }
  for (const auto& a : e.args) CollectUnnestCalls(*a, out);
}

}  // namespace

Result<Binder::Relation> Binder::BindUnnest(Relation rel, const sql::SelectCore& select,
                                            AggContext* agg) {
  std::vector<const sql::Expr*> all;
  for (const auto& item : select.items) CollectUnnestCalls(*item.expr, &all);
  // Each different call once: the same call twice is one column.
  std::vector<const sql::Expr*> calls;
  std::vector<std::string> texts;
  std::vector<Bound> lists;
  for (const sql::Expr* c : all) {
    std::string text = ExprToString(*c);
    if (std::find(texts.begin(), texts.end(), text) != texts.end()) continue;
    if (c->args.size() != 1) return ErrorAt(c->loc, "unnest() takes one argument");
    ARROW_ASSIGN_OR_RAISE(auto list, BindExpr(*c->args[0], rel.scope, agg));
    calls.push_back(c);
    texts.push_back(std::move(text));
    lists.push_back(std::move(list));
  }
  if (calls.empty()) return rel;
  const size_t before = rel.scope.columns.size();
  ARROW_ASSIGN_OR_RAISE(rel, UnnestLists(std::move(rel), lists, texts, calls[0]->loc));
  for (size_t i = 0; i < texts.size(); ++i) {
    window_columns_[texts[i]] = rel.scope.columns[before + i].internal;
  }
  return rel;
}

Result<Binder::Relation> Binder::UnnestLists(Relation rel,
                                             const std::vector<Bound>& lists,
                                             const std::vector<std::string>& texts,
                                             const sql::Location& loc) {
  // The lists as columns beside the input's, then a row per element, zipped.
  auto pre = Node(NodeKind::kProject, {rel.plan});
  arrow::FieldVector fields = rel.plan->schema->fields();
  for (const auto& f : fields) pre->exprs.push_back(cp::field_ref(f->name()));
  auto unnest = Node(NodeKind::kUnnest, {pre});
  arrow::FieldVector out = fields;
  for (size_t i = 0; i < lists.size(); ++i) {
    const Bound& list = lists[i];
    if (list.type->id() != Type::LIST) {
      return ErrorAt(loc, "unnest() needs a list, got " + ArrowTypeToSql(*list.type));
    }
    auto element = static_cast<const arrow::ListType&>(*list.type).value_type();
    const std::string name = NewName(texts[i]);
    pre->exprs.push_back(list.expr);
    fields.push_back(arrow::field(name, list.type));
    out.push_back(arrow::field(name, element));
    unnest->unnest_columns.push_back(name);
    rel.scope.columns.push_back({"", texts[i], name, element, /*hidden=*/true});
  }
  pre->schema = arrow::schema(fields);
  unnest->schema = arrow::schema(out);
  rel.plan = unnest;
  return rel;
}

sql::ExprPtr Binder::WithAliases(const sql::ExprPtr& e, const sql::SelectCore& select,
                                 const Scope& scope) {
  if (e->kind == sql::ExprKind::kColumn && e->table.empty()) {
    bool in_scope = false;
    for (const auto& c : scope.columns) {
      if (!c.hidden && EqualsIgnoreCase(c.name, e->name)) in_scope = true;
    }
    if (!in_scope) {
      for (const auto& item : select.items) {
        if (!item.alias.empty() && EqualsIgnoreCase(item.alias, e->name))
          return item.expr;
      }
    }
    return e;
  }
  if (e->subquery) return e;  // its names are its own
  auto copy = std::make_shared<sql::Expr>(*e);
  for (auto& a : copy->args) a = WithAliases(a, select, scope);
  return copy;
}

void CollectAggregates(const sql::Expr& e, std::vector<const sql::Expr*>* out) {
  if (e.kind == sql::ExprKind::kFunction && IsAggregateFunction(e.name) && !e.over) {
    out->push_back(&e);
    return;
  }
  for (const auto& a : e.args) CollectAggregates(*a, out);
  if (e.over) {  // rank() OVER (ORDER BY sum(x)): the sum is the query's aggregate
    for (const auto& p : e.over->partition_by) CollectAggregates(*p, out);
    for (const auto& o : e.over->order_by) CollectAggregates(*o.expr, out);
  }
}

namespace {

void CollectGroupingCalls(const sql::Expr& e, std::vector<const sql::Expr*>* out) {
  if (e.kind == sql::ExprKind::kFunction &&
      (e.name == "grouping" || e.name == "grouping_id")) {
    out->push_back(&e);
    return;
  }
  for (const auto& a : e.args) CollectGroupingCalls(*a, out);
}

}  // namespace

/// (a AND b) OR (a AND c) becomes a AND (b OR c), recursively over the conjuncts of
/// `e`, so that a condition every branch shares can become a join key or a filter.
sql::ExprPtr FactorDisjunction(const sql::ExprPtr& e) {
  std::vector<sql::ExprPtr> conjuncts;
  SplitConjuncts(e, &conjuncts);
  std::vector<sql::ExprPtr> out;
  for (const auto& c : conjuncts) {
    std::vector<sql::ExprPtr> branches;
    SplitDisjuncts(c, &branches);
    if (branches.size() < 2) {
      out.push_back(c);
      continue;
    }
    std::vector<std::vector<sql::ExprPtr>> parts(branches.size());
    for (size_t i = 0; i < branches.size(); ++i) SplitConjuncts(branches[i], &parts[i]);
    std::vector<sql::ExprPtr> common;
    for (const auto& candidate : parts[0]) {
      std::string text = ExprToString(*candidate);
      bool everywhere = true;
      for (size_t i = 1; i < parts.size() && everywhere; ++i) {
        everywhere = std::any_of(parts[i].begin(), parts[i].end(),
                                 [&](const auto& p) { return ExprToString(*p) == text; });
      }
      bool seen = std::any_of(common.begin(), common.end(),
                              [&](const auto& p) { return ExprToString(*p) == text; });
      if (everywhere && !seen) common.push_back(candidate);
    }
    if (common.empty()) {
      out.push_back(c);
      continue;
    }
    std::vector<sql::ExprPtr> rest;
    bool trivially_true = false;
    for (auto& branch : parts) {
      std::vector<sql::ExprPtr> left;
      for (const auto& p : branch) {
        std::string text = ExprToString(*p);
        if (std::none_of(common.begin(), common.end(),
                         [&](const auto& k) { return ExprToString(*k) == text; })) {
          left.push_back(p);
        }
      }
      if (left.empty())
        trivially_true = true;  // a branch is just the common part
      else
        rest.push_back(Combine("AND", left));
    }
    out.insert(out.end(), common.begin(), common.end());
    if (!trivially_true) out.push_back(Combine("OR", rest));
  }
  return Combine("AND", out);
}

namespace {

std::string DefaultAlias(const std::string& uri) {
  std::string path = uri;
  auto scheme = path.find("://");
  if (scheme != std::string::npos) path = path.substr(scheme + 3);
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string stem = std::filesystem::path(path).filename().string();
  auto dot = stem.find('.');
  return dot == std::string::npos ? stem : stem.substr(0, dot);
}

}  // namespace

std::string Binder::NewName(const std::string& base) {
  return base + "#" + std::to_string(++next_id_);
}

Result<PlanPtr> Binder::BindQuery(const sql::Query& query) {
  ARROW_ASSIGN_OR_RAISE(auto rel, BindQueryRelation(query));
  auto project = Node(NodeKind::kProject, {rel.plan});
  arrow::FieldVector fields;
  for (const auto& c : rel.scope.columns) {
    if (c.hidden || !c.star) continue;
    // Instants leave in the session's zone: shown, written and returned there.
    Bound column{cp::field_ref(c.internal), c.type};
    ARROW_ASSIGN_OR_RAISE(column, InSessionZone(column, rel.scope, query.loc));
    project->exprs.push_back(column.expr);
    fields.push_back(arrow::field(c.name, column.type));
  }
  project->schema = arrow::schema(fields);
  return project;
}

Result<Binder::Relation> Binder::BindQueryRelation(const sql::Query& query) {
  CteFrame frame;
  for (const auto& cte : query.ctes) frame.ctes[AsciiLower(cte.name)] = &cte;
  cte_stack_.push_back(frame);
  struct Pop {
    std::vector<CteFrame>* s;
    ~Pop() { s->pop_back(); }
  } pop{&cte_stack_};

  if (query.body->kind == sql::QueryNode::Kind::kSelect) {
    bool applied = false;
    return BindSelect(query.body->select, &query, &applied);
  }
  ARROW_ASSIGN_OR_RAISE(auto rel, BindNode(*query.body));
  std::vector<std::string> names;
  for (const auto& c : rel.scope.columns) names.push_back(c.name);
  return ApplyOrderLimit(std::move(rel), query, names);
}

Result<Binder::Relation> Binder::BindNode(const sql::QueryNode& node) {
  switch (node.kind) {
    case sql::QueryNode::Kind::kSelect: {
      bool applied = false;
      return BindSelect(node.select, nullptr, &applied);
    }
    case sql::QueryNode::Kind::kQuery:
      return BindQueryRelation(*node.query);
    case sql::QueryNode::Kind::kSetOp:
      return BindSetOp(node);
    case sql::QueryNode::Kind::kValues:
      return BindValues(node);
  }
  return Status::Invalid("unknown query node");
}

Result<Binder::Relation> Binder::BindValues(const sql::QueryNode& node) {
  // Constant rows (expressions folded at bind time), columns col0, col1, ... of
  // each column's common type, as in DuckDB.
  const size_t width = node.rows[0].size();
  std::vector<std::vector<Bound>> rows;
  Scope empty;
  for (const auto& row : node.rows) {
    std::vector<Bound> bound;
    for (const auto& e : row) {
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*e, empty, nullptr));
      const auto* lit = b.expr.literal();
      if (lit == nullptr || !lit->is_scalar()) {
        return ErrorAt(e->loc, "VALUES needs constant expressions");
      }
      bound.push_back(std::move(b));
    }
    rows.push_back(std::move(bound));
  }
  Relation rel;
  auto values = Node(NodeKind::kValues, {});
  arrow::FieldVector fields;
  arrow::ArrayVector columns;
  for (size_t c = 0; c < width; ++c) {
    std::vector<std::shared_ptr<arrow::DataType>> types;
    for (const auto& row : rows) types.push_back(row[c].type);
    auto type = CommonTypeOf(types);
    if (type->id() == Type::NA) type = arrow::int32();
    std::unique_ptr<arrow::ArrayBuilder> builder;
    ARROW_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), type, &builder));
    for (size_t r = 0; r < rows.size(); ++r) {
      ARROW_ASSIGN_OR_RAISE(auto cast,
                            CastTo(rows[r][c], type, empty, node.rows[r][c]->loc));
      const auto* lit = cast.expr.literal();
      if (lit == nullptr || !lit->is_scalar()) {
        return ErrorAt(node.rows[r][c]->loc, "VALUES needs constant expressions");
      }
      ARROW_RETURN_NOT_OK(builder->AppendScalar(*lit->scalar()));
    }
    ARROW_ASSIGN_OR_RAISE(auto column, builder->Finish());
    std::string name = "col" + std::to_string(c);
    std::string internal = NewName(name);
    fields.push_back(arrow::field(internal, type));
    columns.push_back(std::move(column));
    rel.scope.columns.push_back({"", name, internal, type});
  }
  values->schema = arrow::schema(fields);
  values->values = arrow::RecordBatch::Make(values->schema,
                                            static_cast<int64_t>(rows.size()), columns);
  rel.plan = values;
  return rel;
}

namespace {

// Adds Sort and Limit nodes on top of `plan`. keys refer to plan's columns.
Result<PlanPtr> AddOrderLimit(PlanPtr plan, std::vector<cp::SortKey> keys,
                              const sql::Query* query) {
  if (!keys.empty()) {
    // DuckDB sorts NaN above every number, with NULLs placed apart; Arrow puts NaN
    // beside the NULLs. A floating key sorts by is_nan(key) first, the same way.
    auto with_nan = Node(NodeKind::kProject, {plan});
    arrow::FieldVector fields = plan->schema->fields();
    for (const auto& f : fields) with_nan->exprs.push_back(cp::field_ref(f->name()));
    std::vector<cp::SortKey> sort_keys;
    for (const auto& k : keys) {
      const auto* name = k.target.name();
      auto field = name ? plan->schema->GetFieldByName(*name) : nullptr;
      if (field && arrow::is_floating(field->type()->id())) {
        std::string nan = *name + "#nan";
        with_nan->exprs.push_back(cp::call("is_nan", {cp::field_ref(*name)}));
        fields.push_back(arrow::field(nan, arrow::boolean()));
        sort_keys.emplace_back(nan, k.order, k.null_placement);
      }
      sort_keys.push_back(k);
    }
    auto sort = Node(NodeKind::kSort, {plan});
    sort->schema = plan->schema;
    if (sort_keys.size() > keys.size()) {
      with_nan->schema = arrow::schema(fields);
      sort->inputs = {with_nan};
      sort->schema = with_nan->schema;
      auto drop = Node(NodeKind::kProject, {sort});
      for (const auto& f : plan->schema->fields()) {
        drop->exprs.push_back(cp::field_ref(f->name()));
      }
      drop->schema = plan->schema;
      sort->sort_keys = std::move(sort_keys);
      plan = drop;
    } else {
      sort->sort_keys = std::move(keys);
      plan = sort;
    }
  }
  if (query != nullptr && (query->limit || query->offset)) {
    auto limit = Node(NodeKind::kLimit, {plan});
    limit->schema = plan->schema;
    if (query->limit) {
      if (query->limit->kind == sql::ExprKind::kLiteral &&
          query->limit->lit_kind == sql::LiteralKind::kNull) {
        limit->count = -1;
      } else {
        ARROW_ASSIGN_OR_RAISE(limit->count, ConstCount(*query->limit, "LIMIT"));
      }
    }
    if (query->offset) {
      ARROW_ASSIGN_OR_RAISE(limit->offset, ConstCount(*query->offset, "OFFSET"));
    }
    plan = limit;
  }
  return plan;
}

// ORDER BY ALL: every output column, left to right, in the item's direction.
std::vector<sql::OrderItem> OrderByAll(const std::vector<sql::OrderItem>& items,
                                       size_t columns) {
  std::vector<sql::OrderItem> out;
  for (const auto& item : items) {
    if (item.expr->kind != sql::ExprKind::kStar) {
      out.push_back(item);
      continue;
    }
    for (size_t i = 1; i <= columns; ++i) {
      sql::OrderItem column = item;
      auto ordinal = std::make_shared<sql::Expr>();
      ordinal->kind = sql::ExprKind::kLiteral;
      ordinal->lit_kind = sql::LiteralKind::kInteger;
      ordinal->text = std::to_string(i);
      ordinal->loc = item.expr->loc;
      column.expr = ordinal;
      out.push_back(column);
    }
  }
  return out;
}

cp::SortKey MakeSortKey(const std::string& internal, const sql::OrderItem& item) {
  // DuckDB's default: NULLS LAST in both directions.
  bool nulls_first = item.nulls_first.value_or(false);
  return cp::SortKey(
      arrow::FieldRef(internal),
      item.descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending,
      nulls_first ? cp::NullPlacement::AtStart : cp::NullPlacement::AtEnd);
}

// The output column an ORDER BY item names: an ordinal, an output name, or the
// same expression as a select item. -1 when none.
Result<int> OrderTarget(const sql::OrderItem& item, const std::vector<std::string>& names,
                        const std::vector<std::string>& texts) {
  const auto& e = *item.expr;
  if (e.kind == sql::ExprKind::kLiteral && e.lit_kind == sql::LiteralKind::kInteger) {
    const int64_t k = ParseInt64(e.text).value_or(0);
    if (k < 1 || k > static_cast<int64_t>(names.size())) {
      return ErrorAt(e.loc, "ORDER BY position " + e.text + " is not in the select list");
    }
    return static_cast<int>(k - 1);
  }
  if (e.kind == sql::ExprKind::kColumn && e.table.empty()) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == e.name) return static_cast<int>(i);
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (AsciiLower(names[i]) == AsciiLower(e.name)) return static_cast<int>(i);
    }
  }
  std::string text = ExprToString(e);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i] == text) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

Result<Binder::Relation> Binder::ApplyOrderLimit(Relation rel, const sql::Query& query,
                                                 const std::vector<std::string>& names) {
  std::vector<cp::SortKey> keys;
  for (const auto& item : OrderByAll(query.order_by, names.size())) {
    ARROW_ASSIGN_OR_RAISE(int target, OrderTarget(item, names, {}));
    if (target < 0) {
      return ErrorAt(
          item.expr->loc,
          "ORDER BY of a set operation must name an output column or position");
    }
    keys.push_back(MakeSortKey(rel.scope.columns[target].internal, item));
  }
  ARROW_ASSIGN_OR_RAISE(rel.plan, AddOrderLimit(rel.plan, std::move(keys), &query));
  return rel;
}

Result<Binder::Relation> Binder::BindSelect(const sql::SelectCore& select,
                                            const sql::Query* query,
                                            bool* order_applied) {
  // WHERE conjuncts; over a chain of inner joins they become join keys, filters
  // below the joins and residual conditions (BindJoinGraph).
  std::vector<sql::ExprPtr> where;
  if (select.where) {
    std::vector<const sql::Expr*> aggs;
    CollectAggregates(*select.where, &aggs);
    if (!aggs.empty()) {
      return ErrorAt(aggs[0]->loc, "aggregate functions are not allowed in WHERE");
    }
    SplitConjuncts(FactorDisjunction(select.where), &where);
  }
  Relation in;
  std::vector<const sql::TableRef*> leaves;
  std::vector<sql::ExprPtr> conditions;
  if (select.from) FlattenInnerJoins(*select.from, &leaves, &conditions);
  // A subquery naming an earlier input's table is LATERAL without the keyword.
  std::vector<std::shared_ptr<sql::TableRef>> implied;  // keeps the marked copies
  std::set<std::string> earlier;
  for (auto& leaf : leaves) {
    if (ReadsEarlierTables(*leaf, earlier)) {
      implied.push_back(std::make_shared<sql::TableRef>(*leaf));
      implied.back()->lateral = true;
      leaf = implied.back().get();
    }
    InputNames(*leaf, &earlier);
  }
  // LATERAL inputs join after the others, in FROM order; the conditions the others
  // cannot resolve wait for them.
  std::vector<const sql::TableRef*> laterals;
  for (const auto* leaf : leaves) {
    if (IsLateral(*leaf)) laterals.push_back(leaf);
  }
  const std::vector<const sql::TableRef*> from_order = leaves;
  std::erase_if(leaves, [](const sql::TableRef* leaf) { return IsLateral(*leaf); });
  if (!laterals.empty() && leaves.empty()) {
    return ErrorAt(laterals[0]->loc, "LATERAL needs a table before it to read");
  }
  if (!laterals.empty() && leaves.size() > 64) {
    return ErrorAt(laterals[0]->loc, "not supported: LATERAL among more than 64 inputs");
  }
  std::vector<size_t> widths;  // each input's columns in the scope, by `leaves`
  if (!laterals.empty() && leaves.size() == 1) {
    ARROW_ASSIGN_OR_RAISE(in, BindTable(*leaves[0]));
    widths.push_back(in.scope.columns.size());
    where.insert(where.begin(), conditions.begin(), conditions.end());
  } else if (leaves.size() > 1 && leaves.size() <= 64) {
    conditions.insert(conditions.end(), where.begin(), where.end());
    where.clear();
    ARROW_ASSIGN_OR_RAISE(in, BindJoinGraph(leaves, conditions, &where, &widths));
  } else if (select.from) {
    ARROW_ASSIGN_OR_RAISE(in, BindTable(*select.from));
  } else {
    auto values = Node(NodeKind::kValues, {});
    std::string name = NewName("dummy");
    arrow::Int32Builder b;
    ARROW_RETURN_NOT_OK(b.Append(0));
    ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
    values->schema = arrow::schema({arrow::field(name, arrow::int32())});
    values->values = arrow::RecordBatch::Make(values->schema, 1, {arr});
    in.plan = values;
    in.scope.columns.push_back({"", name, name, arrow::int32(), true});
  }
  if (!laterals.empty()) {
    // Each LATERAL input's columns come last; `*` lists them in FROM order.
    std::vector<std::vector<Column>> by_input;
    size_t at = 0;
    for (size_t w : widths) {
      by_input.emplace_back(in.scope.columns.begin() + at,
                            in.scope.columns.begin() + at + w);
      at += w;
    }
    std::vector<Column> rest(in.scope.columns.begin() + at, in.scope.columns.end());
    std::vector<std::vector<Column>> lateral_columns;
    for (const auto* lateral : laterals) {
      const size_t before = in.scope.columns.size();
      ARROW_ASSIGN_OR_RAISE(in, BindLateral(std::move(in), *lateral,
                                            arrow::acero::JoinType::INNER, nullptr));
      lateral_columns.emplace_back(in.scope.columns.begin() + before,
                                   in.scope.columns.end());
    }
    std::vector<Column> ordered;
    size_t plain = 0, late = 0;
    for (const auto* leaf : from_order) {
      const auto& cols = IsLateral(*leaf) ? lateral_columns[late++] : by_input[plain++];
      ordered.insert(ordered.end(), cols.begin(), cols.end());
    }
    // What joining added beside the inputs' own columns (join keys), hidden, last.
    ordered.insert(ordered.end(), rest.begin(), rest.end());
    for (const auto& c : in.scope.columns) {
      if (std::none_of(ordered.begin(), ordered.end(),
                       [&](const Column& o) { return o.internal == c.internal; })) {
        ordered.push_back(c);
      }
    }
    in.scope.columns = std::move(ordered);
  }
  if (!where.empty()) {
    ARROW_ASSIGN_OR_RAISE(in, ApplyWhere(std::move(in), where));
  }

  // Aggregation.
  std::vector<const sql::Expr*> agg_calls;
  for (const auto& item : select.items) CollectAggregates(*item.expr, &agg_calls);
  if (select.having) CollectAggregates(*select.having, &agg_calls);
  if (query) {
    for (const auto& o : query->order_by) CollectAggregates(*o.expr, &agg_calls);
  }
  bool group_all =
      select.group_by.size() == 1 && select.group_by[0]->kind == sql::ExprKind::kStar;
  bool aggregating = !select.group_by.empty() || !agg_calls.empty() || select.having;
  Relation post;  // the scope select items bind in
  AggContext ctx;
  AggContext* aggp = nullptr;
  if (aggregating) {
    ctx.input = &in.scope;
    auto pre = Node(NodeKind::kProject, {in.plan});
    arrow::FieldVector pre_fields;
    auto agg = Node(NodeKind::kAggregate, {pre});
    arrow::FieldVector agg_fields;
    std::vector<Column> key_cols, agg_cols;
    std::vector<AggregateCall> distinct_aggs;
    // Aggregates finished from their collected lists: column, finishing expression.
    std::vector<std::pair<std::string, cp::Expression>> finished;
    arrow::FieldVector finished_fields;

    std::vector<sql::ExprPtr> group_exprs;
    bool has_sets = false;
    std::vector<std::vector<int>> sets;  // GROUPING SETS: indices into group_exprs
    if (group_all) {
      for (const auto& item : select.items) {
        std::vector<const sql::Expr*> inner;
        CollectAggregates(*item.expr, &inner);
        if (inner.empty()) group_exprs.push_back(item.expr);
      }
    } else {
      std::vector<sql::ExprPtr> flat;
      ARROW_ASSIGN_OR_RAISE(has_sets, ExpandGroupingSets(select.group_by, &flat, &sets));
      for (const auto& g : flat) {
        sql::ExprPtr target = g;
        if (g->kind == sql::ExprKind::kLiteral &&
            g->lit_kind == sql::LiteralKind::kInteger) {
          const int64_t k = ParseInt64(g->text).value_or(0);
          if (k < 1 || k > static_cast<int64_t>(select.items.size())) {
            return ErrorAt(g->loc,
                           "GROUP BY position " + g->text + " is not in the select list");
          }
          target = select.items[k - 1].expr;
        } else if (g->kind == sql::ExprKind::kColumn && g->table.empty() &&
                   !Resolve(in.scope, "", g->name, g->loc).ok()) {
          for (const auto& item : select.items) {
            if (AsciiLower(item.alias) == AsciiLower(g->name)) target = item.expr;
          }
        }
        group_exprs.push_back(target);
      }
    }
    for (const auto& g : group_exprs) {
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*g, in.scope, nullptr));
      std::string display =
          g->kind == sql::ExprKind::kColumn ? g->name : ExprToString(*g);
      std::string pre_name = NewName(display);
      pre->exprs.push_back(b.expr);
      pre_fields.push_back(arrow::field(pre_name, b.type));
      agg->keys.push_back(pre_name);
      // Acero's aggregate node keeps the key column's name.
      std::string out_name = pre_name;
      Column col{g->kind == sql::ExprKind::kColumn ? g->table : "", display, out_name,
                 b.type};
      if (const auto* ref = b.expr.field_ref(); ref && ref->name()) {
        ctx.key_by_column[*ref->name()] = out_name;
        for (const auto& c : in.scope.columns) {
          if (c.internal == *ref->name()) col.qualifier = c.qualifier;
        }
      }
      ctx.by_text[ExprToString(*g)] = out_name;
      key_cols.push_back(col);
      agg_fields.push_back(arrow::field(out_name, b.type));
    }
    for (const sql::Expr* call : agg_calls) {
      std::string text = ExprToString(*call);
      if (ctx.by_text.count(text)) continue;
      const std::string& fn = call->name;
      bool star = fn == "count_star" ||
                  (call->args.size() == 1 && call->args[0]->kind == sql::ExprKind::kStar);
      AggregateCall ac;
      std::shared_ptr<arrow::DataType> out_type;
      std::optional<Collected> collected;
      std::shared_ptr<arrow::DataType> retype;  // the result cast to DuckDB's type
      std::string mean_count;  // avg(decimal): a count beside the sum, then their ratio
      if (star) {
        if (fn != "count" && fn != "count_star") {
          return ErrorAt(call->loc, fn + "(*) is not supported; use count(*)");
        }
        ac.function = "count_all";
        out_type = arrow::int64();
        if (call->filter) {
          // count(*) FILTER (WHERE c) counts the rows where c is true.
          ARROW_ASSIGN_OR_RAISE(auto cond, BindFilterCondition(*call, in.scope));
          ac.function = "count";
          ac.options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
          ac.input = NewName("filter");
          pre->exprs.push_back(
              cp::call("if_else", {cond.expr, cp::literal(int32_t{1}),
                                   cp::literal(arrow::MakeNullScalar(arrow::int32()))}));
          pre_fields.push_back(arrow::field(ac.input, arrow::int32()));
        }
      } else {
        std::vector<const sql::Expr*> nested;
        for (const auto& a : call->args) CollectAggregates(*a, &nested);
        for (const auto& o : call->order_by) CollectAggregates(*o.expr, &nested);
        if (!nested.empty())
          return ErrorAt(nested[0]->loc, "aggregate function calls cannot be nested");
        ARROW_ASSIGN_OR_RAISE(collected, BindCollected(*call, in.scope));
        if (!collected && call->args.size() != 1) {
          return ErrorAt(call->loc, fn + "() takes one argument");
        }
        if (!collected && !call->order_by.empty() &&
            (fn == "first" || fn == "last" || fn == "any_value" || fn == "arbitrary")) {
          return ErrorAt(call->loc, "not supported: ORDER BY inside " + fn + "()");
        }
        Bound arg;
        if (collected) {
          arg = collected->element;
        } else {
          ARROW_ASSIGN_OR_RAISE(arg, BindExpr(*call->args[0], in.scope, nullptr));
        }
        if (call->filter) {
          // agg(x) FILTER (WHERE c) aggregates x where c is true, NULL elsewhere.
          ARROW_ASSIGN_OR_RAISE(auto cond, BindFilterCondition(*call, in.scope));
          if (arg.type->id() == Type::NA) arg.type = arrow::int32();
          arg.expr = cp::call("if_else", {cond.expr, arg.expr,
                                          cp::literal(arrow::MakeNullScalar(arg.type))});
        }
        auto skip = std::make_shared<cp::ScalarAggregateOptions>(true, 1);
        if (collected) {
          if (call->filter && (fn == "list" || fn == "array_agg")) {
            return ErrorAt(call->loc, "not supported: " + fn + "() with FILTER");
          }
          ac.function = "collect";
          out_type = arrow::list(arg.type);
        } else if (fn == "count") {
          ac.function = call->distinct ? "count_distinct" : "count";
          ac.options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
          out_type = arrow::int64();
        } else if (fn == "sum") {
          if (arrow::is_integer(arg.type->id()) || arg.type->id() == arrow::Type::NA) {
            // DuckDB sums integers as HUGEINT: exact where a BIGINT would overflow
            // (Arrow's int64 sum wraps). DECIMAL(38,0) is Arrow's 128-bit integer.
            ARROW_ASSIGN_OR_RAISE(
                arg, CastTo(arg, arrow::decimal128(38, 0), in.scope, call->loc));
          } else if (!arrow::is_floating(arg.type->id()) &&
                     !arrow::is_decimal(arg.type->id())) {
            return ErrorAt(call->loc,
                           "sum() needs a number, got " + ArrowTypeToSql(*arg.type));
          }
          ac.function = arg.type->id() == Type::DECIMAL128 ? "decimal_sum" : "sum";
          ac.options = skip;
          out_type = arrow::is_floating(arg.type->id()) ? arrow::float64() : arg.type;
          if (arrow::is_decimal(arg.type->id())) {
            out_type = arrow::decimal128(
                38, static_cast<const arrow::DecimalType&>(*arg.type).scale());
          }
        } else if (fn == "avg" || fn == "mean") {
          if (!arrow::is_integer(arg.type->id()) && !arrow::is_floating(arg.type->id()) &&
              !arrow::is_decimal(arg.type->id())) {
            return ErrorAt(call->loc,
                           fn + "() needs a number, got " + ArrowTypeToSql(*arg.type));
          }
          ac.options = skip;
          if (arg.type->id() == Type::DECIMAL128 && !call->distinct) {
            // DuckDB's avg of a decimal: the exact sum, divided once by the count.
            ac.function = "decimal_sum";
            out_type = arrow::decimal128(
                38, static_cast<const arrow::DecimalType&>(*arg.type).scale());
            mean_count = NewName("count");
          } else {
            ARROW_ASSIGN_OR_RAISE(arg,
                                  CastTo(arg, arrow::float64(), in.scope, call->loc));
            ac.function = "mean";
            out_type = arrow::float64();
          }
        } else if (fn == "min" || fn == "max" || fn == "any_value" || fn == "first" ||
                   fn == "arbitrary") {
          // Acero's "first" is ordered and single-threaded; any_value may return
          // any value, and min is one (deterministic, and parallel).
          ac.function = (fn == "min" || fn == "max")               ? fn
                        : (fn == "any_value" || fn == "arbitrary") ? "min"
                                                                   : "first";
          ac.options = skip;
          out_type = arg.type;
        } else if (fn == "stddev" || fn == "stddev_samp" || fn == "stddev_pop" ||
                   fn == "variance" || fn == "var_samp" || fn == "var_pop") {
          ARROW_ASSIGN_OR_RAISE(arg, CastTo(arg, arrow::float64(), in.scope, call->loc));
          ac.function = fn.rfind("stddev", 0) == 0 ? "stddev" : "variance";
          int ddof = fn.find("pop") != std::string::npos ? 0 : 1;
          ac.options = std::make_shared<cp::VarianceOptions>(ddof, true, 1);
          out_type = arrow::float64();
        } else if (fn == "bool_and" || fn == "bool_or") {
          ac.function = fn == "bool_and" ? "all" : "any";
          ac.options = skip;
          out_type = arrow::boolean();
        } else if (fn == "count_if") {
          // count_if(c): the rows where c is true (count of a value only there).
          if (arg.type->id() != Type::BOOL && arg.type->id() != Type::NA) {
            return ErrorAt(call->loc, "count_if() needs a boolean, got " +
                                          ArrowTypeToSql(*arg.type));
          }
          arg.expr =
              cp::call("if_else", {cp::call("coalesce", {arg.expr, cp::literal(false)}),
                                   cp::literal(int32_t{1}),
                                   cp::literal(arrow::MakeNullScalar(arrow::int32()))});
          arg.type = arrow::int32();
          ac.function = "count";
          ac.options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
          out_type = arrow::int64();
          // DuckDB's count_if is a HUGEINT.
          retype = arrow::decimal128(38, 0);
        } else if (fn == "approx_count_distinct") {
          // Exact: a distinct count is cheap enough here, and never off.
          ac.function = "count_distinct";
          ac.options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
          out_type = arrow::int64();
        } else {
          return ErrorAt(call->loc, "unsupported aggregate " + fn + "()");
        }
        ac.input = NewName(collected ? text : ExprToString(*call->args[0]));
        pre->exprs.push_back(arg.expr);
        pre_fields.push_back(arrow::field(ac.input, arg.type));
      }
      ac.output = NewName(text);
      ctx.by_text[text] = ac.output;
      std::string column = ac.output;  // what the select list reads
      std::shared_ptr<arrow::DataType> column_type = out_type;
      if (collected || retype || !mean_count.empty()) {
        column = NewName(text);
        auto result = cp::field_ref(ac.output);
        cp::Expression finish;
        if (collected) {
          column_type = collected->type;
          finish = collected->finish(result);
        } else if (retype) {
          column_type = retype;
          finish = cp::call("cast", {result}, cp::CastOptions::Safe(retype));
        } else {
          column_type = arrow::float64();
          finish = cp::call("decimal_mean", {result, cp::field_ref(mean_count)});
        }
        ctx.by_text[text] = column;
        finished.emplace_back(column, finish);
        finished_fields.push_back(arrow::field(column, column_type));
      }
      // sum(DISTINCT x) and the like aggregate the distinct (keys, x) apart.
      bool separate = call->distinct && !collected && ac.function != "count_distinct" &&
                      ac.function != "min" && ac.function != "max";
      (separate ? distinct_aggs : agg->aggregates).push_back(ac);
      agg_fields.push_back(arrow::field(ac.output, out_type));
      if (!mean_count.empty()) {
        agg->aggregates.push_back(
            {"count", std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID),
             ac.input, mean_count});
        agg_fields.push_back(arrow::field(mean_count, arrow::int64()));
      }
      agg_cols.push_back({"", text, column, column_type});
    }
    if (pre->exprs.empty()) {
      // count(*) alone: project one constant column to count.
      std::string name = NewName("one");
      pre->exprs.push_back(cp::literal(int32_t{1}));
      pre_fields.push_back(arrow::field(name, arrow::int32()));
    }
    pre->schema = arrow::schema(pre_fields);
    agg->schema = arrow::schema(agg_fields);
    post.plan = agg;
    std::vector<const sql::Expr*> grouping_calls;
    for (const auto& item : select.items) {
      CollectGroupingCalls(*item.expr, &grouping_calls);
    }
    if (select.having) CollectGroupingCalls(*select.having, &grouping_calls);
    if (query) {
      for (const auto& o : query->order_by)
        CollectGroupingCalls(*o.expr, &grouping_calls);
    }
    if (!has_sets && !grouping_calls.empty()) {
      // grouping() over a plain GROUP BY: one set of every key, grouping() is 0.
      has_sets = true;
      sets = {std::vector<int>(group_exprs.size())};
      for (size_t i = 0; i < group_exprs.size(); ++i) sets[0][i] = static_cast<int>(i);
    }
    if (has_sets) {
      ARROW_ASSIGN_OR_RAISE(post.plan,
                            GroupingSetsUnion(agg, sets, group_exprs, select, query, &ctx,
                                              &agg_cols, distinct_aggs));
    } else if (!distinct_aggs.empty()) {
      ARROW_ASSIGN_OR_RAISE(post.plan, JoinDistinctAggregates(agg, distinct_aggs));
    }
    if (!finished.empty()) {
      auto finish = Node(NodeKind::kProject, {post.plan});
      arrow::FieldVector fields = post.plan->schema->fields();
      for (const auto& f : fields) finish->exprs.push_back(cp::field_ref(f->name()));
      for (const auto& [name, expr] : finished) finish->exprs.push_back(expr);
      fields.insert(fields.end(), finished_fields.begin(), finished_fields.end());
      finish->schema = arrow::schema(fields);
      post.plan = finish;
    }
    post.scope.columns = key_cols;
    post.scope.columns.insert(post.scope.columns.end(), agg_cols.begin(), agg_cols.end());
    if (select.having) {
      auto having = WithAliases(select.having, select, *ctx.input);
      ARROW_ASSIGN_OR_RAISE(post,
                            ApplyCondition(std::move(post), *having, "HAVING", &ctx));
    }
    aggp = &ctx;
  } else {
    post = in;
  }

  // Window functions, then QUALIFY over them.
  struct RestoreWindows {
    std::map<std::string, std::string>* columns;
    std::map<std::string, std::string> saved;
    ~RestoreWindows() { *columns = std::move(saved); }
  } restore_windows{&window_columns_, std::move(window_columns_)};
  window_columns_.clear();
  ARROW_ASSIGN_OR_RAISE(post, BindWindows(std::move(post), select, query, aggp));
  if (select.qualify) {
    auto qualify = WithAliases(select.qualify, select, post.scope);
    ARROW_ASSIGN_OR_RAISE(post,
                          ApplyCondition(std::move(post), *qualify, "QUALIFY", aggp));
  }

  ARROW_ASSIGN_OR_RAISE(post, BindUnnest(std::move(post), select, aggp));

  // Select list.
  auto project = Node(NodeKind::kProject, {post.plan});
  arrow::FieldVector fields;
  std::vector<Column> out_cols;
  std::vector<std::string> names, texts;
  for (const auto& item : select.items) {
    if (item.expr->kind == sql::ExprKind::kStar) {
      if (aggregating) {
        return ErrorAt(item.expr->loc,
                       "SELECT * cannot be used with GROUP BY or aggregates");
      }
      bool any = false;
      for (const auto& c : post.scope.columns) {
        if (c.hidden || !c.star) continue;
        if (!item.expr->table.empty() &&
            AsciiLower(c.qualifier) != AsciiLower(item.expr->table))
          continue;
        any = true;
        std::string internal = NewName(c.name);
        project->exprs.push_back(cp::field_ref(c.internal));
        fields.push_back(arrow::field(internal, c.type));
        out_cols.push_back({"", c.name, internal, c.type});
        names.push_back(c.name);
        texts.push_back(c.name);
      }
      if (!any && !item.expr->table.empty()) {
        return ErrorAt(item.expr->loc,
                       "table '" + item.expr->table + "' not found in FROM");
      }
      continue;
    }
    Relation* saved = attach_;
    attach_ = aggregating ? nullptr : &post;
    auto bound = BindExpr(*item.expr, post.scope, aggp);
    attach_ = saved;
    ARROW_ASSIGN_OR_RAISE(auto b, std::move(bound));
    std::string name = ItemName(item);
    std::string internal = NewName(name);
    project->exprs.push_back(b.expr);
    fields.push_back(arrow::field(internal, b.type));
    out_cols.push_back({"", name, internal, b.type});
    names.push_back(name);
    texts.push_back(ExprToString(*item.expr));
  }
  size_t visible = out_cols.size();

  // ORDER BY may reference select items or, without DISTINCT, anything in scope.
  std::vector<cp::SortKey> keys;
  if (query) {
    for (const auto& item : OrderByAll(query->order_by, visible)) {
      ARROW_ASSIGN_OR_RAISE(int target, OrderTarget(item, names, texts));
      if (target >= 0) {
        keys.push_back(MakeSortKey(out_cols[target].internal, item));
        continue;
      }
      if (select.distinct) {
        return ErrorAt(
            item.expr->loc,
            "for SELECT DISTINCT, ORDER BY expressions must appear in the select list");
      }
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*item.expr, post.scope, aggp));
      std::string internal = NewName("sort");
      project->exprs.push_back(b.expr);
      fields.push_back(arrow::field(internal, b.type));
      out_cols.push_back({"", internal, internal, b.type, true});
      keys.push_back(MakeSortKey(internal, item));
    }
  }
  project->schema = arrow::schema(fields);
  project->inputs = {post.plan};  // a correlated subquery may have joined onto it
  PlanPtr plan = project;
  if (select.distinct) {
    auto distinct = Node(NodeKind::kAggregate, {plan});
    for (const auto& c : out_cols) distinct->keys.push_back(c.internal);
    distinct->schema = plan->schema;
    plan = distinct;
  }
  ARROW_ASSIGN_OR_RAISE(plan, AddOrderLimit(plan, std::move(keys), query));
  if (out_cols.size() > visible) {
    auto drop = Node(NodeKind::kProject, {plan});
    arrow::FieldVector kept;
    for (size_t i = 0; i < visible; ++i) {
      drop->exprs.push_back(cp::field_ref(out_cols[i].internal));
      kept.push_back(arrow::field(out_cols[i].internal, out_cols[i].type));
    }
    drop->schema = arrow::schema(kept);
    plan = drop;
    out_cols.resize(visible);
  }
  *order_applied = true;
  Relation out;
  out.plan = plan;
  out.scope.columns = out_cols;
  return out;
}

Result<Binder::Relation> Binder::BindSetOp(const sql::QueryNode& node) {
  ARROW_ASSIGN_OR_RAISE(auto left, BindNode(*node.left));
  ARROW_ASSIGN_OR_RAISE(auto right, BindNode(*node.right));
  bool all = node.op == sql::SetOp::kIntersectAll || node.op == sql::SetOp::kExceptAll;
  bool intersect =
      node.op == sql::SetOp::kIntersect || node.op == sql::SetOp::kIntersectAll;
  const char* op_name =
      intersect                                                             ? "INTERSECT"
      : node.op == sql::SetOp::kExcept || node.op == sql::SetOp::kExceptAll ? "EXCEPT"
                                                                            : "UNION";
  if (left.scope.columns.size() != right.scope.columns.size()) {
    return ErrorAt(node.loc, std::string(op_name) + " inputs have " +
                                 std::to_string(left.scope.columns.size()) + " and " +
                                 std::to_string(right.scope.columns.size()) + " columns");
  }
  std::vector<std::shared_ptr<arrow::DataType>> types;
  for (size_t i = 0; i < left.scope.columns.size(); ++i) {
    types.push_back(
        CommonTypeOf({left.scope.columns[i].type, right.scope.columns[i].type}));
    if (types.back()->id() == Type::NA) types.back() = arrow::int32();
  }
  bool is_union = node.op == sql::SetOp::kUnion || node.op == sql::SetOp::kUnionAll;
  std::vector<std::string> shared_names;
  for (const auto& c : left.scope.columns) shared_names.push_back(NewName(c.name));
  auto conform = [&](Relation& rel, bool shared) -> Result<Relation> {
    auto p = Node(NodeKind::kProject, {rel.plan});
    arrow::FieldVector fields;
    Relation out;
    for (size_t i = 0; i < rel.scope.columns.size(); ++i) {
      const auto& c = rel.scope.columns[i];
      Bound b{cp::field_ref(c.internal), c.type};
      if (c.type->id() == Type::NA) {
        b = Bound{cp::literal(arrow::MakeNullScalar(types[i])), types[i]};
      } else {
        ARROW_ASSIGN_OR_RAISE(b, CastTo(b, types[i], rel.scope, node.loc));
      }
      std::string name = shared ? shared_names[i] : NewName(c.name);
      p->exprs.push_back(b.expr);
      fields.push_back(arrow::field(name, types[i]));
      out.scope.columns.push_back({"", left.scope.columns[i].name, name, types[i]});
    }
    p->schema = arrow::schema(fields);
    out.plan = p;
    return out;
  };
  ARROW_ASSIGN_OR_RAISE(auto l, conform(left, true));
  ARROW_ASSIGN_OR_RAISE(auto r, conform(right, is_union));
  auto distinct_of = [](PlanPtr input, const Scope& scope) {
    auto d = Node(NodeKind::kAggregate, {input});
    for (const auto& c : scope.columns) d->keys.push_back(c.internal);
    d->schema = input->schema;
    return d;
  };
  Relation out;
  out.scope = l.scope;
  if (is_union) {
    auto u = Node(NodeKind::kUnion, {l.plan, r.plan});
    u->schema = l.plan->schema;
    out.plan = node.op == sql::SetOp::kUnion ? distinct_of(u, l.scope) : u;
    return out;
  }
  // INTERSECT ALL / EXCEPT ALL: the k-th copy of a row on the left matches the k-th
  // on the right, numbered by row_number() over the row's values.
  auto numbered = [&](const Relation& rel) -> std::pair<PlanPtr, std::string> {
    auto w = WindowNode(rel.plan);
    WindowCall call;
    call.function = "row_number";
    for (const auto& c : rel.scope.columns) call.partition.push_back(c.internal);
    call.output = NewName("copy");
    call.type = arrow::int64();
    arrow::FieldVector fields = rel.plan->schema->fields();
    fields.push_back(arrow::field(call.output, call.type));
    w->schema = arrow::schema(fields);
    std::string name = call.output;
    w->windows.push_back(std::move(call));
    return {w, name};
  };
  PlanPtr lp = all ? nullptr : distinct_of(l.plan, l.scope), rp = r.plan;
  std::string lcopy, rcopy;
  if (all) {
    std::tie(lp, lcopy) = numbered(l);
    std::tie(rp, rcopy) = numbered(r);
  }
  auto join = Node(NodeKind::kJoin, {lp, rp});
  join->join_type =
      intersect ? arrow::acero::JoinType::LEFT_SEMI : arrow::acero::JoinType::LEFT_ANTI;
  for (size_t i = 0; i < l.scope.columns.size(); ++i) {
    join->left_keys.push_back(l.scope.columns[i].internal);
    join->right_keys.push_back(r.scope.columns[i].internal);
  }
  if (all) {
    join->left_keys.push_back(lcopy);
    join->right_keys.push_back(rcopy);
  }
  join->null_equal_keys = true;
  join->schema = lp->schema;
  out.plan = join;
  if (all) {  // without the copy number
    auto p = Node(NodeKind::kProject, {join});
    for (const auto& c : l.scope.columns) p->exprs.push_back(cp::field_ref(c.internal));
    p->schema = l.plan->schema;
    out.plan = p;
  }
  return out;
}

Result<Binder::Relation> Binder::BindTable(const sql::TableRef& ref) {
  Relation rel;
  std::string qualifier = ref.alias;
  switch (ref.kind) {
    case sql::TableKind::kFunction:
      if (AsciiLower(ref.name) == "unnest") {
        // FROM unnest(list) t(x) is (SELECT unnest(list) AS unnest) t(x), as DuckDB.
        auto call = std::make_shared<sql::Expr>();
        call->kind = sql::ExprKind::kFunction;
        call->loc = ref.loc;
        call->name = "unnest";
        call->args = ref.args;
        sql::Query query;
        query.loc = ref.loc;
        query.body = std::make_shared<sql::QueryNode>();
        query.body->loc = ref.loc;
        query.body->select.items.push_back({call, "unnest"});
        ARROW_ASSIGN_OR_RAISE(rel, BindQueryRelation(query));
        if (qualifier.empty()) qualifier = "unnest";
        break;
      }
      return BindSource(ref);
    case sql::TableKind::kUri:
      return BindSource(ref);
    case sql::TableKind::kJoin:
      return BindJoin(ref);
    case sql::TableKind::kSubquery: {
      ARROW_ASSIGN_OR_RAISE(rel, BindQueryRelation(*ref.subquery));
      break;
    }
    case sql::TableKind::kName: {
      std::string key = AsciiLower(ref.name);
      const sql::CommonTableExpr* cte = nullptr;
      size_t frame_index = 0;
      for (size_t i = cte_stack_.size(); i-- > 0;) {
        auto it = cte_stack_[i].ctes.find(key);
        if (it != cte_stack_[i].ctes.end()) {
          cte = it->second;
          frame_index = i;
          break;
        }
      }
      if (qualifier.empty()) qualifier = ref.name;
      if (cte != nullptr) {
        // A CTE sees the CTEs before it, not itself.
        std::vector<CteFrame> saved(cte_stack_.begin() + frame_index + 1,
                                    cte_stack_.end());
        cte_stack_.resize(frame_index + 1);
        auto hidden = cte_stack_.back().ctes;
        cte_stack_.back().ctes.erase(key);
        auto bound = BindQueryRelation(*cte->query);
        cte_stack_.back().ctes = hidden;
        cte_stack_.insert(cte_stack_.end(), saved.begin(), saved.end());
        ARROW_ASSIGN_OR_RAISE(rel, std::move(bound));
        if (!cte->column_aliases.empty()) {
          if (cte->column_aliases.size() > rel.scope.columns.size()) {
            return ErrorAt(cte->loc, "too many column names for '" + cte->name + "'");
          }
          for (size_t i = 0; i < cte->column_aliases.size(); ++i) {
            rel.scope.columns[i].name = cte->column_aliases[i];
          }
        }
      } else if (auto it = views_->find(key); it != views_->end()) {
        if (++view_depth_ > 32) {
          return ErrorAt(ref.loc, "view '" + ref.name + "' refers to itself");
        }
        auto saved = std::move(cte_stack_);
        cte_stack_.clear();
        auto bound = BindQueryRelation(*it->second);
        cte_stack_ = std::move(saved);
        --view_depth_;
        ARROW_ASSIGN_OR_RAISE(rel, std::move(bound));
      } else if (tables_ != nullptr && tables_->count(key)) {
        // A session table: its rows, under internal names.
        const auto& table = tables_->at(key);
        std::vector<std::string> internal;
        for (const auto& f : table->schema()->fields()) {
          internal.push_back(NewName(f->name()));
          rel.scope.columns.push_back({"", f->name(), internal.back(), f->type()});
        }
        auto values = Node(NodeKind::kValues, {});
        ARROW_ASSIGN_OR_RAISE(values->table, table->RenameColumns(internal));
        values->schema = values->table->schema();
        rel.plan = values;
      } else if (sources_ != nullptr && sources_->count(key)) {
        ConnectorArgs args;
        args.uri = ref.name;
        args.stop = stop_;
        ARROW_ASSIGN_OR_RAISE(
            rel, BindScan(sources_->at(key), "registered", std::move(args), qualifier));
      } else {
        return Status::KeyError("table '", ref.name, "' not found at ",
                                ref.loc.ToString(), "; to read a file write FROM '",
                                ref.name, ".csv' (quoted)");
      }
      break;
    }
  }
  for (auto& c : rel.scope.columns) c.qualifier = qualifier;
  if (!ref.column_aliases.empty()) {
    if (ref.column_aliases.size() > rel.scope.columns.size()) {
      return ErrorAt(ref.loc, "too many column aliases for '" + qualifier + "'");
    }
    for (size_t i = 0; i < ref.column_aliases.size(); ++i) {
      rel.scope.columns[i].name = ref.column_aliases[i];
    }
  }
  return rel;
}

Result<Options> Binder::SourceOptions(const ConnectorSpec& spec,
                                      const sql::TableRef& ref) const {
  ARROW_ASSIGN_OR_RAISE(auto options, Options::Validate(spec.source_options, ref.options,
                                                        spec.name + " source"));
  if (ref.kind == sql::TableKind::kFunction) {
    for (const auto& [k, v] : spec.functions.at(ref.name)) {
      if (!options.IsSet(k)) options.Set(k, v);
    }
  }
  return options;
}

Result<Binder::Relation> Binder::BindSource(const sql::TableRef& ref) {
  const ConnectorSpec* spec = nullptr;
  ConnectorArgs args;
  args.stop = stop_;
  std::string default_alias;
  if (ref.kind == sql::TableKind::kUri) {
    spec = registry_->FindByUri(ref.uri);
    if (spec == nullptr) {
      return ErrorAt(ref.loc, "no connector for '" + UriScheme(ref.uri) + "://' URIs");
    }
    args.uri = ref.uri;
    default_alias = DefaultAlias(ref.uri);
  } else {
    spec = registry_->FindByFunction(ref.name);
    if (spec == nullptr) {
      return Status::KeyError("unknown table function '", ref.name, "' at ",
                              ref.loc.ToString());
    }
    size_t i = 0;
    if (spec->functions_take_uri) {
      if (ref.args.empty()) {
        return ErrorAt(ref.loc,
                       ref.name + "() needs a path or URI as its first argument");
      }
      ARROW_ASSIGN_OR_RAISE(
          args.uri, ConstText(*ref.args[0], "the arguments of " + ref.name + "()"));
      default_alias = DefaultAlias(args.uri);
      i = 1;
    } else {
      default_alias = ref.name;
    }
    for (; i < ref.args.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(
          auto text, ConstText(*ref.args[i], "the arguments of " + ref.name + "()"));
      args.positional.push_back(text);
    }
  }
  ARROW_ASSIGN_OR_RAISE(args.options, SourceOptions(*spec, ref));
  if (!spec->make_source) {
    return ErrorAt(ref.loc, "connector '" + spec->name + "' cannot be read from");
  }
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Source> source, spec->make_source(args));
  ARROW_ASSIGN_OR_RAISE(Relation rel,
                        BindScan(std::move(source), spec->name, std::move(args),
                                 ref.alias.empty() ? default_alias : ref.alias));
  if (!ref.column_aliases.empty()) {
    for (size_t i = 0; i < ref.column_aliases.size() && i < rel.scope.columns.size();
         ++i) {
      rel.scope.columns[i].name = ref.column_aliases[i];
    }
  }
  return rel;
}

Result<Binder::Relation> Binder::BindScan(std::shared_ptr<Source> source,
                                          const std::string& connector,
                                          ConnectorArgs args,
                                          const std::string& qualifier) {
  ARROW_ASSIGN_OR_RAISE(auto schema, source->GetSchema());
  auto scan = Node(NodeKind::kScan, {});
  scan->source = source;
  scan->connector = connector;
  scan->args = std::move(args);
  Relation rel;
  arrow::FieldVector fields;
  for (int i = 0; i < schema->num_fields(); ++i) {
    const auto& f = schema->field(i);
    std::string internal = NewName(f->name());
    auto type = EngineType(f->type());
    fields.push_back(arrow::field(internal, type));
    scan->source_columns.push_back(f->name());
    rel.scope.columns.push_back({qualifier, f->name(), internal, type});
  }
  // Hidden columns (_metadata): named, never expanded by `*`.
  for (const auto& f : source->HiddenColumns()) {
    std::string internal = NewName(f->name());
    auto type = EngineType(f->type());
    fields.push_back(arrow::field(internal, type));
    scan->source_columns.push_back(f->name());
    rel.scope.columns.push_back({qualifier, f->name(), internal, type, false, false});
    ++scan->hidden_columns;
  }
  scan->schema = arrow::schema(fields);
  rel.plan = scan;
  return rel;
}

Result<bool> ExpandGroupingSets(const std::vector<sql::ExprPtr>& group_by,
                                std::vector<sql::ExprPtr>* flat,
                                std::vector<std::vector<int>>* sets) {
  auto index_of = [&](const sql::ExprPtr& e) {
    std::string text = ExprToString(*e);
    for (size_t i = 0; i < flat->size(); ++i) {
      if (ExprToString(*(*flat)[i]) == text) return static_cast<int>(i);
    }
    flat->push_back(e);
    return static_cast<int>(flat->size() - 1);
  };
  bool has_sets = false;
  std::vector<std::vector<int>> product = {{}};
  for (const auto& g : group_by) {
    std::vector<std::vector<int>> element;
    bool construct =
        g->kind == sql::ExprKind::kFunction &&
        (g->name == "rollup" || g->name == "cube" || g->name == "grouping_sets");
    if (!construct) {
      element.push_back({index_of(g)});
    } else if (g->name == "grouping_sets") {
      for (const auto& row : g->args) {
        std::vector<int> set;
        for (const auto& x : row->args) set.push_back(index_of(x));
        element.push_back(set);
      }
    } else {
      std::vector<int> items;
      for (const auto& a : g->args) items.push_back(index_of(a));
      size_t n = items.size();
      if (g->name == "rollup") {
        for (size_t k = n + 1; k-- > 0;) {
          element.emplace_back(items.begin(), items.begin() + static_cast<long>(k));
        }
      } else {
        if (n > 12) return ErrorAt(g->loc, "CUBE takes at most 12 expressions");
        for (uint32_t mask = (1u << n); mask-- > 0;) {
          std::vector<int> set;
          for (size_t i = 0; i < n; ++i) {
            if (mask & (1u << (n - 1 - i))) set.push_back(items[i]);
          }
          element.push_back(set);
        }
      }
    }
    has_sets = has_sets || construct;
    std::vector<std::vector<int>> next;
    for (const auto& left : product) {
      for (const auto& right : element) {
        std::vector<int> set = left;
        for (int i : right) {
          if (std::find(set.begin(), set.end(), i) == set.end()) set.push_back(i);
        }
        next.push_back(set);
      }
    }
    product = std::move(next);
  }
  if (has_sets) *sets = std::move(product);
  return has_sets;
}

Result<PlanPtr> Binder::GroupingSetsUnion(
    const PlanPtr& agg, const std::vector<std::vector<int>>& sets,
    const std::vector<sql::ExprPtr>& group_exprs, const sql::SelectCore& select,
    const sql::Query* query, AggContext* ctx, std::vector<Column>* agg_cols,
    const std::vector<AggregateCall>& distinct_aggs) {
  // grouping(a, b): a bit per argument, 1 where the set does not group by it.
  std::vector<const sql::Expr*> calls;
  for (const auto& item : select.items) CollectGroupingCalls(*item.expr, &calls);
  if (select.having) CollectGroupingCalls(*select.having, &calls);
  if (query) {
    for (const auto& o : query->order_by) CollectGroupingCalls(*o.expr, &calls);
  }
  struct GroupingColumn {
    std::string name;
    std::vector<int> args;  // indices into group_exprs
  };
  std::vector<GroupingColumn> grouping;
  for (const sql::Expr* call : calls) {
    std::string text = ExprToString(*call);
    if (ctx->by_text.count(text)) continue;
    GroupingColumn col{NewName(text), {}};
    for (const auto& a : call->args) {
      int found = -1;
      for (size_t i = 0; i < group_exprs.size(); ++i) {
        if (ExprToString(*group_exprs[i]) == ExprToString(*a))
          found = static_cast<int>(i);
      }
      if (found < 0) {
        return ErrorAt(
            a->loc, "the arguments of " + call->name + "() must be GROUP BY expressions");
      }
      col.args.push_back(found);
    }
    ctx->by_text[text] = col.name;
    agg_cols->push_back({"", text, col.name, arrow::int64()});
    grouping.push_back(std::move(col));
  }
  size_t nkeys = agg->keys.size();
  arrow::FieldVector out_fields = agg->schema->fields();
  for (const auto& g : grouping)
    out_fields.push_back(arrow::field(g.name, arrow::int64()));
  auto out_schema = arrow::schema(out_fields);
  auto all = Node(NodeKind::kUnion, {});
  for (const auto& set : sets) {
    // Each set reads its own copy of the input: the optimizer prunes a plan's
    // columns per node, and the sets need different ones.
    auto copy = ClonePlan(agg);
    copy->keys.clear();
    arrow::FieldVector fields;
    for (int i : set) {
      copy->keys.push_back(agg->keys[i]);
      fields.push_back(agg->schema->field(i));
    }
    for (int i = static_cast<int>(nkeys); i < agg->schema->num_fields(); ++i) {
      fields.push_back(agg->schema->field(i));
    }
    copy->schema = arrow::schema(fields);
    PlanPtr grouped = copy;
    if (!distinct_aggs.empty()) {
      ARROW_ASSIGN_OR_RAISE(grouped, JoinDistinctAggregates(copy, distinct_aggs));
    }
    auto project = Node(NodeKind::kProject, {grouped});
    for (size_t i = 0; i < nkeys; ++i) {
      const auto& f = agg->schema->field(static_cast<int>(i));
      bool grouped = std::find(set.begin(), set.end(), static_cast<int>(i)) != set.end();
      project->exprs.push_back(grouped ? cp::field_ref(f->name())
                                       : cp::literal(arrow::MakeNullScalar(f->type())));
    }
    for (int i = static_cast<int>(nkeys); i < agg->schema->num_fields(); ++i) {
      project->exprs.push_back(cp::field_ref(agg->schema->field(i)->name()));
    }
    for (const auto& g : grouping) {
      int64_t bits = 0;
      for (int a : g.args) {
        bool grouped = std::find(set.begin(), set.end(), a) != set.end();
        bits = (bits << 1) | (grouped ? 0 : 1);
      }
      project->exprs.push_back(cp::literal(bits));
    }
    project->schema = out_schema;
    all->inputs.push_back(project);
  }
  all->schema = out_schema;
  return all;
}

Result<PlanPtr> Binder::JoinDistinctAggregates(const PlanPtr& agg,
                                               const std::vector<AggregateCall>& calls) {
  const PlanPtr input = agg->inputs[0];
  auto field_of = [&](const std::string& name) {
    return input->schema->GetFieldByName(name);
  };
  arrow::FieldVector main_fields;
  std::map<std::string, std::shared_ptr<arrow::Field>> outputs;
  for (const auto& f : agg->schema->fields()) {
    bool distinct = std::any_of(calls.begin(), calls.end(),
                                [&](const auto& c) { return c.output == f->name(); });
    if (distinct) {
      outputs[f->name()] = f;
    } else {
      main_fields.push_back(f);
    }
  }
  agg->schema = arrow::schema(main_fields);
  // With no keys, both sides are one row: they join on a constant.
  auto with_constant = [&](PlanPtr plan, std::string* name) {
    auto p = Node(NodeKind::kProject, {plan});
    arrow::FieldVector fields;
    for (const auto& f : plan->schema->fields()) {
      p->exprs.push_back(cp::field_ref(f->name()));
      fields.push_back(f);
    }
    *name = NewName("one");
    p->exprs.push_back(cp::literal(int32_t{1}));
    fields.push_back(arrow::field(*name, arrow::int32()));
    p->schema = arrow::schema(fields);
    return p;
  };
  PlanPtr out = agg;
  for (const auto& call : calls) {
    // SELECT keys, f(x) FROM (SELECT DISTINCT keys, x FROM input) GROUP BY keys, its
    // keys renamed, left-joined to the aggregation on the keys (NULL keys equal).
    auto distinct = Node(NodeKind::kAggregate, {ClonePlan(input)});
    distinct->keys = agg->keys;
    distinct->keys.push_back(call.input);
    arrow::FieldVector dfields;
    for (const auto& k : distinct->keys) dfields.push_back(field_of(k));
    distinct->schema = arrow::schema(dfields);
    auto grouped = Node(NodeKind::kAggregate, {distinct});
    grouped->keys = agg->keys;
    grouped->aggregates.push_back(call);
    auto renamed = Node(NodeKind::kProject, {grouped});
    arrow::FieldVector gfields, rfields;
    std::vector<std::string> right_keys;
    for (const auto& k : agg->keys) {
      gfields.push_back(field_of(k));
      right_keys.push_back(NewName(k));
      renamed->exprs.push_back(cp::field_ref(k));
      rfields.push_back(arrow::field(right_keys.back(), field_of(k)->type()));
    }
    gfields.push_back(outputs.at(call.output));
    grouped->schema = arrow::schema(gfields);
    renamed->exprs.push_back(cp::field_ref(call.output));
    rfields.push_back(outputs.at(call.output));
    renamed->schema = arrow::schema(rfields);
    PlanPtr left = out, right = renamed;
    std::vector<std::string> left_keys = agg->keys;
    if (left_keys.empty()) {
      left_keys.emplace_back();
      right_keys.emplace_back();
      left = with_constant(left, &left_keys[0]);
      right = with_constant(right, &right_keys[0]);
    }
    auto join = Node(NodeKind::kJoin, {left, right});
    join->join_type = arrow::acero::JoinType::LEFT_OUTER;
    join->left_keys = left_keys;
    join->right_keys = right_keys;
    join->null_equal_keys = true;
    arrow::FieldVector jfields = left->schema->fields();
    for (const auto& f : right->schema->fields()) jfields.push_back(f);
    join->schema = arrow::schema(jfields);
    out = join;
  }
  return out;
}

Result<Binder::Bound> Binder::BindFilterCondition(const sql::Expr& call,
                                                  const Scope& scope) {
  std::vector<const sql::Expr*> nested;
  CollectAggregates(*call.filter, &nested);
  if (!nested.empty()) {
    return ErrorAt(nested[0]->loc, "aggregate functions are not allowed in FILTER");
  }
  ARROW_ASSIGN_OR_RAISE(auto cond, BindExpr(*call.filter, scope, nullptr));
  if (cond.type->id() == Type::NA) return Bound{cp::literal(false), arrow::boolean()};
  if (cond.type->id() != Type::BOOL) {
    return ErrorAt(call.filter->loc,
                   "FILTER needs a boolean condition, got " + ArrowTypeToSql(*cond.type));
  }
  // NULL counts as false.
  return Bound{cp::call("coalesce", {cond.expr, cp::literal(false)}), arrow::boolean()};
}

Result<Binder::Relation> Binder::ApplyWhere(Relation rel,
                                            const std::vector<sql::ExprPtr>& conjuncts) {
  for (const auto& c : conjuncts) {
    ARROW_ASSIGN_OR_RAISE(bool joined, JoinSubquery(&rel, *c));
    if (joined) continue;
    ARROW_ASSIGN_OR_RAISE(rel, ApplyCondition(std::move(rel), *c, "WHERE", nullptr));
  }
  return rel;
}

Result<Binder::Relation> Binder::ApplyCondition(Relation rel, const sql::Expr& cond,
                                                const std::string& clause,
                                                AggContext* agg) {
  Relation* saved = attach_;
  attach_ = agg == nullptr ? &rel : nullptr;
  auto bound = BindExpr(cond, rel.scope, agg);
  attach_ = saved;
  ARROW_ASSIGN_OR_RAISE(auto pred, std::move(bound));
  if (pred.type->id() != Type::BOOL && pred.type->id() != Type::NA) {
    return ErrorAt(cond.loc, clause + " needs a boolean condition, got " +
                                 ArrowTypeToSql(*pred.type));
  }
  if (rel.plan->kind == NodeKind::kFilter) {
    rel.plan->predicate = cp::and_(rel.plan->predicate, BooleanPredicate(pred));
    return rel;
  }
  auto filter = Node(NodeKind::kFilter, {rel.plan});
  filter->predicate = BooleanPredicate(pred);
  filter->schema = rel.plan->schema;
  rel.plan = filter;
  return rel;
}

Result<uint64_t> Binder::LeafMask(const sql::Expr& e, const Scope& all,
                                  const std::map<std::string, int>& owner) {
  if (e.kind == sql::ExprKind::kColumn) {
    auto col = Resolve(all, e.table, e.name, e.loc);
    if (!col.ok() && !e.table.empty()) col = Resolve(all, "", e.table, e.loc);
    ARROW_RETURN_NOT_OK(col.status());
    return uint64_t{1} << owner.at((*col)->internal);
  }
  if (e.kind == sql::ExprKind::kStar) return Status::Invalid("'*' in a condition");
  if (e.subquery) {
    // One that reads no outer column is a constant (or IN's set): it goes where
    // its other operands' columns are. A correlated one is bound after the joins.
    ARROW_ASSIGN_OR_RAISE(auto correlation, Correlate(*e.subquery, all));
    if (correlation) return Status::Invalid("a correlated subquery in a condition");
    if (e.kind != sql::ExprKind::kIn) return 0;
    return LeafMask(*e.args[0], all, owner);
  }
  uint64_t mask = 0;
  for (const auto& a : e.args) {
    ARROW_ASSIGN_OR_RAISE(auto m, LeafMask(*a, all, owner));
    mask |= m;
  }
  return mask;
}

Result<Binder::Relation> Binder::BindJoinGraph(
    const std::vector<const sql::TableRef*>& leaves,
    const std::vector<sql::ExprPtr>& conditions, std::vector<sql::ExprPtr>* leftover,
    std::vector<size_t>* widths) {
  std::vector<Relation> rels;
  Scope all;
  std::map<std::string, int> owner;
  for (size_t i = 0; i < leaves.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto rel, BindTable(*leaves[i]));
    if (widths != nullptr) widths->push_back(rel.scope.columns.size());
    for (const auto& c : rel.scope.columns) {
      owner[c.internal] = static_cast<int>(i);
      all.columns.push_back(c);
    }
    rels.push_back(std::move(rel));
  }
  // Each condition by the inputs it reads: one input's go below the joins.
  struct Condition {
    sql::ExprPtr expr;
    uint64_t mask = 0;
    uint64_t left = 0, right = 0;  // an equality's sides
    bool used = false;
  };
  std::vector<Condition> pending;
  for (const auto& c : conditions) {
    auto mask = LeafMask(*c, all, owner);
    if (mask.ok() && *mask == 0 && c->kind == sql::ExprKind::kLiteral) {
      // A constant (WHERE false): it filters every input, before any join.
      for (auto& rel : rels) {
        ARROW_ASSIGN_OR_RAISE(rel, ApplyWhere(std::move(rel), {c}));
      }
      continue;
    }
    if (!mask.ok() || *mask == 0) {
      leftover->push_back(c);
      continue;
    }
    if ((*mask & (*mask - 1)) == 0) {
      int i = __builtin_ctzll(*mask);
      ARROW_ASSIGN_OR_RAISE(rels[i], ApplyWhere(std::move(rels[i]), {c}));
      continue;
    }
    if (c->kind == sql::ExprKind::kBinary && c->op == "OR") {
      // (a.x = 1 AND b.y = 2) OR (a.x = 3 AND b.y = 4): an input that every branch
      // restricts also gets the OR of its own restrictions (a.x = 1 OR a.x = 3) as a
      // filter below the joins, as DuckDB derives; the condition itself stays.
      std::vector<sql::ExprPtr> branches;
      SplitDisjuncts(c, &branches);
      for (uint64_t bits = *mask; bits != 0; bits &= bits - 1) {
        const int i = __builtin_ctzll(bits);
        std::vector<sql::ExprPtr> parts;
        for (const auto& branch : branches) {
          std::vector<sql::ExprPtr> conjuncts, mine;
          SplitConjuncts(branch, &conjuncts);
          for (const auto& cj : conjuncts) {
            auto m = LeafMask(*cj, all, owner);
            if (m.ok() && *m == (uint64_t{1} << i)) mine.push_back(cj);
          }
          if (mine.empty()) break;
          parts.push_back(Combine("AND", std::move(mine)));
        }
        if (parts.size() == branches.size()) {
          ARROW_ASSIGN_OR_RAISE(rels[i],
                                ApplyWhere(std::move(rels[i]), {Combine("OR", parts)}));
        }
      }
    }
    Condition cond{c, *mask};
    if (c->kind == sql::ExprKind::kBinary && c->op == "=") {
      cond.left = LeafMask(*c->args[0], all, owner).ValueOr(0);
      cond.right = LeafMask(*c->args[1], all, owner).ValueOr(0);
    }
    pending.push_back(cond);
  }
  // Left-deep, the largest input first (it probes, the others become hash
  // tables); then, each step, the first input in FROM order that an equality
  // connects, else the smallest. Without statistics on distinct keys, the FROM
  // order is the user's hint: joining the smallest connected input first can join
  // on a key that is not unique (customer to supplier on the nation) and multiply rows.
  std::vector<double> size(rels.size());
  for (size_t i = 0; i < rels.size(); ++i) size[i] = EstimateSize(*rels[i].plan);
  size_t first = 0;
  for (size_t i = 1; i < rels.size(); ++i) {
    if (size[i] > size[first]) first = i;
  }
  uint64_t joined = uint64_t{1} << first;
  Relation current = std::move(rels[first]);
  for (size_t step = 1; step < rels.size(); ++step) {
    auto connects = [&](const Condition& c, uint64_t bit) {
      return c.left && c.right &&
             (((c.left & ~joined) == 0 && c.right == bit) ||
              ((c.right & ~joined) == 0 && c.left == bit));
    };
    int next = -1;
    bool next_connected = false;
    for (size_t i = 0; i < rels.size(); ++i) {
      uint64_t bit = uint64_t{1} << i;
      if (joined & bit) continue;
      bool connected = std::any_of(pending.begin(), pending.end(), [&](const auto& c) {
        return !c.used && connects(c, bit);
      });
      if (next < 0 || (connected && !next_connected) ||
          (!connected && !next_connected && size[i] < size[next])) {
        next = static_cast<int>(i);
        next_connected = connected;
      }
    }
    uint64_t bit = uint64_t{1} << next;
    Scope both = current.scope;
    both.columns.insert(both.columns.end(), rels[next].scope.columns.begin(),
                        rels[next].scope.columns.end());
    std::vector<Bound> lkeys, rkeys;
    std::vector<cp::Expression> residual;
    for (auto& c : pending) {
      if (c.used || (c.mask & ~(joined | bit)) != 0) continue;
      c.used = true;
      if (connects(c, bit)) {
        bool left_first = (c.left & ~joined) == 0;
        const auto& l = c.expr->args[left_first ? 0 : 1];
        const auto& r = c.expr->args[left_first ? 1 : 0];
        ARROW_ASSIGN_OR_RAISE(auto lb, BindExpr(*l, current.scope, nullptr));
        ARROW_ASSIGN_OR_RAISE(auto rb, BindExpr(*r, rels[next].scope, nullptr));
        lkeys.push_back(lb);
        rkeys.push_back(rb);
      } else {
        ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*c.expr, both, nullptr));
        if (b.type->id() != Type::BOOL && b.type->id() != Type::NA) {
          return ErrorAt(c.expr->loc, "a join condition must be boolean, got " +
                                          ArrowTypeToSql(*b.type));
        }
        residual.push_back(BooleanPredicate(b));
      }
    }
    ARROW_ASSIGN_OR_RAISE(
        current, MakeJoin(std::move(current), std::move(rels[next]),
                          arrow::acero::JoinType::INNER, std::move(lkeys),
                          std::move(rkeys), std::move(residual), leaves[next]->loc));
    joined |= bit;
  }
  // `*` lists the columns in FROM order, whatever order the joins took.
  current.scope = all;
  return current;
}

Result<Binder::Relation> Binder::MakeJoin(Relation left, Relation right,
                                          arrow::acero::JoinType type,
                                          std::vector<Bound> lkeys,
                                          std::vector<Bound> rkeys,
                                          std::vector<cp::Expression> residual,
                                          const sql::Location& loc) {
  // Keys become columns of the same type on both sides; no keys: a constant key.
  if (lkeys.empty()) {
    lkeys.push_back({cp::literal(int32_t{1}), arrow::int32()});
    rkeys.push_back({cp::literal(int32_t{1}), arrow::int32()});
  }
  auto key_side =
      [&](Relation& rel, std::vector<Bound>& keys,
          const std::vector<Bound>& other) -> Result<std::vector<std::string>> {
    std::vector<std::string> names;
    bool need_project = false;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto common = CommonTypeOf({keys[i].type, other[i].type});
      if (arrow::is_base_binary_like(keys[i].type->id()) !=
              arrow::is_base_binary_like(other[i].type->id()) &&
          keys[i].type->id() != Type::NA && other[i].type->id() != Type::NA) {
        return ErrorAt(loc, "cannot join " + ArrowTypeToSql(*keys[i].type) + " with " +
                                ArrowTypeToSql(*other[i].type) +
                                " values; add an explicit CAST");
      }
      if (!keys[i].type->Equals(*common)) {
        ARROW_ASSIGN_OR_RAISE(keys[i], CastTo(keys[i], common, rel.scope, loc));
      }
      if (!keys[i].expr.field_ref()) need_project = true;
    }
    if (!need_project) {
      for (auto& k : keys) names.push_back(*k.expr.field_ref()->name());
      return names;
    }
    auto p = Node(NodeKind::kProject, {rel.plan});
    arrow::FieldVector fields(rel.plan->schema->fields());
    for (const auto& c : rel.scope.columns) p->exprs.push_back(cp::field_ref(c.internal));
    for (auto& k : keys) {
      std::string n = NewName("key");
      p->exprs.push_back(k.expr);
      fields.push_back(arrow::field(n, k.type));
      rel.scope.columns.push_back({"", n, n, k.type, true});
      names.push_back(n);
    }
    p->schema = arrow::schema(fields);
    rel.plan = p;
    return names;
  };
  auto lcopy = lkeys;
  ARROW_ASSIGN_OR_RAISE(auto lnames, key_side(left, lkeys, rkeys));
  ARROW_ASSIGN_OR_RAISE(auto rnames, key_side(right, rkeys, lcopy));
  auto join = Node(NodeKind::kJoin, {left.plan, right.plan});
  join->join_type = type;
  join->left_keys = lnames;
  join->right_keys = rnames;
  if (!residual.empty()) join->predicate = cp::and_(residual);
  arrow::FieldVector fields;
  Relation out;
  out.plan = join;
  if (!OutputsRightOnly(type)) {
    fields = left.plan->schema->fields();
    out.scope.columns = left.scope.columns;
  }
  if (!OutputsLeftOnly(type)) {
    for (const auto& f : right.plan->schema->fields()) fields.push_back(f);
    out.scope.columns.insert(out.scope.columns.end(), right.scope.columns.begin(),
                             right.scope.columns.end());
  }
  join->schema = arrow::schema(fields);
  return out;
}

Result<Binder::Relation> Binder::BindJoin(const sql::TableRef& ref) {
  ARROW_ASSIGN_OR_RAISE(auto left, BindTable(*ref.left));
  std::set<std::string> left_names;
  InputNames(*ref.left, &left_names);
  if (IsLateral(*ref.right) || ReadsEarlierTables(*ref.right, left_names)) {
    if (!ref.using_columns.empty() || ref.natural) {
      return ErrorAt(ref.loc, "not supported: a LATERAL join with USING or NATURAL");
    }
    if (ref.join_type != sql::JoinType::kInner &&
        ref.join_type != sql::JoinType::kCross && ref.join_type != sql::JoinType::kLeft) {
      return ErrorAt(ref.loc,
                     "not supported: a LATERAL join other than INNER, CROSS or LEFT");
    }
    return BindLateral(std::move(left), *ref.right,
                       ref.join_type == sql::JoinType::kLeft
                           ? arrow::acero::JoinType::LEFT_OUTER
                           : arrow::acero::JoinType::INNER,
                       ref.on);
  }
  ARROW_ASSIGN_OR_RAISE(auto right, BindTable(*ref.right));
  Scope both;
  both.columns = left.scope.columns;
  both.columns.insert(both.columns.end(), right.scope.columns.begin(),
                      right.scope.columns.end());
  using JT = arrow::acero::JoinType;
  JT type = JT::INNER;
  switch (ref.join_type) {
    case sql::JoinType::kLeft:
      type = JT::LEFT_OUTER;
      break;
    case sql::JoinType::kRight:
      type = JT::RIGHT_OUTER;
      break;
    case sql::JoinType::kFull:
      type = JT::FULL_OUTER;
      break;
    case sql::JoinType::kSemi:
      type = JT::LEFT_SEMI;
      break;
    case sql::JoinType::kAnti:
      type = JT::LEFT_ANTI;
      break;
    default:
      break;
  }
  std::vector<Bound> lkeys, rkeys;
  std::vector<cp::Expression> residual;
  std::vector<std::pair<Column, Column>> using_pairs;
  std::vector<std::string> using_columns = ref.using_columns;
  if (ref.natural) {
    // NATURAL: the columns both sides name (DuckDB refuses a NATURAL join without
    // one).
    for (const auto& l : left.scope.columns) {
      if (l.hidden || !l.star) continue;
      for (const auto& r : right.scope.columns) {
        if (!r.hidden && r.star && EqualsIgnoreCase(l.name, r.name))
          using_columns.push_back(l.name);
      }
    }
    if (using_columns.empty()) {
      return ErrorAt(ref.loc, "a NATURAL join needs a column name both sides share");
    }
  }
  if (!using_columns.empty()) {
    for (const auto& name : using_columns) {
      ARROW_ASSIGN_OR_RAISE(auto l, Resolve(left.scope, "", name, ref.loc));
      ARROW_ASSIGN_OR_RAISE(auto r, Resolve(right.scope, "", name, ref.loc));
      lkeys.push_back({cp::field_ref(l->internal), l->type});
      rkeys.push_back({cp::field_ref(r->internal), r->type});
      using_pairs.emplace_back(*l, *r);
    }
  } else if (ref.on) {
    std::map<std::string, int> side_of;  // internal column -> 0 left, 1 right
    for (const auto& col : left.scope.columns) side_of[col.internal] = 0;
    for (const auto& col : right.scope.columns) side_of[col.internal] = 1;
    std::vector<sql::ExprPtr> conjuncts;
    SplitConjuncts(ref.on, &conjuncts);
    for (const auto& c : conjuncts) {
      if (c->kind == sql::ExprKind::kBinary && c->op == "=") {
        auto l1 = BindExpr(*c->args[0], left.scope, nullptr);
        auto r1 = BindExpr(*c->args[1], right.scope, nullptr);
        if (l1.ok() && r1.ok()) {
          lkeys.push_back(*l1);
          rkeys.push_back(*r1);
          continue;
        }
        auto l2 = BindExpr(*c->args[1], left.scope, nullptr);
        auto r2 = BindExpr(*c->args[0], right.scope, nullptr);
        if (l2.ok() && r2.ok()) {
          lkeys.push_back(*l2);
          rkeys.push_back(*r2);
          continue;
        }
      }
      // A condition on the side whose unmatched rows are dropped anyway filters
      // that side before the join (LEFT JOIN ... ON ... AND r.x LIKE '...'). Its
      // names resolve over both sides (an ambiguous one fails, and is reported by
      // the residual's binding below).
      auto sides = LeafMask(*c, both, side_of);
      bool left_only = sides.ok() && *sides == 1;
      bool right_only = sides.ok() && *sides == 2;
      if (right_only && (type == JT::INNER || type == JT::LEFT_OUTER ||
                         type == JT::LEFT_SEMI || type == JT::LEFT_ANTI)) {
        ARROW_ASSIGN_OR_RAISE(right, ApplyWhere(std::move(right), {c}));
        continue;
      }
      if (left_only &&
          (type == JT::INNER || type == JT::RIGHT_OUTER || type == JT::LEFT_SEMI)) {
        ARROW_ASSIGN_OR_RAISE(left, ApplyWhere(std::move(left), {c}));
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*c, both, nullptr));
      residual.push_back(b.expr);
    }
  }
  ARROW_ASSIGN_OR_RAISE(
      Relation out, MakeJoin(std::move(left), std::move(right), type, std::move(lkeys),
                             std::move(rkeys), std::move(residual), ref.loc));
  if (!using_pairs.empty() && type != JT::LEFT_SEMI && type != JT::LEFT_ANTI) {
    // USING columns appear once, merged, where the left one stood.
    auto p = Node(NodeKind::kProject, {out.plan});
    arrow::FieldVector pf;
    std::vector<Column> cols;
    for (const auto& c : out.scope.columns) {
      const std::pair<Column, Column>* pair = nullptr;
      for (const auto& up : using_pairs) {
        if (up.first.internal == c.internal) pair = &up;
      }
      if (pair != nullptr) {
        auto lt = pair->first.type, rt = pair->second.type;
        auto common = CommonTypeOf({lt, rt});
        ARROW_ASSIGN_OR_RAISE(auto lb, CastTo({cp::field_ref(pair->first.internal), lt},
                                              common, out.scope, ref.loc));
        ARROW_ASSIGN_OR_RAISE(auto rb, CastTo({cp::field_ref(pair->second.internal), rt},
                                              common, out.scope, ref.loc));
        cp::Expression merged = type == JT::RIGHT_OUTER ? rb.expr
                                : type == JT::FULL_OUTER
                                    ? cp::call("coalesce", {lb.expr, rb.expr})
                                    : lb.expr;
        std::string n = NewName(c.name);
        p->exprs.push_back(merged);
        pf.push_back(arrow::field(n, common));
        cols.push_back({"", c.name, n, common});
      }
      bool hide = pair != nullptr;
      for (const auto& up : using_pairs) {
        if (up.second.internal == c.internal) hide = true;
      }
      p->exprs.push_back(cp::field_ref(c.internal));
      pf.push_back(arrow::field(c.internal, c.type));
      Column copy = c;
      copy.hidden = copy.hidden || hide;
      cols.push_back(copy);
    }
    p->schema = arrow::schema(pf);
    out.plan = p;
    out.scope.columns = cols;
  }
  return out;
}

}  // namespace flowsql::plan
