// Aggregates computed from their group's collected values: `collect` gathers what
// each row contributes, and a scalar function over the list finishes the value
// (aggregates.h). DuckDB's semantics, argument forms and result types.
#include <arrow/builder.h>
#include <arrow/compute/api.h>

#include <cstdio>
#include <set>

#include "plan/aggregates.h"
#include "plan/binder.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
using arrow::Type;

namespace {

// Other names DuckDB accepts for the same aggregate.
std::string Canonical(const std::string& fn) {
  static const std::map<std::string, std::string> aliases = {
      {"group_concat", "string_agg"},
      {"listagg", "string_agg"},
      {"array_agg", "list"},
      {"argmin", "arg_min"},
      {"min_by", "arg_min"},
      {"argmax", "arg_max"},
      {"max_by", "arg_max"},
      {"quantile", "quantile_disc"},
      {"percentile_cont", "quantile_cont"},
      {"percentile_disc", "quantile_disc"}};
  auto it = aliases.find(fn);
  return it == aliases.end() ? fn : it->second;
}

const std::set<std::string>& Statistics() {
  static const std::set<std::string> names = {
      "corr",           "covar_pop", "covar_samp", "regr_slope",
      "regr_intercept", "regr_r2",   "regr_count", "regr_avgx",
      "regr_avgy",      "regr_sxx",  "regr_syy",   "regr_sxy"};
  return names;
}

bool IsNumber(const arrow::DataType& t) {
  return arrow::is_integer(t.id()) || arrow::is_floating(t.id()) ||
         arrow::is_decimal(t.id()) || t.id() == Type::NA;
}

cp::Expression MakeStruct(std::vector<cp::Expression> fields,
                          std::vector<std::string> names) {
  return cp::call("make_struct", std::move(fields),
                  cp::MakeStructOptions(std::move(names)));
}

}  // namespace

bool IsCollectedAggregate(const std::string& name) {
  static const std::set<std::string> names = {"string_agg",    "list",          "median",
                                              "quantile_cont", "quantile_disc", "mode",
                                              "arg_min",       "arg_max"};
  std::string fn = Canonical(name);
  return names.count(fn) > 0 || Statistics().count(fn) > 0;
}

Result<std::optional<Binder::Collected>> Binder::BindCollected(const sql::Expr& call,
                                                               const Scope& scope) {
  const std::string fn = Canonical(call.name);
  if (!IsCollectedAggregate(fn)) return std::nullopt;
  std::vector<sql::ExprPtr> args = call.args;
  std::vector<sql::OrderItem> order = call.order_by;
  bool descending = false;
  if (call.within_group) {
    // percentile_cont(q) WITHIN GROUP (ORDER BY x) is quantile_cont(x, q).
    if (fn != "quantile_cont" && fn != "quantile_disc" && fn != "mode") {
      return ErrorAt(call.loc,
                     "WITHIN GROUP is only for percentile_cont, "
                     "percentile_disc and mode, not " +
                         call.name + "()");
    }
    if (order.size() != 1) {
      return ErrorAt(call.loc, call.name + "() WITHIN GROUP orders by one expression");
    }
    args.insert(args.begin(), order[0].expr);
    descending = order[0].descending;
    order.clear();
  }
  auto arity = [&](size_t lo, size_t hi) -> Status {
    if (args.size() >= lo && args.size() <= hi) return Status::OK();
    std::string want =
        lo == hi ? std::to_string(lo) : std::to_string(lo) + " or " + std::to_string(hi);
    return ErrorAt(call.loc, call.name + "() takes " + want +
                                 (hi == 1 ? " argument" : " arguments"));
  };
  if (!order.empty() && fn != "list" && fn != "string_agg") order.clear();  // no effect
  if (fn == "string_agg") {
    ARROW_RETURN_NOT_OK(arity(1, 2));
  } else if (fn == "list" || fn == "median" || fn == "mode") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
  } else {
    ARROW_RETURN_NOT_OK(arity(2, 2));
  }
  std::vector<Bound> bound;
  for (const auto& a : args) {
    ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*a, scope, nullptr));
    bound.push_back(std::move(b));
  }
  auto constant = [&](size_t i) -> Result<std::shared_ptr<arrow::Scalar>> {
    const auto* lit = bound[i].expr.literal();
    if (lit == nullptr || !lit->is_scalar()) {
      return ErrorAt(args[i]->loc, call.name + "(): argument " + std::to_string(i + 1) +
                                       " must be a constant");
    }
    return lit->scalar();
  };
  bool distinct = call.distinct;
  if (distinct && fn != "list" && fn != "string_agg" && fn != "median" &&
      fn != "quantile_cont" && fn != "quantile_disc" && fn != "mode") {
    return ErrorAt(call.loc, "not supported: DISTINCT in " + call.name + "()");
  }
  // DISTINCT: each row's list keeps the first of equal values (after any ORDER BY).
  auto dedupe = [distinct](cp::Expression list) {
    return distinct ? cp::call("list_distinct", {list}) : list;
  };
  Collected out;
  Bound value = bound[0];
  if (value.type->id() == Type::NA) {
    value = Bound{cp::literal(arrow::MakeNullScalar(arrow::int32())), arrow::int32()};
  }

  if (fn == "list" || fn == "string_agg") {
    std::string sep = ",";
    bool sep_null = false;
    if (fn == "string_agg") {
      if (!IsStringType(*value.type)) {
        ARROW_ASSIGN_OR_RAISE(value, CastTo(value, arrow::utf8(), scope, args[0]->loc));
      }
      if (bound.size() == 2) {
        ARROW_ASSIGN_OR_RAISE(auto s, constant(1));
        if (!IsStringType(*s->type) && s->type->id() != Type::NA) {
          return ErrorAt(args[1]->loc, call.name + "(): the separator must be a string");
        }
        sep_null = !s->is_valid;
        if (s->is_valid) sep = s->ToString();
      }
    }
    out.element = value;
    out.type = fn == "list" ? arrow::list(value.type) : arrow::utf8();
    std::string spec;
    if (!order.empty()) {
      // The element carries its sort keys; list_sort_by orders and drops them.
      std::vector<cp::Expression> fields = {value.expr};
      std::vector<std::string> names = {"v"};
      arrow::FieldVector struct_fields = {arrow::field("v", value.type)};
      for (const auto& o : order) {
        ARROW_ASSIGN_OR_RAISE(auto k, BindExpr(*o.expr, scope, nullptr));
        names.push_back("k" + std::to_string(names.size()));
        fields.push_back(k.expr);
        struct_fields.push_back(arrow::field(names.back(), k.type));
        spec += o.descending ? 'd' : 'a';
        spec += o.nulls_first.value_or(false) ? 'f' : 'l';
      }
      out.element = {MakeStruct(std::move(fields), std::move(names)),
                     arrow::struct_(struct_fields)};
    }
    bool is_list = fn == "list";
    auto separator =
        sep_null ? arrow::MakeNullScalar(arrow::utf8()) : arrow::MakeScalar(sep);
    out.finish = [spec, separator, is_list, dedupe](cp::Expression list) {
      if (!spec.empty()) list = cp::call("list_sort_by", {list, cp::literal(spec)});
      list = dedupe(list);
      if (is_list) return list;
      return cp::call("list_string_agg", {list, cp::literal(separator)});
    };
    return out;
  }

  if (fn == "median" || fn == "quantile_cont" || fn == "quantile_disc") {
    // q: one fraction, or a list of them (then the result is a list). The kernel
    // takes their exact decimal text, as DuckDB picks discrete positions exactly.
    std::vector<std::string> qs = {"0.5"};
    bool many = false;
    if (fn != "median") {
      ARROW_ASSIGN_OR_RAISE(auto q, constant(1));
      std::vector<std::shared_ptr<arrow::Scalar>> items = {q};
      many = q->type->id() == Type::LIST;
      if (many) {
        const auto& l = static_cast<const arrow::ListScalar&>(*q);
        items.clear();
        for (int64_t i = 0; i < l.value->length(); ++i) {
          ARROW_ASSIGN_OR_RAISE(auto item, l.value->GetScalar(i));
          items.push_back(item);
        }
      }
      qs.clear();
      for (const auto& item : items) {
        auto d = cp::Cast(arrow::Datum(item), arrow::float64());
        double v = d.ok() && d->scalar()->is_valid
                       ? static_cast<const arrow::DoubleScalar&>(*d->scalar()).value
                       : -1;
        if (!(v >= 0 && v <= 1)) {
          return ErrorAt(args[1]->loc, call.name +
                                           "(): the quantile must be between 0 "
                                           "and 1, got " +
                                           item->ToString());
        }
        // ORDER BY x DESC counts from the top: -q (DuckDB's own encoding).
        std::string text;
        if (item->type->id() == Type::DECIMAL128) {
          const auto& dec = static_cast<const arrow::Decimal128Scalar&>(*item);
          text = dec.value.ToString(
              static_cast<const arrow::DecimalType&>(*item->type).scale());
        } else {
          char buffer[32];
          std::snprintf(buffer, sizeof(buffer), "%.17g", v);
          text = buffer;
        }
        qs.push_back(descending ? "-" + text : text);
      }
    }
    std::shared_ptr<arrow::Scalar> q = arrow::MakeScalar(qs[0]);
    if (many) {
      arrow::StringBuilder b;
      ARROW_RETURN_NOT_OK(b.AppendValues(qs));
      ARROW_ASSIGN_OR_RAISE(auto values, b.Finish());
      q = std::make_shared<arrow::ListScalar>(values);
    }
    bool discrete = fn == "quantile_disc";
    if (fn == "median" && QuantileContType(*value.type) == nullptr) discrete = true;
    if (!discrete && QuantileContType(*value.type) == nullptr) {
      return ErrorAt(args[0]->loc, call.name +
                                       "() needs a number, date or timestamp, got " +
                                       ArrowTypeToSql(*value.type));
    }
    auto one = discrete ? value.type : QuantileContType(*value.type);
    out.element = value;
    out.type = many ? arrow::list(one) : one;
    std::string kernel = discrete ? "list_quantile_disc" : "list_quantile_cont";
    out.finish = [kernel, q, dedupe](cp::Expression list) {
      return cp::call(kernel, {dedupe(list), cp::literal(q)});
    };
    return out;
  }

  if (fn == "mode") {
    out.element = value;
    out.type = value.type;
    out.finish = [dedupe](cp::Expression list) {
      return cp::call("list_mode", {dedupe(list)});
    };
    return out;
  }

  if (fn == "arg_min" || fn == "arg_max") {
    Bound by = bound[1];
    if (by.type->id() == Type::NA) {
      by = Bound{cp::literal(arrow::MakeNullScalar(arrow::int32())), arrow::int32()};
    }
    out.element = {
        MakeStruct({value.expr, by.expr}, {"arg", "val"}),
        arrow::struct_({arrow::field("arg", value.type), arrow::field("val", by.type)})};
    out.type = value.type;
    std::string kernel = "list_" + fn;
    out.finish = [kernel](cp::Expression list) { return cp::call(kernel, {list}); };
    return out;
  }

  // corr(y, x), covar_*(y, x), regr_*(y, x): the pairs as doubles.
  std::vector<cp::Expression> pair;
  for (size_t i = 0; i < 2; ++i) {
    if (!IsNumber(*bound[i].type)) {
      return ErrorAt(args[i]->loc, call.name + "() needs numbers, got " +
                                       ArrowTypeToSql(*bound[i].type));
    }
    ARROW_ASSIGN_OR_RAISE(auto d,
                          CastTo(bound[i], arrow::float64(), scope, args[i]->loc));
    pair.push_back(d.expr);
  }
  out.element = {MakeStruct(std::move(pair), {"y", "x"}),
                 arrow::struct_({arrow::field("y", arrow::float64()),
                                 arrow::field("x", arrow::float64())})};
  out.type = fn == "regr_count" ? arrow::uint32() : arrow::float64();
  std::string kernel = "list_" + fn;
  out.finish = [kernel](cp::Expression list) { return cp::call(kernel, {list}); };
  return out;
}

}  // namespace flowsql::plan
