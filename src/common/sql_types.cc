#include "common/sql_types.h"

#include <vector>

#include "common/numbers.h"
#include "common/text.h"

namespace flowsql {

using arrow::Status;

bool IsStringType(const arrow::DataType& t) {
  return t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING ||
         t.id() == arrow::Type::STRING_VIEW;
}

arrow::Result<std::shared_ptr<arrow::DataType>> SqlTypeToArrow(const std::string& raw) {
  std::string name = AsciiUpper(TrimBlanks(raw));
  if (name.size() > 2 && name.substr(name.size() - 2) == "[]") {
    ARROW_ASSIGN_OR_RAISE(auto inner, SqlTypeToArrow(name.substr(0, name.size() - 2)));
    return arrow::list(inner);
  }
  std::string base = name;
  std::vector<int> params;
  auto paren = name.find('(');
  if (paren != std::string::npos) {
    base = name.substr(0, paren);
    while (!base.empty() && base.back() == ' ') base.pop_back();
    std::string inside = name.substr(paren + 1, name.find(')') - paren - 1);
    size_t start = 0;
    while (start <= inside.size()) {
      size_t comma = inside.find(',', start);
      std::string part = inside.substr(
          start, comma == std::string::npos ? std::string::npos : comma - start);
      auto value = ParseInt64(TrimBlanks(part));
      if (!value || *value < 0 || *value > 1000) {
        return Status::Invalid("bad type parameters in '", raw, "'");
      }
      params.push_back(static_cast<int>(*value));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (base == "INTEGER" || base == "INT" || base == "INT4" || base == "SIGNED") {
    return arrow::int32();
  }
  if (base == "BIGINT" || base == "INT8" || base == "LONG" || base == "INT64") {
    return arrow::int64();
  }
  // DuckDB's HUGEINT is Arrow's 128-bit decimal of scale 0 (as DuckDB exports it).
  if (base == "HUGEINT" || base == "INT128") return arrow::decimal128(38, 0);
  if (base == "SMALLINT" || base == "INT2" || base == "SHORT" || base == "INT16") {
    return arrow::int16();
  }
  if (base == "TINYINT" || base == "INT1") return arrow::int8();
  if (base == "UBIGINT" || base == "UINT64") return arrow::uint64();
  if (base == "UINTEGER" || base == "UINT32") return arrow::uint32();
  if (base == "USMALLINT" || base == "UINT16") return arrow::uint16();
  if (base == "UTINYINT" || base == "UINT8") return arrow::uint8();
  if (base == "INT32") return arrow::int32();
  if (base == "DOUBLE" || base == "DOUBLE PRECISION" || base == "FLOAT8" ||
      base == "FLOAT64") {
    return arrow::float64();
  }
  if (base == "FLOAT" || base == "REAL" || base == "FLOAT4" || base == "FLOAT32") {
    return arrow::float32();
  }
  if (base == "DECIMAL" || base == "NUMERIC") {
    int precision = params.size() > 0 ? params[0] : 18;
    int scale = params.size() > 1 ? params[1] : (params.empty() ? 3 : 0);
    if (precision < 1 || precision > 76 || scale < 0 || scale > precision) {
      return Status::Invalid("bad type '", raw, "': expected DECIMAL(precision, scale)");
    }
    if (precision > 38) return arrow::decimal256(precision, scale);
    return arrow::decimal128(precision, scale);
  }
  if (base == "VARCHAR" || base == "TEXT" || base == "STRING" || base == "CHAR" ||
      base == "BPCHAR" || base == "JSON" || base == "UUID" || base == "UTF8") {
    return arrow::utf8();
  }
  if (base == "BOOLEAN" || base == "BOOL" || base == "LOGICAL") return arrow::boolean();
  if (base == "DATE") return arrow::date32();
  if (base == "TIMESTAMP" || base == "DATETIME" || base == "TIMESTAMP_US" ||
      base == "TIMESTAMP WITHOUT TIME ZONE") {
    return arrow::timestamp(arrow::TimeUnit::MICRO);
  }
  if (base == "TIMESTAMP_MS") return arrow::timestamp(arrow::TimeUnit::MILLI);
  if (base == "TIMESTAMP_S") return arrow::timestamp(arrow::TimeUnit::SECOND);
  if (base == "TIMESTAMP_NS") return arrow::timestamp(arrow::TimeUnit::NANO);
  if (base == "TIMESTAMPTZ" || base == "TIMESTAMP WITH TIME ZONE") {
    return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  }
  if (base == "TIME") return arrow::time64(arrow::TimeUnit::MICRO);
  if (base == "BLOB" || base == "BYTEA" || base == "BINARY" || base == "VARBINARY") {
    return arrow::binary();
  }
  if (base == "INTERVAL") return arrow::month_day_nano_interval();
  return Status::Invalid("unknown type '", raw, "'");
}

std::string ArrowTypeToSql(const arrow::DataType& type) {
  using arrow::Type;
  switch (type.id()) {
    case Type::NA:
      return "NULL";
    case Type::BOOL:
      return "BOOLEAN";
    case Type::INT8:
      return "TINYINT";
    case Type::INT16:
      return "SMALLINT";
    case Type::INT32:
      return "INTEGER";
    case Type::INT64:
      return "BIGINT";
    case Type::UINT8:
      return "UTINYINT";
    case Type::UINT16:
      return "USMALLINT";
    case Type::UINT32:
      return "UINTEGER";
    case Type::UINT64:
      return "UBIGINT";
    case Type::HALF_FLOAT:
    case Type::FLOAT:
      return "FLOAT";
    case Type::DOUBLE:
      return "DOUBLE";
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW:
      return "VARCHAR";
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::FIXED_SIZE_BINARY:
      return "BLOB";
    case Type::DATE32:
    case Type::DATE64:
      return "DATE";
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      return ts.timezone().empty() ? "TIMESTAMP" : "TIMESTAMP WITH TIME ZONE";
    }
    case Type::TIME32:
    case Type::TIME64:
      return "TIME";
    case Type::DURATION:
    case Type::INTERVAL_MONTH_DAY_NANO:
    case Type::INTERVAL_DAY_TIME:
    case Type::INTERVAL_MONTHS:
      return "INTERVAL";
    case Type::DECIMAL128:
    case Type::DECIMAL256: {
      const auto& d = static_cast<const arrow::DecimalType&>(type);
      return "DECIMAL(" + std::to_string(d.precision()) + "," +
             std::to_string(d.scale()) + ")";
    }
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
      return ArrowTypeToSql(*type.field(0)->type()) + "[]";
    case Type::STRUCT: {
      std::string out = "STRUCT(";
      for (int i = 0; i < type.num_fields(); ++i) {
        if (i) out += ", ";
        out += type.field(i)->name() + " " + ArrowTypeToSql(*type.field(i)->type());
      }
      return out + ")";
    }
    case Type::MAP: {
      const auto& map = static_cast<const arrow::MapType&>(type);
      return "MAP(" + ArrowTypeToSql(*map.key_type()) + ", " +
             ArrowTypeToSql(*map.item_type()) + ")";
    }
    case Type::DICTIONARY:
      return ArrowTypeToSql(
          *static_cast<const arrow::DictionaryType&>(type).value_type());
    default:
      return type.ToString();
  }
}

}  // namespace flowsql
