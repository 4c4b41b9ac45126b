// Scalar functions flowsql adds to Arrow's compute registry (Acero evaluates them
// like its own): calendar arithmetic Arrow lacks.
#include "plan/functions.h"

#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/compute/kernel.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/vendored/datetime/date.h>
#include <openssl/evp.h>
#include <simdjson.h>

#include <mutex>
#include <optional>
#include <string_view>

#include "common/json.h"
#include "common/numbers.h"
#include "common/temporal.h"
#include "common/value_text.h"
#include "plan/aggregates.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
namespace date = arrow_vendored::date;

namespace {

// Days since 1970-01-01 plus `months`; the day of month is clamped to the target
// month's last day (2024-01-31 + 1 month = 2024-02-29), as in DuckDB and PostgreSQL.
Result<int64_t> AddMonthsToDays(int64_t days, int64_t months) {
  date::year_month_day ymd{date::sys_days{date::days{days}}};
  int64_t total = static_cast<int64_t>(int(ymd.year())) * 12 +
                  static_cast<int64_t>(unsigned(ymd.month())) - 1 + months;
  if (total < -12 * 32767 || total > 12 * 32767) {
    return Status::Invalid("date out of range after adding ", months, " months");
  }
  int64_t year = total >= 0 ? total / 12 : (total - 11) / 12;
  unsigned month = static_cast<unsigned>(total - year * 12) + 1;
  date::year_month ym{date::year{static_cast<int>(year)}, date::month{month}};
  date::day last = date::year_month_day_last{ym / date::last}.day();
  date::day day = ymd.day() > last ? last : ymd.day();
  return static_cast<int64_t>(
      date::sys_days{date::year_month_day{ym / day}}.time_since_epoch().count());
}

int64_t UnitsPerDay(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DATE32) return 1;
  switch (static_cast<const arrow::TimestampType&>(type).unit()) {
    case arrow::TimeUnit::SECOND:
      return 86400LL;
    case arrow::TimeUnit::MILLI:
      return 86400LL * 1000;
    case arrow::TimeUnit::MICRO:
      return 86400LL * 1000000;
    default:
      return 86400LL * 1000000000;
  }
}

template <typename T>
int64_t ScalarValue(const arrow::Scalar& s);
template <>
int64_t ScalarValue<int32_t>(const arrow::Scalar& s) {
  return static_cast<const arrow::Date32Scalar&>(s).value;
}
template <>
int64_t ScalarValue<int64_t>(const arrow::Scalar& s) {
  return static_cast<const arrow::TimestampScalar&>(s).value;
}

template <typename T>
Status AddMonthsExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  const int64_t per_day = UnitsPerDay(*batch[0].type());
  auto value_at = [&](int64_t i) -> int64_t {
    if (batch[0].is_scalar()) return ScalarValue<T>(*batch[0].scalar);
    return batch[0].array.GetValues<T>(1)[i];
  };
  auto months_at = [&](int64_t i) -> int64_t {
    if (batch[1].is_scalar()) {
      return static_cast<const arrow::Int32Scalar*>(batch[1].scalar)->value;
    }
    return batch[1].array.GetValues<int32_t>(1)[i];
  };
  arrow::ArraySpan* result = out->array_span_mutable();
  T* values = result->GetValues<T>(1);
  for (int64_t i = 0; i < batch.length; ++i) {
    if (!result->IsValid(i)) {
      values[i] = 0;
      continue;
    }
    int64_t v = value_at(i);
    int64_t day = v >= 0 ? v / per_day : -((-v + per_day - 1) / per_day);
    int64_t within = v - day * per_day;
    ARROW_ASSIGN_OR_RAISE(int64_t moved, AddMonthsToDays(day, months_at(i)));
    int64_t ticks;
    if (__builtin_mul_overflow(moved, per_day, &ticks) ||
        __builtin_add_overflow(ticks, within, &ticks) ||
        ticks != static_cast<int64_t>(static_cast<T>(ticks))) {
      return Status::Invalid("date or timestamp out of range after adding ", months_at(i),
                             " months");
    }
    values[i] = static_cast<T>(ticks);
  }
  return Status::OK();
}

// ---- JSON -------------------------------------------------------------------

/// One step of a JSON path: an object key or an array index.
struct PathStep {
  std::string key;
  int64_t index = -1;  // >= 0: an array index
};

/// '$.a.b[2]' as steps; '$' alone is the whole document.
Result<std::vector<PathStep>> ParsePath(std::string_view path) {
  if (path.empty() || path[0] != '$') {
    return Status::Invalid("a JSON path starts with '$', got '", path, "'");
  }
  std::vector<PathStep> steps;
  size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t end = path.find_first_of(".[", i + 1);
      std::string key(
          path.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
      if (key.size() >= 2 && key.front() == '"' && key.back() == '"') {
        key = key.substr(1, key.size() - 2);
      }
      steps.push_back({key, -1});
      i = end == std::string_view::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string_view::npos) break;
      int64_t index = 0;
      std::string digits(path.substr(i + 1, end - i - 1));
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
        return Status::Invalid("bad array index in JSON path '", path, "'");
      }
      auto parsed = ParseInt64(digits);
      if (!parsed) return Status::Invalid("bad array index in JSON path '", path, "'");
      index = *parsed;
      steps.push_back({"", index});
      i = end + 1;
    } else {
      return Status::Invalid("bad JSON path '", path, "'");
    }
  }
  return steps;
}

enum class JsonOp { kExtract, kExtractString, kArrayLength, kKeys };

/// The text of row i of a utf8 argument (array or scalar); nullopt when NULL.
std::optional<std::string_view> TextAt(const cp::ExecValue& v, int64_t i) {
  if (v.is_scalar()) {
    const auto& s = static_cast<const arrow::StringScalar&>(*v.scalar);
    if (!s.is_valid) return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(s.value->data()),
                            s.value->size());
  }
  if (!v.array.IsValid(i)) return std::nullopt;
  const int32_t* offsets = v.array.GetValues<int32_t>(1);
  const char* data = reinterpret_cast<const char*>(v.array.buffers[2].data);
  return std::string_view(data + offsets[i], offsets[i + 1] - offsets[i]);
}

template <JsonOp kOp>
Status JsonExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  std::vector<PathStep> steps;
  if (batch.num_values() > 1) {
    // The binder passes a constant path (it may arrive as a broadcast array).
    auto path = TextAt(batch[1], 0);
    if (path) {
      ARROW_ASSIGN_OR_RAISE(steps, ParsePath(*path));
    }
  }
  simdjson::dom::parser parser;
  arrow::StringBuilder strings;
  arrow::Int64Builder numbers;
  auto key_builder = std::make_shared<arrow::StringBuilder>();
  arrow::ListBuilder keys(arrow::default_memory_pool(), key_builder);
  for (int64_t i = 0; i < batch.length; ++i) {
    auto text = TextAt(batch[0], i);
    auto null = [&]() {
      return kOp == JsonOp::kArrayLength ? numbers.AppendNull()
             : kOp == JsonOp::kKeys      ? keys.AppendNull()
                                         : strings.AppendNull();
    };
    if (!text) {
      ARROW_RETURN_NOT_OK(null());
      continue;
    }
    simdjson::padded_string padded(text->data(), text->size());
    simdjson::dom::element e;
    if (parser.parse(padded).get(e) != simdjson::SUCCESS) {
      return Status::Invalid("malformed JSON: '", text->substr(0, 60),
                             text->size() > 60 ? "...'" : "'");
    }
    bool found = true;
    for (const auto& step : steps) {
      simdjson::dom::element next;
      auto error = step.index >= 0 ? e.at(static_cast<size_t>(step.index)).get(next)
                                   : e.at_key(step.key).get(next);
      if (error != simdjson::SUCCESS) {
        found = false;
        break;
      }
      e = next;
    }
    if (!found) {
      ARROW_RETURN_NOT_OK(null());
      continue;
    }
    if constexpr (kOp == JsonOp::kKeys) {
      // An object's keys in order; anything else has none.
      ARROW_RETURN_NOT_OK(keys.Append());
      simdjson::dom::object object;
      if (e.get_object().get(object) == simdjson::SUCCESS) {
        for (const auto& field : object)
          ARROW_RETURN_NOT_OK(key_builder->Append(field.key));
      }
    } else if constexpr (kOp == JsonOp::kArrayLength) {
      simdjson::dom::array array;
      ARROW_RETURN_NOT_OK(numbers.Append(e.get_array().get(array) == simdjson::SUCCESS
                                             ? static_cast<int64_t>(array.size())
                                             : 0));
    } else {
      std::string_view s;
      if (kOp == JsonOp::kExtractString && e.get_string().get(s) == simdjson::SUCCESS) {
        ARROW_RETURN_NOT_OK(strings.Append(s));
      } else {
        ARROW_RETURN_NOT_OK(strings.Append(simdjson::minify(e)));
      }
    }
  }
  std::shared_ptr<arrow::Array> result;
  if (kOp == JsonOp::kKeys) {
    ARROW_ASSIGN_OR_RAISE(result, keys.Finish());
  } else if (kOp == JsonOp::kArrayLength) {
    ARROW_ASSIGN_OR_RAISE(result, numbers.Finish());
  } else {
    ARROW_ASSIGN_OR_RAISE(result, strings.Finish());
  }
  out->value = result->data();
  return Status::OK();
}

Status AddJsonFunction(cp::FunctionRegistry* registry, const std::string& name,
                       cp::ArrayKernelExec exec, std::shared_ptr<arrow::DataType> out,
                       bool path) {
  std::vector<cp::InputType> in = {arrow::utf8()};
  if (path) in.push_back(arrow::utf8());
  return RegisterScalarFunction(
      registry, name, path ? cp::Arity::Binary() : cp::Arity::Unary(),
      "JSON text to a value", {cp::ScalarKernel(in, out, exec)});
}

// ---- Lists ------------------------------------------------------------------

/// list_get(list, i): element i counted from 1 (from the end when negative), NULL
/// when out of range (DuckDB's l[i]). Any value type: the values are taken by index.
Status ListGetExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                   cp::ExecResult* out) {
  auto as_array = [&](const cp::ExecValue& v) -> Result<std::shared_ptr<arrow::Array>> {
    if (v.is_scalar()) return arrow::MakeArrayFromScalar(*v.scalar, batch.length);
    return v.array.ToArray();
  };
  ARROW_ASSIGN_OR_RAISE(auto lists_array, as_array(batch[0]));
  ARROW_ASSIGN_OR_RAISE(auto index_array, as_array(batch[1]));
  const auto& lists = static_cast<const arrow::ListArray&>(*lists_array);
  const auto& index = static_cast<const arrow::Int64Array&>(*index_array);
  arrow::Int64Builder take;
  ARROW_RETURN_NOT_OK(take.Reserve(batch.length));
  for (int64_t r = 0; r < batch.length; ++r) {
    if (lists.IsNull(r) || index.IsNull(r)) {
      take.UnsafeAppendNull();
      continue;
    }
    int64_t length = lists.value_length(r);
    int64_t i = index.Value(r);
    int64_t at = i > 0 ? i - 1 : (i < 0 ? length + i : -1);
    if (at < 0 || at >= length) {
      take.UnsafeAppendNull();
    } else {
      take.UnsafeAppend(lists.value_offset(r) + at);
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, take.Finish());
  ARROW_ASSIGN_OR_RAISE(auto values, cp::Take(lists.values(), indices));
  out->value = values.make_array()->data();
  return Status::OK();
}

// ---- JSON ---------------------------------------------------------------------

/// to_json(x): x as JSON text (common/json.h's writers); NULL stays NULL.
Status ToJsonExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  std::shared_ptr<arrow::Array> values;
  if (batch[0].is_scalar()) {
    ARROW_ASSIGN_OR_RAISE(values,
                          arrow::MakeArrayFromScalar(*batch[0].scalar, batch.length));
  } else {
    values = batch[0].array.ToArray();
  }
  ARROW_ASSIGN_OR_RAISE(auto writer, MakeJsonValueWriter(values));
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(batch.length));
  std::string text;
  for (int64_t r = 0; r < batch.length; ++r) {
    if (values->IsNull(r)) {
      ARROW_RETURN_NOT_OK(builder.AppendNull());
      continue;
    }
    text.clear();
    writer->Write(r, &text);
    ARROW_RETURN_NOT_OK(builder.Append(text));
  }
  ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
  out->value = array->data();
  return Status::OK();
}

// ---- Values as text -------------------------------------------------------------

Status ValueTextExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto text, ValueText(*batch[0].array.ToArray()));
  out->value = text->data();
  return Status::OK();
}

// ---- TRY_CAST ---------------------------------------------------------------

/// try_cast(value, typed NULL) -> the NULL's type: the safe cast of each value, NULL
/// where it fails (the whole batch at once unless one value fails).
Status TryCastExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                   cp::ExecResult* out) {
  auto type = out->type()->GetSharedPtr();
  auto values = batch[0].array.ToArray();
  auto options = cp::CastOptions::Safe(type);
  if (auto all = cp::Cast(*values, options, ctx->exec_context()); all.ok()) {
    out->value = all->make_array()->data();
    return Status::OK();
  }
  std::unique_ptr<arrow::ArrayBuilder> builder;
  ARROW_RETURN_NOT_OK(arrow::MakeBuilder(ctx->memory_pool(), type, &builder));
  for (int64_t i = 0; i < values->length(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto scalar, values->GetScalar(i));
    auto one = scalar->is_valid ? cp::Cast(arrow::Datum(scalar), options)
                                : Result<arrow::Datum>(Status::Invalid("null"));
    ARROW_RETURN_NOT_OK(one.ok() ? builder->AppendScalar(*one->scalar())
                                 : builder->AppendNull());
  }
  ARROW_ASSIGN_OR_RAISE(auto array, builder->Finish());
  out->value = array->data();
  return Status::OK();
}

// ---- Digests ----------------------------------------------------------------

/// utf8_md5 / utf8_sha256(text | blob) -> the digest's lower-case hex text.
template <const EVP_MD* (*kDigest)()>
Status DigestExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  const arrow::ArraySpan& in = batch[0].array;
  const auto* offsets = in.GetValues<int32_t>(1);
  const auto* data = in.buffers[2].data;
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.Reserve(in.length));
  unsigned char digest[EVP_MAX_MD_SIZE];
  char hex[2 * EVP_MAX_MD_SIZE];
  static constexpr char kHex[] = "0123456789abcdef";
  for (int64_t i = 0; i < in.length; ++i) {
    if (!in.IsValid(i)) {
      builder.UnsafeAppendNull();
      continue;
    }
    unsigned int size = 0;
    if (EVP_Digest(data + offsets[i], offsets[i + 1] - offsets[i], digest, &size,
                   kDigest(), nullptr) != 1) {
      return Status::UnknownError("the digest failed");
    }
    for (unsigned int b = 0; b < size; ++b) {
      hex[2 * b] = kHex[digest[b] >> 4];
      hex[2 * b + 1] = kHex[digest[b] & 15];
    }
    ARROW_RETURN_NOT_OK(builder.Append(hex, 2 * size));
  }
  ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
  out->value = array->data();
  return Status::OK();
}

template <const EVP_MD* (*kDigest)()>
Status AddDigest(cp::FunctionRegistry* registry, const std::string& name) {
  std::vector<cp::ScalarKernel> kernels;
  for (const auto& type : {arrow::utf8(), arrow::binary()}) {
    kernels.emplace_back(std::vector<cp::InputType>{type}, arrow::utf8(),
                         DigestExec<kDigest>);
  }
  return RegisterScalarFunction(registry, name, cp::Arity::Unary(),
                                "A digest as hex text", std::move(kernels));
}

// ---- Decimals ---------------------------------------------------------------

/// decimal_to_double(decimal) -> float64, correctly rounded: the unscaled integer
/// divided by 10^scale when both are exact doubles (Arrow's cast multiplies by
/// 10^-scale, which makes 0.6 into 0.6000000000000001), else parsed from its text.
Status DecimalToDoubleExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                           cp::ExecResult* out) {
  const arrow::ArraySpan& in = batch[0].array;
  const auto& type = static_cast<const arrow::DecimalType&>(*in.type);
  const int scale = type.scale();
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  constexpr int64_t kExact = int64_t{1} << 53;
  double* dst = out->array_span_mutable()->GetValues<double>(1);
  for (int64_t i = 0; i < in.length; ++i) {
    if (!in.IsValid(i)) {
      dst[i] = 0;
      continue;
    }
    std::string text;
    if (type.id() == arrow::Type::DECIMAL128) {
      arrow::Decimal128 v(in.buffers[1].data + (in.offset + i) * 16);
      const arrow::Decimal128 limit(kExact);
      if (scale >= 0 && scale <= 22 && v < limit && -limit < v) {
        dst[i] = static_cast<double>(static_cast<int64_t>(v.low_bits())) / kPow10[scale];
        continue;
      }
      text = v.ToString(scale);
    } else {
      arrow::Decimal256 v(in.buffers[1].data + (in.offset + i) * 32);
      text = v.ToString(scale);
    }
    dst[i] = std::strtod(text.c_str(), nullptr);
  }
  return Status::OK();
}

/// decimal_mean(sum decimal128, count int64) -> float64: DuckDB's avg of a decimal,
/// the exact sum divided once, in long double, by count * 10^scale.
Status DecimalMeanExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                       cp::ExecResult* out) {
  // After a whole-input aggregate both are scalars.
  std::shared_ptr<arrow::Array> arrays[2];
  for (int j = 0; j < 2; ++j) {
    if (batch[j].is_scalar()) {
      ARROW_ASSIGN_OR_RAISE(arrays[j],
                            arrow::MakeArrayFromScalar(*batch[j].scalar, batch.length));
    } else {
      arrays[j] = batch[j].array.ToArray();
    }
  }
  const auto& sums = static_cast<const arrow::Decimal128Array&>(*arrays[0]);
  const auto& counts = static_cast<const arrow::Int64Array&>(*arrays[1]);
  const int scale = static_cast<const arrow::DecimalType&>(*sums.type()).scale();
  const long double unit = std::pow(10.0L, scale);
  arrow::DoubleBuilder means;
  ARROW_RETURN_NOT_OK(means.Reserve(batch.length));
  for (int64_t i = 0; i < batch.length; ++i) {
    if (sums.IsNull(i) || counts.IsNull(i) || counts.Value(i) == 0) {
      means.UnsafeAppendNull();
      continue;
    }
    arrow::Decimal128 v(sums.GetValue(i));
    const auto low = static_cast<long double>(v.low_bits());
    const auto sum = static_cast<long double>(v.high_bits()) * 0x1p64L + low;
    means.UnsafeAppend(
        static_cast<double>(sum / (static_cast<long double>(counts.Value(i)) * unit)));
  }
  ARROW_ASSIGN_OR_RAISE(auto result, means.Finish());
  out->value = result->data();
  return Status::OK();
}

/// 10^n as a 128-bit integer, n in [0, 38].
__int128 Pow10(int n) {
  __int128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

/// decimal_add / decimal_subtract / decimal_multiply(decimal128, decimal128) in
/// DuckDB's result type (DecimalResultType), exact, in 128-bit integers: an
/// overflow, or a result wider than that type, is an error as in DuckDB.
template <char kOp>
Status DecimalArithmeticExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                             cp::ExecResult* out) {
  const auto& lt = static_cast<const arrow::DecimalType&>(*batch[0].type());
  const auto& rt = static_cast<const arrow::DecimalType&>(*batch[1].type());
  const auto& ot = static_cast<const arrow::DecimalType&>(*out->type());
  // Sums align both scales to the result's; products add them.
  const __int128 lmul = kOp == '*' ? 1 : Pow10(ot.scale() - lt.scale());
  const __int128 rmul = kOp == '*' ? 1 : Pow10(ot.scale() - rt.scale());
  const __int128 limit = Pow10(ot.precision());
  const DecimalColumn left(batch[0]), right(batch[1]);
  auto* result = out->array_span_mutable();
  auto* dst = reinterpret_cast<__int128*>(result->buffers[1].data) + result->offset;
  // Operands within 64 bits never overflow 128: one multiply, one add.
  constexpr __int128 k63 = static_cast<__int128>(1) << 63;
  auto small = [&](__int128 v) { return v < k63 && v >= -k63; };
  auto scaled = [&](__int128 v, __int128 mul, __int128* to) {
    if (mul == 1) {
      *to = v;
      return false;
    }
    if (small(v) && small(mul)) {
      *to = static_cast<__int128>(static_cast<int64_t>(v)) * static_cast<int64_t>(mul);
      return false;
    }
    return __builtin_mul_overflow(v, mul, to);
  };
  for (int64_t i = 0; i < batch.length; ++i) {
    __int128 r = 0;
    if (left.Valid(i) && right.Valid(i)) {
      const __int128 a = left.At(i), b = right.At(i);
      bool overflow;
      if constexpr (kOp == '*') {
        overflow = scaled(a, b, &r);
      } else {
        __int128 x, y;
        overflow = scaled(a, lmul, &x) || scaled(b, rmul, &y) ||
                   (kOp == '+' ? __builtin_add_overflow(x, y, &r)
                               : __builtin_sub_overflow(x, y, &r));
      }
      if (overflow || r >= limit || r <= -limit) {
        return Status::Invalid("Overflow in ",
                               kOp == '*'   ? "multiplication"
                               : kOp == '+' ? "addition"
                                            : "subtraction",
                               " of DECIMAL(", ot.precision(), ",", ot.scale(), ") (",
                               ToDecimal128(a).ToString(lt.scale()), " ", kOp, " ",
                               ToDecimal128(b).ToString(rt.scale()),
                               "); CAST an argument to a wider DECIMAL");
      }
    }
    dst[i] = r;
  }
  return Status::OK();
}

/// decimal_equal, decimal_less, ... (decimal128, decimal128) -> bool: the values
/// compared exactly at the larger scale (Arrow's kernels first cast both sides to a
/// common type, then compare through an out-of-line operator per value).
template <typename Compare>
Status DecimalCompareExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                          cp::ExecResult* out) {
  const int ls = static_cast<const arrow::DecimalType&>(*batch[0].type()).scale();
  const int rs = static_cast<const arrow::DecimalType&>(*batch[1].type()).scale();
  const int scale = std::max(ls, rs);
  const __int128 lmul = Pow10(scale - ls), rmul = Pow10(scale - rs);
  const DecimalColumn left(batch[0]), right(batch[1]);
  // A value that leaves 128 bits once scaled up is beyond every value of the other
  // side; its sign decides.
  constexpr __int128 kMax = ~(static_cast<__int128>(1) << 127);
  auto scaled = [](__int128 v, __int128 mul) {
    __int128 r;
    if (mul == 1) return v;
    if (__builtin_mul_overflow(v, mul, &r)) return v < 0 ? -kMax : kMax;
    return r;
  };
  auto* result = out->array_span_mutable();
  // One loop per kind of side: a constant scaled once, a column as is, or scaled.
  auto side = [&](const DecimalColumn& c, __int128 mul, auto&& next) {
    if (c.constant()) {
      const __int128 v = scaled(c.At(0), mul);
      return next([v](int64_t) { return v; });
    }
    if (mul == 1) return next([&c](int64_t i) { return c.At(i); });
    return next([&c, mul, &scaled](int64_t i) { return scaled(c.At(i), mul); });
  };
  side(left, lmul, [&](auto lhs) {
    side(right, rmul, [&](auto rhs) {
      int64_t i = 0;
      arrow::internal::GenerateBitsUnrolled(result->buffers[1].data, result->offset,
                                            batch.length, [&] {
                                              const bool v = Compare()(lhs(i), rhs(i));
                                              ++i;
                                              return v;
                                            });
    });
  });
  return Status::OK();
}

/// make_list(a, b, ...) -> list: per row the list [a, b, ...] (all one type).
Status MakeListExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                    cp::ExecResult* out) {
  const int64_t n = batch.length;
  const int k = batch.num_values();
  arrow::ArrayVector columns;
  for (int j = 0; j < k; ++j) {
    if (batch[j].is_scalar()) {
      ARROW_ASSIGN_OR_RAISE(auto a, arrow::MakeArrayFromScalar(*batch[j].scalar, n));
      columns.push_back(std::move(a));
    } else {
      columns.push_back(batch[j].array.ToArray());
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto all, arrow::Concatenate(columns, ctx->memory_pool()));
  // Row r's values are at r, n + r, 2n + r, ... of the concatenation.
  arrow::Int64Builder take;
  ARROW_RETURN_NOT_OK(take.Reserve(n * k));
  for (int64_t r = 0; r < n; ++r) {
    for (int j = 0; j < k; ++j) take.UnsafeAppend(j * n + r);
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, take.Finish());
  ARROW_ASSIGN_OR_RAISE(auto values, cp::Take(all, indices));
  std::vector<int32_t> offsets(n + 1);
  for (int64_t r = 0; r <= n; ++r) offsets[r] = static_cast<int32_t>(r * k);
  out->value = std::make_shared<arrow::ListArray>(
                   out->type()->GetSharedPtr(), n,
                   arrow::Buffer::FromVector(std::move(offsets)), values.make_array())
                   ->data();
  return Status::OK();
}

Status Register() {
  auto* registry = cp::GetFunctionRegistry();
  ARROW_RETURN_NOT_OK(RegisterAggregates(registry));
  auto add_months = std::make_shared<cp::ScalarFunction>(
      "add_months", cp::Arity::Binary(),
      cp::FunctionDoc("Adds a number of months to a date or timestamp",
                      "The day of month is clamped to the last day of the result's "
                      "month; the time of day is kept.",
                      {"value", "months"}));
  cp::ScalarKernel date_kernel({arrow::date32(), arrow::int32()}, arrow::date32(),
                               AddMonthsExec<int32_t>);
  ARROW_RETURN_NOT_OK(add_months->AddKernel(date_kernel));
  cp::OutputType same_as_first(
      [](cp::KernelContext*,
         const std::vector<arrow::TypeHolder>& types) -> Result<arrow::TypeHolder> {
        return types[0];
      });
  cp::ScalarKernel ts_kernel({cp::InputType(arrow::Type::TIMESTAMP), arrow::int32()},
                             same_as_first, AddMonthsExec<int64_t>);
  ARROW_RETURN_NOT_OK(add_months->AddKernel(ts_kernel));
  ARROW_RETURN_NOT_OK(registry->AddFunction(add_months, /*allow_overwrite=*/true));
  ARROW_RETURN_NOT_OK(RegisterScalarFunction(
      registry, "to_json", cp::Arity::Unary(), "A value as JSON text",
      {cp::ScalarKernel({cp::InputType::Any()}, arrow::utf8(), ToJsonExec)}));
  ARROW_RETURN_NOT_OK(RegisterScalarFunction(
      registry, "list_get", cp::Arity::Binary(), "An element of a list, counted from 1",
      {cp::ScalarKernel(
          {cp::InputType(arrow::Type::LIST), arrow::int64()},
          cp::OutputType([](cp::KernelContext*, const std::vector<arrow::TypeHolder>&
                                                    types) -> Result<arrow::TypeHolder> {
            return static_cast<const arrow::ListType&>(*types[0].type).value_type();
          }),
          ListGetExec)}));
  auto make_list = std::make_shared<cp::ScalarFunction>(
      "make_list", cp::Arity::VarArgs(1),
      cp::FunctionDoc("A list of the arguments, per row", "", {"values"}));
  cp::ScalarKernel list_of(
      cp::KernelSignature::Make(
          {cp::InputType::Any()},
          cp::OutputType([](cp::KernelContext*, const std::vector<arrow::TypeHolder>&
                                                    types) -> Result<arrow::TypeHolder> {
            return arrow::list(types[0].GetSharedPtr());
          }),
          /*is_varargs=*/true),
      MakeListExec);
  list_of.null_handling = cp::NullHandling::OUTPUT_NOT_NULL;
  list_of.mem_allocation = cp::MemAllocation::NO_PREALLOCATE;
  ARROW_RETURN_NOT_OK(make_list->AddKernel(list_of));
  ARROW_RETURN_NOT_OK(registry->AddFunction(make_list, /*allow_overwrite=*/true));
  auto to_double = std::make_shared<cp::ScalarFunction>(
      "decimal_to_double", cp::Arity::Unary(),
      cp::FunctionDoc("A decimal as the nearest double", "", {"value"}));
  for (auto id : {arrow::Type::DECIMAL128, arrow::Type::DECIMAL256}) {
    cp::ScalarKernel kernel({cp::InputType(id)}, arrow::float64(), DecimalToDoubleExec);
    ARROW_RETURN_NOT_OK(to_double->AddKernel(kernel));
  }
  ARROW_RETURN_NOT_OK(registry->AddFunction(to_double, /*allow_overwrite=*/true));
  const std::tuple<const char*, std::string, cp::ArrayKernelExec> arithmetic[] = {
      {"decimal_add", "+", DecimalArithmeticExec<'+'>},
      {"decimal_subtract", "-", DecimalArithmeticExec<'-'>},
      {"decimal_multiply", "*", DecimalArithmeticExec<'*'>}};
  for (const auto& [name, op, exec] : arithmetic) {
    auto function = std::make_shared<cp::ScalarFunction>(
        name, cp::Arity::Binary(),
        cp::FunctionDoc("Exact decimal arithmetic in DuckDB's result type", "",
                        {"left", "right"}));
    cp::ScalarKernel kernel(
        {cp::InputType(arrow::Type::DECIMAL128), cp::InputType(arrow::Type::DECIMAL128)},
        cp::OutputType([op](cp::KernelContext*, const std::vector<arrow::TypeHolder>& t)
                           -> Result<arrow::TypeHolder> {
          return DecimalResultType(op, *t[0].type, *t[1].type);
        }),
        exec);
    ARROW_RETURN_NOT_OK(function->AddKernel(std::move(kernel)));
    ARROW_RETURN_NOT_OK(registry->AddFunction(function, /*allow_overwrite=*/true));
  }
  const std::pair<const char*, cp::ArrayKernelExec> comparisons[] = {
      {"decimal_equal", DecimalCompareExec<std::equal_to<__int128>>},
      {"decimal_not_equal", DecimalCompareExec<std::not_equal_to<__int128>>},
      {"decimal_less", DecimalCompareExec<std::less<__int128>>},
      {"decimal_less_equal", DecimalCompareExec<std::less_equal<__int128>>},
      {"decimal_greater", DecimalCompareExec<std::greater<__int128>>},
      {"decimal_greater_equal", DecimalCompareExec<std::greater_equal<__int128>>}};
  for (const auto& [name, exec] : comparisons) {
    auto function = std::make_shared<cp::ScalarFunction>(
        name, cp::Arity::Binary(),
        cp::FunctionDoc("Compares decimals exactly", "", {"left", "right"}));
    ARROW_RETURN_NOT_OK(function->AddKernel(
        {cp::InputType(arrow::Type::DECIMAL128), cp::InputType(arrow::Type::DECIMAL128)},
        arrow::boolean(), exec));
    ARROW_RETURN_NOT_OK(registry->AddFunction(function, /*allow_overwrite=*/true));
  }
  ARROW_RETURN_NOT_OK(RegisterScalarFunction(
      registry, "decimal_mean", cp::Arity::Binary(),
      "A decimal sum over a count, as a double",
      {cp::ScalarKernel({cp::InputType(arrow::Type::DECIMAL128), arrow::int64()},
                        arrow::float64(), DecimalMeanExec)}));
  ARROW_RETURN_NOT_OK(RegisterScalarFunction(
      registry, "value_text", cp::Arity::Unary(), "A value as DuckDB's text",
      {cp::ScalarKernel({cp::InputType::Any()}, arrow::utf8(), ValueTextExec)}));
  ARROW_RETURN_NOT_OK(RegisterScalarFunction(
      registry, "try_cast", cp::Arity::Binary(),
      "A cast that gives NULL where a value does not convert",
      {cp::ScalarKernel(
          {cp::InputType::Any(), cp::InputType::Any()},
          cp::OutputType(
              [](cp::KernelContext*, const std::vector<arrow::TypeHolder>& types)
                  -> Result<arrow::TypeHolder> { return types[1]; }),
          TryCastExec)}));
  ARROW_RETURN_NOT_OK(AddDigest<EVP_md5>(registry, "utf8_md5"));
  ARROW_RETURN_NOT_OK(AddDigest<EVP_sha256>(registry, "utf8_sha256"));
  ARROW_RETURN_NOT_OK(AddJsonFunction(registry, "json_extract",
                                      JsonExec<JsonOp::kExtract>, arrow::utf8(), true));
  ARROW_RETURN_NOT_OK(AddJsonFunction(registry, "json_extract_string",
                                      JsonExec<JsonOp::kExtractString>, arrow::utf8(),
                                      true));
  ARROW_RETURN_NOT_OK(AddJsonFunction(registry, "json_array_length",
                                      JsonExec<JsonOp::kArrayLength>, arrow::int64(),
                                      true));
  return AddJsonFunction(registry, "json_keys", JsonExec<JsonOp::kKeys>,
                         arrow::list(arrow::utf8()), true);
}

}  // namespace

Result<std::shared_ptr<arrow::DataType>> DecimalResultType(const std::string& op,
                                                           const arrow::DataType& l,
                                                           const arrow::DataType& r) {
  const auto& ld = static_cast<const arrow::DecimalType&>(l);
  const auto& rd = static_cast<const arrow::DecimalType&>(r);
  int p1 = ld.precision(), s1 = ld.scale();
  int p2 = rd.precision(), s2 = rd.scale();
  int p, s;
  if (op == "*") {
    s = s1 + s2;
    p = p1 + p2;
    if (p > 18 && p1 <= 18 && p2 <= 18) p = 18;
  } else {
    s = std::max(s1, s2);
    p = std::max(p1 - s1, p2 - s2) + s + 1;
  }
  p = std::min(p, 38);
  if (s > p) {
    return Status::NotImplemented("not supported: a DECIMAL result with scale ", s,
                                  " (at most 38 digits)");
  }
  return arrow::decimal128(p, s);
}

Status RegisterScalarFunction(cp::FunctionRegistry* registry, const std::string& name,
                              const cp::Arity& arity, const std::string& summary,
                              std::vector<cp::ScalarKernel> kernels) {
  auto function =
      std::make_shared<cp::ScalarFunction>(name, arity, cp::FunctionDoc(summary, "", {}));
  for (auto& kernel : kernels) {
    kernel.null_handling = cp::NullHandling::COMPUTED_NO_PREALLOCATE;
    kernel.mem_allocation = cp::MemAllocation::NO_PREALLOCATE;
    ARROW_RETURN_NOT_OK(function->AddKernel(std::move(kernel)));
  }
  return registry->AddFunction(function, /*allow_overwrite=*/true);
}

Status RegisterFunctions() {
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = Register(); });
  return status;
}

}  // namespace flowsql::plan
