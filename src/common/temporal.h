// Dates, times and timestamps as DuckDB writes them, and time zones through
// Arrow's time zone database: one home for the CLI, the casts to text and the
// session's TimeZone.
#pragma once

#include <arrow/array.h>
#include <arrow/type.h>

#include <cstdint>
#include <memory>
#include <string>

#include "flowsql/connector.h"

namespace flowsql {

/// floor(a / b) for b > 0.
int64_t FloorDiv(int64_t a, int64_t b);
int64_t UnitsPerSecond(arrow::TimeUnit::type unit);
/// The fraction digits of `unit`: 0, 3, 6 or 9.
int UnitDigits(arrow::TimeUnit::type unit);
/// `v` in decimal, left-padded with zeros to `width` digits.
void AppendPadded(int64_t v, int width, std::string* out);
/// Days since 1970-01-01 as YYYY-MM-DD (a '-' before years BC).
void AppendDate(int64_t days, std::string* out);

/// A day of the proleptic Gregorian calendar; year 0 is 1 BC.
struct CivilDate {
  int64_t year, month, day;
};
/// The date `days` after 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
CivilDate CivilFromDays(int64_t days);
/// HH:MM:SS[.fff] for a non-negative number of seconds and a fraction in `unit`s,
/// trailing zeros of the fraction trimmed.
void AppendClock(int64_t seconds, int64_t fraction, arrow::TimeUnit::type unit,
                 std::string* out);
/// YYYY-MM-DD HH:MM:SS[.fff] of a wall-clock `value` in `unit`s since 1970.
void AppendTimestamp(int64_t value, arrow::TimeUnit::type unit, std::string* out);
/// A UTC offset as DuckDB shows it: +HH, or +HH:MM when it has minutes.
void AppendUtcOffset(int64_t seconds, std::string* out);

/// OK when Arrow's time zone database knows `zone` (an IANA name such as
/// 'Europe/Berlin', 'UTC', or a fixed offset '+05:30'); else an error naming it.
Status CheckTimeZone(const std::string& zone);
/// The wall-clock times of `instants` (a timestamp array with a time zone) in that
/// zone, as a timestamp array without one.
Result<std::shared_ptr<arrow::Array>> LocalTimestamps(const arrow::Array& instants);
/// Each instant as DuckDB's TIMESTAMPTZ text in its array's zone
/// ('2024-01-01 09:00:00+01'); NULL stays NULL. A zone-less array as plain text.
Result<std::shared_ptr<arrow::Array>> TimestampText(const arrow::Array& timestamps);

}  // namespace flowsql
