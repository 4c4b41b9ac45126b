#include "common/value_text.h"

#include <arrow/builder.h>
#include <arrow/scalar.h>
#include <arrow/util/checked_cast.h>
#include <arrow/util/float16.h>

#include <charconv>
#include <cmath>

#include "common/temporal.h"

namespace flowsql {

using arrow::internal::checked_cast;

namespace {

template <typename T>
void AppendFloat(T v, std::string* out) {
  if (std::isnan(v)) {
    out->append("nan");
    return;
  }
  if (std::isinf(v)) {
    out->append(v < 0 ? "-inf" : "inf");
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, res.ptr - buf);
  out->append(s);
  // 1 -> 1.0, like DuckDB; exponent forms (1e+20) stay as they are.
  if (s.find_first_of(".en") == std::string_view::npos) out->append(".0");
}

template <typename T>
void AppendInt(T v, std::string* out) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, res.ptr - buf);
}

void AppendDuration(int64_t value, arrow::TimeUnit::type unit, std::string* out) {
  if (value < 0) {
    out->push_back('-');
    // INT64_MIN cannot be negated; clamp (a duration that long is not printable anyway).
    value = value == INT64_MIN ? INT64_MAX : -value;
  }
  const int64_t per_second = UnitsPerSecond(unit);
  int64_t seconds = value / per_second;
  const int64_t fraction = value % per_second;
  const int64_t days = seconds / 86400;
  seconds %= 86400;
  if (days != 0) {
    out->append(std::to_string(days));
    out->append(days == 1 ? " day" : " days");
    if (seconds == 0 && fraction == 0) return;  // DuckDB: '1 day'
    out->push_back(' ');
  }
  AppendClock(seconds, fraction, unit, out);
}

void AppendInterval(int64_t months, int64_t days, int64_t nanos, std::string* out) {
  bool any = false;
  auto part = [&](int64_t n, const char* one, const char* many) {
    if (n == 0) return;
    if (any) out->push_back(' ');
    out->append(std::to_string(n));
    out->push_back(' ');
    out->append(n == 1 || n == -1 ? one : many);
    any = true;
  };
  part(months / 12, "year", "years");
  part(months % 12, "month", "months");
  part(days, "day", "days");
  if (nanos != 0 || !any) {
    if (any) out->push_back(' ');
    if (nanos < 0) {
      out->push_back('-');
      nanos = -nanos;
    }
    AppendClock(nanos / 1000000000, nanos % 1000000000, arrow::TimeUnit::NANO, out);
  }
}

void AppendBinary(std::string_view v, std::string* out) {
  static const char* kHex = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out->push_back(static_cast<char>(c));
    } else {
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

void AppendQuoted(std::string_view v, std::string* out) {
  out->push_back('\'');
  for (char c : v) {
    if (c == '\'') out->push_back('\'');
    out->push_back(c);
  }
  out->push_back('\'');
}

// Appends a value; `nested` quotes strings ('x') as DuckDB does inside structs and lists.
void AppendTextImpl(const arrow::Array& array, int64_t i, bool nested,
                    const std::string& null_text, std::string* out);

void AppendListItems(const arrow::Array& values, int64_t start, int64_t end,
                     std::string* out) {
  out->push_back('[');
  for (int64_t j = start; j < end; ++j) {
    if (j > start) out->append(", ");
    AppendTextImpl(values, j, true, "NULL", out);
  }
  out->push_back(']');
}

void AppendTextImpl(const arrow::Array& array, int64_t i, bool nested,
                    const std::string& null_text, std::string* out) {
  if (array.IsNull(i)) {
    out->append(nested ? "NULL" : null_text);
    return;
  }
  using arrow::Type;
  switch (array.type_id()) {
    case Type::NA:
      out->append(nested ? "NULL" : null_text);
      return;
    case Type::BOOL:
      out->append(checked_cast<const arrow::BooleanArray&>(array).Value(i) ? "true"
                                                                           : "false");
      return;
#define FLOWSQL_INT_CASE(TYPE, ARRAY)                                  \
  case Type::TYPE:                                                     \
    AppendInt(checked_cast<const arrow::ARRAY&>(array).Value(i), out); \
    return;
      FLOWSQL_INT_CASE(INT8, Int8Array)
      FLOWSQL_INT_CASE(INT16, Int16Array)
      FLOWSQL_INT_CASE(INT32, Int32Array)
      FLOWSQL_INT_CASE(INT64, Int64Array)
      FLOWSQL_INT_CASE(UINT8, UInt8Array)
      FLOWSQL_INT_CASE(UINT16, UInt16Array)
      FLOWSQL_INT_CASE(UINT32, UInt32Array)
      FLOWSQL_INT_CASE(UINT64, UInt64Array)
#undef FLOWSQL_INT_CASE
    case Type::HALF_FLOAT: {
      auto bits = checked_cast<const arrow::HalfFloatArray&>(array).Value(i);
      AppendFloat(arrow::util::Float16::FromBits(bits).ToFloat(), out);
      return;
    }
    case Type::FLOAT:
      AppendFloat(checked_cast<const arrow::FloatArray&>(array).Value(i), out);
      return;
    case Type::DOUBLE:
      AppendFloat(checked_cast<const arrow::DoubleArray&>(array).Value(i), out);
      return;
    case Type::DECIMAL32:
      out->append(checked_cast<const arrow::Decimal32Array&>(array).FormatValue(i));
      return;
    case Type::DECIMAL64:
      out->append(checked_cast<const arrow::Decimal64Array&>(array).FormatValue(i));
      return;
    case Type::DECIMAL128:
      out->append(checked_cast<const arrow::Decimal128Array&>(array).FormatValue(i));
      return;
    case Type::DECIMAL256:
      out->append(checked_cast<const arrow::Decimal256Array&>(array).FormatValue(i));
      return;
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: {
      std::string_view v =
          array.type_id() == Type::STRING
              ? checked_cast<const arrow::StringArray&>(array).GetView(i)
          : array.type_id() == Type::LARGE_STRING
              ? checked_cast<const arrow::LargeStringArray&>(array).GetView(i)
              : checked_cast<const arrow::StringViewArray&>(array).GetView(i);
      if (nested) {
        AppendQuoted(v, out);
      } else {
        out->append(v);
      }
      return;
    }
    case Type::BINARY:
      AppendBinary(checked_cast<const arrow::BinaryArray&>(array).GetView(i), out);
      return;
    case Type::LARGE_BINARY:
      AppendBinary(checked_cast<const arrow::LargeBinaryArray&>(array).GetView(i), out);
      return;
    case Type::BINARY_VIEW:
      AppendBinary(checked_cast<const arrow::BinaryViewArray&>(array).GetView(i), out);
      return;
    case Type::FIXED_SIZE_BINARY:
      AppendBinary(checked_cast<const arrow::FixedSizeBinaryArray&>(array).GetView(i),
                   out);
      return;
    case Type::DATE32:
      AppendDate(checked_cast<const arrow::Date32Array&>(array).Value(i), out);
      return;
    case Type::DATE64:
      AppendDate(
          FloorDiv(checked_cast<const arrow::Date64Array&>(array).Value(i), 86400000),
          out);
      return;
    case Type::TIMESTAMP: {
      const auto& type = checked_cast<const arrow::TimestampType&>(*array.type());
      if (type.timezone().empty()) {
        AppendTimestamp(checked_cast<const arrow::TimestampArray&>(array).Value(i),
                        type.unit(), out);
        return;
      }
      // An instant: the wall-clock time in its zone, with the offset.
      auto text = TimestampText(*array.Slice(i, 1));
      if (!text.ok()) {
        out->append("<" + text.status().message() + ">");
        return;
      }
      out->append(checked_cast<const arrow::StringArray&>(**text).GetView(0));
      return;
    }
    case Type::TIME32:
    case Type::TIME64: {
      arrow::TimeUnit::type unit;
      int64_t v;
      if (array.type_id() == Type::TIME32) {
        unit = checked_cast<const arrow::Time32Type&>(*array.type()).unit();
        v = checked_cast<const arrow::Time32Array&>(array).Value(i);
      } else {
        unit = checked_cast<const arrow::Time64Type&>(*array.type()).unit();
        v = checked_cast<const arrow::Time64Array&>(array).Value(i);
      }
      const int64_t per_second = UnitsPerSecond(unit);
      AppendClock(FloorDiv(v, per_second), v - FloorDiv(v, per_second) * per_second, unit,
                  out);
      return;
    }
    case Type::DURATION:
      AppendDuration(checked_cast<const arrow::DurationArray&>(array).Value(i),
                     checked_cast<const arrow::DurationType&>(*array.type()).unit(), out);
      return;
    case Type::INTERVAL_MONTHS:
      AppendInterval(checked_cast<const arrow::MonthIntervalArray&>(array).Value(i), 0, 0,
                     out);
      return;
    case Type::INTERVAL_DAY_TIME: {
      auto v = checked_cast<const arrow::DayTimeIntervalArray&>(array).Value(i);
      AppendInterval(0, v.days, int64_t{v.milliseconds} * 1000000, out);
      return;
    }
    case Type::INTERVAL_MONTH_DAY_NANO: {
      auto v = checked_cast<const arrow::MonthDayNanoIntervalArray&>(array).Value(i);
      AppendInterval(v.months, v.days, v.nanoseconds, out);
      return;
    }
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::LIST_VIEW:
    case Type::FIXED_SIZE_LIST: {
      ListRow row = ListRowOf(array, i);
      AppendListItems(*row.values, row.start, row.end, out);
      return;
    }
    case Type::MAP: {
      const auto& map = checked_cast<const arrow::MapArray&>(array);
      out->push_back('{');
      for (int64_t j = map.value_offset(i); j < map.value_offset(i + 1); ++j) {
        if (j > map.value_offset(i)) out->append(", ");
        AppendTextImpl(*map.keys(), j, true, "NULL", out);
        out->push_back('=');
        AppendTextImpl(*map.items(), j, true, "NULL", out);
      }
      out->push_back('}');
      return;
    }
    case Type::STRUCT: {
      const auto& st = checked_cast<const arrow::StructArray&>(array);
      const auto& type = checked_cast<const arrow::StructType&>(*array.type());
      out->push_back('{');
      for (int f = 0; f < type.num_fields(); ++f) {
        if (f > 0) out->append(", ");
        AppendQuoted(type.field(f)->name(), out);
        out->append(": ");
        // field(f) applies the struct's offset; raw children do not.
        AppendTextImpl(*st.field(f), i, true, "NULL", out);
      }
      out->push_back('}');
      return;
    }
    case Type::DICTIONARY: {
      const auto& dict = checked_cast<const arrow::DictionaryArray&>(array);
      AppendTextImpl(*dict.dictionary(), dict.GetValueIndex(i), nested, null_text, out);
      return;
    }
    case Type::EXTENSION: {
      const auto& ext = checked_cast<const arrow::ExtensionArray&>(array);
      AppendTextImpl(*ext.storage(), i, nested, null_text, out);
      return;
    }
    default:
      break;
  }
  auto scalar = array.GetScalar(i);
  if (scalar.ok()) {
    out->append((*scalar)->ToString());
  } else {
    out->append("?");
  }
}

}  // namespace

ListRow ListRowOf(const arrow::Array& array, int64_t i) {
  switch (array.type_id()) {
    case arrow::Type::LIST: {
      const auto& list = checked_cast<const arrow::ListArray&>(array);
      return {list.values().get(), list.value_offset(i), list.value_offset(i + 1)};
    }
    case arrow::Type::LARGE_LIST: {
      const auto& list = checked_cast<const arrow::LargeListArray&>(array);
      return {list.values().get(), list.value_offset(i), list.value_offset(i + 1)};
    }
    case arrow::Type::LIST_VIEW: {
      const auto& list = checked_cast<const arrow::ListViewArray&>(array);
      return {list.values().get(), list.value_offset(i),
              list.value_offset(i) + list.value_length(i)};
    }
    default: {
      const auto& list = checked_cast<const arrow::FixedSizeListArray&>(array);
      return {list.values().get(), list.value_offset(i),
              list.value_offset(i) + list.value_length(i)};
    }
  }
}

void AppendValueText(const arrow::Array& array, int64_t i, std::string* out,
                     const std::string& null_text) {
  AppendTextImpl(array, i, false, null_text, out);
}

Result<std::shared_ptr<arrow::Array>> ValueText(const arrow::Array& array) {
  if (array.type_id() == arrow::Type::TIMESTAMP) {
    return TimestampText(array);  // a zoned array's wall clocks in one pass
  }
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(array.length()));
  std::string text;
  for (int64_t i = 0; i < array.length(); ++i) {
    if (array.IsNull(i)) {
      ARROW_RETURN_NOT_OK(builder.AppendNull());
      continue;
    }
    text.clear();
    AppendTextImpl(array, i, false, "NULL", &text);
    ARROW_RETURN_NOT_OK(builder.Append(text));
  }
  return builder.Finish();
}

}  // namespace flowsql
