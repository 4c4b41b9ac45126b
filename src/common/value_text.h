// Values as DuckDB writes them as text: numbers, dates, times and intervals, lists
// and structs. One home for the CLI's output and for CAST(x AS VARCHAR).
#pragma once

#include <arrow/array.h>

#include <cstdint>
#include <memory>
#include <string>

#include "flowsql/connector.h"

namespace flowsql {

/// Row i of a list, large list, list view or fixed-size list: its values and the
/// range [start, end) of them. REQUIRES: `array` is one of those.
struct ListRow {
  const arrow::Array* values;
  int64_t start, end;
};
ListRow ListRowOf(const arrow::Array& array, int64_t i);

/// Appends value i of `array` as DuckDB writes it (1.0, 2024-01-31 10:00:00,
/// [1, 2], {'a': 1}); a NULL as `null_text` (inside lists and structs as NULL).
void AppendValueText(const arrow::Array& array, int64_t i, std::string* out,
                     const std::string& null_text = "NULL");

/// Every value of `array` as that text; NULL stays NULL.
Result<std::shared_ptr<arrow::Array>> ValueText(const arrow::Array& array);

}  // namespace flowsql
