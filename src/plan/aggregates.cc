// Aggregates Acero lacks, as one mechanism: `collect` gathers each group's values
// into a list (any type, structs included), and a scalar function over that list
// finishes the aggregate (string_agg, median, quantiles, mode, arg_min, covariance,
// regressions, ORDER BY inside an aggregate). Beside it, `decimal_sum`: exact, checked
// sums of decimals.
#include "plan/aggregates.h"

#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/builder.h>
#include <arrow/compute/api.h>
#include <arrow/compute/kernel.h>
#include <arrow/scalar.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "plan/functions.h"

namespace flowsql::plan {

namespace cp = arrow::compute;
using arrow::Type;

namespace {

Result<std::shared_ptr<arrow::Array>> AsArray(const cp::ExecValue& v, int64_t length) {
  if (v.is_scalar()) return arrow::MakeArrayFromScalar(*v.scalar, length);
  return v.array.ToArray();
}

Result<std::shared_ptr<arrow::Array>> ConcatOrEmpty(
    const std::vector<std::shared_ptr<arrow::Array>>& chunks,
    const std::shared_ptr<arrow::DataType>& type) {
  if (chunks.empty()) return arrow::MakeEmptyArray(type);
  if (chunks.size() == 1) return chunks[0];
  return arrow::Concatenate(chunks);
}

// ---- collect ----------------------------------------------------------------

/// The values consumed so far, as the input's arrays (never copied), and for the
/// grouped form each value's group id.
struct CollectState : cp::KernelState {
  std::shared_ptr<arrow::DataType> type;
  std::vector<std::shared_ptr<arrow::Array>> values;
  std::vector<std::shared_ptr<arrow::Array>> groups;  // uint32, hash_collect only
  int64_t num_groups = 0;
};

CollectState* State(cp::KernelContext* ctx) {
  return static_cast<CollectState*>(ctx->state());
}

Result<std::unique_ptr<cp::KernelState>> CollectInit(cp::KernelContext*,
                                                     const cp::KernelInitArgs& args) {
  auto state = std::make_unique<CollectState>();
  state->type = args.inputs[0].GetSharedPtr();
  return state;
}

Status CollectConsume(cp::KernelContext* ctx, const cp::ExecSpan& batch) {
  ARROW_ASSIGN_OR_RAISE(auto values, AsArray(batch[0], batch.length));
  if (values->length() > 0) State(ctx)->values.push_back(std::move(values));
  return Status::OK();
}

Status CollectMerge(cp::KernelContext*, cp::KernelState&& src, cp::KernelState* dst) {
  auto& from = static_cast<CollectState&>(src);
  auto* to = static_cast<CollectState*>(dst);
  for (auto& v : from.values) to->values.push_back(std::move(v));
  return Status::OK();
}

/// No row gives NULL, as an aggregate over no row does.
Status CollectFinalize(cp::KernelContext* ctx, arrow::Datum* out) {
  auto* state = State(ctx);
  auto type = arrow::list(state->type);
  if (state->values.empty()) {
    *out = arrow::MakeNullScalar(type);
    return Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto values, ConcatOrEmpty(state->values, state->type));
  *out = std::make_shared<arrow::ListScalar>(std::move(values), type);
  return Status::OK();
}

Status HashCollectResize(cp::KernelContext* ctx, int64_t num_groups) {
  State(ctx)->num_groups = num_groups;
  return Status::OK();
}

Status HashCollectConsume(cp::KernelContext* ctx, const cp::ExecSpan& batch) {
  ARROW_ASSIGN_OR_RAISE(auto values, AsArray(batch[0], batch.length));
  ARROW_ASSIGN_OR_RAISE(auto groups, AsArray(batch[1], batch.length));
  State(ctx)->values.push_back(std::move(values));
  State(ctx)->groups.push_back(std::move(groups));
  return Status::OK();
}

Status HashCollectMerge(cp::KernelContext* ctx, cp::KernelState&& src,
                        const arrow::ArrayData& group_id_mapping) {
  auto& from = static_cast<CollectState&>(src);
  auto* to = State(ctx);
  auto mapping = arrow::MakeArray(std::make_shared<arrow::ArrayData>(group_id_mapping));
  for (size_t i = 0; i < from.values.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto groups, cp::Take(mapping, from.groups[i]));
    to->values.push_back(std::move(from.values[i]));
    to->groups.push_back(groups.make_array());
  }
  return Status::OK();
}

/// One list per group, its values in the order they were consumed.
Status HashCollectFinalize(cp::KernelContext* ctx, arrow::Datum* out) {
  auto* state = State(ctx);
  ARROW_ASSIGN_OR_RAISE(auto values, ConcatOrEmpty(state->values, state->type));
  ARROW_ASSIGN_OR_RAISE(auto groups, ConcatOrEmpty(state->groups, arrow::uint32()));
  state->values.clear();
  state->groups.clear();
  // A stable sort by group keeps each group's values in order.
  ARROW_ASSIGN_OR_RAISE(auto order, cp::SortIndices(*groups));
  ARROW_ASSIGN_OR_RAISE(auto sorted, cp::Take(values, order));
  std::vector<int32_t> offsets(state->num_groups + 1, 0);
  const auto* ids = groups->data()->GetValues<uint32_t>(1);
  for (int64_t i = 0; i < groups->length(); ++i) ++offsets[ids[i] + 1];
  for (int64_t g = 0; g < state->num_groups; ++g) offsets[g + 1] += offsets[g];
  auto offset_buffer = arrow::Buffer::FromVector(std::move(offsets));
  *out =
      std::make_shared<arrow::ListArray>(arrow::list(state->type), state->num_groups,
                                         std::move(offset_buffer), sorted.make_array());
  return Status::OK();
}

// ---- decimal_sum -----------------------------------------------------------------

/// Per group, the sum of the decimal128 values seen, as a 128-bit integer, and how
/// many there were. Arrow's decimal sum wraps on overflow and adds through an
/// out-of-line operator per value; this one checks and stays in registers.
struct DecimalSumState : cp::KernelState {
  std::shared_ptr<arrow::DataType> type;  // the output: DECIMAL(38, input scale)
  std::vector<__int128> sums;
  std::vector<int64_t> counts;
};

DecimalSumState* SumState(cp::KernelContext* ctx) {
  return static_cast<DecimalSumState*>(ctx->state());
}

Status SumOverflow() {
  return Status::Invalid(
      "Overflow in SUM of DECIMAL: the result does not fit in "
      "DECIMAL(38)");
}

Status AddTo(__int128* sum, __int128 value) {
  if (__builtin_add_overflow(*sum, value, sum)) return SumOverflow();
  return Status::OK();
}

Result<std::unique_ptr<cp::KernelState>> DecimalSumInit(cp::KernelContext*,
                                                        const cp::KernelInitArgs& args) {
  auto state = std::make_unique<DecimalSumState>();
  const auto& in = static_cast<const arrow::DecimalType&>(*args.inputs[0].type);
  state->type = arrow::decimal128(38, in.scale());
  return state;
}

/// Adds the values of batch[0] into the groups batch[1] names (group 0 without one).
Status DecimalSumConsume(cp::KernelContext* ctx, const cp::ExecSpan& batch) {
  auto* state = SumState(ctx);
  const DecimalColumn values(batch[0]);
  std::shared_ptr<arrow::Array> group_array;
  const uint32_t* groups = nullptr;
  if (batch.num_values() > 1) {
    ARROW_ASSIGN_OR_RAISE(group_array, AsArray(batch[1], batch.length));
    groups = group_array->data()->GetValues<uint32_t>(1);
  } else if (state->sums.empty()) {
    state->sums.assign(1, 0);
    state->counts.assign(1, 0);
  }
  __int128* sums = state->sums.data();
  int64_t* counts = state->counts.data();
  bool overflow = false;
  for (int64_t i = 0; i < batch.length; ++i) {
    if (!values.Valid(i)) continue;
    const uint32_t g = groups ? groups[i] : 0;
    overflow |= __builtin_add_overflow(sums[g], values.At(i), &sums[g]);
    ++counts[g];
  }
  return overflow ? SumOverflow() : Status::OK();
}

Status DecimalSumMerge(cp::KernelContext* ctx, cp::KernelState&& src,
                       cp::KernelState* dst) {
  auto& from = static_cast<DecimalSumState&>(src);
  auto* to = static_cast<DecimalSumState*>(dst);
  if (from.sums.empty()) return Status::OK();
  if (to->sums.empty()) {
    to->sums.assign(1, 0);
    to->counts.assign(1, 0);
  }
  to->counts[0] += from.counts[0];
  return AddTo(&to->sums[0], from.sums[0]);
}

/// The sums as decimals, NULL where a group had no value; one of 39 digits is an
/// error, as in DuckDB.
Result<std::shared_ptr<arrow::Array>> FinishSums(const DecimalSumState& state) {
  arrow::Decimal128Builder out(state.type);
  ARROW_RETURN_NOT_OK(out.Reserve(static_cast<int64_t>(state.sums.size())));
  __int128 limit = 1;
  for (int i = 0; i < 38; ++i) limit *= 10;
  for (size_t g = 0; g < state.sums.size(); ++g) {
    if (state.counts[g] == 0) {
      out.UnsafeAppendNull();
      continue;
    }
    const auto v = state.sums[g];
    if (v >= limit || v <= -limit) return SumOverflow();
    out.UnsafeAppend(
        arrow::Decimal128(static_cast<int64_t>(v >> 64), static_cast<uint64_t>(v)));
  }
  return out.Finish();
}

Status DecimalSumFinalize(cp::KernelContext* ctx, arrow::Datum* out) {
  auto* state = SumState(ctx);
  if (state->sums.empty()) {
    *out = arrow::MakeNullScalar(state->type);
    return Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto sums, FinishSums(*state));
  ARROW_ASSIGN_OR_RAISE(*out, sums->GetScalar(0));
  return Status::OK();
}

Status HashDecimalSumResize(cp::KernelContext* ctx, int64_t num_groups) {
  SumState(ctx)->sums.resize(num_groups, 0);
  SumState(ctx)->counts.resize(num_groups, 0);
  return Status::OK();
}

Status HashDecimalSumMerge(cp::KernelContext* ctx, cp::KernelState&& src,
                           const arrow::ArrayData& group_id_mapping) {
  auto& from = static_cast<DecimalSumState&>(src);
  auto* to = SumState(ctx);
  const auto* mapping = group_id_mapping.GetValues<uint32_t>(1);
  for (size_t g = 0; g < from.sums.size(); ++g) {
    ARROW_RETURN_NOT_OK(AddTo(&to->sums[mapping[g]], from.sums[g]));
    to->counts[mapping[g]] += from.counts[g];
  }
  return Status::OK();
}

Status HashDecimalSumFinalize(cp::KernelContext* ctx, arrow::Datum* out) {
  ARROW_ASSIGN_OR_RAISE(auto sums, FinishSums(*SumState(ctx)));
  *out = sums;
  return Status::OK();
}

// ---- finishing functions over a list ------------------------------------------

/// The list argument and a row loop helper: each row's values as a slice.
struct Lists {
  std::shared_ptr<arrow::ListArray> array;
  bool IsNull(int64_t r) const { return array->IsNull(r); }
  std::shared_ptr<arrow::Array> Row(int64_t r) const { return array->value_slice(r); }
};

Result<Lists> ListArg(const cp::ExecSpan& batch, int i) {
  ARROW_ASSIGN_OR_RAISE(auto a, AsArray(batch[i], batch.length));
  return Lists{std::static_pointer_cast<arrow::ListArray>(a)};
}

/// A constant argument (the binder made it one; an executor may still broadcast it).
Result<std::shared_ptr<arrow::Scalar>> ScalarArg(const cp::ExecSpan& batch, int i) {
  if (batch[i].is_scalar()) return batch[i].scalar->GetSharedPtr();
  if (batch[i].array.length == 0) return Status::Invalid("a constant argument is empty");
  return batch[i].array.ToArray()->GetScalar(0);
}

/// The indices of `values`' non-null entries in ascending order (stable), nulls
/// dropped.
Result<std::shared_ptr<arrow::UInt64Array>> AscendingValid(const arrow::Array& values,
                                                           bool descending = false) {
  cp::SortOptions options(
      {cp::SortKey(arrow::FieldRef(0),
                   descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending,
                   cp::NullPlacement::AtEnd)});
  ARROW_ASSIGN_OR_RAISE(auto idx, cp::SortIndices(values, options));
  return std::static_pointer_cast<arrow::UInt64Array>(
      idx->Slice(0, values.length() - values.null_count()));
}

Status Emit(arrow::ArrayBuilder* builder, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto array, builder->Finish());
  out->value = array->data();
  return Status::OK();
}

/// string_agg: the row's non-NULL strings joined by the separator; NULL if none.
Status StringAggExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  ARROW_ASSIGN_OR_RAISE(auto sep_scalar, ScalarArg(batch, 1));
  arrow::StringBuilder builder;
  if (!sep_scalar->is_valid) {  // a NULL separator makes every result NULL
    ARROW_RETURN_NOT_OK(builder.AppendNulls(batch.length));
    return Emit(&builder, out);
  }
  std::string sep(static_cast<const arrow::BaseBinaryScalar&>(*sep_scalar).view());
  std::string text;
  for (int64_t r = 0; r < batch.length; ++r) {
    bool any = false;
    text.clear();
    if (!lists.IsNull(r)) {
      auto values_row = lists.Row(r);
      const auto& values = static_cast<const arrow::StringArray&>(*values_row);
      for (int64_t i = 0; i < values.length(); ++i) {
        if (values.IsNull(i)) continue;
        if (any) text += sep;
        text.append(values.GetView(i));
        any = true;
      }
    }
    ARROW_RETURN_NOT_OK(any ? builder.Append(text) : builder.AppendNull());
  }
  return Emit(&builder, out);
}

/// list_sort_by(list<struct<v, k1, ...>>, spec) -> list<v>: each row's values
/// ordered by the keys. spec holds two letters per key: 'a'|'d' and 'f'|'l' (NULLS
/// FIRST | LAST). Equal keys keep their order.
Status SortByExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  ARROW_ASSIGN_OR_RAISE(auto spec_scalar, ScalarArg(batch, 1));
  std::string spec(static_cast<const arrow::BaseBinaryScalar&>(*spec_scalar).view());
  const auto& structs = static_cast<const arrow::StructArray&>(*lists.array->values());
  std::vector<cp::SortKey> keys;
  for (size_t k = 0; k + 1 < spec.size(); k += 2) {
    keys.emplace_back(
        arrow::FieldRef(static_cast<int>(k / 2) + 1),
        spec[k] == 'd' ? cp::SortOrder::Descending : cp::SortOrder::Ascending,
        spec[k + 1] == 'f' ? cp::NullPlacement::AtStart : cp::NullPlacement::AtEnd);
  }
  arrow::UInt64Builder take;
  for (int64_t r = 0; r < batch.length; ++r) {
    if (lists.IsNull(r)) continue;
    int64_t offset = lists.array->value_offset(r);
    auto row = structs.Slice(offset, lists.array->value_length(r));
    ARROW_ASSIGN_OR_RAISE(auto row_batch, arrow::RecordBatch::FromStructArray(row));
    ARROW_ASSIGN_OR_RAISE(auto idx, cp::SortIndices(row_batch, cp::SortOptions(keys)));
    const auto& order = static_cast<const arrow::UInt64Array&>(*idx);
    for (int64_t i = 0; i < order.length(); ++i) {
      ARROW_RETURN_NOT_OK(take.Append(offset + order.Value(i)));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto indices, take.Finish());
  // Rows keep their lengths and validity; the values move into each row's order.
  ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(structs.field(0), indices));
  std::vector<int32_t> offsets(batch.length + 1, 0);
  arrow::TypedBufferBuilder<bool> validity;
  for (int64_t r = 0; r < batch.length; ++r) {
    bool valid = !lists.IsNull(r);
    offsets[r + 1] = offsets[r] + (valid ? lists.array->value_length(r) : 0);
    ARROW_RETURN_NOT_OK(validity.Append(valid));
  }
  ARROW_ASSIGN_OR_RAISE(auto bitmap, validity.Finish());
  auto result = std::make_shared<arrow::ListArray>(
      arrow::list(structs.type()->field(0)->type()), batch.length,
      arrow::Buffer::FromVector(std::move(offsets)), taken.make_array(), bitmap);
  out->value = result->data();
  return Status::OK();
}

/// A quantile fraction from its decimal text: exact (num / den) where it is a
/// plain decimal, else only its double value.
struct Fraction {
  double value = 0;
  bool exact = false;
  bool descending = false;  // -q: counted from the top (ORDER BY x DESC), as DuckDB
  __int128 num = 0, den = 1;
};

Fraction ParseFraction(std::string text) {
  Fraction f;
  f.descending = !text.empty() && text[0] == '-';
  if (f.descending) text = text.substr(1);
  f.value = std::strtod(text.c_str(), nullptr);
  size_t dot = text.find('.');
  std::string digits =
      dot == std::string::npos ? text : text.substr(0, dot) + text.substr(dot + 1);
  if (digits.empty() || digits.size() > 30 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return f;
  }
  f.exact = true;
  for (char c : digits) f.num = f.num * 10 + (c - '0');
  if (dot != std::string::npos) {
    for (size_t i = dot + 1; i < text.size(); ++i) f.den *= 10;
  }
  return f;
}

// Quantiles: DuckDB's positions. Discrete takes the value at
// max(1, n - floor(n - q n)) - 1, exactly for a decimal q; continuous interpolates
// between floor((n-1) q) and the next value.
int64_t DiscreteIndex(int64_t n, const Fraction& q) {
  int64_t floored =
      q.exact ? static_cast<int64_t>((n * q.den - n * q.num) / q.den)
              : static_cast<int64_t>(std::floor(static_cast<double>(n) - q.value * n));
  return std::max<int64_t>(1, n - floored) - 1;
}

/// The continuous quantile of `values` at sorted positions lo, hi, weight d.
Result<std::shared_ptr<arrow::Scalar>> Interpolate(const arrow::Array& values, int64_t lo,
                                                   int64_t hi, double d,
                                                   const arrow::DataType& out_type) {
  ARROW_ASSIGN_OR_RAISE(auto a, values.GetScalar(lo));
  ARROW_ASSIGN_OR_RAISE(auto b, values.GetScalar(hi));
  const auto id = values.type_id();
  if (id == Type::DECIMAL128) {
    auto x = static_cast<const arrow::Decimal128Scalar&>(*a).value;
    auto y = static_cast<const arrow::Decimal128Scalar&>(*b).value;
    double step = std::trunc(arrow::Decimal128(y - x).ToDouble(0) * d);
    ARROW_ASSIGN_OR_RAISE(auto delta, arrow::Decimal128::FromReal(step, 38, 0));
    return std::make_shared<arrow::Decimal128Scalar>(x + delta, values.type());
  }
  if (id == Type::DATE32 || id == Type::TIMESTAMP) {
    // Dates interpolate as timestamps (DuckDB's median of dates is a TIMESTAMP).
    int64_t scale = id == Type::DATE32 ? 86400LL * 1000000 : 1;
    int64_t x = id == Type::DATE32
                    ? static_cast<const arrow::Date32Scalar&>(*a).value * scale
                    : static_cast<const arrow::TimestampScalar&>(*a).value;
    int64_t y = id == Type::DATE32
                    ? static_cast<const arrow::Date32Scalar&>(*b).value * scale
                    : static_cast<const arrow::TimestampScalar&>(*b).value;
    int64_t v = x + static_cast<int64_t>(static_cast<double>(y - x) * d);
    return std::make_shared<arrow::TimestampScalar>(v, out_type.GetSharedPtr());
  }
  // Integers beyond 2^53 become the nearest double, as DuckDB's do.
  auto to_double = cp::CastOptions::Unsafe(arrow::float64());
  ARROW_ASSIGN_OR_RAISE(auto xa, cp::Cast(arrow::Datum(a), to_double));
  ARROW_ASSIGN_OR_RAISE(auto ya, cp::Cast(arrow::Datum(b), to_double));
  double x = static_cast<const arrow::DoubleScalar&>(*xa.scalar()).value;
  double y = static_cast<const arrow::DoubleScalar&>(*ya.scalar()).value;
  double v = x + (y - x) * d;
  if (out_type.id() == Type::FLOAT) {
    return std::make_shared<arrow::FloatScalar>(static_cast<float>(v));
  }
  return std::make_shared<arrow::DoubleScalar>(v);
}

/// list_quantile_cont / list_quantile_disc(list, q): q a number or a list of them
/// (then the result is a list). NULLs are skipped; no value gives NULL.
template <bool kDiscrete>
Status QuantileExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                    cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  ARROW_ASSIGN_OR_RAISE(auto q_scalar, ScalarArg(batch, 1));
  std::vector<Fraction> qs;
  bool many = q_scalar->type->id() == Type::LIST;
  if (many) {
    const auto& l = static_cast<const arrow::ListScalar&>(*q_scalar);
    const auto& texts = static_cast<const arrow::StringArray&>(*l.value);
    for (int64_t i = 0; i < texts.length(); ++i) {
      qs.push_back(ParseFraction(texts.GetString(i)));
    }
  } else {
    qs.push_back(ParseFraction(q_scalar->ToString()));
  }
  const auto& out_type = *out->type();
  auto value_type = many ? static_cast<const arrow::ListType&>(out_type).value_type()
                         : out_type.GetSharedPtr();
  std::unique_ptr<arrow::ArrayBuilder> builder;
  ARROW_RETURN_NOT_OK(arrow::MakeBuilder(ctx->memory_pool(), value_type, &builder));
  std::vector<int32_t> offsets = {0};
  std::vector<bool> valid;
  for (int64_t r = 0; r < batch.length; ++r) {
    std::shared_ptr<arrow::UInt64Array> order;
    std::shared_ptr<arrow::Array> row;
    if (!lists.IsNull(r)) {
      row = lists.Row(r);
      ARROW_ASSIGN_OR_RAISE(order, AscendingValid(*row));
    }
    int64_t n = order ? order->length() : 0;
    valid.push_back(n > 0);
    if (n == 0) {
      if (!many) ARROW_RETURN_NOT_OK(builder->AppendNull());
      offsets.push_back(offsets.back());
      continue;
    }
    for (const Fraction& q : qs) {
      std::shared_ptr<arrow::Scalar> v;
      if (kDiscrete) {
        int64_t k = DiscreteIndex(n, q);
        if (q.descending) k = n - 1 - k;
        ARROW_ASSIGN_OR_RAISE(v, row->GetScalar(order->Value(k)));
      } else {
        double rn = static_cast<double>(n - 1) * (q.descending ? 1 - q.value : q.value);
        auto lo = static_cast<int64_t>(std::floor(rn));
        auto hi = static_cast<int64_t>(std::ceil(rn));
        ARROW_ASSIGN_OR_RAISE(auto sorted, cp::Take(*row, *order));
        ARROW_ASSIGN_OR_RAISE(v, Interpolate(*sorted, lo, hi, rn - lo, *value_type));
      }
      ARROW_RETURN_NOT_OK(builder->AppendScalar(*v));
    }
    offsets.push_back(offsets.back() + static_cast<int32_t>(qs.size()));
  }
  ARROW_ASSIGN_OR_RAISE(auto values, builder->Finish());
  if (!many) {
    out->value = values->data();
    return Status::OK();
  }
  arrow::TypedBufferBuilder<bool> validity;
  for (bool v : valid) ARROW_RETURN_NOT_OK(validity.Append(v));
  ARROW_ASSIGN_OR_RAISE(auto bitmap, validity.Finish());
  auto result = std::make_shared<arrow::ListArray>(
      out_type.GetSharedPtr(), batch.length,
      arrow::Buffer::FromVector(std::move(offsets)), values, bitmap);
  out->value = result->data();
  return Status::OK();
}

/// list_distinct(list): each row's values without repeats, the first of equals kept
/// in place.
Status DistinctExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  std::vector<std::shared_ptr<arrow::Array>> rows;
  std::vector<int32_t> offsets = {0};
  arrow::TypedBufferBuilder<bool> validity;
  for (int64_t r = 0; r < batch.length; ++r) {
    int32_t length = 0;
    if (!lists.IsNull(r)) {
      ARROW_ASSIGN_OR_RAISE(auto unique, cp::Unique(lists.Row(r)));
      length = static_cast<int32_t>(unique->length());
      rows.push_back(std::move(unique));
    }
    offsets.push_back(offsets.back() + length);
    ARROW_RETURN_NOT_OK(validity.Append(!lists.IsNull(r)));
  }
  ARROW_ASSIGN_OR_RAISE(auto values, ConcatOrEmpty(rows, lists.array->value_type()));
  ARROW_ASSIGN_OR_RAISE(auto bitmap, validity.Finish());
  out->value = std::make_shared<arrow::ListArray>(
                   lists.array->type(), batch.length,
                   arrow::Buffer::FromVector(std::move(offsets)), values, bitmap)
                   ->data();
  return Status::OK();
}

/// list_mode(list): the most frequent non-NULL value, the first seen among equals.
Status ModeExec(cp::KernelContext* ctx, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  std::unique_ptr<arrow::ArrayBuilder> builder;
  ARROW_RETURN_NOT_OK(
      arrow::MakeBuilder(ctx->memory_pool(), out->type()->GetSharedPtr(), &builder));
  for (int64_t r = 0; r < batch.length; ++r) {
    std::shared_ptr<arrow::Array> row = lists.IsNull(r) ? nullptr : lists.Row(r);
    if (row == nullptr || row->length() == row->null_count()) {
      ARROW_RETURN_NOT_OK(builder->AppendNull());
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto valid, cp::DropNull(row));
    // value_counts lists values in the order first seen.
    ARROW_ASSIGN_OR_RAISE(auto counted, cp::ValueCounts(valid.make_array()));
    const auto& counts = static_cast<const arrow::Int64Array&>(*counted->field(1));
    int64_t best = 0;
    for (int64_t i = 1; i < counts.length(); ++i) {
      if (counts.Value(i) > counts.Value(best)) best = i;
    }
    ARROW_ASSIGN_OR_RAISE(auto v, counted->field(0)->GetScalar(best));
    ARROW_RETURN_NOT_OK(builder->AppendScalar(*v));
  }
  return Emit(builder.get(), out);
}

/// list_arg_min / list_arg_max(list<struct<arg, val>>): arg of the row with the
/// least (greatest) val, the first among equals; rows with a NULL arg or val skipped.
template <bool kMax>
Status ArgExtremeExec(cp::KernelContext* ctx, const cp::ExecSpan& batch,
                      cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  std::unique_ptr<arrow::ArrayBuilder> builder;
  ARROW_RETURN_NOT_OK(
      arrow::MakeBuilder(ctx->memory_pool(), out->type()->GetSharedPtr(), &builder));
  for (int64_t r = 0; r < batch.length; ++r) {
    std::shared_ptr<arrow::Scalar> best;
    if (!lists.IsNull(r)) {
      auto pairs_row = lists.Row(r);
      const auto& pairs = static_cast<const arrow::StructArray&>(*pairs_row);
      auto arg = pairs.field(0);
      auto val = pairs.field(1);
      arrow::BooleanBuilder keep;
      for (int64_t i = 0; i < pairs.length(); ++i) {
        ARROW_RETURN_NOT_OK(
            keep.Append(pairs.IsValid(i) && arg->IsValid(i) && val->IsValid(i)));
      }
      ARROW_ASSIGN_OR_RAISE(auto mask, keep.Finish());
      ARROW_ASSIGN_OR_RAISE(auto kept_val, cp::Filter(val, mask));
      ARROW_ASSIGN_OR_RAISE(auto kept_arg, cp::Filter(arg, mask));
      auto vals = kept_val.make_array();
      if (vals->length() > 0) {
        ARROW_ASSIGN_OR_RAISE(auto order, AscendingValid(*vals, kMax));
        ARROW_ASSIGN_OR_RAISE(best, kept_arg.make_array()->GetScalar(order->Value(0)));
      }
    }
    ARROW_RETURN_NOT_OK(best ? builder->AppendScalar(*best) : builder->AppendNull());
  }
  return Emit(builder.get(), out);
}

/// Co-moments of the (y, x) pairs where both are non-NULL, updated one pair at a
/// time (Welford), as DuckDB computes them.
struct Moments {
  int64_t n = 0;
  double mean_x = 0, mean_y = 0, m2_x = 0, m2_y = 0, c = 0;
  void Add(double y, double x) {
    ++n;
    double dx = x - mean_x;
    double dy = y - mean_y;
    mean_x += dx / n;
    mean_y += dy / n;
    m2_x += dx * (x - mean_x);
    m2_y += dy * (y - mean_y);
    c += dx * (y - mean_y);
  }
};

enum class Stat {
  kCorr,
  kCovarPop,
  kCovarSamp,
  kRegrSlope,
  kRegrIntercept,
  kRegrR2,
  kRegrAvgX,
  kRegrAvgY,
  kRegrSxx,
  kRegrSyy,
  kRegrSxy
};

std::optional<double> Finish(Stat stat, const Moments& m) {
  if (m.n == 0) return std::nullopt;
  double n = static_cast<double>(m.n);
  double cov = m.c / n, var_x = m.m2_x / n, var_y = m.m2_y / n;
  switch (stat) {
    case Stat::kCorr:
      return cov / (std::sqrt(var_x) * std::sqrt(var_y));
    case Stat::kCovarPop:
      return cov;
    case Stat::kCovarSamp:
      if (m.n < 2) return std::nullopt;
      return m.c / (n - 1);
    case Stat::kRegrSlope:
      return cov / var_x;
    case Stat::kRegrIntercept:
      return m.mean_y - cov / var_x * m.mean_x;
    case Stat::kRegrR2: {
      if (var_x == 0) return std::nullopt;
      if (var_y == 0) return 1.0;
      double r = cov / (std::sqrt(var_x) * std::sqrt(var_y));
      return r * r;
    }
    case Stat::kRegrAvgX:
      return m.mean_x;
    case Stat::kRegrAvgY:
      return m.mean_y;
    case Stat::kRegrSxx:
      return m.m2_x;
    case Stat::kRegrSyy:
      return m.m2_y;
    case Stat::kRegrSxy:
      return m.c;
  }
  return std::nullopt;
}

Result<Moments> RowMoments(const Lists& lists, int64_t r) {
  Moments m;
  if (lists.IsNull(r)) return m;
  auto pairs_row = lists.Row(r);
  const auto& pairs = static_cast<const arrow::StructArray&>(*pairs_row);
  const auto& y = static_cast<const arrow::DoubleArray&>(*pairs.field(0));
  const auto& x = static_cast<const arrow::DoubleArray&>(*pairs.field(1));
  for (int64_t i = 0; i < pairs.length(); ++i) {
    if (pairs.IsValid(i) && y.IsValid(i) && x.IsValid(i)) m.Add(y.Value(i), x.Value(i));
  }
  return m;
}

template <Stat kStat>
Status StatExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  arrow::DoubleBuilder builder;
  for (int64_t r = 0; r < batch.length; ++r) {
    ARROW_ASSIGN_OR_RAISE(auto m, RowMoments(lists, r));
    auto v = Finish(kStat, m);
    ARROW_RETURN_NOT_OK(v ? builder.Append(*v) : builder.AppendNull());
  }
  return Emit(&builder, out);
}

/// list_var_samp / list_var_pop / list_stddev_samp / list_stddev_pop(list<double>),
/// list_bool_and / list_bool_or(list<bool>): the aggregates of a window frame's
/// values (NULLs skipped; NULL over none, or over one for the sample forms).
template <bool kSample, bool kRoot>
Status SpreadExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  arrow::DoubleBuilder builder;
  for (int64_t r = 0; r < batch.length; ++r) {
    Moments m;
    if (!lists.IsNull(r)) {
      auto row = lists.Row(r);
      const auto& values = static_cast<const arrow::DoubleArray&>(*row);
      for (int64_t i = 0; i < values.length(); ++i) {
        if (values.IsValid(i)) m.Add(values.Value(i), values.Value(i));
      }
    }
    if (m.n == 0 || (kSample && m.n < 2)) {
      ARROW_RETURN_NOT_OK(builder.AppendNull());
      continue;
    }
    double v = m.m2_x / static_cast<double>(kSample ? m.n - 1 : m.n);
    ARROW_RETURN_NOT_OK(builder.Append(kRoot ? std::sqrt(v) : v));
  }
  return Emit(&builder, out);
}

template <bool kAnd>
Status BoolExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  arrow::BooleanBuilder builder;
  for (int64_t r = 0; r < batch.length; ++r) {
    bool any = false, result = kAnd;
    if (!lists.IsNull(r)) {
      auto row = lists.Row(r);
      const auto& values = static_cast<const arrow::BooleanArray&>(*row);
      for (int64_t i = 0; i < values.length(); ++i) {
        if (!values.IsValid(i)) continue;
        any = true;
        result = kAnd ? result && values.Value(i) : result || values.Value(i);
      }
    }
    ARROW_RETURN_NOT_OK(any ? builder.Append(result) : builder.AppendNull());
  }
  return Emit(&builder, out);
}

/// regr_count(y, x): the pairs where both are non-NULL (UINTEGER, as in DuckDB).
Status RegrCountExec(cp::KernelContext*, const cp::ExecSpan& batch, cp::ExecResult* out) {
  ARROW_ASSIGN_OR_RAISE(auto lists, ListArg(batch, 0));
  arrow::UInt32Builder builder;
  for (int64_t r = 0; r < batch.length; ++r) {
    ARROW_ASSIGN_OR_RAISE(auto m, RowMoments(lists, r));
    ARROW_RETURN_NOT_OK(builder.Append(static_cast<uint32_t>(m.n)));
  }
  return Emit(&builder, out);
}

using TypeRule =
    std::function<Result<arrow::TypeHolder>(const std::vector<arrow::TypeHolder>&)>;

Status AddListFunction(cp::FunctionRegistry* registry, const std::string& name, int arity,
                       TypeRule rule, cp::ArrayKernelExec exec) {
  std::vector<cp::InputType> in = {cp::InputType(Type::LIST)};
  for (int i = 1; i < arity; ++i) in.push_back(cp::InputType::Any());
  cp::ScalarKernel kernel(
      in,
      cp::OutputType(
          [rule](cp::KernelContext*, const std::vector<arrow::TypeHolder>& types)
              -> Result<arrow::TypeHolder> { return rule(types); }),
      exec);
  return RegisterScalarFunction(registry, name, cp::Arity(arity),
                                "Finishes an aggregate over a list", {std::move(kernel)});
}

std::shared_ptr<arrow::DataType> ValueType(const arrow::TypeHolder& list) {
  return static_cast<const arrow::ListType&>(*list.type).value_type();
}

}  // namespace

std::shared_ptr<arrow::DataType> QuantileContType(const arrow::DataType& t) {
  switch (t.id()) {
    case Type::FLOAT:
      return arrow::float32();
    case Type::DECIMAL128:
      return t.GetSharedPtr();
    case Type::DATE32:
      return arrow::timestamp(arrow::TimeUnit::MICRO);
    case Type::TIMESTAMP:
      return t.GetSharedPtr();
    default:
      return arrow::is_integer(t.id()) || t.id() == Type::DOUBLE ? arrow::float64()
                                                                 : nullptr;
  }
}

Status RegisterAggregates(cp::FunctionRegistry* registry) {
  cp::FunctionDoc doc("Collects a group's values into a list", "", {"value"});
  cp::OutputType list_of_input(
      [](cp::KernelContext*,
         const std::vector<arrow::TypeHolder>& types) -> Result<arrow::TypeHolder> {
        return arrow::list(types[0].GetSharedPtr());
      });
  auto collect =
      std::make_shared<cp::ScalarAggregateFunction>("collect", cp::Arity::Unary(), doc);
  ARROW_RETURN_NOT_OK(collect->AddKernel(
      cp::ScalarAggregateKernel({cp::InputType::Any()}, list_of_input, CollectInit,
                                CollectConsume, CollectMerge, CollectFinalize,
                                /*ordered=*/false)));
  ARROW_RETURN_NOT_OK(registry->AddFunction(collect, /*allow_overwrite=*/true));
  auto hash_collect = std::make_shared<cp::HashAggregateFunction>(
      "hash_collect", cp::Arity::Binary(), doc);
  ARROW_RETURN_NOT_OK(hash_collect->AddKernel(cp::HashAggregateKernel(
      cp::KernelSignature::Make({cp::InputType::Any(), arrow::uint32()}, list_of_input),
      CollectInit, HashCollectResize, HashCollectConsume, HashCollectMerge,
      HashCollectFinalize, /*ordered=*/false)));
  ARROW_RETURN_NOT_OK(registry->AddFunction(hash_collect, /*allow_overwrite=*/true));

  cp::FunctionDoc sum_doc("Sums decimals exactly, an overflow being an error", "",
                          {"value"});
  cp::OutputType sum_type(
      [](cp::KernelContext*,
         const std::vector<arrow::TypeHolder>& types) -> Result<arrow::TypeHolder> {
        return arrow::decimal128(
            38, static_cast<const arrow::DecimalType&>(*types[0].type).scale());
      });
  auto decimal_sum = std::make_shared<cp::ScalarAggregateFunction>(
      "decimal_sum", cp::Arity::Unary(), sum_doc);
  ARROW_RETURN_NOT_OK(decimal_sum->AddKernel(cp::ScalarAggregateKernel(
      {cp::InputType(Type::DECIMAL128)}, sum_type, DecimalSumInit, DecimalSumConsume,
      DecimalSumMerge, DecimalSumFinalize, /*ordered=*/false)));
  ARROW_RETURN_NOT_OK(registry->AddFunction(decimal_sum, /*allow_overwrite=*/true));
  auto hash_decimal_sum = std::make_shared<cp::HashAggregateFunction>(
      "hash_decimal_sum", cp::Arity::Binary(), sum_doc);
  ARROW_RETURN_NOT_OK(hash_decimal_sum->AddKernel(cp::HashAggregateKernel(
      cp::KernelSignature::Make({cp::InputType(Type::DECIMAL128), arrow::uint32()},
                                sum_type),
      DecimalSumInit, HashDecimalSumResize, DecimalSumConsume, HashDecimalSumMerge,
      HashDecimalSumFinalize, /*ordered=*/false)));
  ARROW_RETURN_NOT_OK(registry->AddFunction(hash_decimal_sum, /*allow_overwrite=*/true));

  auto value = [](const std::vector<arrow::TypeHolder>& t) -> Result<arrow::TypeHolder> {
    return ValueType(t[0]);
  };
  auto first_field =
      [](const std::vector<arrow::TypeHolder>& t) -> Result<arrow::TypeHolder> {
    return ValueType(t[0])->field(0)->type();
  };
  auto quantile = [](bool discrete) {
    return
        [discrete](const std::vector<arrow::TypeHolder>& t) -> Result<arrow::TypeHolder> {
          auto v = ValueType(t[0]);
          auto out = discrete ? v : QuantileContType(*v);
          if (!out) return Status::Invalid("no continuous quantile of ", v->ToString());
          if (t[1].id() == Type::LIST) return arrow::list(out);
          return out;
        };
  };
  auto fixed = [](std::shared_ptr<arrow::DataType> type) {
    return [type](const std::vector<arrow::TypeHolder>&) -> Result<arrow::TypeHolder> {
      return type;
    };
  };
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_string_agg", 2,
                                      fixed(arrow::utf8()), StringAggExec));
  ARROW_RETURN_NOT_OK(AddListFunction(
      registry, "list_sort_by", 2,
      [](const std::vector<arrow::TypeHolder>& t) -> Result<arrow::TypeHolder> {
        return arrow::list(ValueType(t[0])->field(0)->type());
      },
      SortByExec));
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_quantile_cont", 2, quantile(false),
                                      QuantileExec<false>));
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_quantile_disc", 2, quantile(true),
                                      QuantileExec<true>));
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_mode", 1, value, ModeExec));
  ARROW_RETURN_NOT_OK(AddListFunction(
      registry, "list_distinct", 1,
      [](const std::vector<arrow::TypeHolder>& t) -> Result<arrow::TypeHolder> {
        return t[0];
      },
      DistinctExec));
  ARROW_RETURN_NOT_OK(
      AddListFunction(registry, "list_arg_min", 1, first_field, ArgExtremeExec<false>));
  ARROW_RETURN_NOT_OK(
      AddListFunction(registry, "list_arg_max", 1, first_field, ArgExtremeExec<true>));
  const std::pair<const char*, cp::ArrayKernelExec> stats[] = {
      {"list_corr", StatExec<Stat::kCorr>},
      {"list_covar_pop", StatExec<Stat::kCovarPop>},
      {"list_covar_samp", StatExec<Stat::kCovarSamp>},
      {"list_regr_slope", StatExec<Stat::kRegrSlope>},
      {"list_regr_intercept", StatExec<Stat::kRegrIntercept>},
      {"list_regr_r2", StatExec<Stat::kRegrR2>},
      {"list_regr_avgx", StatExec<Stat::kRegrAvgX>},
      {"list_regr_avgy", StatExec<Stat::kRegrAvgY>},
      {"list_regr_sxx", StatExec<Stat::kRegrSxx>},
      {"list_regr_syy", StatExec<Stat::kRegrSyy>},
      {"list_regr_sxy", StatExec<Stat::kRegrSxy>}};
  for (const auto& [name, exec] : stats) {
    ARROW_RETURN_NOT_OK(
        AddListFunction(registry, name, 1, fixed(arrow::float64()), exec));
  }
  const std::pair<const char*, cp::ArrayKernelExec> spreads[] = {
      {"list_var_samp", SpreadExec<true, false>},
      {"list_var_pop", SpreadExec<false, false>},
      {"list_stddev_samp", SpreadExec<true, true>},
      {"list_stddev_pop", SpreadExec<false, true>}};
  for (const auto& [name, exec] : spreads) {
    ARROW_RETURN_NOT_OK(
        AddListFunction(registry, name, 1, fixed(arrow::float64()), exec));
  }
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_bool_and", 1,
                                      fixed(arrow::boolean()), BoolExec<true>));
  ARROW_RETURN_NOT_OK(AddListFunction(registry, "list_bool_or", 1,
                                      fixed(arrow::boolean()), BoolExec<false>));
  return AddListFunction(registry, "list_regr_count", 1, fixed(arrow::uint32()),
                         RegrCountExec);
}

}  // namespace flowsql::plan
