// Scalar functions: SQL names (DuckDB / PostgreSQL) mapped onto Arrow compute.
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include "common/temporal.h"
#include "plan/binder.h"

namespace flowsql::plan {

bool IsAggregateFunction(const std::string& name);

namespace cp = arrow::compute;
using arrow::Type;

namespace {

bool IsString(const arrow::DataType& t) { return IsStringType(t); }

// A constant argument's value, for functions whose Arrow kernels take options.
Result<std::shared_ptr<arrow::Scalar>> ConstArg(const Binder::Bound& b,
                                                const std::string& function, int index,
                                                const sql::Location& loc) {
  const auto* lit = b.expr.literal();
  if (lit == nullptr || !lit->is_scalar()) {
    return ErrorAt(loc, function + "(): argument " + std::to_string(index + 1) +
                            " must be a constant");
  }
  return lit->scalar();
}

Result<int64_t> ConstInt(const Binder::Bound& b, const std::string& function, int index,
                         const sql::Location& loc) {
  ARROW_ASSIGN_OR_RAISE(auto s, ConstArg(b, function, index, loc));
  auto cast = s->CastTo(arrow::int64());
  if (!cast.ok() || !(*cast)->is_valid) {
    return ErrorAt(loc, function + "(): argument " + std::to_string(index + 1) +
                            " must be an integer");
  }
  return std::static_pointer_cast<arrow::Int64Scalar>(*cast)->value;
}

Result<std::string> ConstString(const Binder::Bound& b, const std::string& function,
                                int index, const sql::Location& loc) {
  ARROW_ASSIGN_OR_RAISE(auto s, ConstArg(b, function, index, loc));
  if (!IsString(*s->type) || !s->is_valid) {
    return ErrorAt(loc, function + "(): argument " + std::to_string(index + 1) +
                            " must be a string");
  }
  return std::static_pointer_cast<arrow::StringScalar>(s)->ToString();
}

Result<cp::CalendarUnit> ParseUnit(const std::string& text, const sql::Location& loc) {
  std::string u = AsciiLower(text);
  if (u == "year" || u == "years") return cp::CalendarUnit::YEAR;
  if (u == "quarter") return cp::CalendarUnit::QUARTER;
  if (u == "month" || u == "months") return cp::CalendarUnit::MONTH;
  if (u == "week" || u == "weeks") return cp::CalendarUnit::WEEK;
  if (u == "day" || u == "days") return cp::CalendarUnit::DAY;
  if (u == "hour" || u == "hours") return cp::CalendarUnit::HOUR;
  if (u == "minute" || u == "minutes") return cp::CalendarUnit::MINUTE;
  if (u == "second" || u == "seconds") return cp::CalendarUnit::SECOND;
  if (u == "millisecond" || u == "milliseconds") return cp::CalendarUnit::MILLISECOND;
  return ErrorAt(loc, "unknown date part '" + text + "'");
}

}  // namespace

Result<Binder::Bound> Binder::BindFunction(const sql::Expr& e, const Scope& scope,
                                           AggContext* agg) {
  const std::string& name = e.name;
  if (IsAggregateFunction(name)) {
    return ErrorAt(e.loc, agg ? "aggregate function calls cannot be nested"
                              : "aggregate function " + name + "() is not allowed here");
  }
  if (e.filter) {
    return ErrorAt(
        e.filter->loc,
        "FILTER (WHERE ...) is only for aggregate functions, not " + name + "()");
  }
  std::vector<Bound> args;
  for (const auto& a : e.args) {
    ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*a, scope, agg));
    args.push_back(std::move(b));
  }
  // Fields, truncation and formatting of an instant are its wall clock in the
  // session's zone.
  static const std::set<std::string> kWallClock = {
      "year",      "month",    "day",       "dayofmonth", "hour",       "minute",
      "second",    "quarter",  "dayofyear", "week",       "weekofyear", "dayofweek",
      "dow",       "isodow",   "extract",   "date_part",  "datepart",   "date_trunc",
      "datetrunc", "last_day", "date_diff", "datediff"};
  if (kWallClock.count(name)) {
    for (auto& a : args) {
      ARROW_ASSIGN_OR_RAISE(a, InSessionZone(std::move(a), scope, e.loc));
    }
  }
  auto arity = [&](size_t lo, size_t hi) -> Status {
    if (args.size() < lo || args.size() > hi) {
      std::string want = lo == hi ? std::to_string(lo)
                                  : std::to_string(lo) + " to " + std::to_string(hi);
      return ErrorAt(e.loc, name + "() takes " + want + " argument" +
                                (hi == 1 ? "" : "s") + ", got " +
                                std::to_string(args.size()));
    }
    return Status::OK();
  };
  auto call = [&](const std::string& fn, std::vector<Bound> a,
                  std::shared_ptr<cp::FunctionOptions> opts = nullptr) {
    return Call(fn, std::move(a), scope, e.loc, std::move(opts));
  };
  auto as_string = [&](Bound b) -> Result<Bound> {
    if (IsString(*b.type)) return b;
    return CastTo(b, arrow::utf8(), scope, e.loc);
  };
  auto as_double = [&](Bound b) -> Result<Bound> {
    return CastTo(b, arrow::float64(), scope, e.loc);
  };
  auto as_timestamp = [&](Bound b) -> Result<Bound> {
    if (b.type->id() == Type::TIMESTAMP) return b;
    return CastTo(b, arrow::timestamp(arrow::TimeUnit::MICRO), scope, e.loc);
  };
  auto lit = [](std::shared_ptr<arrow::Scalar> s) {
    auto t = s->type;
    return Bound{cp::literal(std::move(s)), t};
  };
  // Seconds since 1970 as a DOUBLE, whatever the timestamp's unit.
  auto epoch_seconds = [&](Bound value) -> Result<Bound> {
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(value));
    auto unit = static_cast<const arrow::TimestampType&>(*ts.type).unit();
    double per_second = unit == arrow::TimeUnit::SECOND  ? 1.0
                        : unit == arrow::TimeUnit::MILLI ? 1e3
                        : unit == arrow::TimeUnit::MICRO ? 1e6
                                                         : 1e9;
    ARROW_ASSIGN_OR_RAISE(auto ticks, CastTo(ts, arrow::int64(), scope, e.loc));
    // Nanoseconds since 1970 exceed 2^53: the DOUBLE is rounded, as in DuckDB.
    ARROW_ASSIGN_OR_RAISE(ticks, call("cast", {ticks},
                                      std::make_shared<cp::CastOptions>(
                                          cp::CastOptions::Unsafe(arrow::float64()))));
    return call("divide",
                {ticks, lit(std::make_shared<arrow::DoubleScalar>(per_second))});
  };

  // length of a list: its number of elements.
  if ((name == "len" || name == "length" || name == "array_length") && args.size() == 1 &&
      (args[0].type->id() == Type::LIST || args[0].type->id() == Type::LARGE_LIST)) {
    ARROW_ASSIGN_OR_RAISE(auto n, call("list_value_length", {args[0]}));
    return CastTo(n, arrow::int64(), scope, e.loc);
  }

  // Unary functions that map one to one.
  static const std::map<std::string, std::string> kUnary = {
      {"lower", "utf8_lower"},
      {"lcase", "utf8_lower"},
      {"upper", "utf8_upper"},
      {"ucase", "utf8_upper"},
      {"length", "utf8_length"},
      {"len", "utf8_length"},
      {"char_length", "utf8_length"},
      {"character_length", "utf8_length"},
      {"reverse", "utf8_reverse"},
      {"md5", "utf8_md5"},
      {"sha256", "utf8_sha256"},
      {"abs", "abs"},
      {"sign", "sign"},
      {"year", "year"},
      {"month", "month"},
      {"day", "day"},
      {"dayofmonth", "day"},
      {"hour", "hour"},
      {"minute", "minute"},
      {"second", "second"},
      {"quarter", "quarter"},
      {"dayofyear", "day_of_year"},
      {"week", "iso_week"},
      {"weekofyear", "iso_week"},
      {"isnan", "is_nan"},
      {"isinf", "is_inf"},
      {"isfinite", "is_finite"}};
  static const std::map<std::string, std::string> kUnaryDouble = {
      {"sqrt", "sqrt"}, {"exp", "exp"},   {"ln", "ln"},     {"log10", "log10"},
      {"log2", "log2"}, {"sin", "sin"},   {"cos", "cos"},   {"tan", "tan"},
      {"asin", "asin"}, {"acos", "acos"}, {"atan", "atan"}, {"cbrt", "cbrt"}};

  if (auto it = kUnary.find(name); it != kUnary.end()) {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    if (it->second.rfind("utf8_", 0) == 0) {
      ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    }
    ARROW_ASSIGN_OR_RAISE(auto r, call(it->second, args));
    if (it->second == "utf8_length" || it->second == "year" || it->second == "month" ||
        it->second == "day" || it->second == "hour" || it->second == "minute" ||
        it->second == "second" || it->second == "quarter" ||
        it->second == "day_of_year" || it->second == "iso_week") {
      return CastTo(r, arrow::int64(), scope, e.loc);
    }
    return r;
  }
  if (auto it = kUnaryDouble.find(name); it != kUnaryDouble.end()) {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    ARROW_ASSIGN_OR_RAISE(args[0], as_double(args[0]));
    return call(it->second, args);
  }
  if (name == "log") {
    ARROW_RETURN_NOT_OK(arity(1, 2));
    if (args.size() == 1) {
      ARROW_ASSIGN_OR_RAISE(args[0], as_double(args[0]));
      return call("log10", args);
    }
    ARROW_ASSIGN_OR_RAISE(args[0], as_double(args[0]));
    ARROW_ASSIGN_OR_RAISE(args[1], as_double(args[1]));
    return call("logb", {args[1], args[0]});
  }
  if (name == "floor" || name == "ceil" || name == "ceiling" || name == "trunc") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    if (arrow::is_integer(args[0].type->id())) return args[0];
    if (arrow::is_decimal(args[0].type->id())) {
      // DuckDB: floor(DECIMAL(p,s)) is DECIMAL(p,0); one more digit while rounding
      // (ceil(9.5) is 10).
      int32_t p = static_cast<const arrow::DecimalType&>(*args[0].type).precision();
      ARROW_ASSIGN_OR_RAISE(args[0], RoomToRound(args[0], scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(auto r, call(name == "ceiling" ? "ceil" : name, args));
      return CastTo(r, arrow::decimal128(p, 0), scope, e.loc);
    }
    return call(name == "ceiling" ? "ceil" : name, args);
  }
  if (name == "round") {
    ARROW_RETURN_NOT_OK(arity(1, 2));
    int64_t digits = 0;
    // Digits beyond a double's range change nothing (Arrow's kernels would spend
    // their time on them): clamp to [-400, 400].
    constexpr int64_t kMaxDigits = 400;
    if (args.size() == 2 && !args[1].expr.literal()) {
      ARROW_ASSIGN_OR_RAISE(args[1], CastTo(args[1], arrow::int32(), scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(
          args[1],
          call("max_element_wise",
               {args[1], lit(std::make_shared<arrow::Int32Scalar>(-kMaxDigits))}));
      ARROW_ASSIGN_OR_RAISE(
          args[1],
          call("min_element_wise",
               {args[1], lit(std::make_shared<arrow::Int32Scalar>(kMaxDigits))}));
      return call(
          "round_binary", args,
          std::make_shared<cp::RoundBinaryOptions>(cp::RoundMode::HALF_TOWARDS_INFINITY));
    }
    if (args.size() == 2) {
      ARROW_ASSIGN_OR_RAISE(digits, ConstInt(args[1], name, 1, e.loc));
      digits = std::clamp(digits, -kMaxDigits, kMaxDigits);
    }
    if (arrow::is_integer(args[0].type->id()) && digits >= 0) return args[0];
    std::shared_ptr<arrow::DataType> integer_type;
    if (arrow::is_integer(args[0].type->id())) {
      // Rounded as a DECIMAL(p, 0), then back to the integer type (checked).
      integer_type = args[0].type;
      ARROW_ASSIGN_OR_RAISE(args[0],
                            CastTo(args[0], arrow::decimal128(20, 0), scope, e.loc));
    }
    if (arrow::is_decimal(args[0].type->id())) {
      // DuckDB: round(DECIMAL(p,s), n) is DECIMAL(p, clamp(n, 0, s)), half away
      // from zero; the cast to the smaller scale rounds.
      const auto& d = static_cast<const arrow::DecimalType&>(*args[0].type);
      if (digits >= d.scale()) return args[0];
      if (digits >= 0) {
        return CastTo(args[0],
                      arrow::decimal128(d.precision(), static_cast<int32_t>(digits)),
                      scope, e.loc);
      }
      auto target = integer_type ? integer_type : arrow::decimal128(d.precision(), 0);
      Bound r;
      if (digits < -(d.precision() - d.scale())) {
        // Below the value's first digit: every value rounds to 0 (NULL stays NULL).
        ARROW_ASSIGN_OR_RAISE(
            r, call("multiply",
                    {args[0], lit(std::make_shared<arrow::Decimal128Scalar>(
                                  arrow::Decimal128(0), arrow::decimal128(1, 0)))}));
      } else {
        ARROW_ASSIGN_OR_RAISE(Bound room, RoomToRound(args[0], scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(r, call("round", {room},
                                      std::make_shared<cp::RoundOptions>(
                                          digits, cp::RoundMode::HALF_TOWARDS_INFINITY)));
      }
      return CastTo(r, target, scope, e.loc);
    }
    if (digits > 300) return args[0];  // past a double's precision: no change
    if (digits < -308) {
      // Below a double's first digit: 0 (NULL stays NULL, NaN NaN).
      return call("multiply", {args[0], lit(std::make_shared<arrow::DoubleScalar>(0.0))});
    }
    return call(
        "round", {args[0]},
        std::make_shared<cp::RoundOptions>(digits, cp::RoundMode::HALF_TOWARDS_INFINITY));
  }
  if (name == "power" || name == "pow") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(args[0], as_double(args[0]));
    ARROW_ASSIGN_OR_RAISE(args[1], as_double(args[1]));
    return call("power", args);
  }
  if (name == "mod") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    return call("remainder", args);
  }
  if (name == "pi") {
    ARROW_RETURN_NOT_OK(arity(0, 0));
    return lit(std::make_shared<arrow::DoubleScalar>(3.14159265358979323846));
  }
  if (name == "random") {
    ARROW_RETURN_NOT_OK(arity(0, 0));
    return call("random", {}, std::make_shared<cp::RandomOptions>());
  }
  if (name == "greatest" || name == "least") {
    if (args.empty()) return ErrorAt(e.loc, name + "() needs arguments");
    std::vector<std::shared_ptr<arrow::DataType>> types;
    for (auto& a : args) types.push_back(a.type);
    auto common = CommonTypeOf(types);
    for (auto& a : args) {
      ARROW_ASSIGN_OR_RAISE(a, CastTo(a, common, scope, e.loc));
    }
    return call(name == "greatest" ? "max_element_wise" : "min_element_wise", args);
  }
  if (name == "coalesce" || name == "ifnull") {
    if (args.empty()) return ErrorAt(e.loc, name + "() needs arguments");
    std::vector<std::shared_ptr<arrow::DataType>> types;
    for (auto& a : args) types.push_back(a.type);
    auto common = CommonTypeOf(types);
    if (common->id() == Type::NA) return args[0];
    for (auto& a : args) {
      if (a.type->id() == Type::NA) {
        a = lit(arrow::MakeNullScalar(common));
      } else {
        ARROW_ASSIGN_OR_RAISE(a, CastTo(a, common, scope, e.loc));
      }
    }
    if (args.size() == 1) return args[0];
    return call("coalesce", args);
  }
  if (name == "nullif") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    // nullif(NULL, x) is NULL; nullif(x, NULL) is x (nothing equals NULL).
    if (args[0].type->id() == Type::NA) return args[0];
    if (args[1].type->id() == Type::NA) return args[0];
    if (args[1].expr.literal() && !args[1].type->Equals(*args[0].type)) {
      ARROW_ASSIGN_OR_RAISE(args[1], CastTo(args[1], args[0].type, scope, e.loc));
    }
    ARROW_ASSIGN_OR_RAISE(auto eq, call("equal", {args[0], args[1]}));
    ARROW_ASSIGN_OR_RAISE(
        auto cond,
        call("coalesce", {eq, lit(std::make_shared<arrow::BooleanScalar>(false))}));
    return call("if_else", {cond, lit(arrow::MakeNullScalar(args[0].type)), args[0]});
  }
  // Strings.
  if (name == "concat" || name == "concat_ws") {
    // NULL values are skipped (a bare NULL is dropped here: Arrow's join fails on
    // an all-NULL row); concat_ws with a NULL separator is NULL.
    const bool ws = name == "concat_ws";
    if (args.size() < (ws ? 2u : 1u)) {
      return ErrorAt(e.loc, ws ? "concat_ws() needs a separator and values"
                               : "concat() needs arguments");
    }
    Bound sep = ws ? args[0] : lit(std::make_shared<arrow::StringScalar>(""));
    if (sep.type->id() == Type::NA) return lit(arrow::MakeNullScalar(arrow::utf8()));
    ARROW_ASSIGN_OR_RAISE(sep, as_string(sep));
    std::vector<Bound> parts;
    for (size_t i = ws ? 1 : 0; i < args.size(); ++i) {
      if (args[i].type->id() == Type::NA) continue;
      ARROW_ASSIGN_OR_RAISE(auto part, as_string(args[i]));
      parts.push_back(std::move(part));
    }
    if (parts.empty()) return lit(std::make_shared<arrow::StringScalar>(""));
    parts.push_back(sep);
    return call("binary_join_element_wise", parts,
                std::make_shared<cp::JoinOptions>(cp::JoinOptions::SKIP));
  }
  if (name == "substr" || name == "substring") {
    ARROW_RETURN_NOT_OK(arity(2, 3));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(int64_t start, ConstInt(args[1], name, 1, e.loc));
    constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
    // 1-based; 0 is just before the first character; a negative start counts
    // from the end (DuckDB): substr('hello', -3) is 'llo'.
    int64_t begin = start > 0 ? start - 1 : (start < 0 ? start : 0);
    int64_t stop = kEnd;
    if (args.size() == 3) {
      ARROW_ASSIGN_OR_RAISE(int64_t len, ConstInt(args[2], name, 2, e.loc));
      if (start > 0) {
        stop = std::max<int64_t>(begin, begin + len);
      } else if (start == 0) {
        stop = std::max<int64_t>(0, len - 1);
      } else {
        stop = start + len >= 0 ? kEnd : start + len;
        if (len <= 0) stop = begin;
      }
    }
    return call("utf8_slice_codeunits", {args[0]},
                std::make_shared<cp::SliceOptions>(begin, stop));
  }
  if (name == "left" || name == "right") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(int64_t n, ConstInt(args[1], name, 1, e.loc));
    auto opts = name == "left" ? std::make_shared<cp::SliceOptions>(0, n)
                               : std::make_shared<cp::SliceOptions>(
                                     -n, std::numeric_limits<int64_t>::max());
    if (name == "right" && n == 0) opts = std::make_shared<cp::SliceOptions>(0, 0);
    return call("utf8_slice_codeunits", {args[0]}, opts);
  }
  if (name == "trim" || name == "ltrim" || name == "rtrim" || name == "btrim") {
    ARROW_RETURN_NOT_OK(arity(1, 2));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    std::string base = name == "btrim" ? "trim" : name;
    if (args.size() == 1) return call("utf8_" + base + "_whitespace", {args[0]});
    ARROW_ASSIGN_OR_RAISE(auto chars, ConstString(args[1], name, 1, e.loc));
    return call("utf8_" + base, {args[0]}, std::make_shared<cp::TrimOptions>(chars));
  }
  if (name == "replace") {
    ARROW_RETURN_NOT_OK(arity(3, 3));
    for (const auto& a : args) {
      if (a.type->id() == Type::NA) return lit(arrow::MakeNullScalar(arrow::utf8()));
    }
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(auto from, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto to, ConstString(args[2], name, 2, e.loc));
    if (from.empty()) return args[0];  // nothing to replace (Arrow would never stop)
    return call("replace_substring", {args[0]},
                std::make_shared<cp::ReplaceSubstringOptions>(from, to));
  }
  if (name == "regexp_replace") {
    ARROW_RETURN_NOT_OK(arity(3, 4));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(auto from, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto to, ConstString(args[2], name, 2, e.loc));
    int64_t max = 1;
    if (args.size() == 4) {
      ARROW_ASSIGN_OR_RAISE(auto flags, ConstString(args[3], name, 3, e.loc));
      if (flags.find('g') != std::string::npos) max = -1;
    }
    // Arrow uses RE2's \1 for groups; DuckDB too.
    return call("replace_substring_regex", {args[0]},
                std::make_shared<cp::ReplaceSubstringOptions>(from, to, max));
  }
  if (name == "starts_with" || name == "ends_with" || name == "contains" ||
      name == "regexp_matches" || name == "prefix" || name == "suffix") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(auto pattern, ConstString(args[1], name, 1, e.loc));
    std::string fn = name == "prefix"           ? "starts_with"
                     : name == "suffix"         ? "ends_with"
                     : name == "contains"       ? "match_substring"
                     : name == "regexp_matches" ? "match_substring_regex"
                                                : name;
    return call(fn, {args[0]}, std::make_shared<cp::MatchSubstringOptions>(pattern));
  }
  if (name == "strpos" || name == "position" || name == "instr") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    // POSITION(needle IN haystack); strpos and instr take (haystack, needle).
    if (name == "position") std::swap(args[0], args[1]);
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(auto pattern, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto idx,
                          call("find_substring", {args[0]},
                               std::make_shared<cp::MatchSubstringOptions>(pattern)));
    ARROW_ASSIGN_OR_RAISE(idx, CastTo(idx, arrow::int64(), scope, e.loc));
    return call("add", {idx, lit(std::make_shared<arrow::Int64Scalar>(1))});
  }
  if (name == "split_part") {
    ARROW_RETURN_NOT_OK(arity(3, 3));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(auto sep, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(int64_t index, ConstInt(args[2], name, 2, e.loc));
    ARROW_ASSIGN_OR_RAISE(
        auto parts,
        call("split_pattern", {args[0]}, std::make_shared<cp::SplitPatternOptions>(sep)));
    // Counted from 1, from the end when negative; '' outside (and for 0), as DuckDB.
    ARROW_ASSIGN_OR_RAISE(
        auto part,
        call("list_get", {parts, lit(std::make_shared<arrow::Int64Scalar>(index))}));
    ARROW_ASSIGN_OR_RAISE(auto missing, call("is_null", {part}));
    ARROW_ASSIGN_OR_RAISE(auto input_null, call("is_null", {args[0]}));
    ARROW_ASSIGN_OR_RAISE(missing, call("and_not", {missing, input_null}));
    return call("if_else",
                {missing, lit(std::make_shared<arrow::StringScalar>("")), part});
  }
  if (name == "lpad" || name == "rpad") {
    ARROW_RETURN_NOT_OK(arity(2, 3));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(int64_t width, ConstInt(args[1], name, 1, e.loc));
    std::string pad = " ";
    if (args.size() == 3) {
      ARROW_ASSIGN_OR_RAISE(pad, ConstString(args[2], name, 2, e.loc));
    }
    if (pad.empty()) return ErrorAt(e.loc, name + "(): the padding must not be empty");
    width = std::max<int64_t>(width, 0);
    if (width > (1 << 20)) {
      return ErrorAt(e.loc, name + "(): a width of at most 1048576 characters, got " +
                                std::to_string(width));
    }
    // DuckDB: a string at least `width` long is cut to its first `width`
    // characters; a shorter one is padded with the pattern repeated (any length).
    std::string fill;
    while (static_cast<int64_t>(fill.size()) < width * 4 && fill.size() < (1 << 20))
      fill += pad;
    auto slice = [&](const Bound& v, int64_t begin, int64_t stop) {
      return call("utf8_slice_codeunits", {v},
                  std::make_shared<cp::SliceOptions>(begin, stop));
    };
    auto join = [&](const Bound& a, const Bound& b) {
      return call("binary_join_element_wise",
                  {a, b, lit(std::make_shared<arrow::StringScalar>(""))});
    };
    const Bound filler = lit(std::make_shared<arrow::StringScalar>(fill));
    ARROW_ASSIGN_OR_RAISE(auto cut, slice(args[0], 0, width));
    Bound padded;
    ARROW_ASSIGN_OR_RAISE(auto length, call("utf8_length", {args[0]}));
    if (name == "lpad") {
      // The pad is the first (width - length) characters of the repeated pattern
      // (DuckDB: lpad('Paris', 8, '*-') = '*-*Paris'). The last k characters of a
      // repetition L long are its first k when L = k (mod p), p the pattern's
      // length: pick, per row, the fill whose length fits, then keep the last
      // `width` characters of fill || s.
      std::vector<std::string> pattern;  // code points
      for (size_t i = 0; i < pad.size();) {
        size_t n = 1;
        while (i + n < pad.size() &&
               (static_cast<unsigned char>(pad[i + n]) & 0xC0) == 0x80) {
          ++n;
        }
        pattern.push_back(pad.substr(i, n));
        i += n;
      }
      int64_t period = static_cast<int64_t>(pattern.size());
      if (period > 64) return ErrorAt(e.loc, name + "(): the padding is longer than 64");
      std::vector<Bound> choices;
      for (int64_t r = 0; r < period; ++r) {
        int64_t total = width;
        while (total % period != r) ++total;
        std::string text;
        for (int64_t k = 0; k < total; ++k) text += pattern[k % period];
        choices.push_back(lit(std::make_shared<arrow::StringScalar>(text)));
      }
      ARROW_ASSIGN_OR_RAISE(
          auto missing,
          call("subtract", {lit(std::make_shared<arrow::Int64Scalar>(width)), length}));
      ARROW_ASSIGN_OR_RAISE(
          missing, call("max_element_wise",
                        {missing, lit(std::make_shared<arrow::Int64Scalar>(0))}));
      ARROW_ASSIGN_OR_RAISE(
          auto which, call("remainder",
                           {missing, lit(std::make_shared<arrow::Int64Scalar>(period))}));
      std::vector<Bound> choose_args = {which};
      choose_args.insert(choose_args.end(), choices.begin(), choices.end());
      ARROW_ASSIGN_OR_RAISE(auto fill_for_row, call("choose", choose_args));
      ARROW_ASSIGN_OR_RAISE(auto joined, join(fill_for_row, args[0]));
      ARROW_ASSIGN_OR_RAISE(
          padded, width == 0
                      ? slice(joined, 0, 0)
                      : slice(joined, -width, std::numeric_limits<int64_t>::max()));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto joined, join(args[0], filler));
      ARROW_ASSIGN_OR_RAISE(padded, slice(joined, 0, width));
    }
    ARROW_ASSIGN_OR_RAISE(
        auto long_enough,
        call("greater_equal",
             {length, lit(std::make_shared<arrow::Int64Scalar>(width))}));
    return call("if_else", {long_enough, cut, padded});
  }
  if (name == "repeat") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(args[1], CastTo(args[1], arrow::int64(), scope, e.loc));
    // A negative count repeats nothing, as in DuckDB.
    ARROW_ASSIGN_OR_RAISE(args[1],
                          call("max_element_wise",
                               {args[1], lit(std::make_shared<arrow::Int64Scalar>(0))}));
    return call("binary_repeat", args);
  }
  // Dates and times.
  if (name == "current_date" || name == "today") {
    auto now = std::chrono::system_clock::now();
    int32_t days = static_cast<int32_t>(
        std::chrono::duration_cast<std::chrono::hours>(now.time_since_epoch()).count() /
        24);
    return lit(std::make_shared<arrow::Date32Scalar>(days));
  }
  if (name == "now" || name == "current_timestamp" || name == "get_current_timestamp") {
    auto now = std::chrono::system_clock::now();
    int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch())
            .count();
    return lit(std::make_shared<arrow::TimestampScalar>(
        us, arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")));
  }
  if (name == "timezone") {
    // timezone(zone, x) = x AT TIME ZONE zone: an instant becomes the wall-clock
    // time in `zone`; a wall-clock time (or date) in `zone` becomes an instant.
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto zone, ConstString(args[0], name, 0, e.loc));
    if (auto st = CheckTimeZone(zone); !st.ok())
      return ErrorAt(e.args[0]->loc, st.message());
    Bound value = args[1];
    if (value.type->id() == Type::TIMESTAMP &&
        !static_cast<const arrow::TimestampType&>(*value.type).timezone().empty()) {
      const auto unit = static_cast<const arrow::TimestampType&>(*value.type).unit();
      ARROW_ASSIGN_OR_RAISE(
          value, call("cast", {value},
                      std::make_shared<cp::CastOptions>(
                          cp::CastOptions::Safe(arrow::timestamp(unit, zone)))));
      ARROW_ASSIGN_OR_RAISE(value, call("local_timestamp", {value}));
      value.type = arrow::timestamp(unit);
      return value;
    }
    if (value.type->id() != Type::DATE32 && value.type->id() != Type::TIMESTAMP) {
      return ErrorAt(e.loc, "AT TIME ZONE needs a TIMESTAMP, TIMESTAMPTZ or DATE, got " +
                                ArrowTypeToSql(*value.type));
    }
    ARROW_ASSIGN_OR_RAISE(value, as_timestamp(value));
    const auto unit = static_cast<const arrow::TimestampType&>(*value.type).unit();
    ARROW_ASSIGN_OR_RAISE(value,
                          call("assume_timezone", {value},
                               std::make_shared<cp::AssumeTimezoneOptions>(
                                   zone, cp::AssumeTimezoneOptions::AMBIGUOUS_LATEST,
                                   cp::AssumeTimezoneOptions::NONEXISTENT_EARLIEST)));
    return call("cast", {value},
                std::make_shared<cp::CastOptions>(
                    cp::CastOptions::Safe(arrow::timestamp(unit, "UTC"))));
  }
  if (name == "current_setting") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    ARROW_ASSIGN_OR_RAISE(auto setting, ConstString(args[0], name, 0, e.loc));
    auto value = GetSetting(settings_ ? *settings_ : DefaultSettings(), setting);
    if (!value.ok()) return ErrorAt(e.args[0]->loc, value.status().message());
    return lit(arrow::MakeScalar(*value));
  }
  if (name == "dayofweek" || name == "dow" || name == "isodow") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    bool iso = name == "isodow";
    ARROW_ASSIGN_OR_RAISE(
        auto r, call("day_of_week", args,
                     std::make_shared<cp::DayOfWeekOptions>(!iso, iso ? 1 : 7)));
    return CastTo(r, arrow::int64(), scope, e.loc);
  }
  if (name == "extract" || name == "date_part" || name == "datepart") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto part, ConstString(args[0], name, 0, e.loc));
    part = AsciiLower(part);
    static const std::map<std::string, std::string> kParts = {
        {"year", "year"},
        {"years", "year"},
        {"month", "month"},
        {"day", "day"},
        {"hour", "hour"},
        {"minute", "minute"},
        {"second", "second"},
        {"quarter", "quarter"},
        {"doy", "day_of_year"},
        {"dayofyear", "day_of_year"},
        {"week", "iso_week"},
        {"isoyear", "iso_year"},
        {"millisecond", "millisecond"},
        {"microsecond", "microsecond"}};
    if (part == "dow" || part == "dayofweek" || part == "isodow") {
      bool iso = part == "isodow";
      ARROW_ASSIGN_OR_RAISE(
          auto r, call("day_of_week", {args[1]},
                       std::make_shared<cp::DayOfWeekOptions>(!iso, iso ? 1 : 7)));
      return CastTo(r, arrow::int64(), scope, e.loc);
    }
    if (part == "epoch") return epoch_seconds(args[1]);
    if (part == "millisecond" || part == "milliseconds" || part == "ms" ||
        part == "microsecond" || part == "microseconds" || part == "us") {
      // DuckDB counts the seconds too: 01.25 s is 1250 ms, 1250000 us.
      bool milli = part == "ms" || part.rfind("milli", 0) == 0;
      std::vector<std::pair<std::string, int64_t>> fields =
          milli ? std::vector<std::pair<std::string, int64_t>>{{"second", 1000},
                                                               {"millisecond", 1}}
                : std::vector<std::pair<std::string, int64_t>>{
                      {"second", 1000000}, {"millisecond", 1000}, {"microsecond", 1}};
      Bound total = lit(std::make_shared<arrow::Int64Scalar>(0));
      for (const auto& [field, scale] : fields) {
        ARROW_ASSIGN_OR_RAISE(auto v, call(field, {args[1]}));
        ARROW_ASSIGN_OR_RAISE(v, CastTo(v, arrow::int64(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(
            v, call("multiply", {v, lit(std::make_shared<arrow::Int64Scalar>(scale))}));
        ARROW_ASSIGN_OR_RAISE(total, call("add", {total, v}));
      }
      return total;
    }
    auto it = kParts.find(part);
    if (it == kParts.end()) return ErrorAt(e.loc, "unknown date part '" + part + "'");
    ARROW_ASSIGN_OR_RAISE(auto r, call(it->second, {args[1]}));
    return CastTo(r, arrow::int64(), scope, e.loc);
  }
  if (name == "date_trunc" || name == "datetrunc") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto part, ConstString(args[0], name, 0, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto unit, ParseUnit(part, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(args[1]));
    cp::RoundTemporalOptions opts(1, unit);
    opts.week_starts_monday = true;
    ARROW_ASSIGN_OR_RAISE(auto r, call("floor_temporal", {ts},
                                       std::make_shared<cp::RoundTemporalOptions>(opts)));
    // DuckDB's date_trunc of a TIMESTAMP_NS is a TIMESTAMP (microseconds).
    const auto& t = static_cast<const arrow::TimestampType&>(*r.type);
    if (t.unit() == arrow::TimeUnit::NANO) {
      return CastTo(r, arrow::timestamp(arrow::TimeUnit::MICRO, t.timezone()), scope,
                    e.loc);
    }
    return r;
  }
  if (name == "strftime") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto fmt, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(args[0]));
    if (!static_cast<const arrow::TimestampType&>(*ts.type).timezone().empty()) {
      // An instant is formatted as its wall clock in the session's zone.
      ARROW_ASSIGN_OR_RAISE(
          ts, CastTo(ts,
                     arrow::timestamp(
                         static_cast<const arrow::TimestampType&>(*ts.type).unit()),
                     scope, e.loc));
    }
    // Arrow prints fractional seconds for %S below second precision; DuckDB does not.
    auto opts = cp::CastOptions::Unsafe(arrow::timestamp(arrow::TimeUnit::SECOND));
    ARROW_ASSIGN_OR_RAISE(ts,
                          call("cast", {ts}, std::make_shared<cp::CastOptions>(opts)));
    return call("strftime", {ts}, std::make_shared<cp::StrftimeOptions>(fmt, "C"));
  }
  if (name == "strptime") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto fmt, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    return call("strptime", {args[0]},
                std::make_shared<cp::StrptimeOptions>(fmt, arrow::TimeUnit::MICRO, true));
  }
  if (name == "date_add") {
    // date_add(d, INTERVAL ...) is d + INTERVAL ... (DuckDB's date_sub is a
    // difference, like date_diff).
    ARROW_RETURN_NOT_OK(arity(2, 2));
    if (args[1].type->id() == Type::INTERVAL_MONTH_DAY_NANO) {
      return AddInterval(args[0], args[1], /*subtract=*/false, scope, e.loc);
    }
    if (args[1].type->id() == Type::DURATION) {
      ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(args[0]));
      return call("add_checked", {ts, args[1]});
    }
    return ErrorAt(e.loc, name + "() needs an INTERVAL as its second argument");
  }
  if (name == "list_extract" || name == "list_element" || name == "array_extract") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    if (args[0].type->id() != Type::LIST) {
      if (IsString(*args[0].type)) {  // 'abc'[2]: a character, as in DuckDB
        ARROW_ASSIGN_OR_RAISE(auto i, ConstInt(args[1], name, 1, e.loc));
        if (i == 0) return lit(std::make_shared<arrow::StringScalar>(""));
        int64_t start = i > 0 ? i - 1 : i;
        return call(
            "utf8_slice_codeunits", {args[0]},
            std::make_shared<cp::SliceOptions>(
                start, start == -1 ? std::numeric_limits<int64_t>::max() : start + 1));
      }
      return ErrorAt(e.loc, "[] needs a list, got " + ArrowTypeToSql(*args[0].type));
    }
    ARROW_ASSIGN_OR_RAISE(args[1], CastTo(args[1], arrow::int64(), scope, e.loc));
    return call("list_get", args);
  }
  if (name == "to_json") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    return call("to_json", args);
  }
  if (name == "json_object") {
    // json_object('k1', v1, 'k2', v2, ...): to_json of the struct of the values.
    if (args.size() % 2 != 0) {
      return ErrorAt(e.loc, "json_object() takes pairs of a key and a value");
    }
    std::vector<cp::Expression> fields;
    std::vector<std::string> names;
    arrow::FieldVector struct_fields;
    for (size_t i = 0; i < args.size(); i += 2) {
      const sql::Expr& key = *e.args[i];
      if (key.kind != sql::ExprKind::kLiteral ||
          key.lit_kind != sql::LiteralKind::kString) {
        return ErrorAt(key.loc, "json_object(): a key must be constant text");
      }
      fields.push_back(args[i + 1].expr);
      names.push_back(key.text);
      struct_fields.push_back(arrow::field(key.text, args[i + 1].type));
    }
    Bound object{cp::call("make_struct", fields, cp::MakeStructOptions(names)),
                 arrow::struct_(struct_fields)};
    return call("to_json", {object});
  }
  if (name == "struct_pack" || name == "row") {
    // struct_pack(a := x, b := y); row(x, y) names its fields v1, v2, ...
    if (args.empty()) return ErrorAt(e.loc, name + "() needs arguments");
    std::vector<cp::Expression> fields;
    std::vector<std::string> names;
    arrow::FieldVector struct_fields;
    for (size_t i = 0; i < args.size(); ++i) {
      std::string field = i < e.arg_names.size() ? e.arg_names[i] : "";
      if (field.empty()) {
        if (name == "struct_pack") {
          return ErrorAt(e.args[i]->loc, "struct_pack(): argument " +
                                             std::to_string(i + 1) +
                                             " needs a name (name := value)");
        }
        field = "v" + std::to_string(i + 1);
      }
      for (const auto& n : names) {
        if (EqualsIgnoreCase(n, field)) {
          return ErrorAt(e.args[i]->loc,
                         name + "(): the field '" + field + "' is named twice");
        }
      }
      Bound v = args[i];
      if (v.type->id() == Type::NA) {
        v = lit(arrow::MakeNullScalar(arrow::int32()));
      }
      fields.push_back(v.expr);
      names.push_back(field);
      struct_fields.push_back(arrow::field(field, v.type));
    }
    return Bound{cp::call("make_struct", fields, cp::MakeStructOptions(names)),
                 arrow::struct_(struct_fields)};
  }
  if (name == "list_value" || name == "list_pack") {
    // DuckDB's [a, b, c]: a constant when every item is one.
    std::vector<std::shared_ptr<arrow::DataType>> types;
    bool constant = true;
    for (const auto& a : args) {
      constant = constant && a.expr.literal() != nullptr;
      types.push_back(a.type);
    }
    auto type = CommonTypeOf(types);
    if (type->id() == Type::NA) type = arrow::int32();
    if (!constant) {
      for (auto& a : args) {
        ARROW_ASSIGN_OR_RAISE(a, CastTo(a, type, scope, e.loc));
      }
      return call("make_list", args);
    }
    std::unique_ptr<arrow::ArrayBuilder> builder;
    ARROW_RETURN_NOT_OK(arrow::MakeBuilder(arrow::default_memory_pool(), type, &builder));
    for (auto& a : args) {
      ARROW_ASSIGN_OR_RAISE(auto v, CastTo(a, type, scope, e.loc));
      ARROW_RETURN_NOT_OK(builder->AppendScalar(*v.expr.literal()->scalar()));
    }
    ARROW_ASSIGN_OR_RAISE(auto values, builder->Finish());
    return lit(std::make_shared<arrow::ListScalar>(values));
  }
  if (name == "json_extract" || name == "json_extract_string" ||
      name == "json_extract_path" || name == "json_extract_path_text") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    return JsonExtract(args[0], *e.args[1],
                       name == "json_extract_string" || name == "json_extract_path_text",
                       scope, e.loc);
  }
  if (name == "json_array_length" || name == "json_keys") {
    ARROW_RETURN_NOT_OK(arity(1, 2));
    std::string path = "$";
    if (args.size() == 2) {
      ARROW_ASSIGN_OR_RAISE(path, ConstString(args[1], name, 1, e.loc));
    }
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    return call(name, {args[0], lit(std::make_shared<arrow::StringScalar>(path))});
  }
  if (name == "string_split" || name == "str_split" || name == "string_to_array") {
    ARROW_RETURN_NOT_OK(arity(2, 2));
    ARROW_ASSIGN_OR_RAISE(auto sep, ConstString(args[1], name, 1, e.loc));
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    return call("split_pattern", {args[0]},
                std::make_shared<cp::SplitPatternOptions>(sep));
  }
  if (name == "regexp_extract") {
    // Group g (default 0, the whole match) of the first match, '' when none.
    ARROW_RETURN_NOT_OK(arity(2, 3));
    ARROW_ASSIGN_OR_RAISE(auto pattern, ConstString(args[1], name, 1, e.loc));
    int64_t group = 0;
    if (args.size() == 3) {
      ARROW_ASSIGN_OR_RAISE(group, ConstInt(args[2], name, 2, e.loc));
    }
    // Arrow extracts named groups only: name the pattern's own groups g1, g2, ...
    std::string named;
    int groups = 0;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      char c = pattern[i];
      if (c == '\\' && i + 1 < pattern.size()) {
        named += c;
        named += pattern[++i];
        continue;
      }
      if (in_class) {
        in_class = c != ']';
      } else if (c == '[') {
        in_class = true;
      } else if (c == '(' && (i + 1 >= pattern.size() || pattern[i + 1] != '?')) {
        named += "(?P<g" + std::to_string(++groups) + ">";
        continue;
      }
      named += c;
    }
    if (group < 0 || group > groups) {
      return ErrorAt(
          e.loc, "regexp_extract(): the pattern has no group " + std::to_string(group));
    }
    ARROW_ASSIGN_OR_RAISE(args[0], as_string(args[0]));
    ARROW_ASSIGN_OR_RAISE(
        auto found,
        call("extract_regex", {args[0]},
             std::make_shared<cp::ExtractRegexOptions>("(?P<m>" + named + ")")));
    ARROW_ASSIGN_OR_RAISE(auto match,
                          call("struct_field", {found},
                               std::make_shared<cp::StructFieldOptions>(
                                   std::vector<int>{static_cast<int>(group)})));
    ARROW_ASSIGN_OR_RAISE(auto is_null, call("is_null", {match}));
    ARROW_ASSIGN_OR_RAISE(auto input_null, call("is_null", {args[0]}));
    ARROW_ASSIGN_OR_RAISE(auto no_match, call("and_not", {is_null, input_null}));
    return call("if_else",
                {no_match, lit(std::make_shared<arrow::StringScalar>("")), match});
  }
  if (name == "format" || name == "printf") {
    // A constant pattern: '{}' (format) or %s/%d/%i (printf) take the arguments in
    // order, as text; '{{', '}}' and '%%' are literal.
    if (args.empty()) return ErrorAt(e.loc, name + "() needs a format string");
    ARROW_ASSIGN_OR_RAISE(auto fmt, ConstString(args[0], name, 0, e.loc));
    std::vector<Bound> parts;
    std::string text;
    size_t next = 1;
    for (size_t i = 0; i < fmt.size(); ++i) {
      bool placeholder = false;
      if (name == "format" && fmt.compare(i, 2, "{}") == 0) {
        placeholder = true;
        ++i;
      } else if (name == "format" &&
                 (fmt.compare(i, 2, "{{") == 0 || fmt.compare(i, 2, "}}") == 0)) {
        text += fmt[i++];
        continue;
      } else if (name == "printf" && fmt[i] == '%' && i + 1 < fmt.size()) {
        char c = fmt[++i];
        if (c == '%') {
          text += '%';
          continue;
        }
        if (c != 's' && c != 'd' && c != 'i') {
          return ErrorAt(e.loc, "not supported: printf() conversion %" +
                                    std::string(1, c) + " (only %s, %d, %i)");
        }
        placeholder = true;
      }
      if (!placeholder) {
        text += fmt[i];
        continue;
      }
      if (next >= args.size()) {
        return ErrorAt(e.loc, name + "(): more placeholders than arguments");
      }
      parts.push_back(lit(std::make_shared<arrow::StringScalar>(text)));
      text.clear();
      ARROW_ASSIGN_OR_RAISE(auto arg, as_string(args[next++]));
      parts.push_back(arg);
    }
    parts.push_back(lit(std::make_shared<arrow::StringScalar>(text)));
    parts.push_back(lit(std::make_shared<arrow::StringScalar>("")));  // the separator
    return call("binary_join_element_wise", parts);
  }
  if (name == "make_date") {
    ARROW_RETURN_NOT_OK(arity(3, 3));
    // 'YYYY-MM-DD' then a checked cast: an invalid date is an error, as in DuckDB.
    std::vector<Bound> parts;
    for (int i = 0; i < 3; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto v, CastTo(args[i], arrow::int64(), scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(v, as_string(v));
      ARROW_ASSIGN_OR_RAISE(
          v,
          call("utf8_lpad", {v}, std::make_shared<cp::PadOptions>(i == 0 ? 4 : 2, "0")));
      parts.push_back(v);
      if (i < 2) parts.push_back(lit(std::make_shared<arrow::StringScalar>("-")));
    }
    parts.push_back(lit(std::make_shared<arrow::StringScalar>("")));
    ARROW_ASSIGN_OR_RAISE(auto text, call("binary_join_element_wise", parts));
    return CastTo(text, arrow::date32(), scope, e.loc);
  }
  if (name == "make_timestamp") {
    ARROW_RETURN_NOT_OK(arity(6, 6));
    sql::Expr date = e;
    date.name = "make_date";
    date.args.resize(3);
    ARROW_ASSIGN_OR_RAISE(auto day, BindFunction(date, scope, agg));
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(day));
    ARROW_ASSIGN_OR_RAISE(auto micros, CastTo(ts, arrow::int64(), scope, e.loc));
    const double kScale[] = {3600e6, 60e6, 1e6};
    for (int i = 0; i < 3; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto v, as_double(args[3 + i]));
      ARROW_ASSIGN_OR_RAISE(
          v,
          call("multiply", {v, lit(std::make_shared<arrow::DoubleScalar>(kScale[i]))}));
      ARROW_ASSIGN_OR_RAISE(v, call("round", {v}));
      ARROW_ASSIGN_OR_RAISE(v, CastTo(v, arrow::int64(), scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(micros, call("add_checked", {micros, v}));
    }
    return CastTo(micros, arrow::timestamp(arrow::TimeUnit::MICRO), scope, e.loc);
  }
  if (name == "last_day") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(args[0]));
    cp::RoundTemporalOptions month(1, cp::CalendarUnit::MONTH);
    ARROW_ASSIGN_OR_RAISE(
        auto first,
        call("floor_temporal", {ts}, std::make_shared<cp::RoundTemporalOptions>(month)));
    ARROW_ASSIGN_OR_RAISE(first, CastTo(first, arrow::date32(), scope, e.loc));
    ARROW_ASSIGN_OR_RAISE(
        auto next,
        call("add_months", {first, lit(std::make_shared<arrow::Int32Scalar>(1))}));
    ARROW_ASSIGN_OR_RAISE(auto days, CastTo(next, arrow::int32(), scope, e.loc));
    ARROW_ASSIGN_OR_RAISE(
        days,
        call("subtract_checked", {days, lit(std::make_shared<arrow::Int32Scalar>(1))}));
    return CastTo(days, arrow::date32(), scope, e.loc);
  }
  if (name == "epoch_ms" || name == "epoch_us" || name == "epoch_ns") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    auto unit = name == "epoch_ms"   ? arrow::TimeUnit::MILLI
                : name == "epoch_us" ? arrow::TimeUnit::MICRO
                                     : arrow::TimeUnit::NANO;
    if (arrow::is_integer(args[0].type->id())) {  // epoch_ms(1700000000000): a timestamp
      ARROW_ASSIGN_OR_RAISE(auto v, CastTo(args[0], arrow::int64(), scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(v, CastTo(v, arrow::timestamp(unit), scope, e.loc));
      if (unit == arrow::TimeUnit::NANO) return v;
      return CastTo(v, arrow::timestamp(arrow::TimeUnit::MICRO), scope, e.loc);
    }
    ARROW_ASSIGN_OR_RAISE(auto ts, as_timestamp(args[0]));
    if (unit == arrow::TimeUnit::MILLI) {
      // DuckDB floors microseconds to milliseconds (epoch_ms of 1969-12-31
      // 23:59:58.123456 is -1877), after truncating nanoseconds to microseconds.
      if (static_cast<const arrow::TimestampType&>(*ts.type).unit() ==
          arrow::TimeUnit::NANO) {
        ARROW_ASSIGN_OR_RAISE(
            ts, call("cast", {ts},
                     std::make_shared<cp::CastOptions>(cp::CastOptions::Unsafe(
                         arrow::timestamp(arrow::TimeUnit::MICRO)))));
      }
      ARROW_ASSIGN_OR_RAISE(ts, call("floor_temporal", {ts},
                                     std::make_shared<cp::RoundTemporalOptions>(
                                         1, cp::CalendarUnit::MILLISECOND)));
    }
    auto options = cp::CastOptions::Unsafe(arrow::timestamp(unit));  // now exact
    ARROW_ASSIGN_OR_RAISE(ts,
                          call("cast", {ts}, std::make_shared<cp::CastOptions>(options)));
    return CastTo(ts, arrow::int64(), scope, e.loc);
  }
  if (name == "to_timestamp") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    ARROW_ASSIGN_OR_RAISE(auto secs, as_double(args[0]));
    ARROW_ASSIGN_OR_RAISE(
        auto us,
        call("multiply", {secs, lit(std::make_shared<arrow::DoubleScalar>(1e6))}));
    ARROW_ASSIGN_OR_RAISE(us, CastTo(us, arrow::int64(), scope, e.loc));
    return CastTo(us, arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), scope, e.loc);
  }
  if (name == "epoch") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    return epoch_seconds(args[0]);
  }
  if (name == "date_diff" || name == "datediff") {
    ARROW_RETURN_NOT_OK(arity(3, 3));
    ARROW_ASSIGN_OR_RAISE(auto part, ConstString(args[0], name, 0, e.loc));
    static const std::map<std::string, std::string> kBetween = {
        {"year", "years_between"},
        {"quarter", "quarters_between"},
        {"month", "month_interval_between"},
        {"week", "weeks_between"},
        {"day", "days_between"},
        {"hour", "hours_between"},
        {"minute", "minutes_between"},
        {"second", "seconds_between"}};
    auto it = kBetween.find(AsciiLower(part));
    if (it == kBetween.end()) return ErrorAt(e.loc, "unknown date part '" + part + "'");
    if (!args[1].type->Equals(*args[2].type)) {  // a date and a timestamp, two units
      auto common = CommonTypeOf({args[1].type, args[2].type});
      for (int i = 1; i <= 2; ++i) {
        ARROW_ASSIGN_OR_RAISE(args[i], CastTo(args[i], common, scope, e.loc));
      }
    }
    if (it->first == "month") {
      // The month boundaries crossed: (year * 12 + month) of b minus that of a.
      Bound months[2];
      for (int i = 0; i < 2; ++i) {
        ARROW_ASSIGN_OR_RAISE(auto y, call("year", {args[i + 1]}));
        ARROW_ASSIGN_OR_RAISE(auto m, call("month", {args[i + 1]}));
        ARROW_ASSIGN_OR_RAISE(y, CastTo(y, arrow::int64(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(m, CastTo(m, arrow::int64(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(
            y, call("multiply", {y, lit(std::make_shared<arrow::Int64Scalar>(12))}));
        ARROW_ASSIGN_OR_RAISE(months[i], call("add", {y, m}));
      }
      return call("subtract", {months[1], months[0]});
    }
    ARROW_ASSIGN_OR_RAISE(auto r, call(it->second, {args[1], args[2]}));
    return CastTo(r, arrow::int64(), scope, e.loc);
  }
  if (name == "typeof") {
    ARROW_RETURN_NOT_OK(arity(1, 1));
    return lit(std::make_shared<arrow::StringScalar>(ArrowTypeToSql(*args[0].type)));
  }
  if (name == "if" || name == "iff") {
    ARROW_RETURN_NOT_OK(arity(3, 3));
    std::vector<std::shared_ptr<arrow::DataType>> types = {args[1].type, args[2].type};
    auto common = CommonTypeOf(types);
    for (int i = 1; i <= 2; ++i) {
      if (args[i].type->id() == Type::NA) {
        args[i] = lit(arrow::MakeNullScalar(common));
      } else {
        ARROW_ASSIGN_OR_RAISE(args[i], CastTo(args[i], common, scope, e.loc));
      }
    }
    // A NULL condition takes the else branch, as in DuckDB.
    if (args[0].type->id() == Type::NA) return args[2];
    ARROW_ASSIGN_OR_RAISE(
        args[0],
        call("coalesce", {args[0], lit(std::make_shared<arrow::BooleanScalar>(false))}));
    return call("if_else", args);
  }
  return Status::KeyError("unknown function '", name, "' at ", e.loc.ToString());
}

}  // namespace flowsql::plan
