#include "common/temporal.h"

#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/scalar.h>

namespace flowsql {

namespace cp = arrow::compute;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

void AppendPadded(int64_t v, int width, std::string* out) {
  std::string digits = std::to_string(v);
  if (static_cast<int>(digits.size()) < width) out->append(width - digits.size(), '0');
  out->append(digits);
}

CivilDate CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = FloorDiv(days, 146097);
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - (153 * mp + 2) / 5 + 1};
}

void AppendDate(int64_t days, std::string* out) {
  auto [y, m, d] = CivilFromDays(days);
  if (y < 0) {
    out->push_back('-');
    y = -y;
  }
  AppendPadded(y, 4, out);
  out->push_back('-');
  AppendPadded(m, 2, out);
  out->push_back('-');
  AppendPadded(d, 2, out);
}

int64_t UnitsPerSecond(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      return 1;
    case arrow::TimeUnit::MILLI:
      return 1000;
    case arrow::TimeUnit::MICRO:
      return 1000000;
    case arrow::TimeUnit::NANO:
      return 1000000000;
  }
  return 1;
}

int UnitDigits(arrow::TimeUnit::type unit) {
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      return 0;
    case arrow::TimeUnit::MILLI:
      return 3;
    case arrow::TimeUnit::MICRO:
      return 6;
    case arrow::TimeUnit::NANO:
      return 9;
  }
  return 0;
}

void AppendClock(int64_t seconds, int64_t fraction, arrow::TimeUnit::type unit,
                 std::string* out) {
  AppendPadded(seconds / 3600, 2, out);
  out->push_back(':');
  AppendPadded((seconds / 60) % 60, 2, out);
  out->push_back(':');
  AppendPadded(seconds % 60, 2, out);
  if (fraction != 0) {
    std::string f;
    AppendPadded(fraction, UnitDigits(unit), &f);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out->push_back('.');
    out->append(f);
  }
}

void AppendTimestamp(int64_t value, arrow::TimeUnit::type unit, std::string* out) {
  const int64_t per_second = UnitsPerSecond(unit);
  const int64_t seconds = FloorDiv(value, per_second);
  const int64_t fraction = value - seconds * per_second;
  const int64_t days = FloorDiv(seconds, 86400);
  AppendDate(days, out);
  out->push_back(' ');
  AppendClock(seconds - days * 86400, fraction, unit, out);
}

void AppendUtcOffset(int64_t seconds, std::string* out) {
  out->push_back(seconds < 0 ? '-' : '+');
  if (seconds < 0) seconds = -seconds;
  AppendPadded(seconds / 3600, 2, out);
  if (seconds % 3600 != 0) {
    out->push_back(':');
    AppendPadded((seconds / 60) % 60, 2, out);
  }
}

Status CheckTimeZone(const std::string& zone) {
  auto probe = std::make_shared<arrow::TimestampScalar>(
      0, arrow::timestamp(arrow::TimeUnit::SECOND, zone));
  auto local = cp::CallFunction("local_timestamp", {arrow::Datum(probe)});
  if (!local.ok()) return Status::Invalid("unknown time zone '", zone, "'");
  return Status::OK();
}

Result<std::shared_ptr<arrow::Array>> LocalTimestamps(const arrow::Array& instants) {
  ARROW_ASSIGN_OR_RAISE(auto local,
                        cp::CallFunction("local_timestamp", {arrow::Datum(instants)}));
  return local.make_array();
}

Result<std::shared_ptr<arrow::Array>> TimestampText(const arrow::Array& timestamps) {
  const auto& type = static_cast<const arrow::TimestampType&>(*timestamps.type());
  const auto& utc = static_cast<const arrow::TimestampArray&>(timestamps);
  std::shared_ptr<arrow::Array> local_array;
  if (!type.timezone().empty()) {
    ARROW_ASSIGN_OR_RAISE(local_array, LocalTimestamps(timestamps));
  }
  const auto* local = static_cast<const arrow::TimestampArray*>(local_array.get());
  const int64_t per_second = UnitsPerSecond(type.unit());
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(timestamps.length()));
  std::string text;
  for (int64_t i = 0; i < timestamps.length(); ++i) {
    if (timestamps.IsNull(i)) {
      ARROW_RETURN_NOT_OK(builder.AppendNull());
      continue;
    }
    text.clear();
    if (local == nullptr) {
      AppendTimestamp(utc.Value(i), type.unit(), &text);
    } else {
      AppendTimestamp(local->Value(i), type.unit(), &text);
      AppendUtcOffset((local->Value(i) - utc.Value(i)) / per_second, &text);
    }
    ARROW_RETURN_NOT_OK(builder.Append(text));
  }
  return builder.Finish();
}

}  // namespace flowsql
