#include <arrow/type.h>

#include <algorithm>
#include <cctype>
#include <regex>

#include "plan/binder.h"

namespace flowsql::plan {

Status ErrorAt(const sql::Location& loc, const std::string& message) {
  return Status::Invalid(message, " at ", loc.ToString());
}

std::shared_ptr<arrow::DataType> EngineType(
    const std::shared_ptr<arrow::DataType>& type) {
  using arrow::Type;
  switch (type->id()) {
    case Type::STRING_VIEW:
    case Type::LARGE_STRING:
      return arrow::utf8();
    case Type::BINARY_VIEW:
    case Type::LARGE_BINARY:
      return arrow::binary();
    case Type::HALF_FLOAT:
      return arrow::float32();
    case Type::DATE64:
      return arrow::date32();
    case Type::TIME32:
      return arrow::time64(arrow::TimeUnit::MICRO);
    case Type::TIMESTAMP: {
      // Seconds and milliseconds become microseconds (DuckDB's TIMESTAMP);
      // nanoseconds stay (TIMESTAMP_NS).
      const auto& ts = static_cast<const arrow::TimestampType&>(*type);
      if (ts.unit() == arrow::TimeUnit::SECOND || ts.unit() == arrow::TimeUnit::MILLI) {
        return arrow::timestamp(arrow::TimeUnit::MICRO, ts.timezone());
      }
      return type;
    }
    case Type::DECIMAL32:
    case Type::DECIMAL64: {
      const auto& d = static_cast<const arrow::DecimalType&>(*type);
      return arrow::decimal128(d.precision(), d.scale());
    }
    case Type::DICTIONARY:
      return EngineType(static_cast<const arrow::DictionaryType&>(*type).value_type());
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      auto item = static_cast<const arrow::BaseListType&>(*type).value_field();
      return arrow::list(item->WithType(EngineType(item->type())));
    }
    case Type::STRUCT: {
      arrow::FieldVector fields;
      for (const auto& f : type->fields())
        fields.push_back(f->WithType(EngineType(f->type())));
      return arrow::struct_(fields);
    }
    default:
      return type;
  }
}

}  // namespace flowsql::plan
