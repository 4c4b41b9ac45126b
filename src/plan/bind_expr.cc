// Expression binding: AST expressions to arrow::compute::Expression, with the
// implicit casts SQL users expect (DuckDB semantics where they differ).
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/numbers.h"
#include "plan/binder.h"
#include "plan/functions.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
using arrow::Type;

namespace {

bool IsInteger(const arrow::DataType& t) { return arrow::is_integer(t.id()); }
bool IsFloating(const arrow::DataType& t) { return arrow::is_floating(t.id()); }
bool IsNumeric(const arrow::DataType& t) {
  return IsInteger(t) || IsFloating(t) || arrow::is_decimal(t.id());
}
bool IsString(const arrow::DataType& t) { return IsStringType(t); }
bool IsTemporal(const arrow::DataType& t) {
  return t.id() == Type::DATE32 || t.id() == Type::DATE64 || t.id() == Type::TIMESTAMP;
}

const std::set<std::string>& AggregateNames() {
  static const std::set<std::string> names = {
      "count",    "sum",     "avg",         "mean",       "min",
      "max",      "stddev",  "stddev_samp", "stddev_pop", "variance",
      "var_samp", "var_pop", "any_value",   "first",      "arbitrary",
      "bool_and", "bool_or", "count_star",  "count_if",   "approx_count_distinct",
      "last"};
  return names;
}

std::shared_ptr<arrow::DataType> IntegerAsDecimal(const arrow::DataType& t);

/// DuckDB's common type of two integer types: the wider of the same signedness; a
/// signed and an unsigned meet in a signed type wide enough for both (an unsigned
/// BIGINT beside a signed type: DECIMAL(20,0), as DuckDB's HUGEINT).
std::shared_ptr<arrow::DataType> IntegerCommon(
    const std::shared_ptr<arrow::DataType>& a,
    const std::shared_ptr<arrow::DataType>& b) {
  auto width = [](const arrow::DataType& t) {
    return static_cast<const arrow::FixedWidthType&>(t).bit_width();
  };
  const bool sa = arrow::is_signed_integer(a->id());
  const bool sb = arrow::is_signed_integer(b->id());
  if (sa == sb) return width(*a) >= width(*b) ? a : b;
  const auto& sgn = sa ? a : b;
  const auto& uns = sa ? b : a;
  if (width(*sgn) > width(*uns)) return sgn;
  if (width(*uns) == 64) return arrow::decimal128(20, 0);  // DuckDB's HUGEINT
  switch (2 * width(*uns)) {
    case 16:
      return arrow::int16();
    case 32:
      return arrow::int32();
    default:
      return arrow::int64();
  }
}

/// A TIMESTAMPTZ: a timestamp with a time zone.
bool IsZoned(const arrow::DataType& t) {
  return t.id() == Type::TIMESTAMP &&
         !static_cast<const arrow::TimestampType&>(t).timezone().empty();
}

// The common type of values that meet in CASE, COALESCE, IN, UNION and join keys.
// Integers and decimals meet in a decimal holding both exactly (as in DuckDB).
std::shared_ptr<arrow::DataType> CommonType(
    const std::vector<std::shared_ptr<arrow::DataType>>& types) {
  std::shared_ptr<arrow::DataType> out;
  for (const auto& t : types) {
    if (t->id() == Type::NA) continue;
    if (!out) {
      out = t;
      continue;
    }
    if (out->Equals(*t)) continue;
    if (IsInteger(*out) && IsInteger(*t)) {
      out = IntegerCommon(out, t);
    } else if ((arrow::is_decimal(out->id()) || arrow::is_decimal(t->id())) &&
               !IsFloating(*out) && !IsFloating(*t) && IsNumeric(*out) && IsNumeric(*t)) {
      auto a = arrow::is_decimal(out->id()) ? out : IntegerAsDecimal(*out);
      auto b = arrow::is_decimal(t->id()) ? t : IntegerAsDecimal(*t);
      const auto& da = static_cast<const arrow::DecimalType&>(*a);
      const auto& db = static_cast<const arrow::DecimalType&>(*b);
      int scale = std::max(da.scale(), db.scale());
      int digits = std::max(da.precision() - da.scale(), db.precision() - db.scale());
      out = arrow::decimal128(std::min(38, digits + scale), scale);
    } else if (IsNumeric(*out) && IsNumeric(*t)) {
      out = arrow::float64();
    } else if (IsTemporal(*out) && IsTemporal(*t)) {
      // Timestamps meet in the finer unit; an instant and a wall-clock time meet
      // as instants (TIMESTAMPTZ); a date and a timestamp as a timestamp.
      auto unit = [](const arrow::DataType& x) {
        return x.id() == Type::TIMESTAMP
                   ? static_cast<const arrow::TimestampType&>(x).unit()
                   : arrow::TimeUnit::MICRO;
      };
      auto finest = std::max(std::max(unit(*out), unit(*t)), arrow::TimeUnit::MICRO);
      bool zoned = IsZoned(*out) || IsZoned(*t);
      out = zoned ? arrow::timestamp(finest, "UTC") : arrow::timestamp(finest);
    } else if (out->id() == Type::TIME64 && t->id() == Type::TIME64) {
      out = arrow::time64(std::max(static_cast<const arrow::Time64Type&>(*out).unit(),
                                   static_cast<const arrow::Time64Type&>(*t).unit()));
    } else {
      out = arrow::utf8();
    }
  }
  return out ? out : arrow::null();
}

}  // namespace

bool IsAggregateFunction(const std::string& name) {
  return AggregateNames().count(name) > 0 || IsCollectedAggregate(name);
}

std::shared_ptr<arrow::DataType> CommonTypeOf(
    const std::vector<std::shared_ptr<arrow::DataType>>& types) {
  return CommonType(types);
}

std::string ExprToString(const sql::Expr& e) {
  using K = sql::ExprKind;
  auto args = [&](size_t from = 0) {
    std::string out;
    for (size_t i = from; i < e.args.size(); ++i) {
      if (i > from) out += ", ";
      out += ExprToString(*e.args[i]);
    }
    return out;
  };
  switch (e.kind) {
    case K::kLiteral:
      switch (e.lit_kind) {
        case sql::LiteralKind::kNull:
          return "NULL";
        case sql::LiteralKind::kString:
          return "'" + e.text + "'";
        case sql::LiteralKind::kDate:
          return "DATE '" + e.text + "'";
        case sql::LiteralKind::kTimestamp:
          return "TIMESTAMP '" + e.text + "'";
        case sql::LiteralKind::kInterval:
          return "INTERVAL '" + e.text + "'";
        default:
          return e.text;
      }
    case K::kColumn:
      return e.table.empty() ? e.name : e.table + "." + e.name;
    case K::kStar:
      return e.table.empty() ? "*" : e.table + ".*";
    case K::kUnary:
      return e.op == "NOT" ? "(NOT " + ExprToString(*e.args[0]) + ")"
                           : "(" + e.op + ExprToString(*e.args[0]) + ")";
    case K::kBinary:
      return "(" + ExprToString(*e.args[0]) + " " + e.op + " " +
             ExprToString(*e.args[1]) + ")";
    case K::kFunction: {
      std::string order;
      for (size_t i = 0; i < e.order_by.size(); ++i) {
        const auto& o = e.order_by[i];
        order += (i ? ", " : " ORDER BY ") + ExprToString(*o.expr) +
                 (o.descending ? " DESC" : "") +
                 (o.nulls_first ? (*o.nulls_first ? " NULLS FIRST" : " NULLS LAST") : "");
      }
      std::string suffix =
          (e.within_group ? " WITHIN GROUP (" + order.substr(1) + ")" : "") +
          (e.filter ? " FILTER (WHERE " + ExprToString(*e.filter) + ")" : "") +
          (e.over ? " OVER " + WindowToString(*e.over) : "");
      if (e.name == "count" && e.args.size() == 1 && e.args[0]->kind == K::kStar) {
        return "count_star()" + suffix;
      }
      std::string list = args();
      if (!e.arg_names.empty()) {
        list.clear();
        for (size_t i = 0; i < e.args.size(); ++i) {
          list += (i ? ", " : "") +
                  (e.arg_names[i].empty() ? "" : e.arg_names[i] + " := ") +
                  ExprToString(*e.args[i]);
        }
      }
      return e.name + "(" + (e.distinct ? "DISTINCT " : "") + list +
             (e.within_group ? "" : order) + ")" + suffix;
    }
    case K::kCase: {
      std::string out = "CASE";
      size_t i = 0;
      if (e.has_operand) out += " " + ExprToString(*e.args[i++]);
      size_t end = e.args.size() - (e.has_else ? 1 : 0);
      for (; i < end; i += 2) {
        out +=
            " WHEN " + ExprToString(*e.args[i]) + " THEN " + ExprToString(*e.args[i + 1]);
      }
      if (e.has_else) out += " ELSE " + ExprToString(*e.args.back());
      return out + " END";
    }
    case K::kCast:
      return (e.try_cast ? "TRY_CAST(" : "CAST(") + ExprToString(*e.args[0]) + " AS " +
             e.type_name + ")";
    case K::kIn:
      return "(" + ExprToString(*e.args[0]) + (e.negated ? " NOT IN (" : " IN (") +
             (e.subquery ? "SELECT ... at " + e.loc.ToString() : args(1)) + "))";
    case K::kSubquery:
      return "(SELECT ... at " + e.subquery->loc.ToString() + ")";
    case K::kExists:
      return "EXISTS(SELECT ... at " + e.subquery->loc.ToString() + ")";
    case K::kBetween:
      return "(" + ExprToString(*e.args[0]) +
             (e.negated ? " NOT BETWEEN " : " BETWEEN ") + ExprToString(*e.args[1]) +
             " AND " + ExprToString(*e.args[2]) + ")";
    case K::kLike:
      return "(" + ExprToString(*e.args[0]) + (e.negated ? " NOT" : "") +
             (e.case_insensitive ? " ILIKE " : " LIKE ") + ExprToString(*e.args[1]) +
             (e.args.size() == 3 ? " ESCAPE " + ExprToString(*e.args[2]) : "") + ")";
    case K::kIsNull:
      return "(" + ExprToString(*e.args[0]) + (e.negated ? " IS NOT NULL)" : " IS NULL)");
    case K::kIsBool:
      return "(" + ExprToString(*e.args[0]) + (e.negated ? " IS NOT " : " IS ") + e.text +
             ")";
  }
  return "?";
}

namespace {

std::shared_ptr<arrow::Schema> ScopeSchema(const Binder::Scope& scope) {
  arrow::FieldVector fields;
  for (const auto& c : scope.columns) fields.push_back(arrow::field(c.internal, c.type));
  return arrow::schema(fields);
}

Result<Binder::Bound> TypeOf(cp::Expression expr, const Binder::Scope& scope,
                             const sql::Location& loc) {
  auto bound = expr.Bind(*ScopeSchema(scope));
  if (!bound.ok()) {
    std::string msg = bound.status().message();
    // Arrow says "Function 'add' has no kernel matching input types (string, int64)".
    return Status::TypeError(msg, " at ", loc.ToString());
  }
  return Binder::Bound{std::move(expr), bound->type()->GetSharedPtr()};
}

Binder::Bound Lit(std::shared_ptr<arrow::Scalar> scalar) {
  auto type = scalar->type;
  return {cp::literal(std::move(scalar)), type};
}

bool IsLiteral(const Binder::Bound& b) { return b.expr.literal() != nullptr; }

const std::map<std::string, std::string> kComparisons = {
    {"=", "equal"},       {"<>", "not_equal"}, {"<", "less"},
    {"<=", "less_equal"}, {">", "greater"},    {">=", "greater_equal"}};

/// Microseconds since midnight of 'HH:MM[:SS[.ffffff]]', or nothing.
std::optional<int64_t> ParseTimeOfDayMicros(const std::string& text) {
  int h = 0, m = 0, consumed = 0;
  double sec = 0;
  if (std::sscanf(text.c_str(), "%d:%d%n", &h, &m, &consumed) != 2) return std::nullopt;
  if (text[consumed] == ':') {
    int more = 0;
    if (std::sscanf(text.c_str() + consumed + 1, "%lf%n", &sec, &more) != 1) {
      return std::nullopt;
    }
    consumed += 1 + more;
  }
  if (consumed != static_cast<int>(text.size()) || h < 0 || h > 23 || m < 0 || m > 59 ||
      sec < 0 || sec >= 60) {
    return std::nullopt;
  }
  return (h * 3600LL + m * 60LL) * 1000000LL + static_cast<int64_t>(sec * 1e6 + 0.5);
}

/// How a cast from `from` to `to` rounds first, as DuckDB does (Arrow would refuse to
/// drop digits): doubles to integers half to even, decimals half away from zero.

std::optional<cp::RoundOptions> CastRounding(const arrow::DataType& from,
                                             const arrow::DataType& to) {
  if (IsFloating(from) && IsInteger(to)) {
    return cp::RoundOptions(0, cp::RoundMode::HALF_TO_EVEN);
  }
  if (arrow::is_decimal(from.id())) {
    int from_scale = static_cast<const arrow::DecimalType&>(from).scale();
    int to_scale = IsInteger(to) ? 0
                   : arrow::is_decimal(to.id())
                       ? static_cast<const arrow::DecimalType&>(to).scale()
                       : from_scale;
    if (to_scale < from_scale) {
      return cp::RoundOptions(to_scale, cp::RoundMode::HALF_TOWARDS_INFINITY);
    }
  }
  return std::nullopt;
}

int DecimalPrecision(const arrow::DataType& t) {
  return static_cast<const arrow::DecimalType&>(t).precision();
}
int DecimalScale(const arrow::DataType& t) {
  return static_cast<const arrow::DecimalType&>(t).scale();
}

/// An integer constant as written (2, not 2::TINYINT) beside an integer of another
/// type takes that type when it fits there (DuckDB: TINYINT * 2 is a TINYINT).
void FitConstant(Binder::Bound* l, Binder::Bound* r) {
  auto plain = [](const Binder::Bound& b) {
    return IsLiteral(b) && (b.type->id() == Type::INT32 || b.type->id() == Type::INT64);
  };
  for (auto [constant, other] : {std::pair{l, r}, std::pair{r, l}}) {
    if (!plain(*constant) || plain(*other)) continue;
    auto fitted = cp::Cast(arrow::Datum(constant->expr.literal()->scalar()),
                           cp::CastOptions::Safe(other->type));
    if (fitted.ok()) *constant = Lit(fitted->scalar());
  }
}

/// An integer literal that fits INTEGER as an INTEGER (DuckDB types `1` so), else
/// the value itself.
Binder::Bound NarrowIntegerLiteral(Binder::Bound value) {
  const auto* lit = value.expr.literal();
  if (lit && lit->is_scalar() && lit->scalar()->is_valid &&
      value.type->id() == Type::INT64) {
    int64_t v = static_cast<const arrow::Int64Scalar&>(*lit->scalar()).value;
    if (v >= INT32_MIN && v <= INT32_MAX) {
      return Lit(std::make_shared<arrow::Int32Scalar>(static_cast<int32_t>(v)));
    }
  }
  return value;
}

/// The DECIMAL(p, 0) that holds every value of an integer type (DuckDB's widths).
std::shared_ptr<arrow::DataType> IntegerAsDecimal(const arrow::DataType& t) {
  switch (t.id()) {
    case Type::INT8:
    case Type::UINT8:
      return arrow::decimal128(3, 0);
    case Type::INT16:
    case Type::UINT16:
      return arrow::decimal128(5, 0);
    case Type::INT32:
    case Type::UINT32:
      return arrow::decimal128(10, 0);
    case Type::UINT64:
      return arrow::decimal128(20, 0);
    default:
      return arrow::decimal128(19, 0);
  }
}

/// The precision Arrow's kernel gives `l op r` (before our cast to DuckDB's type).
int ArrowDecimalPrecision(const std::string& op, const arrow::DataType& l,
                          const arrow::DataType& r) {
  int p1 = DecimalPrecision(l), s1 = DecimalScale(l);
  int p2 = DecimalPrecision(r), s2 = DecimalScale(r);
  if (op == "*") return p1 + p2 + 1;
  return std::max(p1 - s1, p2 - s2) + std::max(s1, s2) + 1;
}

/// A decimal literal's exact value and DuckDB's type: 0.06 is DECIMAL(3,2). Null when
/// the text has an exponent or more than 38 digits (then it is a DOUBLE).
std::shared_ptr<arrow::Scalar> DecimalLiteral(const std::string& raw) {
  std::string text;
  for (char c : raw) {
    if (c == 'e' || c == 'E') return nullptr;
    if (c != '_') text += c;
  }
  auto dot = text.find('.');
  if (dot == std::string::npos) return nullptr;
  int int_digits = static_cast<int>(dot);
  int scale = static_cast<int>(text.size() - dot - 1);
  int precision = std::max(int_digits + scale, std::max(scale, 1));
  if (precision > 38) return nullptr;
  arrow::Decimal128 value;
  int32_t parsed_precision = 0, parsed_scale = 0;
  if (!arrow::Decimal128::FromString(text, &value, &parsed_precision, &parsed_scale)
           .ok()) {
    return nullptr;
  }
  if (parsed_scale != scale) return nullptr;
  return std::make_shared<arrow::Decimal128Scalar>(value,
                                                   arrow::decimal128(precision, scale));
}

Result<std::shared_ptr<arrow::Scalar>> ParseIntervalMicros(const std::string& text,
                                                           const sql::Location& loc) {
  // "1 day", "2 hours", "30 minutes", "1.5 seconds", "3 days 4 hours", "1 year 2 months"
  std::istringstream in(text);
  double number;
  std::string unit;
  double micros = 0;
  double months = 0;
  bool any = false;
  static const std::map<std::string, double> kMicros = {
      {"day", 86400e6},   {"d", 86400e6}, {"hour", 3600e6},      {"h", 3600e6},
      {"minute", 60e6},   {"min", 60e6},  {"m", 60e6},           {"second", 1e6},
      {"sec", 1e6},       {"s", 1e6},     {"millisecond", 1e3},  {"ms", 1e3},
      {"microsecond", 1}, {"us", 1},      {"week", 7 * 86400e6}, {"w", 7 * 86400e6}};
  while (in >> number >> unit) {
    any = true;
    unit = AsciiLower(unit);
    if (!unit.empty() && unit.back() == 's' && unit != "s" && unit != "ms" &&
        unit != "us") {
      unit.pop_back();
    }
    if (auto it = kMicros.find(unit); it != kMicros.end()) {
      micros += number * it->second;
    } else if (unit == "month" || unit == "mon") {
      months += number;
    } else if (unit == "year" || unit == "y") {
      months += number * 12;
    } else {
      return ErrorAt(loc, "unknown interval unit '" + unit + "'");
    }
  }
  if (!any) return ErrorAt(loc, "bad interval '" + text + "'");
  if (months != std::floor(months)) {
    return ErrorAt(loc,
                   "not supported: a fraction of a month in interval '" + text + "'");
  }
  // The nanoseconds of a month interval, and the microseconds of a duration, fit
  // int64: about 292 years.
  if (std::fabs(micros) > 9.2e15 || std::fabs(months) > INT32_MAX) {
    return ErrorAt(loc, "interval '" + text + "' is out of range");
  }
  if (months != 0) {
    return std::make_shared<arrow::MonthDayNanoIntervalScalar>(
        arrow::MonthDayNanoIntervalType::MonthDayNanos{
            static_cast<int32_t>(months), 0, static_cast<int64_t>(micros) * 1000});
  }
  return std::make_shared<arrow::DurationScalar>(static_cast<int64_t>(micros),
                                                 arrow::TimeUnit::MICRO);
}

}  // namespace

Result<const Binder::Column*> Binder::Resolve(const Scope& scope,
                                              const std::string& table,
                                              const std::string& name,
                                              const sql::Location& loc) {
  const Column* found = nullptr;
  int matches = 0;
  std::string lname = AsciiLower(name), ltable = AsciiLower(table);
  for (int exact = 1; exact >= 0 && matches == 0; --exact) {
    for (const auto& c : scope.columns) {
      bool name_ok = exact ? c.name == name : AsciiLower(c.name) == lname;
      if (!name_ok) continue;
      if (!table.empty()) {
        if (AsciiLower(c.qualifier) != ltable) continue;
      } else if (c.hidden) {
        continue;
      }
      if (found == nullptr || found->internal != c.internal) ++matches;
      found = &c;
    }
  }
  if (matches > 1) {
    return ErrorAt(loc, "column reference '" + name + "' is ambiguous");
  }
  if (found == nullptr) {
    std::string known;
    for (const auto& c : scope.columns) {
      if (c.hidden) continue;
      known += (known.empty() ? "" : ", ") +
               (c.qualifier.empty() ? c.name : c.qualifier + "." + c.name);
    }
    std::string full = table.empty() ? name : table + "." + name;
    return Status::KeyError("column '", full, "' not found at ", loc.ToString(),
                            known.empty() ? "" : "; columns: " + known);
  }
  return found;
}

Result<Binder::Bound> Binder::Call(const std::string& function, std::vector<Bound> args,
                                   const Scope& scope, const sql::Location& loc,
                                   std::shared_ptr<cp::FunctionOptions> options) {
  bool constant = !args.empty();
  std::vector<cp::Expression> exprs;
  for (auto& a : args) {
    constant = constant && IsLiteral(a);
    exprs.push_back(std::move(a.expr));
  }
  ARROW_ASSIGN_OR_RAISE(
      auto bound,
      TypeOf(cp::call(function, std::move(exprs), std::move(options)), scope, loc));
  if (constant && function != "random") {
    // A call on constants is evaluated now: a literal can be pushed into a scan's
    // filter and compared without casting the column. An error (1 // 0) is left
    // to the run, where it is reported as it would be per row.
    auto folded = bound.expr.Bind(arrow::Schema({}));
    if (folded.ok()) {
      auto value = cp::ExecuteScalarExpression(*folded, cp::ExecBatch({}, 1));
      if (value.ok() && value->is_scalar()) return Lit(value->scalar());
    }
  }
  return bound;
}

Result<Binder::Bound> Binder::CastTo(Bound value,
                                     const std::shared_ptr<arrow::DataType>& type,
                                     const Scope& scope, const sql::Location& loc) {
  if (value.type->Equals(*type)) return value;
  if (IsInteger(*value.type) && type->id() == Type::DECIMAL128) {
    // Arrow refuses an integer type whose widest value would not fit the decimal
    // (BIGINT -> DECIMAL(5,1)); DuckDB checks the values. Go through a decimal wide
    // enough for the type, then to the target, checked per value.
    const auto& d = static_cast<const arrow::DecimalType&>(*type);
    const auto wide_type = IntegerAsDecimal(*value.type);  // kept alive while used
    const auto& wide = static_cast<const arrow::DecimalType&>(*wide_type);
    if (d.precision() - d.scale() < wide.precision() &&
        d.scale() <= 38 - wide.precision()) {
      ARROW_ASSIGN_OR_RAISE(
          value, CastTo(value, arrow::decimal128(wide.precision() + d.scale(), d.scale()),
                        scope, loc));
    }
  }
  // Text becomes a number or a date ignoring surrounding blanks (' 42 '), as in
  // DuckDB and PostgreSQL.
  if (IsString(*value.type) && (IsNumeric(*type) || IsTemporal(*type))) {
    const auto* lit = value.expr.literal();
    if (lit != nullptr && lit->is_scalar() && lit->scalar()->is_valid) {
      ARROW_ASSIGN_OR_RAISE(
          auto trimmed,
          cp::CallFunction("utf8_trim_whitespace", {arrow::Datum(lit->scalar())}));
      value = Lit(trimmed.scalar());
    } else if (lit == nullptr) {
      ARROW_ASSIGN_OR_RAISE(value, Call("utf8_trim_whitespace", {value}, scope, loc));
    }
  }
  if (const auto* lit = value.expr.literal();
      lit && lit->is_scalar() && lit->scalar()->is_valid && IsString(*value.type) &&
      type->id() == Type::TIME64) {
    // Arrow has no cast from text to TIME: 'HH:MM:SS[.ffffff]' is parsed here.
    std::string text = static_cast<const arrow::StringScalar&>(*lit->scalar()).ToString();
    auto micros = ParseTimeOfDayMicros(text);
    if (!micros) {
      return ErrorAt(loc, "cannot convert '" + text + "' to TIME");
    }
    auto unit = static_cast<const arrow::Time64Type&>(*type).unit();
    int64_t v = unit == arrow::TimeUnit::NANO ? *micros * 1000 : *micros;
    return Lit(std::make_shared<arrow::Time64Scalar>(v, type));
  }
  if (IsString(*type) && !IsString(*value.type)) {
    // Floats, timestamps, times, intervals, lists and structs as DuckDB writes them
    // (1.0, 2024-01-01 09:00:00+01 in the session's zone, 10:00:00, [1, 2]); Arrow's
    // text differs (1, 10:00:00.000000).
    const auto id = value.type->id();
    if (IsFloating(*value.type) || id == Type::TIMESTAMP || id == Type::TIME32 ||
        id == Type::TIME64 || id == Type::DURATION ||
        id == Type::INTERVAL_MONTH_DAY_NANO || id == Type::LIST || id == Type::STRUCT ||
        id == Type::MAP) {
      ARROW_ASSIGN_OR_RAISE(value, InSessionZone(value, scope, loc));
      ARROW_ASSIGN_OR_RAISE(auto text, Call("value_text", {value}, scope, loc));
      return CastTo(text, type, scope, loc);
    }
  }
  if (IsZoned(*value.type) || IsZoned(*type)) {
    ARROW_ASSIGN_OR_RAISE(auto zoned, CastZoned(value, type, scope, loc));
    if (zoned) return *zoned;
  }
  if (IsString(*value.type) && type->id() == Type::DECIMAL128) {
    // Text to DECIMAL(p, s) rounds extra digits half away from zero, as in DuckDB
    // (Arrow refuses them): read it at its own scale (a constant) or at s + 10
    // digits (a column), then round to s.
    const auto& d = static_cast<const arrow::DecimalType&>(*type);
    std::shared_ptr<arrow::DataType> wide;
    const auto* lit = value.expr.literal();
    if (lit != nullptr && lit->is_scalar() && lit->scalar()->is_valid) {
      arrow::Decimal128 v;
      int32_t precision = 0, scale = 0;
      std::string text =
          static_cast<const arrow::StringScalar&>(*lit->scalar()).ToString();
      if (arrow::Decimal128::FromString(text, &v, &precision, &scale).ok() &&
          scale > d.scale() && precision <= 38 && scale <= 38) {
        return CastTo(Lit(std::make_shared<arrow::Decimal128Scalar>(
                          v, arrow::decimal128(std::max(precision, scale), scale))),
                      type, scope, loc);
      }
    } else if (lit == nullptr) {
      int32_t scale = std::min(d.scale() + 10, 38 - (d.precision() - d.scale()));
      if (scale > d.scale()) {
        ARROW_ASSIGN_OR_RAISE(
            value, Call("cast", {value}, scope, loc,
                        std::make_shared<cp::CastOptions>(
                            cp::CastOptions::Safe(arrow::decimal128(38, scale)))));
        return CastTo(value, type, scope, loc);
      }
    }
  }
  if (arrow::is_decimal(value.type->id()) && IsFloating(*type)) {
    ARROW_ASSIGN_OR_RAISE(value, Call("decimal_to_double", {value}, scope, loc));
    return CastTo(value, type, scope, loc);
  }
  const Bound original = value;
  if (auto round = CastRounding(*value.type, *type)) {
    ARROW_ASSIGN_OR_RAISE(value, RoomToRound(value, scope, loc));
    ARROW_ASSIGN_OR_RAISE(value, Call("round", {value}, scope, loc,
                                      std::make_shared<cp::RoundOptions>(*round)));
  }
  if (const auto* lit = value.expr.literal(); lit && lit->is_scalar()) {
    // A safe cast: a value out of the type's range is an error, never wrapped.
    auto literal_options = cp::CastOptions::Safe(type);
    literal_options.allow_float_truncate = IsInteger(*value.type) && IsFloating(*type);
    auto cast = cp::Cast(arrow::Datum(lit->scalar()), literal_options);
    if (!cast.ok()) {
      const auto* shown = original.expr.literal() ? original.expr.literal() : lit;
      return Status::Invalid("cannot convert '", shown->scalar()->ToString(), "' to ",
                             ArrowTypeToSql(*type), " at ", loc.ToString(), ": ",
                             cast.status().message());
    }
    return Lit(cast->scalar());
  }
  auto options = cp::CastOptions::Safe(type);
  // An integer beyond 2^53 becomes the nearest DOUBLE, as in DuckDB.
  options.allow_float_truncate = IsInteger(*value.type) && IsFloating(*type);
  return Call("cast", {value}, scope, loc, std::make_shared<cp::CastOptions>(options));
}

Result<Binder::Bound> Binder::InSessionZone(Bound value, const Scope& scope,
                                            const sql::Location& loc) {
  if (!IsZoned(*value.type)) return value;
  const auto& ts = static_cast<const arrow::TimestampType&>(*value.type);
  if (ts.timezone() == TimeZone()) return value;
  auto type = arrow::timestamp(ts.unit(), TimeZone());
  return Call("cast", {value}, scope, loc,
              std::make_shared<cp::CastOptions>(cp::CastOptions::Safe(type)));
}

Result<std::optional<Binder::Bound>> Binder::CastZoned(
    Bound value, const std::shared_ptr<arrow::DataType>& type, const Scope& scope,
    const sql::Location& loc) {
  const bool from_zoned = IsZoned(*value.type);
  if (from_zoned && type->id() != Type::TIMESTAMP && type->id() != Type::DATE32 &&
      type->id() != Type::TIME64) {
    return std::nullopt;  // an instant's count of units (epoch) is zone-free
  }
  if (from_zoned && IsZoned(*type)) {
    return Call("cast", {value}, scope, loc,
                std::make_shared<cp::CastOptions>(cp::CastOptions::Safe(type)));
  }
  if (from_zoned) {
    // An instant as a wall-clock time (or date) in the session's zone.
    ARROW_ASSIGN_OR_RAISE(value, InSessionZone(value, scope, loc));
    const auto unit = static_cast<const arrow::TimestampType&>(*value.type).unit();
    ARROW_ASSIGN_OR_RAISE(value, Call("local_timestamp", {value}, scope, loc));
    value.type = arrow::timestamp(unit);
    return CastTo(value, type, scope, loc);
  }
  const auto& target = static_cast<const arrow::TimestampType&>(*type);
  if (IsString(*value.type)) {
    // Text with an offset is an instant; without one, a wall-clock time in the
    // session's zone. A column's texts must all carry offsets.
    const auto* lit = value.expr.literal();
    if (lit == nullptr || !lit->is_scalar() || !lit->scalar()->is_valid ||
        cp::Cast(arrow::Datum(lit->scalar()), cp::CastOptions::Safe(type)).ok()) {
      return std::nullopt;
    }
    ARROW_ASSIGN_OR_RAISE(value,
                          CastTo(value, arrow::timestamp(target.unit()), scope, loc));
  }
  if (!IsTemporal(*value.type)) return std::nullopt;
  // A wall-clock time (or date) in the session's zone as an instant. Times a
  // daylight-saving change repeats takes the later instant (DuckDB's), one it skips
  // the instant just before the change.
  ARROW_ASSIGN_OR_RAISE(value,
                        CastTo(value, arrow::timestamp(target.unit()), scope, loc));
  ARROW_ASSIGN_OR_RAISE(value,
                        Call("assume_timezone", {value}, scope, loc,
                             std::make_shared<cp::AssumeTimezoneOptions>(
                                 TimeZone(), cp::AssumeTimezoneOptions::AMBIGUOUS_LATEST,
                                 cp::AssumeTimezoneOptions::NONEXISTENT_EARLIEST)));
  return Call("cast", {value}, scope, loc,
              std::make_shared<cp::CastOptions>(cp::CastOptions::Safe(type)));
}

Result<Binder::Bound> Binder::RoomToRound(Bound value, const Scope& scope,
                                          const sql::Location& loc) {
  if (!arrow::is_decimal(value.type->id())) return value;
  const auto& d = static_cast<const arrow::DecimalType&>(*value.type);
  if (d.precision() >= 38) return value;
  return CastTo(value, arrow::decimal128(d.precision() + 1, d.scale()), scope, loc);
}

Result<Binder::Bound> Binder::JsonExtract(Bound json, const sql::Expr& path, bool as_text,
                                          const Scope& scope, const sql::Location& loc) {
  // A path: '$.a[1]', a key 'a' (DuckDB's j->'a'), or an array index 1.
  std::string text;
  if (path.kind == sql::ExprKind::kLiteral &&
      path.lit_kind == sql::LiteralKind::kString) {
    text =
        path.text.empty() || path.text[0] != '$' ? "$.\"" + path.text + "\"" : path.text;
  } else if (path.kind == sql::ExprKind::kLiteral &&
             path.lit_kind == sql::LiteralKind::kInteger) {
    text = "$[" + path.text + "]";
  } else {
    return ErrorAt(loc, "not supported: a JSON path that is not a constant");
  }
  if (!IsString(*json.type)) {
    return ErrorAt(loc, "JSON functions need text, got " + ArrowTypeToSql(*json.type));
  }
  ARROW_ASSIGN_OR_RAISE(json, CastTo(json, arrow::utf8(), scope, loc));
  return Call(as_text ? "json_extract_string" : "json_extract",
              {json, Lit(std::make_shared<arrow::StringScalar>(text))}, scope, loc);
}

Result<Binder::Bound> Binder::AddInterval(Bound value, const Bound& interval,
                                          bool subtract, const Scope& scope,
                                          const sql::Location& loc) {
  if (!IsLiteral(interval)) {
    return ErrorAt(loc, "not supported: an interval that is not a constant");
  }
  if (value.type->id() == Type::TIME64 && !interval.expr.literal()->scalar()->is_valid) {
    return Lit(arrow::MakeNullScalar(value.type));  // time +/- NULL
  }
  if (value.type->id() == Type::TIME64) {
    // A time of day wraps around midnight; months and days leave it (DuckDB).
    const auto parts = static_cast<const arrow::MonthDayNanoIntervalScalar&>(
                           *interval.expr.literal()->scalar())
                           .value;
    const auto unit = static_cast<const arrow::Time64Type&>(*value.type).unit();
    const int64_t per_unit = unit == arrow::TimeUnit::NANO ? 1 : 1000;
    const int64_t per_day = 86400LL * 1000000000LL / per_unit;
    int64_t delta = (parts.nanoseconds / per_unit) % per_day * (subtract ? -1 : 1);
    delta = (delta + per_day) % per_day;  // in [0, per_day)
    ARROW_ASSIGN_OR_RAISE(auto ticks, CastTo(value, arrow::int64(), scope, loc));
    ARROW_ASSIGN_OR_RAISE(
        ticks, Call("add", {ticks, Lit(std::make_shared<arrow::Int64Scalar>(delta))},
                    scope, loc));
    ARROW_ASSIGN_OR_RAISE(
        auto wrapped,
        Call("subtract", {ticks, Lit(std::make_shared<arrow::Int64Scalar>(per_day))},
             scope, loc));
    ARROW_ASSIGN_OR_RAISE(
        auto past,
        Call("greater_equal", {ticks, Lit(std::make_shared<arrow::Int64Scalar>(per_day))},
             scope, loc));
    ARROW_ASSIGN_OR_RAISE(ticks, Call("if_else", {past, wrapped, ticks}, scope, loc));
    return Call("cast", {ticks}, scope, loc,
                std::make_shared<cp::CastOptions>(cp::CastOptions::Unsafe(value.type)));
  }
  if (value.type->id() != Type::DATE32 && value.type->id() != Type::TIMESTAMP) {
    return ErrorAt(loc, "cannot add an interval to " + ArrowTypeToSql(*value.type));
  }
  if (!interval.expr.literal()->scalar()->is_valid) {  // + NULL interval: NULL
    auto type = value.type->id() == Type::DATE32
                    ? arrow::timestamp(arrow::TimeUnit::MICRO)
                    : value.type;
    return Lit(arrow::MakeNullScalar(type));
  }
  auto parts = static_cast<const arrow::MonthDayNanoIntervalScalar&>(
                   *interval.expr.literal()->scalar())
                   .value;
  int sign = subtract ? -1 : 1;
  // DATE + INTERVAL is a TIMESTAMP, as in DuckDB.
  if (value.type->id() == Type::DATE32) {
    ARROW_ASSIGN_OR_RAISE(
        value, CastTo(value, arrow::timestamp(arrow::TimeUnit::MICRO), scope, loc));
  }
  if (parts.months != 0) {
    ARROW_ASSIGN_OR_RAISE(
        value,
        Call("add_months",
             {value, Lit(std::make_shared<arrow::Int32Scalar>(sign * parts.months))},
             scope, loc));
  }
  int64_t nanos = parts.days * 86400LL * 1000000000LL + parts.nanoseconds;
  if (nanos != 0) {
    auto unit = static_cast<const arrow::TimestampType&>(*value.type).unit();
    int64_t per_unit = unit == arrow::TimeUnit::SECOND  ? 1000000000LL
                       : unit == arrow::TimeUnit::MILLI ? 1000000LL
                       : unit == arrow::TimeUnit::MICRO ? 1000LL
                                                        : 1LL;
    ARROW_ASSIGN_OR_RAISE(value, Call(subtract ? "subtract_checked" : "add_checked",
                                      {value, Lit(std::make_shared<arrow::DurationScalar>(
                                                  nanos / per_unit, unit))},
                                      scope, loc));
  }
  return value;
}

Result<Binder::Bound> Binder::BindExpr(const sql::Expr& e, const Scope& scope,
                                       AggContext* agg) {
  using K = sql::ExprKind;
  if (e.kind == K::kFunction && e.name == "unnest" && !e.over) {
    // A column of the kUnnest node BindUnnest() added.
    auto it = window_columns_.find(ExprToString(e));
    if (it != window_columns_.end()) {
      for (const auto& c : scope.columns) {
        if (c.internal == it->second) return Bound{cp::field_ref(c.internal), c.type};
      }
    }
    return ErrorAt(e.loc, "unnest() is only allowed in the select list");
  }
  if (e.kind == K::kFunction && e.over) {
    // A window call: a column of the kWindow node BindWindows() added.
    auto it = window_columns_.find(ExprToString(e));
    if (it != window_columns_.end()) {
      for (const auto& c : scope.columns) {
        if (c.internal == it->second) return Bound{cp::field_ref(c.internal), c.type};
      }
    }
    return ErrorAt(e.loc,
                   "window functions are only allowed in the select list, "
                   "QUALIFY and ORDER BY");
  }
  if (agg != nullptr) {
    auto it = agg->by_text.find(ExprToString(e));
    if (it != agg->by_text.end()) {
      for (const auto& c : scope.columns) {
        if (c.internal == it->second) return Bound{cp::field_ref(c.internal), c.type};
      }
    }
  }
  switch (e.kind) {
    case K::kLiteral: {
      switch (e.lit_kind) {
        case sql::LiteralKind::kNull:
          return Lit(std::make_shared<arrow::NullScalar>());
        case sql::LiteralKind::kBool:
          return Lit(
              std::make_shared<arrow::BooleanScalar>(AsciiLower(e.text) == "true"));
        case sql::LiteralKind::kInteger:
        case sql::LiteralKind::kDecimal: {
          if (e.lit_kind == sql::LiteralKind::kInteger) {
            // INTEGER when it fits, else BIGINT, as DuckDB types integer constants.
            if (auto v = ParseInt64(e.text)) {
              return NarrowIntegerLiteral(Lit(std::make_shared<arrow::Int64Scalar>(*v)));
            }
            // Beyond BIGINT: an exact 128-bit integer (DuckDB's HUGEINT).
            std::string digits;
            for (char c : e.text) {
              if (c != '_') digits += c;
            }
            arrow::Decimal128 value;
            if (digits.size() <= 38 &&
                arrow::Decimal128::FromString(digits, &value, nullptr, nullptr).ok()) {
              return Lit(std::make_shared<arrow::Decimal128Scalar>(
                  value, arrow::decimal128(38, 0)));
            }
          }
          if (auto exact = DecimalLiteral(e.text)) return Lit(exact);
          auto v = ParseDouble(e.text);
          if (!v) {
            return ErrorAt(e.loc, "numeric literal " + e.text + " is out of range");
          }
          return Lit(std::make_shared<arrow::DoubleScalar>(*v));
        }
        case sql::LiteralKind::kString:
          return Lit(std::make_shared<arrow::StringScalar>(e.text));
        case sql::LiteralKind::kDate:
        case sql::LiteralKind::kTimestamp: {
          auto type = e.lit_kind == sql::LiteralKind::kDate
                          ? arrow::date32()
                          : arrow::timestamp(arrow::TimeUnit::MICRO);
          auto cast = arrow::StringScalar(e.text).CastTo(type);
          if (!cast.ok()) {
            return ErrorAt(
                e.loc, "invalid " + ArrowTypeToSql(*type) + " literal '" + e.text + "'");
          }
          return Lit(*cast);
        }
        case sql::LiteralKind::kInterval: {
          ARROW_ASSIGN_OR_RAISE(auto s, ParseIntervalMicros(e.text, e.loc));
          return Lit(s);
        }
      }
      break;
    }
    case K::kColumn: {
      if (agg != nullptr) {
        ARROW_ASSIGN_OR_RAISE(auto col, Resolve(*agg->input, e.table, e.name, e.loc));
        auto it = agg->key_by_column.find(col->internal);
        if (it == agg->key_by_column.end()) {
          return ErrorAt(e.loc,
                         "column '" + e.name +
                             "' must appear in the GROUP BY clause or be used in an "
                             "aggregate function");
        }
        for (const auto& c : scope.columns) {
          if (c.internal == it->second) return Bound{cp::field_ref(c.internal), c.type};
        }
        return Status::Invalid("internal: group key not in scope");
      }
      auto col = Resolve(scope, e.table, e.name, e.loc);
      if (!col.ok() && !e.table.empty()) {
        // s.field: a field of a struct column s.
        auto parent = Resolve(scope, "", e.table, e.loc);
        if (parent.ok() && (*parent)->type->id() == Type::STRUCT) {
          auto field = static_cast<const arrow::StructType&>(*(*parent)->type)
                           .GetFieldByName(e.name);
          if (field == nullptr) {
            return ErrorAt(
                e.loc, "struct column '" + e.table + "' has no field '" + e.name + "'");
          }
          return Bound{cp::call("struct_field", {cp::field_ref((*parent)->internal)},
                                cp::StructFieldOptions(arrow::FieldRef(e.name))),
                       field->type()};
        }
      }
      ARROW_RETURN_NOT_OK(col.status());
      return Bound{cp::field_ref((*col)->internal), (*col)->type};
    }
    case K::kStar:
      return ErrorAt(e.loc, "'*' is not allowed here");
    case K::kUnary: {
      // -9223372036854775808 is the smallest BIGINT, not minus a DOUBLE.
      if (e.op == "-" && e.args[0]->kind == K::kLiteral &&
          e.args[0]->lit_kind == sql::LiteralKind::kInteger) {
        if (auto v = ParseInt64("-" + e.args[0]->text)) {
          return NarrowIntegerLiteral(Lit(std::make_shared<arrow::Int64Scalar>(*v)));
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto arg, BindExpr(*e.args[0], scope, agg));
      if (e.op == "NOT") {
        if (arg.type->id() == Type::NA)
          return Lit(std::make_shared<arrow::BooleanScalar>());
        return Call("invert", {arg}, scope, e.loc);
      }
      if (e.op == "-") {
        // -<literal> stays a constant (substr(s, -3) takes it as an option).
        // -<literal> stays a constant (substr(s, -3) takes it as an option); one
        // out of range fails at run time like any overflow.
        return Call("negate_checked", {arg}, scope, e.loc);
      }
      return arg;
    }
    case K::kBinary: {
      if (e.op == "IS DISTINCT FROM" || e.op == "IS NOT DISTINCT FROM") {
        // Equal, or both NULL: never NULL itself. The '=' binding coerces types.
        sql::Expr equal = e;
        equal.op = "=";
        ARROW_ASSIGN_OR_RAISE(auto eq, BindExpr(equal, scope, agg));
        ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*e.args[0], scope, agg));
        ARROW_ASSIGN_OR_RAISE(auto r, BindExpr(*e.args[1], scope, agg));
        ARROW_ASSIGN_OR_RAISE(auto l_null, Call("is_null", {l}, scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(auto r_null, Call("is_null", {r}, scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(auto both_null,
                              Call("and", {l_null, r_null}, scope, e.loc));
        if (eq.type->id() == Type::NA) eq = Lit(std::make_shared<arrow::BooleanScalar>());
        ARROW_ASSIGN_OR_RAISE(
            eq, Call("coalesce", {eq, Lit(std::make_shared<arrow::BooleanScalar>(false))},
                     scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(auto same, Call("or", {eq, both_null}, scope, e.loc));
        if (e.op == "IS DISTINCT FROM") return Call("invert", {same}, scope, e.loc);
        return same;
      }
      ARROW_ASSIGN_OR_RAISE(auto l, BindExpr(*e.args[0], scope, agg));
      ARROW_ASSIGN_OR_RAISE(auto r, BindExpr(*e.args[1], scope, agg));
      const std::string& op = e.op;
      if (op == "AND" || op == "OR") {
        for (auto* side : {&l, &r}) {
          if (side->type->id() == Type::NA) {
            *side = Lit(std::make_shared<arrow::BooleanScalar>());
          } else if (side->type->id() != Type::BOOL) {
            return ErrorAt(e.loc, op + " needs boolean operands, got " +
                                      ArrowTypeToSql(*side->type));
          }
        }
        return Call(op == "AND" ? "and_kleene" : "or_kleene", {l, r}, scope, e.loc);
      }
      if (op == "->" || op == "->>") {
        return JsonExtract(l, *e.args[1], op == "->>", scope, e.loc);
      }
      if (op == "||") {
        for (auto* side : {&l, &r}) {
          if (!IsString(*side->type)) {
            ARROW_ASSIGN_OR_RAISE(*side, CastTo(*side, arrow::utf8(), scope, e.loc));
          }
        }
        return Call("binary_join_element_wise",
                    {l, r, Lit(std::make_shared<arrow::StringScalar>(""))}, scope, e.loc);
      }
      // Comparisons and arithmetic: a string literal meets a typed value.
      if (IsLiteral(l) && IsString(*l.type) && !IsString(*r.type) &&
          r.type->id() != Type::NA) {
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, r.type, scope, e.loc));
      } else if (IsLiteral(r) && IsString(*r.type) && !IsString(*l.type) &&
                 l.type->id() != Type::NA) {
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, l.type, scope, e.loc));
      }
      if (op == "+" && l.type->id() == Type::DURATION && r.type->id() == Type::TIME64) {
        std::swap(l, r);
      }
      if ((op == "+" || op == "-") && l.type->id() == Type::TIME64 && IsLiteral(r) &&
          r.type->id() == Type::DURATION) {
        // time +/- a constant duration: as the interval it was written as.
        const auto& d =
            static_cast<const arrow::DurationScalar&>(*r.expr.literal()->scalar());
        const auto unit = static_cast<const arrow::DurationType&>(*r.type).unit();
        const int64_t to_nanos = unit == arrow::TimeUnit::SECOND  ? 1000000000LL
                                 : unit == arrow::TimeUnit::MILLI ? 1000000LL
                                 : unit == arrow::TimeUnit::MICRO ? 1000LL
                                                                  : 1LL;
        const int64_t per_day = 86400LL * 1000000000LL;
        arrow::MonthDayNanoIntervalType::MonthDayNanos parts{0, 0, 0};
        if (d.is_valid) parts.nanoseconds = (d.value % (per_day / to_nanos)) * to_nanos;
        r = Lit(d.is_valid ? std::make_shared<arrow::MonthDayNanoIntervalScalar>(parts)
                           : arrow::MakeNullScalar(arrow::month_day_nano_interval()));
      }
      if ((op == "+" || op == "-") &&
          (r.type->id() == Type::INTERVAL_MONTH_DAY_NANO ||
           (op == "+" && l.type->id() == Type::INTERVAL_MONTH_DAY_NANO))) {
        if (l.type->id() == Type::INTERVAL_MONTH_DAY_NANO) std::swap(l, r);
        return AddInterval(l, r, op == "-", scope, e.loc);
      }
      // A date column compared with a timestamp at midnight compares as dates.
      if (kComparisons.count(op)) {
        for (auto [date, ts] : {std::pair{&l, &r}, std::pair{&r, &l}}) {
          if (date->type->id() == Type::DATE32 && ts->type->id() == Type::TIMESTAMP &&
              IsLiteral(*ts)) {
            auto day = cp::Cast(ts->expr.literal()->scalar(), arrow::date32());
            if (!day.ok()) continue;
            auto back = cp::Cast(*day, ts->type);
            if (back.ok() && back->scalar()->Equals(*ts->expr.literal()->scalar())) {
              *ts = Lit(day->scalar());
            }
          }
        }
      }
      if (l.type->id() == Type::DATE32 && r.type->id() == Type::TIMESTAMP) {
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, r.type, scope, e.loc));
      } else if (r.type->id() == Type::DATE32 && l.type->id() == Type::TIMESTAMP) {
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, l.type, scope, e.loc));
      }
      // Integers of two types compare in DuckDB's common type, a constant in the
      // other operand's type when it fits (u64 > 100; Arrow would go through BIGINT
      // and fail on values above its range).
      if (kComparisons.count(op) && IsInteger(*l.type) && IsInteger(*r.type) &&
          !l.type->Equals(*r.type)) {
        FitConstant(&l, &r);
        if (!l.type->Equals(*r.type)) {
          auto common = CommonType({l.type, r.type});
          ARROW_ASSIGN_OR_RAISE(l, CastTo(l, common, scope, e.loc));
          ARROW_ASSIGN_OR_RAISE(r, CastTo(r, common, scope, e.loc));
        }
      }
      // Timestamps of two units or zones, times of two units: compared in their
      // common type (Arrow compares only equal types).
      if (kComparisons.count(op) && !l.type->Equals(*r.type) &&
          ((l.type->id() == Type::TIMESTAMP && r.type->id() == Type::TIMESTAMP) ||
           (l.type->id() == Type::TIME64 && r.type->id() == Type::TIME64))) {
        auto common = CommonType({l.type, r.type});
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, common, scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, common, scope, e.loc));
      }
      // A DECIMAL meets another number: both become DOUBLE when one is floating,
      // else both DECIMAL, computed exactly in DuckDB's result types.
      bool decimal_l = arrow::is_decimal(l.type->id());
      bool decimal_r = arrow::is_decimal(r.type->id());
      if ((decimal_l || decimal_r) && IsNumeric(*l.type) && IsNumeric(*r.type) &&
          op != "/" && op != "**") {
        if (IsFloating(*l.type) || IsFloating(*r.type)) {
          // A FLOAT stays FLOAT beside a DECIMAL (DuckDB: 0.1::FLOAT = 0.1).
          auto real = l.type->id() == Type::DOUBLE || r.type->id() == Type::DOUBLE
                          ? arrow::float64()
                          : arrow::float32();
          ARROW_ASSIGN_OR_RAISE(l, CastTo(l, real, scope, e.loc));
          ARROW_ASSIGN_OR_RAISE(r, CastTo(r, real, scope, e.loc));
        } else {
          if (!decimal_l) {
            l = NarrowIntegerLiteral(l);
            ARROW_ASSIGN_OR_RAISE(l, CastTo(l, IntegerAsDecimal(*l.type), scope, e.loc));
          }
          if (!decimal_r) {
            r = NarrowIntegerLiteral(r);
            ARROW_ASSIGN_OR_RAISE(r, CastTo(r, IntegerAsDecimal(*r.type), scope, e.loc));
          }
          if (kComparisons.count(op) &&
              ArrowDecimalPrecision("+", *l.type, *r.type) - 1 > 38) {
            // Compared exactly: wider than 38 digits once the scales are aligned.
            for (auto* side : {&l, &r}) {
              ARROW_ASSIGN_OR_RAISE(
                  *side, CastTo(*side,
                                arrow::decimal256(DecimalPrecision(*side->type),
                                                  DecimalScale(*side->type)),
                                scope, e.loc));
            }
          }
          if (op == "+" || op == "-" || op == "*") {
            auto result = DecimalResultType(op, *l.type, *r.type);
            if (!result.ok()) return ErrorAt(e.loc, result.status().message());
            if (l.type->id() == Type::DECIMAL128 && r.type->id() == Type::DECIMAL128) {
              return Call(op == "+"   ? "decimal_add"
                          : op == "-" ? "decimal_subtract"
                                      : "decimal_multiply",
                          {l, r}, scope, e.loc);
            }
            if (ArrowDecimalPrecision(op, *l.type, *r.type) > 38) {
              for (auto* side : {&l, &r}) {
                ARROW_ASSIGN_OR_RAISE(
                    *side, CastTo(*side,
                                  arrow::decimal256(DecimalPrecision(*side->type),
                                                    DecimalScale(*side->type)),
                                  scope, e.loc));
              }
            }
            ARROW_ASSIGN_OR_RAISE(auto value, Call(op == "+"   ? "add_checked"
                                                   : op == "-" ? "subtract_checked"
                                                               : "multiply_checked",
                                                   {l, r}, scope, e.loc));
            return CastTo(value, *result, scope, e.loc);
          }
        }
      }
      if (auto it = kComparisons.find(op); it != kComparisons.end()) {
        if (l.type->id() == Type::NA || r.type->id() == Type::NA) {
          return Lit(std::make_shared<arrow::BooleanScalar>());
        }
        const bool decimals =
            l.type->id() == Type::DECIMAL128 && r.type->id() == Type::DECIMAL128;
        ARROW_ASSIGN_OR_RAISE(
            auto result,
            Call(decimals ? "decimal_" + it->second : it->second, {l, r}, scope, e.loc));
        if (IsFloating(*l.type) || IsFloating(*r.type)) {
          // DuckDB orders NaN above every number and equal to itself; IEEE says
          // every comparison with NaN is false. x < NaN, x <= NaN and x <> NaN hold
          // for a number x; NaN = NaN, NaN >= x and NaN > x hold too.
          auto nan = [&](const Bound& b) -> Result<Bound> {
            if (!IsFloating(*b.type))
              return Lit(std::make_shared<arrow::BooleanScalar>(false));
            return Call("is_nan", {b}, scope, e.loc);
          };
          ARROW_ASSIGN_OR_RAISE(auto ln, nan(l));
          ARROW_ASSIGN_OR_RAISE(auto rn, nan(r));
          if (op == "<>" || op == "!=") {  // IEEE: NaN <> NaN; DuckDB: equal
            ARROW_ASSIGN_OR_RAISE(auto both, Call("and", {ln, rn}, scope, e.loc));
            return Call("and_not", {result, both}, scope, e.loc);
          }
          Bound extra;  // the NaN cases that make the comparison true
          if (op == "<=") extra = rn;
          if (op == ">=") extra = ln;
          if (op == "=" || op == "==") {
            ARROW_ASSIGN_OR_RAISE(extra, Call("and", {ln, rn}, scope, e.loc));
          }
          if (op == "<" || op == ">") {
            ARROW_ASSIGN_OR_RAISE(
                extra, Call("and_not", {op == "<" ? rn : ln, op == "<" ? ln : rn}, scope,
                            e.loc));
          }
          return Call("or", {result, extra}, scope, e.loc);  // NULL stays NULL
        }
        return result;
      }
      if ((op == "+" || op == "-") && l.type->id() == Type::DATE32 &&
          IsInteger(*r.type)) {
        // date +/- days stays a date.
        ARROW_ASSIGN_OR_RAISE(auto days, CastTo(l, arrow::int32(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(auto n, CastTo(r, arrow::int32(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(
            auto sum, Call(op == "+" ? "add" : "subtract", {days, n}, scope, e.loc));
        return CastTo(sum, arrow::date32(), scope, e.loc);
      }
      if ((op == "+" || op == "-") && r.type->id() == Type::DURATION &&
          l.type->id() == Type::DATE32) {
        ARROW_ASSIGN_OR_RAISE(
            l, CastTo(l, arrow::timestamp(arrow::TimeUnit::MICRO), scope, e.loc));
      }
      if (op == "/") {
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, arrow::float64(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, arrow::float64(), scope, e.loc));
        return Call("divide", {l, r}, scope, e.loc);
      }
      if (op == "//") return Call("divide", {l, r}, scope, e.loc);
      if (op == "**") {
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, arrow::float64(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, arrow::float64(), scope, e.loc));
        return Call("power", {l, r}, scope, e.loc);
      }
      if (op == "-" && l.type->id() == Type::DATE32 && r.type->id() == Type::DATE32) {
        // date - date is a number of days, as in DuckDB and PostgreSQL.
        ARROW_ASSIGN_OR_RAISE(l, CastTo(l, arrow::int32(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(r, CastTo(r, arrow::int32(), scope, e.loc));
        ARROW_ASSIGN_OR_RAISE(auto days, Call("subtract", {l, r}, scope, e.loc));
        return CastTo(days, arrow::int64(), scope, e.loc);
      }
      // Checked kernels: an integer overflow is an error, as in DuckDB, never a
      // wrapped value.
      static const std::map<std::string, std::string> kArith = {{"+", "add_checked"},
                                                                {"-", "subtract_checked"},
                                                                {"*", "multiply_checked"},
                                                                {"%", "remainder"}};
      if (auto it = kArith.find(op); it != kArith.end()) {
        // A constant takes the other operand's integer type when it fits there
        // (DuckDB: TINYINT * 2 is a TINYINT); then integers of two widths meet in
        // DuckDB's common type, checked (Arrow would narrow a constant operand to
        // the other's type and overflow: 2147483647::BIGINT + 1).
        if (IsInteger(*l.type) && IsInteger(*r.type) && !l.type->Equals(*r.type)) {
          FitConstant(&l, &r);
        }
        if (IsInteger(*l.type) && IsInteger(*r.type) && !l.type->Equals(*r.type)) {
          auto common = CommonType({l.type, r.type});
          ARROW_ASSIGN_OR_RAISE(l, CastTo(l, common, scope, e.loc));
          ARROW_ASSIGN_OR_RAISE(r, CastTo(r, common, scope, e.loc));
        }
        return Call(it->second, {l, r}, scope, e.loc);
      }
      return ErrorAt(e.loc, "unknown operator '" + op + "'");
    }
    case K::kFunction:
      return BindFunction(e, scope, agg);
    case K::kSubquery:
    case K::kExists:
      return BindSubquery(e, scope, agg);
    case K::kCase: {
      std::vector<Bound> conds, values;
      size_t i = 0;
      std::optional<Bound> operand;
      if (e.has_operand) {
        ARROW_ASSIGN_OR_RAISE(operand, BindExpr(*e.args[i++], scope, agg));
      }
      size_t end = e.args.size() - (e.has_else ? 1 : 0);
      for (; i < end; i += 2) {
        ARROW_ASSIGN_OR_RAISE(auto when, BindExpr(*e.args[i], scope, agg));
        if (operand) {
          Bound lhs = *operand;
          if (IsLiteral(when) && !when.type->Equals(*lhs.type) &&
              when.type->id() != Type::NA) {
            ARROW_ASSIGN_OR_RAISE(when, CastTo(when, lhs.type, scope, e.loc));
          }
          if (when.type->id() == Type::NA || lhs.type->id() == Type::NA) {
            when = Lit(std::make_shared<arrow::BooleanScalar>());
          } else {
            ARROW_ASSIGN_OR_RAISE(when, Call("equal", {lhs, when}, scope, e.loc));
          }
        }
        if (when.type->id() == Type::NA)
          when = Lit(std::make_shared<arrow::BooleanScalar>());
        conds.push_back(when);
        ARROW_ASSIGN_OR_RAISE(auto then, BindExpr(*e.args[i + 1], scope, agg));
        values.push_back(then);
      }
      if (e.has_else) {
        ARROW_ASSIGN_OR_RAISE(auto other, BindExpr(*e.args.back(), scope, agg));
        values.push_back(other);
      }
      std::vector<std::shared_ptr<arrow::DataType>> types;
      for (auto& v : values) types.push_back(v.type);
      auto common = CommonType(types);
      if (common->id() == Type::NA) return Lit(std::make_shared<arrow::NullScalar>());
      for (auto& v : values) {
        if (v.type->id() == Type::NA) {
          v = Lit(arrow::MakeNullScalar(common));
        } else {
          ARROW_ASSIGN_OR_RAISE(v, CastTo(v, common, scope, e.loc));
        }
      }
      std::vector<std::string> names;
      std::vector<cp::Expression> cond_exprs;
      for (size_t k = 0; k < conds.size(); ++k) {
        names.push_back("c" + std::to_string(k));
        cond_exprs.push_back(conds[k].expr);
      }
      std::vector<cp::Expression> args;
      args.push_back(cp::call("make_struct", cond_exprs,
                              std::make_shared<cp::MakeStructOptions>(names)));
      for (auto& v : values) args.push_back(v.expr);
      return TypeOf(cp::call("case_when", args), scope, e.loc);
    }
    case K::kCast: {
      ARROW_ASSIGN_OR_RAISE(auto value, BindExpr(*e.args[0], scope, agg));
      auto type = SqlTypeToArrow(e.type_name);
      if (!type.ok()) return ErrorAt(e.loc, type.status().message());
      if (value.type->id() == Type::NA) return Lit(arrow::MakeNullScalar(*type));
      if (e.try_cast && !IsLiteral(value) &&
          (IsString(*value.type) || IsFloating(*value.type)) && !IsString(**type) &&
          (*type)->id() != Type::DECIMAL128 && !IsZoned(**type)) {
        // Text or floats to a number, date or time: NULL per value where it does not
        // convert (text trimmed first, as CAST). Other TRY_CASTs take CAST's own
        // paths, where a value that does not convert is an error.
        if (IsString(*value.type) && (IsNumeric(**type) || IsTemporal(**type))) {
          ARROW_ASSIGN_OR_RAISE(value,
                                Call("utf8_trim_whitespace", {value}, scope, e.loc));
        }
        if (auto round = CastRounding(*value.type, **type)) {  // 1.5 -> 2, as CAST
          ARROW_ASSIGN_OR_RAISE(value, RoomToRound(value, scope, e.loc));
          ARROW_ASSIGN_OR_RAISE(value, Call("round", {value}, scope, e.loc,
                                            std::make_shared<cp::RoundOptions>(*round)));
        }
        return Call("try_cast", {value, Lit(arrow::MakeNullScalar(*type))}, scope, e.loc);
      }
      auto cast = CastTo(value, *type, scope, e.loc);
      if (!cast.ok() && e.try_cast) return Lit(arrow::MakeNullScalar(*type));
      return cast;
    }
    case K::kIn: {
      if (e.subquery) return BindSubquery(e, scope, agg);
      ARROW_ASSIGN_OR_RAISE(auto value, BindExpr(*e.args[0], scope, agg));
      std::vector<Bound> items;
      bool all_literal = true;
      for (size_t i = 1; i < e.args.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto item, BindExpr(*e.args[i], scope, agg));
        all_literal = all_literal && IsLiteral(item);
        items.push_back(item);
      }
      // Numbers meet in their common type: `int_col IN (1.5)` compares as DOUBLE
      // rather than rounding 1.5 to 2.
      if (IsNumeric(*value.type)) {
        std::vector<std::shared_ptr<arrow::DataType>> types = {value.type};
        bool numeric = true;
        for (const auto& item : items) {
          types.push_back(item.type);
          numeric = numeric && (IsNumeric(*item.type) || item.type->id() == Type::NA);
        }
        auto common = CommonType(types);
        if (numeric && !common->Equals(*value.type)) {
          ARROW_ASSIGN_OR_RAISE(value, CastTo(value, common, scope, e.loc));
        }
      }
      Bound result;
      if (all_literal && value.type->id() != Type::NA) {
        arrow::ScalarVector scalars;
        for (auto& item : items) {
          ARROW_ASSIGN_OR_RAISE(auto cast, CastTo(item, value.type, scope, e.loc));
          scalars.push_back(cast.expr.literal()->scalar());
        }
        std::unique_ptr<arrow::ArrayBuilder> builder;
        ARROW_RETURN_NOT_OK(
            arrow::MakeBuilder(arrow::default_memory_pool(), value.type, &builder));
        for (auto& s : scalars) ARROW_RETURN_NOT_OK(builder->AppendScalar(*s));
        ARROW_ASSIGN_OR_RAISE(auto set, builder->Finish());
        auto opts = std::make_shared<cp::SetLookupOptions>(
            set, cp::SetLookupOptions::INCONCLUSIVE);
        ARROW_ASSIGN_OR_RAISE(result, Call("is_in", {value}, scope, e.loc, opts));
      } else {
        std::optional<Bound> acc;
        for (auto& item : items) {
          Bound lhs = value;
          if (IsLiteral(item) && IsString(*item.type) && !IsString(*lhs.type)) {
            ARROW_ASSIGN_OR_RAISE(item, CastTo(item, lhs.type, scope, e.loc));
          }
          ARROW_ASSIGN_OR_RAISE(auto eq, Call("equal", {lhs, item}, scope, e.loc));
          if (acc) {
            ARROW_ASSIGN_OR_RAISE(acc, Call("or_kleene", {*acc, eq}, scope, e.loc));
          } else {
            acc = eq;
          }
        }
        result = *acc;
      }
      if (e.negated) return Call("invert", {result}, scope, e.loc);
      return result;
    }
    case K::kBetween: {
      // Reuse the comparison rules by binding synthetic AST nodes.
      auto ge = std::make_shared<sql::Expr>();
      ge->kind = K::kBinary;
      ge->op = ">=";
      ge->loc = e.loc;
      ge->args = {e.args[0], e.args[1]};
      auto le = std::make_shared<sql::Expr>(*ge);
      le->op = "<=";
      le->args = {e.args[0], e.args[2]};
      ARROW_ASSIGN_OR_RAISE(auto a, BindExpr(*ge, scope, agg));
      ARROW_ASSIGN_OR_RAISE(auto b, BindExpr(*le, scope, agg));
      ARROW_ASSIGN_OR_RAISE(auto both, Call("and_kleene", {a, b}, scope, e.loc));
      if (e.negated) return Call("invert", {both}, scope, e.loc);
      return both;
    }
    case K::kLike: {
      ARROW_ASSIGN_OR_RAISE(auto value, BindExpr(*e.args[0], scope, agg));
      const auto& pat = *e.args[1];
      if (pat.kind != K::kLiteral || pat.lit_kind != sql::LiteralKind::kString) {
        return ErrorAt(pat.loc, "LIKE needs a string literal pattern");
      }
      if (!IsString(*value.type)) {
        ARROW_ASSIGN_OR_RAISE(value, CastTo(value, arrow::utf8(), scope, e.loc));
      }
      // Arrow's LIKE escapes with '\'; SQL's has no escape unless ESCAPE names one.
      std::string pattern;
      for (char c : pat.text)
        pattern += c == '\\' ? std::string("\\\\") : std::string(1, c);
      if (e.args.size() == 3) {
        // Arrow's LIKE escapes with '\': rewrite `ESCAPE 'c'` into that form.
        const auto& esc = *e.args[2];
        if (esc.kind != K::kLiteral || esc.lit_kind != sql::LiteralKind::kString ||
            esc.text.size() != 1) {
          return ErrorAt(esc.loc, "ESCAPE needs a one-character string literal");
        }
        const char c = esc.text[0];
        pattern.clear();
        for (size_t i = 0; i < pat.text.size(); ++i) {
          if (pat.text[i] == c && i + 1 < pat.text.size()) {
            pattern += '\\';
            pattern += pat.text[++i];
          } else if (pat.text[i] == '\\') {
            pattern += "\\\\";
          } else {
            pattern += pat.text[i];
          }
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto m, Call("match_like", {value}, scope, e.loc,
                                         std::make_shared<cp::MatchSubstringOptions>(
                                             pattern, e.case_insensitive)));
      if (e.negated) return Call("invert", {m}, scope, e.loc);
      return m;
    }
    case K::kIsNull: {
      ARROW_ASSIGN_OR_RAISE(auto value, BindExpr(*e.args[0], scope, agg));
      return Call(e.negated ? "is_valid" : "is_null", {value}, scope, e.loc);
    }
    case K::kIsBool: {
      ARROW_ASSIGN_OR_RAISE(auto value, BindExpr(*e.args[0], scope, agg));
      bool want = AsciiLower(e.text) == "true";
      Bound target = Lit(std::make_shared<arrow::BooleanScalar>(want));
      ARROW_ASSIGN_OR_RAISE(auto eq, Call("equal", {value, target}, scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(auto valid, Call("is_valid", {value}, scope, e.loc));
      ARROW_ASSIGN_OR_RAISE(auto is, Call("and_kleene", {valid, eq}, scope, e.loc));
      // and_kleene(false, null) is false; and (true, x) is x which is non-null here.
      if (e.negated) return Call("invert", {is}, scope, e.loc);
      return is;
    }
  }
  return ErrorAt(e.loc, "unsupported expression");
}

}  // namespace flowsql::plan
