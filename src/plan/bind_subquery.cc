// Subqueries in expressions. One that reads no column of the query around it is run
// once, at bind time, and becomes a constant (a scalar, or the set of an IN). One
// that does (a correlated subquery) is decorrelated into a join, so it never runs
// once per row:
//   WHERE [NOT] EXISTS (...) and WHERE x IN (...)  -> a semi (anti) join on the
//     correlation's equalities, its other conditions the join's residual;
//   (SELECT agg(...) FROM ... WHERE inner = outer)  -> the aggregate grouped by the
//     inner keys, left-joined on the outer keys.
#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/table.h>

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
                                                             const Scope& outer) {
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
  if (!select.group_by.empty() || select.having || select.distinct ||
      !q.order_by.empty() || q.limit || q.offset || !select.windows.empty() ||
      select.qualify) {
    return ErrorAt(
        query.loc,
        "not supported: a correlated subquery with GROUP BY, HAVING, DISTINCT, "
        "ORDER BY, LIMIT or windows");
  }
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
  // SELECT k..., agg FROM ... WHERE <local> GROUP BY k..., left-joined on the keys.
  sql::SelectCore grouped = select;
  grouped.where = c.local.empty() ? nullptr : Combine("AND", c.local);
  grouped.group_by = c.inner_keys;
  grouped.items.clear();
  for (size_t i = 0; i < c.inner_keys.size(); ++i) {
    grouped.items.push_back({c.inner_keys[i], "key" + std::to_string(i)});
  }
  grouped.items.push_back({select.items[0].expr, "value"});
  auto matched = std::make_shared<sql::Expr>();  // TRUE where the group has rows
  matched->kind = sql::ExprKind::kLiteral;
  matched->lit_kind = sql::LiteralKind::kBool;
  matched->text = "true";
  grouped.items.push_back({matched, "matched"});
  Relation* saved = attach_;
  attach_ = nullptr;
  bool applied = false;
  auto sub = BindSelect(grouped, nullptr, &applied);
  attach_ = saved;
  ARROW_RETURN_NOT_OK(sub.status());
  std::vector<Bound> lkeys, rkeys;
  for (size_t i = 0; i < c.outer_keys.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*c.outer_keys[i], attach_->scope, nullptr));
    const Column& r = sub->scope.columns[i];
    lkeys.push_back(l);
    rkeys.push_back({cp::field_ref(r.internal), r.type});
  }
  Column value = sub->scope.columns[sub->scope.columns.size() - 2];
  Column matched_column = sub->scope.columns.back();
  // The value of the select item over no row (count(*) + 1 is 1, coalesce(sum(x), 0)
  // is 0): its aggregates replaced by their value over no row (a count 0, any
  // other NULL), folded to a constant.
  std::shared_ptr<arrow::Scalar> on_none;
  {
    Scope nothing;
    auto folded = BindExpr(*OverNoRow(select.items[0].expr), nothing, nullptr);
    if (!folded.ok() || !folded->expr.literal()) {
      return ErrorAt(
          e.loc,
          "not supported: a correlated scalar subquery whose select item reads "
          "a column outside its aggregates");
    }
    on_none = folded->expr.literal()->scalar();
  }
  std::set<std::string> own;
  for (const auto& col : attach_->scope.columns) own.insert(col.internal);
  ARROW_ASSIGN_OR_RAISE(
      Relation joined,
      MakeJoin(std::move(*attach_), std::move(*sub), arrow::acero::JoinType::LEFT_OUTER,
               std::move(lkeys), std::move(rkeys), {}, e.loc));
  // The subquery's columns join the scope hidden (`*` does not list them).
  for (auto& col : joined.scope.columns) {
    if (!own.count(col.internal)) col.hidden = true;
  }
  attach_->plan = joined.plan;
  attach_->scope.columns = joined.scope.columns;
  Bound result{cp::field_ref(value.internal), value.type};
  if (on_none == nullptr || !on_none->is_valid) return result;
  std::shared_ptr<arrow::Scalar> fallback = on_none;
  if (!on_none->type->Equals(*value.type)) {
    ARROW_ASSIGN_OR_RAISE(auto cast, cp::Cast(arrow::Datum(on_none), value.type));
    fallback = cast.scalar();
  }
  ARROW_ASSIGN_OR_RAISE(
      auto no_group,
      Call("is_null",
           {Bound{cp::field_ref(matched_column.internal), matched_column.type}},
           attach_->scope, e.loc));
  return Call("if_else", {no_group, Bound{cp::literal(fallback), value.type}, result},
              attach_->scope, e.loc);
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

}  // namespace flowsql::plan
