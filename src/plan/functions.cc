// Scalar functions flowsql adds to Arrow's compute registry (Acero evaluates them
// like its own): calendar arithmetic Arrow lacks.
#include "plan/functions.h"

#include <arrow/compute/api.h>
#include <arrow/compute/kernel.h>
#include <arrow/vendored/datetime/date.h>

#include <mutex>

namespace flowsql::plan {

namespace cp = arrow::compute;
namespace date = arrow_vendored::date;

namespace {

// Days since 1970-01-01 plus `months`; the day of month is clamped to the target
// month's last day (2024-01-31 + 1 month = 2024-02-29), as in DuckDB and PostgreSQL.
Result<int64_t> AddMonthsToDays(int64_t days, int64_t months) {
  date::year_month_day ymd{date::sys_days{date::days{days}}};
  int64_t total = static_cast<int64_t>(int(ymd.year())) * 12 +
                  static_cast<int64_t>(unsigned(ymd.month())) - 1 + months;
  if (total < -12 * 32767 || total > 12 * 32767) {
    return Status::Invalid("date out of range after adding ", months, " months");
  }
  int64_t year = total >= 0 ? total / 12 : (total - 11) / 12;
  unsigned month = static_cast<unsigned>(total - year * 12) + 1;
  date::year_month ym{date::year{static_cast<int>(year)}, date::month{month}};
  date::day last = date::year_month_day_last{ym / date::last}.day();
  date::day day = ymd.day() > last ? last : ymd.day();
  return static_cast<int64_t>(
      date::sys_days{date::year_month_day{ym / day}}.time_since_epoch().count());
}

int64_t UnitsPerDay(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DATE32) return 1;
  switch (static_cast<const arrow::TimestampType&>(type).unit()) {
    case arrow::TimeUnit::SECOND:
      return 86400LL;
    case arrow::TimeUnit::MILLI:
      return 86400LL * 1000;
    case arrow::TimeUnit::MICRO:
      return 86400LL * 1000000;
    default:
      return 86400LL * 1000000000;
  }
}

template <typename T>
int64_t ScalarValue(const arrow::Scalar& s);
template <>
int64_t ScalarValue<int32_t>(const arrow::Scalar& s) {
  return static_cast<const arrow::Date32Scalar&>(s).value;
}
template <>
int64_t ScalarValue<int64_t>(const arrow::Scalar& s) {
  return static_cast<const arrow::TimestampScalar&>(s).value;
}

template <typename T>
Status AddMonthsExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  const int64_t per_day = UnitsPerDay(*batch[0].type());
  auto value_at = [&](int64_t i) -> int64_t {
    if (batch[0].is_scalar()) return ScalarValue<T>(*batch[0].scalar);
    return batch[0].array.GetValues<T>(1)[i];
  };
  auto months_at = [&](int64_t i) -> int64_t {
    if (batch[1].is_scalar()) {
      return static_cast<const arrow::Int32Scalar*>(batch[1].scalar)->value;
    }
    return batch[1].array.GetValues<int32_t>(1)[i];
  };
  arrow::ArraySpan* result = out->array_span_mutable();
  T* values = result->GetValues<T>(1);
  for (int64_t i = 0; i < batch.length; ++i) {
    if (!result->IsValid(i)) {
      values[i] = 0;
      continue;
    }
    int64_t v = value_at(i);
    int64_t day = v >= 0 ? v / per_day : -((-v + per_day - 1) / per_day);
    int64_t within = v - day * per_day;
    ARROW_ASSIGN_OR_RAISE(int64_t moved, AddMonthsToDays(day, months_at(i)));
    int64_t ticks;
    if (__builtin_mul_overflow(moved, per_day, &ticks) ||
        __builtin_add_overflow(ticks, within, &ticks) ||
        ticks != static_cast<int64_t>(static_cast<T>(ticks))) {
      return Status::Invalid("date or timestamp out of range after adding ", months_at(i),
                             " months");
    }
    values[i] = static_cast<T>(ticks);
  }
  return Status::OK();
}

Status Register() {
  auto* registry = cp::GetFunctionRegistry();
  auto add_months = std::make_shared<cp::ScalarFunction>(
      "add_months", cp::Arity::Binary(),
      cp::FunctionDoc("Adds a number of months to a date or timestamp",
                      "The day of month is clamped to the last day of the result's "
                      "month; the time of day is kept.",
                      {"value", "months"}));
  cp::ScalarKernel date_kernel({arrow::date32(), arrow::int32()}, arrow::date32(),
                               AddMonthsExec<int32_t>);
  ARROW_RETURN_NOT_OK(add_months->AddKernel(date_kernel));
  cp::OutputType same_as_first(
      [](cp::KernelContext*,
         const std::vector<arrow::TypeHolder>& types) -> Result<arrow::TypeHolder> {
        return types[0];
      });
  cp::ScalarKernel ts_kernel({cp::InputType(arrow::Type::TIMESTAMP), arrow::int32()},
                             same_as_first, AddMonthsExec<int64_t>);
  ARROW_RETURN_NOT_OK(add_months->AddKernel(ts_kernel));
  return registry->AddFunction(add_months, /*allow_overwrite=*/true);
}

}  // namespace

Status RegisterFunctions() {
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = Register(); });
  return status;
}

}  // namespace flowsql::plan
