// Scalar functions flowsql registers in Arrow's compute registry.
#pragma once

#include <arrow/compute/function.h>
#include <arrow/compute/kernel.h>
#include <arrow/compute/registry.h>

#include <string>
#include <vector>

#include "flowsql/connector.h"

namespace flowsql::plan {

/// Registers, once per process, the functions below; later calls return the first
/// result. Thread-safe.
///   add_months(date32 | timestamp, int32) -> same type: calendar months added,
///   the day clamped to the month's end (Jan 31 + 1 month = Feb 28/29).
///   json_extract(text, path) -> the JSON text at a constant '$.a.b[2]' path, or NULL
///   json_extract_string(text, path) -> the same, a JSON string's value unquoted
///   json_array_length(text, path) -> the length of the array there (0: not an array)
///   json_keys(text, path) -> list<utf8>: the object's keys there (none: not an object)
///   make_list(a, b, ...) -> list: per row the list [a, b, ...] (all one type)
///   value_text(any) -> utf8: the value as DuckDB writes it (common/value_text.h)
///   Malformed JSON is an error that shows its start.
///   list_get(list, int64) -> element i counted from 1, from the end when negative,
///   NULL out of range
Status RegisterFunctions();

/// Registers `name` (replacing any) with `kernels`, whose execs build their own
/// output arrays and NULLs (Arrow preallocates nothing for them).
Status RegisterScalarFunction(arrow::compute::FunctionRegistry* registry,
                              const std::string& name, const arrow::compute::Arity& arity,
                              const std::string& summary,
                              std::vector<arrow::compute::ScalarKernel> kernels);

}  // namespace flowsql::plan
