#include "plan/window.h"

#include <arrow/array/array_nested.h>
#include <arrow/array/builder_decimal.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/util.h>
#include <arrow/compute/api.h>
#include <arrow/compute/row/grouper.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/decimal.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>

namespace flowsql::plan {

namespace cp = arrow::compute;
using Kind = sql::FrameBound::Kind;

namespace {

/// Per sorted row: its partition [ps, pe) and peer group [qs, qe); for a RANGE frame
/// with an offset, the order key as a double (NaN for NULL), its direction, and the
/// partition's non-NULL keys [vs, ve).
struct Layout {
  std::vector<int64_t> ps, pe, qs, qe;
  std::vector<double> key;
  bool descending = false;
  std::vector<int64_t> vs, ve;
};

/// The first row in [lo, hi) whose key is past `value` in the sort direction
/// (strictly when `strict`): keys there are sorted and not NULL.
int64_t FirstPast(const Layout& l, int64_t lo, int64_t hi, double value, bool strict) {
  auto past = [&](double k) {
    if (l.descending) return strict ? k < value : k <= value;
    return strict ? k > value : k >= value;
  };
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (past(l.key[mid])) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

bool SameRow(const arrow::ArrayVector& columns, int64_t a, int64_t b) {
  static const auto options = arrow::EqualOptions::Defaults().nans_equal(true);
  for (const auto& c : columns) {
    if (!c->RangeEquals(a, a + 1, b, c, options)) return false;
  }
  return true;
}

/// i + delta clamped to [lo, hi], without overflowing for any int64 delta.
int64_t Move(int64_t i, int64_t delta, int64_t lo, int64_t hi) {
  if (delta >= 0) return delta >= hi - i ? hi : i + delta;
  return delta <= lo - i ? lo : std::clamp(i + delta, lo, hi);
}

Layout MakeLayout(const arrow::ArrayVector& partition, const arrow::ArrayVector& order,
                  int64_t n) {
  Layout l;
  l.ps.resize(n);
  l.pe.resize(n);
  l.qs.resize(n);
  l.qe.resize(n);
  int64_t start = 0, peer = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0 && !SameRow(partition, i, i - 1)) start = peer = i;
    if (i > peer && !SameRow(order, i, i - 1)) peer = i;
    l.ps[i] = start;
    l.qs[i] = peer;
  }
  int64_t end = n, peer_end = n;
  for (int64_t i = n; i-- > 0;) {
    if (i + 1 < n && l.ps[i + 1] != l.ps[i]) end = peer_end = i + 1;
    if (i + 1 < n && l.qs[i + 1] != l.qs[i]) peer_end = i + 1;
    l.pe[i] = end;
    l.qe[i] = peer_end;
  }
  return l;
}

/// The frame of the row at sorted position i: [*fs, *fe).
void Frame(const WindowCall& call, const Layout& l, int64_t i, int64_t* fs, int64_t* fe) {
  const auto& f = call.frame;
  int64_t ps = l.ps[i], pe = l.pe[i];
  if (!f.has_frame) {
    *fs = ps;
    *fe = call.order.empty() ? pe : l.qe[i];
    return;
  }
  auto place = [&](const sql::FrameBound& b, bool is_end) -> int64_t {
    int64_t shift = is_end ? 1 : 0;  // an end is exclusive
    if (!f.rows && (b.kind == Kind::kPreceding || b.kind == Kind::kFollowing)) {
      // RANGE n PRECEDING/FOLLOWING: the rows whose key is within n of this row's
      // (in the sort direction); a NULL key's frame is its peers.
      if (i < l.vs[i] || i >= l.ve[i]) return is_end ? l.qe[i] : l.qs[i];
      double delta =
          static_cast<double>(b.offset) * (b.kind == Kind::kPreceding ? -1 : 1);
      double value = l.descending ? l.key[i] - delta : l.key[i] + delta;
      return FirstPast(l, l.vs[i], l.ve[i], value, /*strict=*/is_end);
    }
    switch (b.kind) {
      case Kind::kUnboundedPreceding:
        return ps;
      case Kind::kPreceding:
        return Move(i + shift, -b.offset, ps, pe);
      case Kind::kCurrentRow:
        return f.rows ? i + shift : (is_end ? l.qe[i] : l.qs[i]);
      case Kind::kFollowing:
        return Move(i + shift, b.offset, ps, pe);
      case Kind::kUnboundedFollowing:
        return pe;
    }
    return ps;
  };
  *fs = place(f.start, false);
  *fe = std::max(*fs, place(f.end, true));
}

Result<std::shared_ptr<arrow::Array>> IndexArray(const std::vector<int64_t>& index,
                                                 const std::vector<bool>& valid) {
  arrow::Int64Builder b;
  ARROW_RETURN_NOT_OK(b.Reserve(static_cast<int64_t>(index.size())));
  for (size_t k = 0; k < index.size(); ++k) {
    if (valid[k]) {
      b.UnsafeAppend(index[k]);
    } else {
      b.UnsafeAppendNull();
    }
  }
  return b.Finish();
}

Result<std::shared_ptr<arrow::Array>> Take(const std::shared_ptr<arrow::Array>& values,
                                           const std::shared_ptr<arrow::Array>& index) {
  ARROW_ASSIGN_OR_RAISE(auto out, cp::Take(values, index));
  return out.make_array();
}

/// Running sums within each partition (k inclusive, from the partition's first row):
/// exact (128 bits) for integers and decimals, doubles for floating point. A frame
/// that starts at its partition reads one entry, as a sum accumulated in order.
struct RunningSums {
  std::vector<arrow::Decimal128> exact;
  std::vector<double> real;
  std::vector<double> values;  // floating point: each row's value (NULL: 0)
  std::vector<int64_t> count;  // non-null rows

  /// The sum over [fs, fe) (fe > fs) of the partition starting at ps.
  template <typename T>
  static T Range(const std::vector<T>& run, int64_t ps, int64_t fs, int64_t fe) {
    if (fs > ps) return T(run[fe - 1] - run[fs - 1]);
    return run[fe - 1];
  }
};

Result<RunningSums> MakeRunningSums(const std::shared_ptr<arrow::Array>& v,
                                    const Layout& l) {
  RunningSums r;
  int64_t n = v->length();
  r.count.assign(n, 0);
  bool real = arrow::is_floating(v->type_id());
  bool exact = arrow::is_integer(v->type_id()) || arrow::is_decimal(v->type_id());
  std::shared_ptr<arrow::Array> values = v;
  if (!real && !exact) {  // count() of any type: only the non-null rows
    for (int64_t k = 0; k < n; ++k) {
      r.count[k] = (k == l.ps[k] ? 0 : r.count[k - 1]) + (v->IsValid(k) ? 1 : 0);
    }
    return r;
  }
  if (real) {
    ARROW_ASSIGN_OR_RAISE(auto d, cp::Cast(v, arrow::float64()));
    values = d.make_array();
    r.real.assign(n, 0.0);
    r.values.assign(n, 0.0);
  } else {
    if (v->type_id() != arrow::Type::DECIMAL128) {  // integers, decimal32/64/256
      int32_t scale = arrow::is_decimal(v->type_id())
                          ? static_cast<const arrow::DecimalType&>(*v->type()).scale()
                          : 0;
      ARROW_ASSIGN_OR_RAISE(auto d, cp::Cast(v, arrow::decimal128(38, scale)));
      values = d.make_array();
    }
    r.exact.assign(n, arrow::Decimal128(0));
  }
  for (int64_t k = 0; k < n; ++k) {
    bool first = k == l.ps[k];
    bool ok = values->IsValid(k);
    r.count[k] = (first ? 0 : r.count[k - 1]) + (ok ? 1 : 0);
    if (real) {
      double x = ok ? static_cast<const arrow::DoubleArray&>(*values).Value(k) : 0.0;
      r.values[k] = x;
      r.real[k] = first ? x : r.real[k - 1] + x;
    } else {
      arrow::Decimal128 x(0);
      if (ok) {
        x = arrow::Decimal128(
            static_cast<const arrow::Decimal128Array&>(*values).GetValue(k));
      }
      r.exact[k] = first ? x : r.exact[k - 1] + x;
    }
  }
  return r;
}

Result<std::shared_ptr<arrow::Array>> ComputeSorted(const WindowCall& call,
                                                    const arrow::ArrayVector& args,
                                                    const Layout& l, int64_t n) {
  const std::string& fn = call.function;
  if (fn == "row_number" || fn == "rank" || fn == "dense_rank" || fn == "ntile") {
    arrow::Int64Builder b;
    ARROW_RETURN_NOT_OK(b.Reserve(n));
    int64_t dense = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (i == l.ps[i]) dense = 0;
      if (i == l.qs[i]) ++dense;
      int64_t r = i - l.ps[i];
      if (fn == "row_number") {
        b.UnsafeAppend(r + 1);
      } else if (fn == "rank") {
        b.UnsafeAppend(l.qs[i] - l.ps[i] + 1);
      } else if (fn == "dense_rank") {
        b.UnsafeAppend(dense);
      } else {
        // ntile: the first (size % k) buckets hold one row more.
        int64_t size = l.pe[i] - l.ps[i], k = call.offset;
        int64_t base = size / k, extra = size % k;
        int64_t big = extra * (base + 1);
        b.UnsafeAppend(r < big ? r / (base + 1) + 1
                               : (r - big) / std::max<int64_t>(base, 1) + extra + 1);
      }
    }
    return b.Finish();
  }
  if (fn == "percent_rank" || fn == "cume_dist") {
    arrow::DoubleBuilder b;
    ARROW_RETURN_NOT_OK(b.Reserve(n));
    for (int64_t i = 0; i < n; ++i) {
      double size = static_cast<double>(l.pe[i] - l.ps[i]);
      if (fn == "percent_rank") {
        b.UnsafeAppend(size <= 1 ? 0.0
                                 : static_cast<double>(l.qs[i] - l.ps[i]) / (size - 1));
      } else {
        b.UnsafeAppend(static_cast<double>(l.qe[i] - l.ps[i]) / size);
      }
    }
    return b.Finish();
  }
  if (fn == "lag" || fn == "lead" || fn == "first_value" || fn == "last_value" ||
      fn == "nth_value") {
    std::vector<int64_t> index(n);
    std::vector<bool> valid(n);
    for (int64_t i = 0; i < n; ++i) {
      if (fn == "lag" || fn == "lead") {
        // Out of the partition (or of int64) is no row: the default.
        int64_t delta = call.offset == INT64_MIN ? (fn == "lag" ? INT64_MAX : INT64_MIN)
                        : fn == "lag"            ? -call.offset
                                                 : call.offset;
        int64_t t = Move(i, delta, l.ps[i] - 1, l.pe[i]);
        index[i] = t;
        valid[i] = t >= l.ps[i] && t < l.pe[i];
        continue;
      }
      int64_t fs, fe;
      Frame(call, l, i, &fs, &fe);
      int64_t t = fn == "first_value"  ? fs
                  : fn == "last_value" ? fe - 1
                                       : Move(fs, call.offset - 1, fs, fe);
      index[i] = t;
      valid[i] = fs < fe && t >= fs && t < fe;
    }
    ARROW_ASSIGN_OR_RAISE(auto idx, IndexArray(index, valid));
    ARROW_ASSIGN_OR_RAISE(auto out, Take(args[0], idx));
    if (call.default_value && call.default_value->is_valid) {
      ARROW_ASSIGN_OR_RAISE(auto missing, cp::IsNull(idx));
      ARROW_ASSIGN_OR_RAISE(auto filled, cp::IfElse(missing, call.default_value, out));
      return filled.make_array();
    }
    return out;
  }
  if (fn == "count_star" || fn == "count" || fn == "sum" || fn == "avg") {
    RunningSums p;
    if (!args.empty()) {
      ARROW_ASSIGN_OR_RAISE(p, MakeRunningSums(args[0], l));
    }
    std::unique_ptr<arrow::ArrayBuilder> builder;
    ARROW_RETURN_NOT_OK(
        arrow::MakeBuilder(arrow::default_memory_pool(), call.type, &builder));
    ARROW_RETURN_NOT_OK(builder->Reserve(n));
    for (int64_t i = 0; i < n; ++i) {
      int64_t fs, fe;
      Frame(call, l, i, &fs, &fe);
      if (fn == "count_star") {
        ARROW_RETURN_NOT_OK(static_cast<arrow::Int64Builder&>(*builder).Append(fe - fs));
        continue;
      }
      int64_t count = fe > fs ? RunningSums::Range(p.count, l.ps[i], fs, fe) : 0;
      if (fn == "count") {
        ARROW_RETURN_NOT_OK(static_cast<arrow::Int64Builder&>(*builder).Append(count));
        continue;
      }
      if (count == 0) {
        ARROW_RETURN_NOT_OK(builder->AppendNull());
        continue;
      }
      if (!p.real.empty()) {
        // A frame from the partition's start reads the running sum; any other is
        // summed directly (a difference of running sums loses digits, and one
        // infinity before the frame would make it NaN).
        double sum = 0;
        if (fs == l.ps[i]) {
          sum = p.real[fe - 1];
        } else {
          for (int64_t k = fs; k < fe; ++k) sum += p.values[k];
        }
        ARROW_RETURN_NOT_OK(static_cast<arrow::DoubleBuilder&>(*builder).Append(
            fn == "avg" ? sum / static_cast<double>(count) : sum));
        continue;
      }
      arrow::Decimal128 sum = RunningSums::Range(p.exact, l.ps[i], fs, fe);
      if (fn == "avg") {
        int32_t scale =
            arrow::is_decimal(args[0]->type_id())
                ? static_cast<const arrow::DecimalType&>(*args[0]->type()).scale()
                : 0;
        ARROW_RETURN_NOT_OK(static_cast<arrow::DoubleBuilder&>(*builder).Append(
            sum.ToDouble(scale) / static_cast<double>(count)));
      } else {
        ARROW_RETURN_NOT_OK(static_cast<arrow::Decimal128Builder&>(*builder).Append(sum));
      }
    }
    return builder->Finish();
  }
  return Status::NotImplemented("window function ", fn, "()");
}

Result<std::shared_ptr<arrow::Array>> MinMaxSorted(const WindowCall& call,
                                                   const std::shared_ptr<arrow::Array>& v,
                                                   const Layout& l, int64_t n) {
  cp::RankOptions options(cp::SortOrder::Ascending, cp::NullPlacement::AtEnd,
                          cp::RankOptions::Dense);
  ARROW_ASSIGN_OR_RAISE(auto ranked, cp::CallFunction("rank", {v}, &options));
  std::shared_ptr<arrow::Array> ranks = ranked.make_array();
  const auto& rank = static_cast<const arrow::UInt64Array&>(*ranks);
  bool max = call.function == "max";
  auto better = [&](int64_t a, int64_t b) {  // is row a better than row b?
    return max ? rank.Value(a) > rank.Value(b) : rank.Value(a) < rank.Value(b);
  };
  std::vector<int64_t> index(n);
  std::vector<bool> valid(n, false);
  bool growing =
      !call.frame.has_frame || call.frame.start.kind == Kind::kUnboundedPreceding;
  int64_t best = -1, scanned = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t fs, fe;
    Frame(call, l, i, &fs, &fe);
    if (growing) {
      // The frame starts at the partition and only grows: extend it.
      if (i == l.ps[i]) best = -1, scanned = l.ps[i];
      for (; scanned < fe; ++scanned) {
        if (v->IsValid(scanned) && (best < 0 || better(scanned, best))) best = scanned;
      }
    } else {
      best = -1;
      for (int64_t k = fs; k < fe; ++k) {
        if (v->IsValid(k) && (best < 0 || better(k, best))) best = k;
      }
    }
    index[i] = best;
    valid[i] = best >= 0;
  }
  ARROW_ASSIGN_OR_RAISE(auto idx, IndexArray(index, valid));
  return Take(v, idx);
}

/// collect: each row's frame values as a list, finished by call.finish. A frame
/// that is its whole partition is listed once per partition.
Result<std::shared_ptr<arrow::Array>> CollectFrames(
    const WindowCall& call, const std::shared_ptr<arrow::Array>& v, const Layout& l,
    int64_t n) {
  constexpr int64_t kMaxValues = int64_t{1} << 27;
  arrow::Int64Builder take;
  std::vector<int32_t> offsets = {0};
  arrow::TypedBufferBuilder<bool> validity;  // an empty frame's list is NULL
  std::vector<int64_t> row_list(n);          // which list each row reads
  int64_t lists = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t fs = 0, fe = 0;
    Frame(call, l, i, &fs, &fe);
    if (i > 0 && fs == l.ps[i] && fe == l.pe[i] && l.ps[i - 1] == l.ps[i]) {
      int64_t ps = 0, pe = 0;
      Frame(call, l, i - 1, &ps, &pe);
      if (ps == fs && pe == fe) {  // the same frame as the row before
        row_list[i] = lists - 1;
        continue;
      }
    }
    if (take.length() + (fe - fs) > kMaxValues) {
      return Status::NotImplemented("not supported: ", call.function,
                                    " window frames holding more than ", kMaxValues,
                                    " values in all (use a smaller frame)");
    }
    for (int64_t j = fs; j < fe; ++j) ARROW_RETURN_NOT_OK(take.Append(j));
    offsets.push_back(static_cast<int32_t>(take.length()));
    ARROW_RETURN_NOT_OK(validity.Append(fe > fs));
    row_list[i] = lists++;
  }
  ARROW_ASSIGN_OR_RAISE(auto bitmap, validity.Finish());
  ARROW_ASSIGN_OR_RAISE(auto indices, take.Finish());
  ARROW_ASSIGN_OR_RAISE(auto values, Take(v, indices));
  auto list_array = std::make_shared<arrow::ListArray>(
      arrow::list(v->type()), lists, arrow::Buffer::FromVector(std::move(offsets)),
      values, bitmap);
  auto schema = arrow::schema({arrow::field("list", list_array->type())});
  ARROW_ASSIGN_OR_RAISE(auto bound, call.finish.Bind(*schema));
  cp::ExecBatch batch(std::vector<arrow::Datum>{list_array}, lists);
  ARROW_ASSIGN_OR_RAISE(auto finished, cp::ExecuteScalarExpression(bound, batch));
  ARROW_ASSIGN_OR_RAISE(auto per_list,
                        finished.is_array()
                            ? Result<std::shared_ptr<arrow::Array>>(finished.make_array())
                            : arrow::MakeArrayFromScalar(*finished.scalar(), lists));
  std::vector<bool> valid(n, true);
  ARROW_ASSIGN_OR_RAISE(auto per_row, IndexArray(row_list, valid));
  return Take(per_list, per_row);
}

Result<std::shared_ptr<arrow::Array>> ComputeOne(const arrow::RecordBatch& batch,
                                                 const WindowCall& call) {
  int64_t n = batch.num_rows();
  std::vector<cp::SortKey> keys;
  for (const auto& p : call.partition) keys.emplace_back(p, cp::SortOrder::Ascending);
  keys.insert(keys.end(), call.order.begin(), call.order.end());
  std::shared_ptr<arrow::Array> perm;
  if (keys.empty()) {
    arrow::UInt64Builder b;
    ARROW_RETURN_NOT_OK(b.Reserve(n));
    for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(static_cast<uint64_t>(i));
    ARROW_ASSIGN_OR_RAISE(perm, b.Finish());
  } else {
    cp::SortOptions options(keys);
    ARROW_ASSIGN_OR_RAISE(perm, cp::SortIndices(arrow::Datum(batch), options));
  }
  auto sorted = [&](const std::string& name) -> Result<std::shared_ptr<arrow::Array>> {
    auto column = batch.GetColumnByName(name);
    if (!column) return Status::Invalid("window input has no column ", name);
    return Take(column, perm);
  };
  arrow::ArrayVector partition, order, args;
  for (const auto& p : call.partition) {
    ARROW_ASSIGN_OR_RAISE(auto c, sorted(p));
    partition.push_back(c);
  }
  for (const auto& k : call.order) {
    ARROW_ASSIGN_OR_RAISE(auto c, sorted(*k.target.name()));
    order.push_back(c);
  }
  for (const auto& a : call.args) {
    ARROW_ASSIGN_OR_RAISE(auto c, sorted(a));
    args.push_back(c);
  }
  Layout layout = MakeLayout(partition, order, n);
  using K = sql::FrameBound::Kind;
  auto offset = [](const sql::FrameBound& b) {
    return b.kind == K::kPreceding || b.kind == K::kFollowing;
  };
  if (call.frame.has_frame && !call.frame.rows &&
      (offset(call.frame.start) || offset(call.frame.end))) {
    // RANGE with an offset: the single numeric order key, and where each
    // partition's non-NULL keys lie (NULLs sort to one end).
    ARROW_ASSIGN_OR_RAISE(auto keys,
                          cp::Cast(order[0], cp::CastOptions::Unsafe(arrow::float64())));
    const auto key_array = keys.make_array();  // kept alive while read
    const auto& doubles = static_cast<const arrow::DoubleArray&>(*key_array);
    layout.key.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      layout.key[i] = doubles.IsNull(i) ? std::nan("") : doubles.Value(i);
    }
    layout.descending = call.order[0].order == cp::SortOrder::Descending;
    layout.vs.resize(n);
    layout.ve.resize(n);
    for (int64_t ps = 0; ps < n; ps = layout.pe[ps]) {
      int64_t pe = layout.pe[ps], vs = ps, ve = pe;
      while (vs < pe && doubles.IsNull(vs)) ++vs;
      while (ve > vs && doubles.IsNull(ve - 1)) --ve;
      std::fill(layout.vs.begin() + ps, layout.vs.begin() + pe, vs);
      std::fill(layout.ve.begin() + ps, layout.ve.begin() + pe, ve);
    }
  }
  std::shared_ptr<arrow::Array> result;
  if (call.function == "collect") {
    ARROW_ASSIGN_OR_RAISE(result, CollectFrames(call, args[0], layout, n));
  } else if (call.function == "min" || call.function == "max") {
    ARROW_ASSIGN_OR_RAISE(result, MinMaxSorted(call, args[0], layout, n));
  } else {
    ARROW_ASSIGN_OR_RAISE(result, ComputeSorted(call, args, layout, n));
  }
  if (!result->type()->Equals(*call.type)) {
    ARROW_ASSIGN_OR_RAISE(auto cast, cp::Cast(result, call.type));
    result = cast.make_array();
  }
  // Back to the input's row order: row perm[pos] gets result[pos].
  std::vector<int64_t> inverse(n);
  const auto& rows = static_cast<const arrow::UInt64Array&>(*perm);  // SortIndices' type
  for (int64_t pos = 0; pos < n; ++pos) inverse[rows.Value(pos)] = pos;
  ARROW_ASSIGN_OR_RAISE(auto back, IndexArray(inverse, std::vector<bool>(n, true)));
  return Take(result, back);
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> ComputeWindows(
    const std::shared_ptr<arrow::Table>& input, const std::vector<WindowCall>& calls) {
  ARROW_ASSIGN_OR_RAISE(auto batch, input->CombineChunksToBatch());
  arrow::ArrayVector columns = batch->columns();
  arrow::FieldVector fields = batch->schema()->fields();
  for (const auto& call : calls) {
    ARROW_ASSIGN_OR_RAISE(auto column, ComputeOne(*batch, call));
    columns.push_back(column);
    fields.push_back(arrow::field(call.output, call.type));
  }
  return arrow::Table::Make(arrow::schema(fields), columns, batch->num_rows());
}

namespace {

/// The partition keys every call shares, in the first call's order.
std::vector<std::string> CommonPartition(const std::vector<WindowCall>& calls) {
  std::vector<std::string> keys =
      calls.empty() ? std::vector<std::string>{} : calls[0].partition;
  for (const auto& call : calls) {
    std::erase_if(keys, [&](const std::string& k) {
      return std::find(call.partition.begin(), call.partition.end(), k) ==
             call.partition.end();
    });
  }
  return keys;
}

/// Rows spread over files by their partition keys, then read back a file at a
/// time, each file's windows computed alone.
class SpilledWindows : public arrow::RecordBatchReader {
 public:
  static constexpr int kFiles = 64;

  SpilledWindows(std::shared_ptr<arrow::Schema> in, std::vector<WindowCall> calls,
                 std::vector<std::string> keys)
      : in_(std::move(in)), calls_(std::move(calls)), keys_(std::move(keys)) {
    arrow::FieldVector fields = in_->fields();
    for (const auto& call : calls_)
      fields.push_back(arrow::field(call.output, call.type));
    out_ = arrow::schema(std::move(fields));
  }
  ~SpilledWindows() override {
    for (auto& w : writers_) {
      if (w) (void)w->Close();
    }
    std::error_code ec;
    if (!directory_.empty()) std::filesystem::remove_all(directory_, ec);
  }

  Status Open(const std::string& parent) {
    std::string pattern =
        (std::filesystem::path(parent) / "flowsql-window-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::IOError("cannot create a directory for spilled window rows in '",
                             parent, "': ", std::strerror(errno),
                             " (SET temp_directory = '...' to choose another)");
    }
    directory_ = pattern;
    std::vector<arrow::TypeHolder> types;
    for (const auto& k : keys_) types.emplace_back(in_->GetFieldByName(k)->type());
    ARROW_ASSIGN_OR_RAISE(grouper_, cp::Grouper::Make(types));
    for (int i = 0; i < kFiles; ++i) {
      ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(Path(i)));
      ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(file, in_));
      writers_.push_back(std::move(writer));
    }
    return Status::OK();
  }

  /// Writes each row of `batch` to the file of its partition.
  Status Spill(const std::shared_ptr<arrow::RecordBatch>& shared) {
    const arrow::RecordBatch& batch = *shared;
    if (batch.num_rows() == 0) return Status::OK();
    std::vector<arrow::Datum> key_values;
    for (const auto& k : keys_) key_values.emplace_back(batch.GetColumnByName(k));
    ARROW_ASSIGN_OR_RAISE(auto key_batch, cp::ExecBatch::Make(key_values));
    ARROW_ASSIGN_OR_RAISE(auto ids, grouper_->Consume(cp::ExecSpan(key_batch)));
    const auto* group = ids.array()->GetValues<uint32_t>(1);
    // The rows in file order (a counting sort), then one slice per file.
    const int64_t n = batch.num_rows();
    std::vector<int64_t> start(kFiles + 1, 0);
    for (int64_t i = 0; i < n; ++i) ++start[group[i] % kFiles + 1];
    for (int f = 0; f < kFiles; ++f) start[f + 1] += start[f];
    std::vector<int64_t> at(start.begin(), start.end() - 1);
    arrow::Int64Builder order;
    ARROW_RETURN_NOT_OK(order.Resize(n));
    std::vector<int64_t> rows(n);
    for (int64_t i = 0; i < n; ++i) rows[at[group[i] % kFiles]++] = i;
    ARROW_RETURN_NOT_OK(order.AppendValues(rows));
    ARROW_ASSIGN_OR_RAISE(auto indices, order.Finish());
    ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(arrow::Datum(shared), indices));
    const auto& sorted = *taken.record_batch();
    for (int f = 0; f < kFiles; ++f) {
      if (start[f + 1] == start[f]) continue;
      auto slice = sorted.Slice(start[f], start[f + 1] - start[f]);
      auto st = writers_[f]->WriteRecordBatch(*slice);
      if (!st.ok())
        return Status::IOError("cannot spill window rows to ", Path(f), ": ",
                               st.message());
    }
    return Status::OK();
  }

  Status Finish() {
    for (int f = 0; f < kFiles; ++f) {
      auto st = writers_[f]->Close();
      if (!st.ok())
        return Status::IOError("cannot spill window rows to ", Path(f), ": ",
                               st.message());
    }
    writers_.clear();
    return Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return out_; }

  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    while (true) {
      if (current_) {
        ARROW_RETURN_NOT_OK(current_->ReadNext(batch));
        if (*batch) return Status::OK();
        current_.reset();
      }
      if (next_file_ >= kFiles) {
        *batch = nullptr;
        return Status::OK();
      }
      const std::string path = Path(next_file_++);
      std::shared_ptr<arrow::Table> rows;
      {
        ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
        ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(file));
        ARROW_ASSIGN_OR_RAISE(rows, reader->ToTable());
      }
      std::error_code ec;
      std::filesystem::remove(path, ec);
      if (rows->num_rows() == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto computed, ComputeWindows(rows, calls_));
      ARROW_ASSIGN_OR_RAISE(computed,
                            computed->ReplaceSchemaMetadata(nullptr)->CombineChunks());
      current_ = std::make_shared<arrow::TableBatchReader>(computed);
    }
  }

 private:
  std::string Path(int file) const {
    return (std::filesystem::path(directory_) /
            ("part-" + std::to_string(file) + ".arrow"))
        .string();
  }

  std::shared_ptr<arrow::Schema> in_, out_;
  std::vector<WindowCall> calls_;
  std::vector<std::string> keys_;
  std::string directory_;
  std::unique_ptr<cp::Grouper> grouper_;
  std::vector<std::shared_ptr<arrow::ipc::RecordBatchWriter>> writers_;
  int next_file_ = 0;
  std::shared_ptr<arrow::TableBatchReader> current_;
};

}  // namespace

namespace {

Result<std::shared_ptr<arrow::RecordBatchReader>> ReadWindows(
    const std::shared_ptr<arrow::RecordBatchReader>& input, const PlanNode& node) {
  std::vector<std::string> keys = CommonPartition(node.windows);
  // Files by exact key values: a floating key (0.0 and -0.0, NaNs, are one partition
  // but not one bit pattern) or a nested one cannot say which file.
  std::erase_if(keys, [&](const std::string& k) {
    const auto field = input->schema()->GetFieldByName(k);
    return field == nullptr || arrow::is_floating(field->type()->id()) ||
           arrow::is_nested(field->type()->id());
  });
  std::vector<std::shared_ptr<arrow::RecordBatch>> held;
  int64_t bytes = 0;
  std::shared_ptr<SpilledWindows> spilled;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(input->ReadNext(&batch));
    if (!batch) break;
    if (spilled) {
      ARROW_RETURN_NOT_OK(spilled->Spill(batch));
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(int64_t size, arrow::util::ReferencedBufferSize(*batch));
    bytes += size;
    held.push_back(std::move(batch));
    if (node.spill_bytes > 0 && !node.spill_directory.empty() &&
        bytes > node.spill_bytes && !keys.empty()) {
      spilled = std::make_shared<SpilledWindows>(input->schema(), node.windows, keys);
      ARROW_RETURN_NOT_OK(spilled->Open(node.spill_directory));
      for (const auto& b : held) ARROW_RETURN_NOT_OK(spilled->Spill(b));
      held.clear();
    }
  }
  if (spilled) {
    ARROW_RETURN_NOT_OK(spilled->Finish());
    return spilled;
  }
  ARROW_ASSIGN_OR_RAISE(auto table,
                        arrow::Table::FromRecordBatches(input->schema(), held));
  held.clear();
  ARROW_ASSIGN_OR_RAISE(table, ComputeWindows(table, node.windows));
  return std::make_shared<arrow::TableBatchReader>(table);
}

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> WindowReader(
    std::shared_ptr<arrow::RecordBatchReader> input, const PlanNode& node) {
  auto out = ReadWindows(input, node);
  // Stopped early, the input's plan reports its cancellation here, not on stderr.
  if (!out.ok()) (void)input->Close();
  return out;
}

}  // namespace flowsql::plan
