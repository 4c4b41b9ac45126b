// Scalar functions flowsql registers in Arrow's compute registry.
#pragma once

#include <arrow/compute/function.h>
#include <arrow/compute/kernel.h>
#include <arrow/compute/registry.h>
#include <arrow/scalar.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/decimal.h>

#include <cstring>
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

/// A decimal128 kernel argument read as 128-bit integers, a scalar as a column of one
/// value.
class DecimalColumn {
 public:
  explicit DecimalColumn(const arrow::compute::ExecValue& v) {
    if (v.is_scalar()) {
      const auto& scalar = static_cast<const arrow::Decimal128Scalar&>(*v.scalar);
      std::memcpy(&constant_, scalar.value.native_endian_bytes(), 16);
      values_ = &constant_;
      all_valid_ = scalar.is_valid;
      constant_null_ = !scalar.is_valid;
    } else {
      values_ =
          reinterpret_cast<const __int128*>(v.array.buffers[1].data) + v.array.offset;
      stride_ = 1;
      validity_ = v.array.buffers[0].data;
      offset_ = v.array.offset;
      all_valid_ = v.array.GetNullCount() == 0 || validity_ == nullptr;
    }
  }
  bool constant() const { return stride_ == 0; }
  bool Valid(int64_t i) const {
    if (all_valid_) return true;
    return !constant_null_ && arrow::bit_util::GetBit(validity_, offset_ + i);
  }
  __int128 At(int64_t i) const {
    __int128 v;
    std::memcpy(&v, values_ + i * stride_, 16);
    return v;
  }

 private:
  __int128 constant_ = 0;
  const __int128* values_ = nullptr;
  int64_t stride_ = 0;
  const uint8_t* validity_ = nullptr;
  int64_t offset_ = 0;
  bool all_valid_ = true;
  bool constant_null_ = false;
};

inline arrow::Decimal128 ToDecimal128(__int128 v) {
  return arrow::Decimal128(static_cast<int64_t>(v >> 64), static_cast<uint64_t>(v));
}

/// DuckDB's result type of `l op r` over decimals (op is +, - or *): sums keep the
/// larger scale and one more digit; products add scales and widths, staying within
/// 18 digits when both inputs do (the product is checked, never wrapped).
Result<std::shared_ptr<arrow::DataType>> DecimalResultType(const std::string& op,
                                                           const arrow::DataType& l,
                                                           const arrow::DataType& r);

/// Registers `name` (replacing any) with `kernels`, whose execs build their own
/// output arrays and NULLs (Arrow preallocates nothing for them).
Status RegisterScalarFunction(arrow::compute::FunctionRegistry* registry,
                              const std::string& name, const arrow::compute::Arity& arity,
                              const std::string& summary,
                              std::vector<arrow::compute::ScalarKernel> kernels);

}  // namespace flowsql::plan
