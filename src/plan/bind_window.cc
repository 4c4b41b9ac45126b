// Window functions: f(...) OVER (...) in a select list, QUALIFY or ORDER BY becomes
// a column of a kWindow node between the aggregation (if any) and the select list.
#include <arrow/compute/api.h>

#include "plan/binder.h"

namespace flowsql::plan {

PlanPtr Binder::WindowNode(PlanPtr input) const {
  auto window = MakeNode(NodeKind::kWindow, {std::move(input)});
  if (settings_ != nullptr) {
    window->spill_bytes = settings_->memory_limit / 4;
    window->spill_directory = settings_->temp_directory;
  }
  return window;
}

namespace cp = arrow::compute;
using arrow::Type;

void CollectWindowCalls(const sql::Expr& e, std::vector<const sql::Expr*>* out) {
  if (e.kind == sql::ExprKind::kFunction && e.over) {
    out->push_back(&e);
    return;
  }
  for (const auto& a : e.args) CollectWindowCalls(*a, out);
}

namespace {

std::string BoundToString(const sql::FrameBound& b) {
  switch (b.kind) {
    case sql::FrameBound::Kind::kUnboundedPreceding:
      return "UNBOUNDED PRECEDING";
    case sql::FrameBound::Kind::kPreceding:
      return std::to_string(b.offset) + " PRECEDING";
    case sql::FrameBound::Kind::kCurrentRow:
      return "CURRENT ROW";
    case sql::FrameBound::Kind::kFollowing:
      return std::to_string(b.offset) + " FOLLOWING";
    case sql::FrameBound::Kind::kUnboundedFollowing:
      return "UNBOUNDED FOLLOWING";
  }
  return "?";
}

}  // namespace

std::string WindowToString(const sql::WindowSpec& w) {
  std::string out = "(";
  auto add = [&](const std::string& part) { out += (out.size() > 1 ? " " : "") + part; };
  if (!w.name.empty()) add(w.name);
  if (!w.partition_by.empty()) {
    std::string p = "PARTITION BY ";
    for (size_t i = 0; i < w.partition_by.size(); ++i) {
      p += (i ? ", " : "") + ExprToString(*w.partition_by[i]);
    }
    add(p);
  }
  if (!w.order_by.empty()) {
    std::string o = "ORDER BY ";
    for (size_t i = 0; i < w.order_by.size(); ++i) {
      const auto& item = w.order_by[i];
      o += (i ? ", " : "") + ExprToString(*item.expr) + (item.descending ? " DESC" : "");
      if (item.nulls_first) o += *item.nulls_first ? " NULLS FIRST" : " NULLS LAST";
    }
    add(o);
  }
  if (w.has_frame) {
    add(std::string(w.rows ? "ROWS" : "RANGE") + " BETWEEN " + BoundToString(w.start) +
        " AND " + BoundToString(w.end));
  }
  return out + ")";
}

Result<sql::WindowSpec> Binder::ResolveWindow(const sql::WindowSpec& spec,
                                              const sql::SelectCore& select) {
  if (spec.name.empty()) return spec;
  // A WINDOW clause's window may refer only to windows defined before it.
  size_t limit = select.windows.size();
  for (size_t k = 0; k < select.windows.size(); ++k) {
    if (select.windows[k].second.get() == &spec) limit = k;
  }
  for (size_t k = 0; k < limit; ++k) {
    const auto& [name, named] = select.windows[k];
    if (AsciiLower(name) != AsciiLower(spec.name)) continue;
    ARROW_ASSIGN_OR_RAISE(sql::WindowSpec out, ResolveWindow(*named, select));
    // OVER (w ORDER BY ...) refines w; it may not repartition it.
    if (!spec.partition_by.empty()) {
      return ErrorAt(spec.loc, "a window that refers to '" + spec.name +
                                   "' cannot have its own PARTITION BY");
    }
    if (!spec.order_by.empty()) out.order_by = spec.order_by;
    if (spec.has_frame) {
      out.has_frame = true;
      out.rows = spec.rows;
      out.start = spec.start;
      out.end = spec.end;
    }
    out.name.clear();
    out.loc = spec.loc;
    return out;
  }
  return ErrorAt(spec.loc, "window '" + spec.name + "' is not defined (WINDOW " +
                               spec.name + " AS (...))");
}

Result<Binder::Relation> Binder::BindWindows(Relation rel, const sql::SelectCore& select,
                                             const sql::Query* query, AggContext* agg) {
  std::vector<const sql::Expr*> calls;
  for (const auto& item : select.items) CollectWindowCalls(*item.expr, &calls);
  if (select.qualify) CollectWindowCalls(*select.qualify, &calls);
  if (query) {
    for (const auto& o : query->order_by) CollectWindowCalls(*o.expr, &calls);
  }
  if (calls.empty()) return rel;

  // The input's columns, then those the calls compute from.
  auto pre = MakeNode(NodeKind::kProject, {rel.plan});
  arrow::FieldVector pre_fields;
  for (const auto& c : rel.scope.columns) {
    pre->exprs.push_back(cp::field_ref(c.internal));
    pre_fields.push_back(arrow::field(c.internal, c.type));
  }
  auto column_of = [&](const sql::Expr& e) -> Result<Bound> {
    ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(e, rel.scope, agg));
    if (const auto* ref = b.expr.field_ref(); ref && ref->name()) return b;
    std::string name = NewName(ExprToString(e));
    pre->exprs.push_back(b.expr);
    pre_fields.push_back(arrow::field(name, b.type));
    return Bound{cp::field_ref(name), b.type};
  };
  auto window = WindowNode(pre);
  std::map<std::string, std::string> done;  // call text -> output column
  std::vector<Column> outputs;
  for (const sql::Expr* e : calls) {
    std::string text = ExprToString(*e);
    if (done.count(text)) continue;
    for (const auto& a : e->args) {
      std::vector<const sql::Expr*> nested;
      CollectWindowCalls(*a, &nested);
      if (!nested.empty()) {
        return ErrorAt(nested[0]->loc, "window function calls cannot be nested");
      }
    }
    if (e->distinct || e->filter) {
      return ErrorAt(e->loc, "not supported: DISTINCT or FILTER in a window function");
    }
    ARROW_ASSIGN_OR_RAISE(sql::WindowSpec spec, ResolveWindow(*e->over, select));
    WindowCall call;
    call.frame = spec;
    using FK = sql::FrameBound::Kind;
    bool range_offset = false;
    if (spec.has_frame && !spec.rows) {
      for (const auto* b : {&spec.start, &spec.end}) {
        range_offset =
            range_offset || b->kind == FK::kPreceding || b->kind == FK::kFollowing;
      }
    }
    if (spec.has_frame && (spec.start.kind == FK::kUnboundedFollowing ||
                           spec.end.kind == FK::kUnboundedPreceding)) {
      return ErrorAt(spec.loc,
                     "a frame cannot start at UNBOUNDED FOLLOWING or end at "
                     "UNBOUNDED PRECEDING");
    }
    for (const auto& p : spec.partition_by) {
      ARROW_ASSIGN_OR_RAISE(auto b, column_of(*p));
      call.partition.push_back(*b.expr.field_ref()->name());
    }
    for (const auto& o : spec.order_by) {
      ARROW_ASSIGN_OR_RAISE(auto b, column_of(*o.expr));
      bool nulls_first = o.nulls_first.value_or(false);  // DuckDB: NULLS LAST
      call.order.emplace_back(
          *b.expr.field_ref()->name(),
          o.descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending,
          nulls_first ? cp::NullPlacement::AtStart : cp::NullPlacement::AtEnd);
      if (range_offset) {
        const auto id = b.type->id();
        if (spec.order_by.size() != 1 ||
            !(arrow::is_integer(id) || arrow::is_floating(id) || arrow::is_decimal(id))) {
          return ErrorAt(spec.loc,
                         "a RANGE frame with an offset needs one numeric ORDER BY key");
        }
      }
    }
    if (range_offset && spec.order_by.empty()) {
      return ErrorAt(spec.loc,
                     "a RANGE frame with an offset needs one numeric ORDER BY key");
    }
    std::string fn = e->name;
    size_t nargs = e->args.size();
    bool star = nargs == 1 && e->args[0]->kind == sql::ExprKind::kStar;
    auto arity = [&](size_t lo, size_t hi) -> Status {
      if (nargs < lo || nargs > hi) {
        return ErrorAt(e->loc, fn + "() takes " + std::to_string(lo) +
                                   (hi > lo ? " to " + std::to_string(hi) : "") +
                                   " arguments, got " + std::to_string(nargs));
      }
      return Status::OK();
    };
    auto constant_int = [&](size_t i) -> Result<int64_t> {
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*e->args[i], rel.scope, agg));
      const auto* lit = b.expr.literal();
      if (!lit || !lit->is_scalar() || !arrow::is_integer(b.type->id()) ||
          !lit->scalar()->is_valid) {
        return ErrorAt(e->args[i]->loc, fn + "() argument " + std::to_string(i + 1) +
                                            " must be a constant integer");
      }
      ARROW_ASSIGN_OR_RAISE(auto v, lit->scalar()->CastTo(arrow::int64()));
      return static_cast<const arrow::Int64Scalar&>(*v).value;
    };
    auto value_arg = [&]() -> Result<Bound> {
      ARROW_ASSIGN_OR_RAISE(auto b, column_of(*e->args[0]));
      call.args.push_back(*b.expr.field_ref()->name());
      return b;
    };
    if (fn == "row_number" || fn == "rank" || fn == "dense_rank") {
      ARROW_RETURN_NOT_OK(arity(0, 0));
      call.type = arrow::int64();
    } else if (fn == "percent_rank" || fn == "cume_dist") {
      ARROW_RETURN_NOT_OK(arity(0, 0));
      call.type = arrow::float64();
    } else if (fn == "ntile") {
      ARROW_RETURN_NOT_OK(arity(1, 1));
      ARROW_ASSIGN_OR_RAISE(call.offset, constant_int(0));
      if (call.offset <= 0)
        return ErrorAt(e->loc, "ntile() needs a positive bucket count");
      call.type = arrow::int64();
    } else if (fn == "lag" || fn == "lead") {
      ARROW_RETURN_NOT_OK(arity(1, 3));
      ARROW_ASSIGN_OR_RAISE(auto v, value_arg());
      call.type = v.type;
      if (nargs >= 2) {
        ARROW_ASSIGN_OR_RAISE(call.offset, constant_int(1));
      }
      if (nargs == 3) {
        ARROW_ASSIGN_OR_RAISE(auto d, BindExpr(*e->args[2], rel.scope, agg));
        ARROW_ASSIGN_OR_RAISE(d, CastTo(d, v.type, rel.scope, e->args[2]->loc));
        const auto* lit = d.expr.literal();
        if (!lit || !lit->is_scalar()) {
          return ErrorAt(e->args[2]->loc, fn + "() default must be a constant");
        }
        call.default_value = lit->scalar();
      }
    } else if (fn == "first_value" || fn == "last_value" || fn == "nth_value" ||
               fn == "first" || fn == "last") {
      ARROW_RETURN_NOT_OK(fn == "nth_value" ? arity(2, 2) : arity(1, 1));
      if (fn == "first" || fn == "last") fn += "_value";
      ARROW_ASSIGN_OR_RAISE(auto v, value_arg());
      call.type = v.type;
      if (fn == "nth_value") {
        ARROW_ASSIGN_OR_RAISE(call.offset, constant_int(1));
        if (call.offset <= 0) return ErrorAt(e->loc, "nth_value() needs a positive n");
      }
    } else if (fn == "count" && (star || nargs == 0)) {
      fn = "count_star";
      call.type = arrow::int64();
    } else if (fn == "count" || fn == "sum" || fn == "avg" || fn == "mean" ||
               fn == "min" || fn == "max") {
      ARROW_RETURN_NOT_OK(arity(1, 1));
      if (fn == "mean") fn = "avg";
      ARROW_ASSIGN_OR_RAISE(auto v, value_arg());
      bool numeric = arrow::is_integer(v.type->id()) ||
                     arrow::is_floating(v.type->id()) || arrow::is_decimal(v.type->id());
      if ((fn == "sum" || fn == "avg") && !numeric) {
        return ErrorAt(e->loc, fn + "() needs a number, got " + ArrowTypeToSql(*v.type));
      }
      if (fn == "count") {
        call.type = arrow::int64();
      } else if (fn == "avg" || (fn == "sum" && arrow::is_floating(v.type->id()))) {
        call.type = arrow::float64();
      } else if (fn == "sum") {
        int32_t scale = arrow::is_decimal(v.type->id())
                            ? static_cast<const arrow::DecimalType&>(*v.type).scale()
                            : 0;
        call.type = arrow::decimal128(38, scale);
      } else {
        call.type = v.type;
      }
    } else if (fn == "stddev" || fn == "stddev_samp" || fn == "stddev_pop" ||
               fn == "variance" || fn == "var_samp" || fn == "var_pop" ||
               fn == "bool_and" || fn == "bool_or") {
      // Finished from the list of the frame's values, as the collected ones below.
      ARROW_RETURN_NOT_OK(arity(1, 1));
      ARROW_ASSIGN_OR_RAISE(auto v, BindExpr(*e->args[0], rel.scope, agg));
      bool logical = fn.rfind("bool_", 0) == 0;
      ARROW_ASSIGN_OR_RAISE(v, CastTo(v, logical ? arrow::boolean() : arrow::float64(),
                                      rel.scope, e->args[0]->loc));
      std::string name = NewName(text);
      pre->exprs.push_back(v.expr);
      pre_fields.push_back(arrow::field(name, v.type));
      call.args.push_back(name);
      std::string kernel = fn == "stddev"     ? "stddev_samp"
                           : fn == "variance" ? "var_samp"
                                              : fn;
      call.finish = cp::call("list_" + kernel, {cp::field_ref("list")});
      call.type = logical ? arrow::boolean() : arrow::float64();
      fn = "collect";
    } else {
      // median(x) OVER (...), string_agg, quantiles, ...: finished from the list of
      // the frame's values.
      ARROW_ASSIGN_OR_RAISE(auto collected, BindCollected(*e, rel.scope));
      if (!collected) {
        return ErrorAt(e->loc, "not supported: " + fn + "() as a window function");
      }
      std::string name = NewName(text);
      pre->exprs.push_back(collected->element.expr);
      pre_fields.push_back(arrow::field(name, collected->element.type));
      call.args.push_back(name);
      call.finish = collected->finish(cp::field_ref("list"));
      call.type = collected->type;
      fn = "collect";
    }
    call.function = fn;
    call.output = NewName(text);
    done[text] = call.output;
    outputs.push_back({"", text, call.output, call.type, /*hidden=*/true});
    window->windows.push_back(std::move(call));
  }
  pre->schema = arrow::schema(pre_fields);
  arrow::FieldVector fields = pre_fields;
  for (const auto& w : window->windows) fields.push_back(arrow::field(w.output, w.type));
  window->schema = arrow::schema(fields);
  rel.plan = window;
  rel.scope.columns.insert(rel.scope.columns.end(), outputs.begin(), outputs.end());
  for (const auto& [text, output] : done) window_columns_[text] = output;
  return rel;
}

}  // namespace flowsql::plan
