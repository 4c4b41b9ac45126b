// Subqueries in expressions. One that reads no column of the query around it is run
// once, at bind time, and becomes a constant (a scalar, or the set of an IN). One
// that does (a correlated subquery) is decorrelated into a join, so it never runs
// once per row:
//   WHERE [NOT] EXISTS (...) and WHERE x IN (...)  -> a semi (anti) join on the
//     correlation's equalities, its other conditions the join's residual;
//   (SELECT agg(...) FROM ... WHERE inner = outer)  -> the aggregate grouped by the
//     inner keys, left-joined on the outer keys;
//   FROM t, LATERAL (SELECT ... WHERE inner = t.k [ORDER BY ... LIMIT n])  -> the
//     subquery with its keys, ranked per key when limited, joined on the keys;
//     LATERAL (SELECT agg(...) ...) as the scalar case, one row per outer row.
#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/table.h>

#include <limits>
#include <set>

#include "plan/binder.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
using arrow::Type;

namespace {}  // namespace

// Which scopes an expression's columns come from: 1 the subquery's own FROM, 2 the
// query around it. A nested subquery counts as the subquery's own.
Result<int> Binder::Sides(const sql::Expr& e, const Scope& inner, const Scope& outer) {
  if (e.kind == sql::ExprKind::kColumn) {
    if (Resolve(inner, e.table, e.name, e.loc).ok()) return 1;
    if (!e.table.empty() && Resolve(inner, "", e.table, e.loc).ok()) return 1;
    if (Resolve(outer, e.table, e.name, e.loc).ok()) return 2;
    if (!e.table.empty() && Resolve(outer, "", e.table, e.loc).ok()) return 2;
    return Resolve(inner, e.table, e.name, e.loc).status();
  }
  if (e.subquery) {
    if (e.kind == sql::ExprKind::kIn) return Sides(*e.args[0], inner, outer);
    return 1;
  }
  int sides = 0;
  for (const auto& a : e.args) {
    ARROW_ASSIGN_OR_RAISE(int s, Sides(*a, inner, outer));
    sides |= s;
  }
  return sides;
}

Result<std::optional<Binder::Correlation>> Binder::Correlate(const sql::Query& query,
                                                             const Scope& outer,
                                                             bool lateral) {
  if (query.body->kind != sql::QueryNode::Kind::kSelect || !query.ctes.empty()) {
    return std::nullopt;
  }
  const sql::SelectCore& select = query.body->select;
  if (!select.from || !select.where) return std::nullopt;
  Correlation c;
  c.select = &select;
  ARROW_ASSIGN_OR_RAISE(c.inner, BindTable(*select.from));
  std::vector<sql::ExprPtr> conjuncts;
  SplitConjuncts(select.where, &conjuncts);
  bool correlated = false;
  for (const auto& conj : conjuncts) {
    ARROW_ASSIGN_OR_RAISE(int sides, Sides(*conj, c.inner.scope, outer));
    if ((sides & 2) == 0) {
      c.local.push_back(conj);
      continue;
    }
    correlated = true;
    if (conj->kind == sql::ExprKind::kBinary && conj->op == "=") {
      ARROW_ASSIGN_OR_RAISE(int l, Sides(*conj->args[0], c.inner.scope, outer));
      ARROW_ASSIGN_OR_RAISE(int r, Sides(*conj->args[1], c.inner.scope, outer));
      if ((l == 1 && r == 2) || (l == 2 && r == 1)) {
        c.inner_keys.push_back(conj->args[l == 1 ? 0 : 1]);
        c.outer_keys.push_back(conj->args[l == 1 ? 1 : 0]);
        continue;
      }
    }
    c.residual.push_back(conj);
  }
  if (!correlated) return std::nullopt;
  const sql::Query& q = query;
  const bool ordered = !q.order_by.empty() || q.limit || q.offset;
  if (!select.group_by.empty() || select.having || select.distinct ||
      (ordered && !lateral) || !select.windows.empty() || select.qualify) {
    return ErrorAt(
        query.loc,
        "not supported: a correlated subquery with GROUP BY, HAVING, DISTINCT, "
        "ORDER BY, LIMIT or windows");
  }
  c.query = &query;
  return c;
}

Result<std::shared_ptr<arrow::Table>> Binder::RunSubquery(const sql::Query& query,
                                                          const sql::Location& loc) {
  if (!runner_) {
    return ErrorAt(loc, "not supported: a subquery in this statement");
  }
  Relation* saved = attach_;
  attach_ = nullptr;
  auto plan = BindQuery(query);
  attach_ = saved;
  ARROW_RETURN_NOT_OK(plan.status());
  return runner_(*plan);
}

Result<Binder::Bound> Binder::BindSubquery(const sql::Expr& e, const Scope& scope,
                                           AggContext* agg) {
  ARROW_ASSIGN_OR_RAISE(auto correlation, Correlate(*e.subquery, scope));
  if (correlation) {
    if (e.kind != sql::ExprKind::kSubquery) {
      return ErrorAt(e.loc,
                     "not supported: a correlated EXISTS or IN subquery other than as a "
                     "condition of WHERE (joined by AND)");
    }
    return BindCorrelatedScalar(e, *correlation, scope);
  }
  ARROW_ASSIGN_OR_RAISE(auto table, RunSubquery(*e.subquery, e.loc));
  if (e.kind == sql::ExprKind::kExists) {
    return Bound{cp::literal(table->num_rows() > 0), arrow::boolean()};
  }
  if (table->num_columns() != 1) {
    return ErrorAt(e.loc,
                   "a subquery used as an expression must return one column, got " +
                       std::to_string(table->num_columns()));
  }
  auto column = table->column(0);
  if (e.kind == sql::ExprKind::kSubquery) {
    if (table->num_rows() > 1) {
      return ErrorAt(e.loc,
                     "more than one row returned by a subquery used as an "
                     "expression (use LIMIT 1 or an aggregate)");
    }
    std::shared_ptr<arrow::Scalar> value;
    if (table->num_rows() == 0) {
      value = arrow::MakeNullScalar(column->type());
    } else {
      ARROW_ASSIGN_OR_RAISE(value, column->GetScalar(0));
    }
    return Bound{cp::literal(value), column->type()};
  }
  // x [NOT] IN (subquery): the same rules as an IN list of its values.
  ARROW_ASSIGN_OR_RAISE(auto lhs, BindExpr(*e.args[0], scope, agg));
  auto type = CommonTypeOf({lhs.type, column->type()});
  if (arrow::is_base_binary_like(lhs.type->id()) !=
          arrow::is_base_binary_like(column->type()->id()) &&
      lhs.type->id() != Type::NA && column->type()->id() != Type::NA) {
    return ErrorAt(e.loc, "cannot compare " + ArrowTypeToSql(*lhs.type) + " with " +
                              ArrowTypeToSql(*column->type()) + " in IN (subquery)");
  }
  if (table->num_rows() == 0) {
    // x IN (nothing) is false and x NOT IN (nothing) true, even for a NULL x.
    return Bound{cp::literal(e.negated), arrow::boolean()};
  }
  if (type->id() == Type::NA) {
    return Bound{cp::literal(std::make_shared<arrow::BooleanScalar>()), arrow::boolean()};
  }
  ARROW_ASSIGN_OR_RAISE(lhs, CastTo(lhs, type, scope, e.loc));
  ARROW_ASSIGN_OR_RAISE(auto values, cp::Cast(column, type));
  std::shared_ptr<arrow::Array> set;
  if (values.chunked_array()->num_chunks() == 0) {
    ARROW_ASSIGN_OR_RAISE(set, arrow::MakeEmptyArray(type));
  } else {
    ARROW_ASSIGN_OR_RAISE(set, arrow::Concatenate(values.chunked_array()->chunks()));
  }
  auto options =
      std::make_shared<cp::SetLookupOptions>(set, cp::SetLookupOptions::INCONCLUSIVE);
  ARROW_ASSIGN_OR_RAISE(auto in, Call("is_in", {lhs}, scope, e.loc, options));
  if (e.negated) return Call("invert", {in}, scope, e.loc);
  return in;
}

namespace {

/// `e` with each aggregate call replaced by its value over no row: 0 for count,
/// NULL for the others.
sql::ExprPtr OverNoRow(const sql::ExprPtr& e) {
  if (e->kind == sql::ExprKind::kFunction && IsAggregateFunction(e->name) && !e->over) {
    auto lit = std::make_shared<sql::Expr>();
    lit->kind = sql::ExprKind::kLiteral;
    lit->loc = e->loc;
    bool count = e->name == "count" || e->name == "count_star";
    lit->lit_kind = count ? sql::LiteralKind::kInteger : sql::LiteralKind::kNull;
    lit->text = count ? "0" : "";
    return lit;
  }
  auto copy = std::make_shared<sql::Expr>(*e);
  for (auto& a : copy->args) a = OverNoRow(a);
  return copy;
}

}  // namespace

Result<Binder::Bound> Binder::BindCorrelatedScalar(const sql::Expr& e,
                                                   const Correlation& c,
                                                   const Scope& scope) {
  const sql::SelectCore& select = *c.select;
  std::vector<const sql::Expr*> aggs;
  for (const auto& item : select.items) CollectAggregates(*item.expr, &aggs);
  if (attach_ == nullptr || &attach_->scope != &scope) {
    return ErrorAt(e.loc,
                   "not supported: a correlated subquery here (only in WHERE and "
                   "in the select list of a query without GROUP BY)");
  }
  if (select.items.size() != 1 || aggs.empty() || !c.residual.empty() ||
      c.inner_keys.empty()) {
    return ErrorAt(e.loc,
                   "not supported: a correlated scalar subquery other than one aggregate "
                   "correlated by equalities (x = (SELECT max(y) FROM t WHERE t.k = k))");
  }
  ARROW_ASSIGN_OR_RAISE(auto values,
                        JoinAggregates(attach_, c, {select.items[0]}, e.loc));
  return values[0];
}

Result<Binder::Relation> Binder::BindDetached(const sql::SelectCore& select) {
  Relation* saved = attach_;
  attach_ = nullptr;
  bool applied = false;
  auto rel = BindSelect(select, nullptr, &applied);
  attach_ = saved;
  return rel;
}

Result<std::vector<Binder::Bound>> Binder::JoinAggregates(
    Relation* rel, const Correlation& c, const std::vector<sql::SelectItem>& items,
    const sql::Location& loc) {
  // SELECT k..., items..., true FROM ... WHERE <local> GROUP BY k..., left-joined
  // on the keys.
  sql::SelectCore grouped = *c.select;
  grouped.where = c.local.empty() ? nullptr : Combine("AND", c.local);
  grouped.group_by = c.inner_keys;
  grouped.items.clear();
  for (size_t i = 0; i < c.inner_keys.size(); ++i) {
    grouped.items.push_back({c.inner_keys[i], "key" + std::to_string(i)});
  }
  for (size_t i = 0; i < items.size(); ++i) {
    grouped.items.push_back({items[i].expr, "value" + std::to_string(i)});
  }
  auto matched = std::make_shared<sql::Expr>();  // TRUE where the group has rows
  matched->kind = sql::ExprKind::kLiteral;
  matched->lit_kind = sql::LiteralKind::kBool;
  matched->text = "true";
  grouped.items.push_back({matched, "matched"});
  ARROW_ASSIGN_OR_RAISE(auto sub, BindDetached(grouped));
  std::vector<Bound> lkeys, rkeys;
  for (size_t i = 0; i < c.outer_keys.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*c.outer_keys[i], rel->scope, nullptr));
    const Column& r = sub.scope.columns[i];
    lkeys.push_back(l);
    rkeys.push_back({cp::field_ref(r.internal), r.type});
  }
  const size_t first_value = c.inner_keys.size();
  std::vector<Column> value_columns(sub.scope.columns.begin() + first_value,
                                    sub.scope.columns.end() - 1);
  Column matched_column = sub.scope.columns.back();
  // The value of a select item over no row (count(*) + 1 is 1, coalesce(sum(x), 0)
  // is 0): its aggregates replaced by their value over no row (a count 0, any
  // other NULL), folded to a constant.
  std::vector<std::shared_ptr<arrow::Scalar>> on_none;
  for (const auto& item : items) {
    Scope nothing;
    auto folded = BindExpr(*OverNoRow(item.expr), nothing, nullptr);
    if (!folded.ok() || !folded->expr.literal()) {
      return ErrorAt(loc,
                     "not supported: a correlated subquery whose select item reads "
                     "a column outside its aggregates");
    }
    on_none.push_back(folded->expr.literal()->scalar());
  }
  std::set<std::string> own;
  for (const auto& col : rel->scope.columns) own.insert(col.internal);
  ARROW_ASSIGN_OR_RAISE(
      Relation joined,
      MakeJoin(std::move(*rel), std::move(sub), arrow::acero::JoinType::LEFT_OUTER,
               std::move(lkeys), std::move(rkeys), {}, loc));
  // The subquery's columns join the scope hidden (`*` does not list them).
  for (auto& col : joined.scope.columns) {
    if (!own.count(col.internal)) col.hidden = true;
  }
  *rel = std::move(joined);
  std::vector<Bound> values;
  for (size_t i = 0; i < items.size(); ++i) {
    const Column& value = value_columns[i];
    Bound result{cp::field_ref(value.internal), value.type};
    if (on_none[i] == nullptr || !on_none[i]->is_valid) {
      values.push_back(result);
      continue;
    }
    std::shared_ptr<arrow::Scalar> fallback = on_none[i];
    if (!fallback->type->Equals(*value.type)) {
      ARROW_ASSIGN_OR_RAISE(auto cast, cp::Cast(arrow::Datum(fallback), value.type));
      fallback = cast.scalar();
    }
    ARROW_ASSIGN_OR_RAISE(
        auto no_group,
        Call("is_null",
             {Bound{cp::field_ref(matched_column.internal), matched_column.type}},
             rel->scope, loc));
    ARROW_ASSIGN_OR_RAISE(
        auto chosen,
        Call("if_else", {no_group, Bound{cp::literal(fallback), value.type}, result},
             rel->scope, loc));
    values.push_back(chosen);
  }
  return values;
}

Result<bool> Binder::JoinSubquery(Relation* rel, const sql::Expr& conjunct) {
  const sql::Expr* e = &conjunct;
  bool negated = false;
  if (e->kind == sql::ExprKind::kUnary && e->op == "NOT") {
    negated = true;
    e = e->args[0].get();
  }
  bool exists = e->kind == sql::ExprKind::kExists;
  bool in = e->kind == sql::ExprKind::kIn && e->subquery;
  if (!exists && !in) return false;
  if (in) negated = negated != e->negated;
  ARROW_ASSIGN_OR_RAISE(auto correlation, Correlate(*e->subquery, rel->scope));
  if (!correlation) return false;
  if (in && negated) {
    return ErrorAt(e->loc,
                   "not supported: NOT IN over a correlated subquery; use NOT EXISTS");
  }
  Correlation& c = *correlation;
  std::vector<const sql::Expr*> aggs;
  for (const auto& item : c.select->items) CollectAggregates(*item.expr, &aggs);
  if (!aggs.empty()) {
    return ErrorAt(e->loc, "not supported: a correlated EXISTS or IN over an aggregate");
  }
  ARROW_ASSIGN_OR_RAISE(Relation inner, ApplyWhere(std::move(c.inner), c.local));
  std::vector<Bound> lkeys, rkeys;
  for (size_t i = 0; i < c.outer_keys.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*c.outer_keys[i], rel->scope, nullptr));
    ARROW_ASSIGN_OR_RAISE(auto r, BindExpr(*c.inner_keys[i], inner.scope, nullptr));
    lkeys.push_back(l);
    rkeys.push_back(r);
  }
  if (in) {
    if (c.select->items.size() != 1 ||
        c.select->items[0].expr->kind == sql::ExprKind::kStar) {
      return ErrorAt(e->loc, "a subquery of IN must return one column");
    }
    ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*e->args[0], rel->scope, nullptr));
    ARROW_ASSIGN_OR_RAISE(auto r,
                          BindExpr(*c.select->items[0].expr, inner.scope, nullptr));
    lkeys.push_back(l);
    rkeys.push_back(r);
  }
  Scope both = rel->scope;
  both.columns.insert(both.columns.end(), inner.scope.columns.begin(),
                      inner.scope.columns.end());
  std::vector<cp::Expression> residual;
  for (const auto& r : c.residual) {
    ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*r, both, nullptr));
    residual.push_back(b.expr);
  }
  using JT = arrow::acero::JoinType;
  auto scope = rel->scope;
  // Acero builds its hash table from the right input: the smaller side goes there.
  // A bounded outer query smaller than the subquery becomes the table (RIGHT_SEMI:
  // the table's rows that match), so the subquery's rows stream past it.
  if (!IsUnbounded(*rel->plan) && EstimateSize(*inner.plan) > EstimateSize(*rel->plan)) {
    ARROW_ASSIGN_OR_RAISE(
        *rel, MakeJoin(std::move(inner), std::move(*rel),
                       negated ? JT::RIGHT_ANTI : JT::RIGHT_SEMI, std::move(rkeys),
                       std::move(lkeys), std::move(residual), e->loc));
  } else {
    ARROW_ASSIGN_OR_RAISE(
        *rel, MakeJoin(std::move(*rel), std::move(inner),
                       negated ? JT::LEFT_ANTI : JT::LEFT_SEMI, std::move(lkeys),
                       std::move(rkeys), std::move(residual), e->loc));
  }
  rel->scope = scope;
  return true;
}

namespace {

sql::ExprPtr IntegerLiteral(int64_t value, const sql::Location& loc) {
  auto e = std::make_shared<sql::Expr>();
  e->kind = sql::ExprKind::kLiteral;
  e->lit_kind = sql::LiteralKind::kInteger;
  e->text = std::to_string(value);
  e->loc = loc;
  return e;
}

sql::ExprPtr Binary(const std::string& op, sql::ExprPtr l, sql::ExprPtr r) {
  auto e = std::make_shared<sql::Expr>();
  e->kind = sql::ExprKind::kBinary;
  e->op = op;
  e->loc = l->loc;
  e->args = {std::move(l), std::move(r)};
  return e;
}

bool IsTrue(const sql::Expr& e) {
  return e.kind == sql::ExprKind::kLiteral && e.lit_kind == sql::LiteralKind::kBool &&
         AsciiLower(e.text) == "true";
}

}  // namespace

Result<Binder::Relation> Binder::BindLateral(Relation left, const sql::TableRef& ref,
                                             arrow::acero::JoinType type,
                                             const sql::ExprPtr& on) {
  using JT = arrow::acero::JoinType;
  if (on && !IsTrue(*on)) {
    return ErrorAt(on->loc,
                   "not supported: a LATERAL join's ON condition other than true");
  }
  const size_t before = left.scope.columns.size();
  std::string qualifier = ref.alias;
  // The columns added after `left`'s take the alias; the visible ones, in order,
  // the column aliases (hidden ones are keys and markers of the join).
  auto name_new_columns = [&](Relation rel) -> Result<Relation> {
    size_t visible = 0;
    for (size_t i = before; i < rel.scope.columns.size(); ++i) {
      Column& col = rel.scope.columns[i];
      col.qualifier = qualifier;
      if (col.hidden) continue;
      if (visible < ref.column_aliases.size()) col.name = ref.column_aliases[visible];
      ++visible;
    }
    if (ref.column_aliases.size() > visible) {
      return ErrorAt(ref.loc, "too many column aliases for '" + qualifier + "'");
    }
    return rel;
  };
  // Values computed per `left` row (unnest, or a subquery without FROM) come as new
  // columns of it.
  auto append = [&](Relation rel,
                    const std::vector<std::pair<std::string, Bound>>& values) {
    auto p = MakeNode(NodeKind::kProject, {rel.plan});
    arrow::FieldVector fields = rel.plan->schema->fields();
    for (const auto& f : fields) p->exprs.push_back(cp::field_ref(f->name()));
    for (const auto& [name, value] : values) {
      std::string internal = NewName(name);
      p->exprs.push_back(value.expr);
      fields.push_back(arrow::field(internal, value.type));
      rel.scope.columns.push_back({"", name, internal, value.type});
    }
    p->schema = arrow::schema(fields);
    rel.plan = p;
    return rel;
  };

  if (ref.kind == sql::TableKind::kFunction) {
    if (AsciiLower(ref.name) != "unnest") {
      if (qualifier.empty()) qualifier = ref.name;
      ARROW_ASSIGN_OR_RAISE(left, BindLateralCall(std::move(left), ref, type));
      return name_new_columns(std::move(left));
    }
    if (type != JT::INNER) {
      return ErrorAt(ref.loc, "not supported: LEFT JOIN LATERAL unnest()");
    }
    if (ref.args.size() != 1) return ErrorAt(ref.loc, "unnest() takes one argument");
    if (qualifier.empty()) qualifier = "unnest";
    ARROW_ASSIGN_OR_RAISE(auto list, BindExpr(*ref.args[0], left.scope, nullptr));
    ARROW_ASSIGN_OR_RAISE(left,
                          UnnestLists(std::move(left), {list}, {"unnest"}, ref.loc));
    left.scope.columns.back().hidden = false;
    return name_new_columns(std::move(left));
  }

  const sql::Query& query = *ref.subquery;
  ARROW_ASSIGN_OR_RAISE(auto correlation, Correlate(query, left.scope, /*lateral=*/true));
  if (!correlation) {
    const bool plain_select = query.body->kind == sql::QueryNode::Kind::kSelect &&
                              query.ctes.empty() && query.order_by.empty() &&
                              !query.limit && !query.offset;
    if (plain_select && !query.body->select.from) {
      // LATERAL (SELECT t.x + 1 AS y): expressions over each `left` row.
      const sql::SelectCore& select = query.body->select;
      std::vector<const sql::Expr*> aggs;
      for (const auto& item : select.items) CollectAggregates(*item.expr, &aggs);
      if (!aggs.empty() || select.where || !select.group_by.empty() || select.distinct) {
        return ErrorAt(ref.loc,
                       "not supported: a LATERAL subquery without FROM other than a "
                       "list of expressions");
      }
      std::vector<std::pair<std::string, Bound>> values;
      for (const auto& item : select.items) {
        if (item.expr->kind == sql::ExprKind::kStar) {
          return ErrorAt(item.expr->loc, "SELECT * needs a FROM clause");
        }
        ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*item.expr, left.scope, nullptr));
        values.emplace_back(ItemName(item), b);
      }
      left = append(std::move(left), values);
      return name_new_columns(std::move(left));
    }
    // It reads nothing of `left`: an ordinary join.
    ARROW_ASSIGN_OR_RAISE(auto right, BindTable(ref));
    return MakeJoin(std::move(left), std::move(right), type, {}, {}, {}, ref.loc);
  }
  const Correlation& c = *correlation;
  const sql::SelectCore& select = *c.select;
  if (!c.residual.empty() || c.inner_keys.empty()) {
    return ErrorAt(c.residual.empty() ? ref.loc : c.residual[0]->loc,
                   "not supported: a LATERAL subquery correlated other than by "
                   "equalities (inner.k = outer.k)");
  }
  for (const auto& item : select.items) {
    if (item.expr->kind == sql::ExprKind::kStar) continue;
    ARROW_ASSIGN_OR_RAISE(int sides, Sides(*item.expr, c.inner.scope, left.scope));
    if (sides & 2) {
      return ErrorAt(item.expr->loc,
                     "not supported: a LATERAL subquery whose select list reads the "
                     "tables before it");
    }
  }
  for (const auto& item : select.items) {
    std::vector<const sql::Expr*> windows;
    CollectWindowCalls(*item.expr, &windows);
    if (!windows.empty()) {
      return ErrorAt(windows[0]->loc,
                     "not supported: a window function in a correlated LATERAL subquery");
    }
  }
  std::vector<const sql::Expr*> aggs;
  for (const auto& item : select.items) CollectAggregates(*item.expr, &aggs);
  if (!aggs.empty()) {
    // One row per `left` row, its group's aggregates (or their value over none).
    if (query.limit || query.offset) {
      return ErrorAt(ref.loc, "not supported: LIMIT in a LATERAL subquery of aggregates");
    }
    ARROW_ASSIGN_OR_RAISE(auto bound, JoinAggregates(&left, c, select.items, ref.loc));
    std::vector<std::pair<std::string, Bound>> values;
    for (size_t i = 0; i < bound.size(); ++i) {
      values.emplace_back(ItemName(select.items[i]), bound[i]);
    }
    left = append(std::move(left), values);
    return name_new_columns(std::move(left));
  }

  // SELECT items..., k... FROM ... WHERE <local> [QUALIFY row_number() OVER
  // (PARTITION BY k... ORDER BY ...) within OFFSET and LIMIT], joined on the keys.
  sql::SelectCore keyed = select;
  keyed.where = c.local.empty() ? nullptr : Combine("AND", c.local);
  for (size_t i = 0; i < c.inner_keys.size(); ++i) {
    keyed.items.push_back({c.inner_keys[i], "key" + std::to_string(i)});
  }
  if (query.limit || query.offset) {
    auto spec = std::make_shared<sql::WindowSpec>();
    spec->loc = ref.loc;
    spec->partition_by = c.inner_keys;
    // The select list's expressions, each `*` as the columns it stands for.
    std::vector<sql::ExprPtr> listed;
    for (const auto& item : select.items) {
      if (item.expr->kind != sql::ExprKind::kStar) {
        listed.push_back(item.expr);
        continue;
      }
      for (const auto& col : c.inner.scope.columns) {
        if (col.hidden || !col.star ||
            (!item.expr->table.empty() &&
             AsciiLower(col.qualifier) != AsciiLower(item.expr->table))) {
          continue;
        }
        auto ref_expr = std::make_shared<sql::Expr>();
        ref_expr->kind = sql::ExprKind::kColumn;
        ref_expr->loc = item.expr->loc;
        ref_expr->table = col.qualifier;
        ref_expr->name = col.name;
        listed.push_back(ref_expr);
      }
    }
    for (auto item : query.order_by) {
      // ORDER BY 2 or an item's alias: that item's expression.
      if (item.expr->kind == sql::ExprKind::kLiteral &&
          item.expr->lit_kind == sql::LiteralKind::kInteger) {
        const size_t k = std::strtoull(item.expr->text.c_str(), nullptr, 10);
        if (k < 1 || k > listed.size()) {
          return ErrorAt(item.expr->loc, "ORDER BY position out of range");
        }
        item.expr = listed[k - 1];
      } else {
        item.expr = WithAliases(item.expr, select, c.inner.scope);
      }
      spec->order_by.push_back(item);
    }
    auto rank = std::make_shared<sql::Expr>();
    rank->kind = sql::ExprKind::kFunction;
    rank->name = "row_number";
    rank->loc = ref.loc;
    rank->over = spec;
    auto constant = [&](const sql::ExprPtr& e) -> Result<int64_t> {
      if (!e) return 0;
      if (e->kind != sql::ExprKind::kLiteral ||
          e->lit_kind != sql::LiteralKind::kInteger) {
        return ErrorAt(e->loc,
                       "not supported: a LIMIT or OFFSET other than a number "
                       "in a LATERAL subquery");
      }
      return std::strtoll(e->text.c_str(), nullptr, 10);
    };
    ARROW_ASSIGN_OR_RAISE(int64_t offset, constant(query.offset));
    std::vector<sql::ExprPtr> window;
    if (offset > 0) window.push_back(Binary(">", rank, IntegerLiteral(offset, ref.loc)));
    if (query.limit) {
      ARROW_ASSIGN_OR_RAISE(int64_t limit, constant(query.limit));
      int64_t last;
      if (__builtin_add_overflow(offset, limit, &last)) {
        last = std::numeric_limits<int64_t>::max();
      }
      window.push_back(Binary("<=", rank, IntegerLiteral(last, ref.loc)));
    }
    if (!window.empty()) keyed.qualify = Combine("AND", window);
  }
  ARROW_ASSIGN_OR_RAISE(auto sub, BindDetached(keyed));
  // `*` may have become several columns: the keys are the last ones.
  const size_t first_key = sub.scope.columns.size() - c.inner_keys.size();
  std::vector<Bound> lkeys, rkeys;
  for (size_t i = 0; i < c.outer_keys.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*c.outer_keys[i], left.scope, nullptr));
    Column& r = sub.scope.columns[first_key + i];
    lkeys.push_back(l);
    rkeys.push_back({cp::field_ref(r.internal), r.type});
    r.hidden = true;
  }
  ARROW_ASSIGN_OR_RAISE(left, MakeJoin(std::move(left), std::move(sub), type,
                                       std::move(lkeys), std::move(rkeys), {}, ref.loc));
  return name_new_columns(std::move(left));
}

}  // namespace flowsql::plan

namespace flowsql::plan {

Result<Binder::Relation> Binder::BindLateralCall(Relation left, const sql::TableRef& ref,
                                                 arrow::acero::JoinType type) {
  using JT = arrow::acero::JoinType;
  const std::string call = "LATERAL " + ref.name + "()";
  const ConnectorSpec* spec = registry_->FindByFunction(ref.name);
  if (spec == nullptr || !spec->make_source) {
    return Status::KeyError("unknown table function '", ref.name, "' at ",
                            ref.loc.ToString());
  }
  if (type != JT::INNER && type != JT::LEFT_OUTER) {
    return ErrorAt(ref.loc, "not supported: this join with " + call);
  }
  if (spec->functions_take_uri && ref.args.empty()) {
    return ErrorAt(ref.loc, ref.name + "() needs a path or URI as its first argument");
  }
  // The arguments as text over `left`'s columns; the first is the URI ("" for a
  // function that takes none).
  std::vector<cp::Expression> exprs;
  if (!spec->functions_take_uri) exprs.push_back(cp::literal(std::string()));
  for (const auto& arg : ref.args) {
    ARROW_ASSIGN_OR_RAISE(auto bound, BindExpr(*arg, left.scope, nullptr));
    exprs.push_back(
        bound.type->id() == arrow::Type::STRING
            ? bound.expr
            : cp::call("cast", {bound.expr}, cp::CastOptions::Safe(arrow::utf8())));
  }
  ConnectorArgs args;
  args.stop = stop_;
  ARROW_ASSIGN_OR_RAISE(args.options, SourceOptions(*spec, ref));
  // The columns: those of the call for the first row whose arguments are all set.
  if (!runner_) return ErrorAt(ref.loc, "not supported: " + call + " in this statement");
  auto probe = MakeNode(NodeKind::kFilter, {ClonePlan(left.plan)});
  probe->schema = left.plan->schema;
  cp::Expression all_set = cp::literal(true);
  for (const auto& e : exprs) all_set = cp::and_(all_set, cp::is_valid(e));
  probe->predicate = all_set;
  auto project = MakeNode(NodeKind::kProject, {probe});
  arrow::FieldVector texts;
  for (size_t i = 0; i < exprs.size(); ++i) {
    texts.push_back(arrow::field("arg" + std::to_string(i), arrow::utf8()));
  }
  project->exprs = exprs;
  project->schema = arrow::schema(texts);
  auto first = MakeNode(NodeKind::kLimit, {project});
  first->count = 1;
  first->schema = project->schema;
  ARROW_ASSIGN_OR_RAISE(auto table, runner_(first));
  if (table->num_rows() == 0) {
    return ErrorAt(ref.loc, call + ": the rows before it give no call to take its " +
                                "columns from (none, or all with a NULL argument)");
  }
  ConnectorArgs probe_args = args;
  for (int i = 0; i < table->num_columns(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto value, table->column(i)->GetScalar(0));
    const std::string text = value->ToString();
    if (i == 0) {
      probe_args.uri = text;
    } else {
      probe_args.positional.push_back(text);
    }
  }
  auto schema = [&]() -> Result<std::shared_ptr<arrow::Schema>> {
    ARROW_ASSIGN_OR_RAISE(auto source, spec->make_source(probe_args));
    return source->GetSchema();
  }();
  if (!schema.ok()) {
    return Status::Invalid(call, " for its first row, ", ref.name, "('", probe_args.uri,
                           "'): ", schema.status().message());
  }
  auto node = MakeNode(NodeKind::kLateral, {left.plan});
  node->connector = ref.name;
  node->args = std::move(args);
  node->exprs = std::move(exprs);
  node->make_source = spec->make_source;
  node->join_type = type;
  arrow::FieldVector fields = left.plan->schema->fields();
  for (const auto& f : (*schema)->fields()) {
    std::string internal = NewName(f->name());
    auto engine_type = EngineType(f->type());
    fields.push_back(arrow::field(internal, engine_type));
    node->source_columns.push_back(f->name());
    left.scope.columns.push_back({"", f->name(), internal, engine_type});
  }
  node->schema = arrow::schema(std::move(fields));
  left.plan = node;
  return left;
}

}  // namespace flowsql::plan
