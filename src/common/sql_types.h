// SQL type names and Arrow types, both ways: CAST targets, declared column types
// (a file's `columns` option) and the names DESCRIBE and errors show.
#pragma once

#include <arrow/result.h>
#include <arrow/type.h>

#include <memory>
#include <string>

namespace flowsql {

/// The Arrow type of a SQL type name, as DuckDB spells them: "DECIMAL(10,2)" ->
/// decimal128(10, 2), "VARCHAR(20)" -> utf8, "INTEGER[]" -> list<int32>,
/// "HUGEINT" -> decimal128(38, 0). Case and surrounding blanks do not matter.
arrow::Result<std::shared_ptr<arrow::DataType>> SqlTypeToArrow(const std::string& name);

/// The SQL name of an Arrow type (int64 -> BIGINT, string_view -> VARCHAR).
std::string ArrowTypeToSql(const arrow::DataType& type);

/// True for utf8, large_utf8 and string_view.
bool IsStringType(const arrow::DataType& type);

}  // namespace flowsql
