// Scalar functions flowsql registers in Arrow's compute registry.
#pragma once

#include "flowsql/connector.h"

namespace flowsql::plan {

/// Registers, once per process, the functions below; later calls return the first
/// result. Thread-safe.
///   add_months(date32 | timestamp, int32) -> same type: calendar months added,
///   the day clamped to the month's end (Jan 31 + 1 month = Feb 28/29).
Status RegisterFunctions();

}  // namespace flowsql::plan
