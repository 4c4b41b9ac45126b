#include "connectors/generate/generate_connector.h"

#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>

#include "common/numbers.h"

namespace flowsql {

namespace {

constexpr const char* kFunctionOption = "function";
constexpr const char* kGenerate = "generate";
constexpr const char* kGenerateSeries = "generate_series";
constexpr const char* kRange = "range";
constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

std::vector<OptionSpec> SourceOptions() {
  return {
      {kFunctionOption,
       OptionType::kEnum,
       kGenerate,
       "Which generator runs. Set by the table function: generate_series (inclusive "
       "stop), range (exclusive stop) or generate (the synthetic stream, also "
       "'generate://' URIs)",
       {},
       {kGenerate, kGenerateSeries, kRange}},
      {"rate",
       OptionType::kDouble,
       "0",
       "Rows per second of the generate stream; 0 generates as fast as the consumer "
       "reads",
       {"rows_per_second"}},
      {"rows_per_minute", OptionType::kDouble, "",
       "Alternative to rate, in rows per minute (rate = rows_per_minute / 60)"},
      {"rows",
       OptionType::kInt,
       "",
       "Total rows of the generate stream; absent or -1: unbounded",
       {"row_count", "count", "max_rows"}},
      {"batch_size", OptionType::kInt, "65536",
       "Most rows per batch (generate, generate_series and range)"},
      {"start",
       OptionType::kInt,
       "0",
       "First id of the generate stream",
       {"start_id", "start_row_id"}},
      {"seed", OptionType::kInt, "42",
       "Seed of the deterministic 'value' and 'category' columns"},
      {"splits", OptionType::kInt, "1",
       "Splits read in parallel. generate_series and range: contiguous index ranges; "
       "generate: split i of n yields the ids start + i, start + i + n, ..."},
      {"ack_log", OptionType::kString, "",
       "generate: a file to which every acknowledgement appends '<split> <offset>' "
       "lines, once the rows up to that offset are durable in every sink"},
  };
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

/// A positional argument or offset as an int64 (surrounding blanks allowed).
bool ParseInt64(const std::string& text, int64_t* out) {
  auto v = flowsql::ParseInt64(Trim(text));
  if (v) *out = *v;
  return v.has_value();
}

std::string JoinNames(const std::shared_ptr<arrow::Schema>& schema) {
  std::string out;
  for (const auto& f : schema->fields()) out += (out.empty() ? "" : ", ") + f->name();
  return out;
}

/// Indices into `schema` of the requested columns, in request order.
Result<std::vector<int>> ResolveColumns(const std::shared_ptr<arrow::Schema>& schema,
                                        const ScanRequest& request,
                                        const std::string& context) {
  std::vector<int> indices;
  if (!request.columns) {
    for (int i = 0; i < schema->num_fields(); ++i) indices.push_back(i);
    return indices;
  }
  for (const auto& name : *request.columns) {
    int i = schema->GetFieldIndex(name);
    if (i < 0) {
      return UserError(context + " has no column '" + name +
                       "'; columns: " + JoinNames(schema));
    }
    indices.push_back(i);
  }
  return indices;
}

std::shared_ptr<arrow::Schema> Project(const std::shared_ptr<arrow::Schema>& schema,
                                       const std::vector<int>& indices) {
  arrow::FieldVector fields;
  for (int i : indices) fields.push_back(schema->field(i));
  return arrow::schema(std::move(fields));
}

int64_t RemainingAfterLimit(int64_t remaining, const ScanRequest& request) {
  if (request.limit)
    remaining = std::min(remaining, std::max<int64_t>(*request.limit, 0));
  return remaining;
}

// ---------------------------------------------------------------------------
// generate_series / range

/// An arithmetic series start, start+step, ... of `count` values.
struct Series {
  std::string function;
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  int64_t count = 0;
};

Result<Series> MakeSeries(const std::string& function,
                          const std::vector<std::string>& positional) {
  const bool inclusive = function == kGenerateSeries;
  if (positional.empty() || positional.size() > 3) {
    return UserError(function +
                     "() takes 1 to 3 arguments (start, stop[, step]) or (stop); got " +
                     std::to_string(positional.size()));
  }
  static const char* kNames[] = {"start", "stop", "step"};
  std::vector<int64_t> values;
  for (size_t i = 0; i < positional.size(); ++i) {
    int64_t v;
    const char* name = positional.size() == 1 ? "stop" : kNames[i];
    if (!ParseInt64(positional[i], &v)) {
      return UserError(function + "(): argument " + std::to_string(i + 1) + " (" + name +
                       ") must be an integer, got '" + positional[i] + "'");
    }
    values.push_back(v);
  }
  Series s;
  s.function = function;
  if (values.size() == 1) {
    s.stop = values[0];
  } else {
    s.start = values[0];
    s.stop = values[1];
    if (values.size() == 3) s.step = values[2];
  }
  if (s.step == 0) return UserError(function + "(): step must not be 0");
  __int128 span = static_cast<__int128>(s.stop) - s.start;
  __int128 step = s.step;
  __int128 count = 0;
  if (step > 0) {
    if (inclusive && span >= 0) count = span / step + 1;
    if (!inclusive && span > 0) count = (span - 1) / step + 1;
  } else {
    if (inclusive && span <= 0) count = (-span) / (-step) + 1;
    if (!inclusive && span < 0) count = (-span - 1) / (-step) + 1;
  }
  if (count > static_cast<__int128>(kUnbounded)) {
    return UserError(function + "(): too many values");
  }
  s.count = static_cast<int64_t>(count);
  return s;
}

/// The split of a series or stream: `index` of `count`, and the stream's start
/// time (wall clock, microseconds) when the scan was planned.
struct SplitSpec {
  int64_t index = 0;
  int64_t count = 1;
  int64_t base_us = 0;
};

std::string EncodeSplit(const SplitSpec& s) {
  return std::to_string(s.index) + " " + std::to_string(s.count) + " " +
         std::to_string(s.base_us);
}

Result<SplitSpec> DecodeSplit(const Split& split, const std::string& context) {
  SplitSpec s;
  long long index, count, base;
  if (std::sscanf(split.payload.c_str(), "%lld %lld %lld", &index, &count, &base) != 3 ||
      count <= 0 || index < 0 || index >= count) {
    return UserError(context + ": not a split of this source: '" + split.payload + "'");
  }
  s.index = index;
  s.count = count;
  s.base_us = base;
  return s;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::vector<Split>> PlanSplitsOf(int64_t count) {
  std::vector<Split> splits;
  const int64_t base = NowMicros();
  for (int64_t i = 0; i < count; ++i) {
    SplitSpec s{i, count, base};
    splits.push_back({std::to_string(i) + "/" + std::to_string(count), EncodeSplit(s)});
  }
  return splits;
}

/// Reads a series split: row indices [next, end), as the series' values.
class SeriesReader : public SplitReader {
 public:
  SeriesReader(Series series, std::shared_ptr<arrow::Schema> schema, bool emit_column,
               int64_t next_index, int64_t end_index, int64_t batch_size)
      : series_(std::move(series)),
        schema_(std::move(schema)),
        emit_column_(emit_column),
        next_index_(next_index),
        end_index_(end_index),
        batch_size_(batch_size) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Result<SourceBatch> Next() override {
    if (next_index_ >= end_index_) return SourceBatch{};
    int64_t n = std::min(batch_size_, end_index_ - next_index_);
    std::vector<std::shared_ptr<arrow::Array>> columns;
    if (emit_column_) {
      arrow::Int64Builder builder;
      ARROW_RETURN_NOT_OK(builder.Reserve(n));
      // Unsigned arithmetic wraps where int64 would overflow; every value emitted
      // lies between start and stop, so it is exact.
      const uint64_t step = static_cast<uint64_t>(series_.step);
      uint64_t v = static_cast<uint64_t>(series_.start) +
                   static_cast<uint64_t>(next_index_) * step;
      for (int64_t i = 0; i < n; ++i, v += step) {
        builder.UnsafeAppend(static_cast<int64_t>(v));
      }
      ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
      columns.push_back(std::move(array));
    }
    next_index_ += n;
    // The offset is the index of the next value, as text.
    return SourceBatch{arrow::RecordBatch::Make(schema_, n, std::move(columns)),
                       std::to_string(next_index_)};
  }

 private:
  Series series_;
  std::shared_ptr<arrow::Schema> schema_;
  bool emit_column_;
  int64_t next_index_;
  int64_t end_index_;
  int64_t batch_size_;
};

class SeriesSource : public Source {
 public:
  SeriesSource(Series series, int64_t batch_size, int64_t splits)
      : series_(std::move(series)),
        batch_size_(batch_size),
        splits_(splits),
        schema_(arrow::schema({arrow::field(series_.function, arrow::int64())})) {}

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }
  Pushdown pushdown() const override { return {true, false, true}; }

  Result<std::vector<Split>> PlanSplits(const ScanRequest&) override {
    return PlanSplitsOf(splits_);
  }

  /// Split i of n holds the row indices [count * i / n, count * (i + 1) / n).
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto indices,
                          ResolveColumns(schema_, request, series_.function));
    ARROW_ASSIGN_OR_RAISE(SplitSpec spec, DecodeSplit(split, series_.function));
    const __int128 count = series_.count;
    const int64_t begin = static_cast<int64_t>(count * spec.index / spec.count);
    int64_t end = static_cast<int64_t>(count * (spec.index + 1) / spec.count);
    int64_t next = begin;
    ARROW_RETURN_NOT_OK(ParseIndex(range.start, begin, end, &next));
    if (!range.end.empty()) ARROW_RETURN_NOT_OK(ParseIndex(range.end, next, end, &end));
    end = next + RemainingAfterLimit(end - next, request);
    return std::make_unique<SeriesReader>(series_, Project(schema_, indices),
                                          !indices.empty(), next, end, batch_size_);
  }

  std::string Describe() const override {
    return series_.function + " start=" + std::to_string(series_.start) +
           " stop=" + std::to_string(series_.stop) +
           " step=" + std::to_string(series_.step) +
           " rows=" + std::to_string(series_.count);
  }

 private:
  Status ParseIndex(const std::string& offset, int64_t low, int64_t high,
                    int64_t* out) const {
    if (offset.empty()) return Status::OK();
    if (!ParseInt64(offset, out) || *out < low || *out > high) {
      return UserError(series_.function + "(): cannot resume from offset '" + offset +
                       "' (expected a row index " + std::to_string(low) + ".." +
                       std::to_string(high) + ")");
    }
    return Status::OK();
  }

  Series series_;
  int64_t batch_size_;
  int64_t splits_;
  std::shared_ptr<arrow::Schema> schema_;
};

// ---------------------------------------------------------------------------
// generate: the synthetic stream

struct StreamConfig {
  double rate = 0;    // rows per second; 0: unthrottled
  int64_t rows = -1;  // -1: unbounded
  int64_t batch_size = 65536;
  int64_t start = 0;
  int64_t seed = 42;
  int64_t splits = 1;
  std::string ack_log;  // file that Acknowledge() appends to; empty: none
};

enum class Column { kId, kTs, kValue, kCategory };

std::shared_ptr<arrow::Schema> GenerateSchema() {
  return arrow::schema(
      {arrow::field("id", arrow::int64()),
       arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
       arrow::field("value", arrow::float64()), arrow::field("category", arrow::utf8())});
}

/// A stream position: the next id of the split and the stream's start time, which
/// every row's `ts` follows from: "1024@1767225600000000".
struct StreamOffset {
  int64_t next_id = 0;
  int64_t base_us = 0;
};

std::string EncodeOffset(const StreamOffset& o) {
  return std::to_string(o.next_id) + "@" + std::to_string(o.base_us);
}

/// Reads split i of n: ids start + i, start + i + n, ... below `end_id`. A row's
/// `ts` is base + (id - start) / rate seconds (1 microsecond apart when
/// unthrottled), so a replay yields the same rows; at a rate, a row is emitted
/// once the wall clock has passed its `ts`.
class GenerateReader : public SplitReader {
 public:
  GenerateReader(const StreamConfig& config, std::shared_ptr<arrow::Schema> schema,
                 std::vector<int> columns, SplitSpec split, StreamOffset next,
                 int64_t end_id, arrow::StopToken stop)
      : config_(config),
        schema_(std::move(schema)),
        columns_(std::move(columns)),
        stride_(split.count),
        next_(next),
        end_id_(end_id),
        stop_(std::move(stop)),
        seed_mix_(SplitMix64(static_cast<uint64_t>(config.seed))) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Result<SourceBatch> Next() override {
    if (next_.next_id >= end_id_) return SourceBatch{};
    // Rows left in this split, in 128 bits: end_id_ may be INT64_MAX (unbounded).
    const __int128 left =
        (static_cast<__int128>(end_id_) - next_.next_id + stride_ - 1) / stride_;
    int64_t n = static_cast<int64_t>(std::min<__int128>(left, config_.batch_size));
    if (config_.rate > 0) {
      ARROW_ASSIGN_OR_RAISE(n, WaitForRows(n));
    }
    std::vector<std::shared_ptr<arrow::Array>> arrays;
    for (int c : columns_) {
      std::shared_ptr<arrow::Array> array;
      switch (static_cast<Column>(c)) {
        case Column::kId: {
          arrow::Int64Builder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(Id(i));
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kTs: {
          arrow::TimestampBuilder b(
              schema_->field(static_cast<int>(arrays.size()))->type(),
              arrow::default_memory_pool());
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(TsMicros(Id(i)));
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kValue: {
          arrow::DoubleBuilder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(Value(Id(i)));
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kCategory: {
          static const char* kCategories[] = {"a", "b", "c", "d", "e"};
          arrow::StringBuilder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          ARROW_RETURN_NOT_OK(b.ReserveData(n));
          for (int64_t i = 0; i < n; ++i) {
            b.UnsafeAppend(kCategories[Category(Id(i))], 1);
          }
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
      }
      arrays.push_back(std::move(array));
    }
    next_.next_id += n * stride_;
    return SourceBatch{arrow::RecordBatch::Make(schema_, n, std::move(arrays)),
                       EncodeOffset(next_)};
  }

 private:
  int64_t Id(int64_t i) const { return next_.next_id + i * stride_; }
  int64_t TsMicros(int64_t id) const {
    const double step_us = config_.rate > 0 ? 1e6 / config_.rate : 1.0;
    return next_.base_us +
           static_cast<int64_t>(static_cast<double>(id - config_.start) * step_us);
  }
  double Value(int64_t id) const {
    uint64_t h = SplitMix64(seed_mix_ ^ static_cast<uint64_t>(id));
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }
  int Category(int64_t id) const {
    uint64_t h =
        SplitMix64(seed_mix_ ^ static_cast<uint64_t>(id) ^ 0x5bd1e9955bd1e995ULL);
    return static_cast<int>(h % 5);
  }

  /// Waits until at least about 100 ms worth of rows (1 at least, `most` at most)
  /// have their ts in the past, and returns how many are due. Sleeps in slices,
  /// so that a stop request is seen within ~50 ms.
  Result<int64_t> WaitForRows(int64_t most) {
    const int64_t target = std::clamp<int64_t>(
        static_cast<int64_t>(config_.rate * 0.1 / static_cast<double>(stride_)), 1, most);
    const int64_t ready_us = TsMicros(Id(target - 1));
    while (true) {
      ARROW_RETURN_NOT_OK(stop_.Poll());
      const int64_t now = NowMicros();
      if (now >= ready_us) break;
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::min<int64_t>(ready_us - now, 50000)));
    }
    const int64_t now = NowMicros();
    int64_t due = target;
    while (due < most && TsMicros(Id(due)) <= now) ++due;
    return due;
  }

  StreamConfig config_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<int> columns_;
  int64_t stride_;
  StreamOffset next_;
  int64_t end_id_;
  arrow::StopToken stop_;
  uint64_t seed_mix_;
};

class GenerateSource : public Source {
 public:
  explicit GenerateSource(StreamConfig config)
      : config_(config), schema_(GenerateSchema()) {}

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }
  bool bounded() const override { return config_.rows >= 0; }
  Pushdown pushdown() const override { return {true, false, true}; }

  Result<std::vector<Split>> PlanSplits(const ScanRequest&) override {
    return PlanSplitsOf(config_.splits);
  }

  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto indices, ResolveColumns(schema_, request, "generate"));
    ARROW_ASSIGN_OR_RAISE(SplitSpec spec, DecodeSplit(split, "generate"));
    if (spec.count != config_.splits) {
      return UserError("generate: split '" + split.id + "' is not one of " +
                       std::to_string(config_.splits) + " splits");
    }
    int64_t end_id = config_.rows < 0 ? kUnbounded : config_.start + config_.rows;
    StreamOffset next{config_.start + spec.index, spec.base_us};
    ARROW_RETURN_NOT_OK(ParseOffset(range.start, spec, end_id, &next));
    if (!range.end.empty()) {
      StreamOffset end = next;
      ARROW_RETURN_NOT_OK(ParseOffset(range.end, spec, end_id, &end));
      end_id = std::max(end.next_id, next.next_id);
    }
    if (request.limit) {
      const __int128 last = static_cast<__int128>(next.next_id) +
                            static_cast<__int128>(*request.limit) * spec.count;
      if (last < end_id) end_id = static_cast<int64_t>(last);
    }
    return std::make_unique<GenerateReader>(config_, Project(schema_, indices), indices,
                                            spec, next, end_id, request.stop);
  }

  /// Appends "<split> <offset>" lines to the ack_log file, if set: what the
  /// runtime declared durable, for tests and for the curious.
  Status Acknowledge(const std::map<std::string, std::string>& offsets) override {
    if (config_.ack_log.empty()) return Status::OK();
    FILE* f = std::fopen(config_.ack_log.c_str(), "a");
    if (f == nullptr) {
      return Status::IOError("generate: cannot open ack_log '", config_.ack_log,
                             "': ", std::strerror(errno));
    }
    for (const auto& [split, offset] : offsets) {
      std::fprintf(f, "%s %s\n", split.c_str(), offset.c_str());
    }
    bool ok = std::fflush(f) == 0;
    ok = std::fclose(f) == 0 && ok;
    if (!ok)
      return Status::IOError("generate: cannot write ack_log '", config_.ack_log, "'");
    return Status::OK();
  }

  std::string Describe() const override {
    char rate[64];
    std::snprintf(rate, sizeof(rate), "%g", config_.rate);
    return std::string("generate rate=") + rate +
           " rows=" + (config_.rows < 0 ? "unbounded" : std::to_string(config_.rows)) +
           " start=" + std::to_string(config_.start) +
           " seed=" + std::to_string(config_.seed) + " columns=[" + JoinNames(schema_) +
           "]";
  }

 private:
  /// Parses "<next id>@<start time>" of split `spec` into `out`.
  Status ParseOffset(const std::string& text, const SplitSpec& spec, int64_t end_id,
                     StreamOffset* out) const {
    if (text.empty()) return Status::OK();
    long long id, base;
    char tail;
    if (std::sscanf(text.c_str(), "%lld@%lld%c", &id, &base, &tail) != 2 ||
        id < config_.start || (end_id != kUnbounded && id > end_id + spec.count) ||
        (id - config_.start) % spec.count != spec.index) {
      return UserError("generate: cannot resume split " + std::to_string(spec.index) +
                       " from offset '" + text +
                       "' (expected '<next id>@<start time>', an id of that split)");
    }
    out->next_id = id;
    out->base_us = base;
    return Status::OK();
  }

  StreamConfig config_;
  std::shared_ptr<arrow::Schema> schema_;
};

// ---------------------------------------------------------------------------
// Factory

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// Options from a 'generate://?k=v&...' URI, validated, with the engine-validated
/// options (WITH, named arguments) taking precedence.
Result<Options> MergeUriOptions(const ConnectorArgs& args,
                                const std::vector<OptionSpec>& specs) {
  if (args.uri.empty()) return args.options;
  std::string rest = args.uri;
  size_t scheme_end = rest.find("://");
  rest = scheme_end == std::string::npos ? rest : rest.substr(scheme_end + 3);
  size_t q = rest.find('?');
  std::string path = rest.substr(0, q);
  if (!path.empty() && path != "/") {
    return UserError("generate: unexpected '" + path + "' in URI '" + args.uri +
                     "'; expected 'generate://?rate=100&rows=1000'");
  }
  std::vector<RawOption> raw;
  if (q != std::string::npos) {
    std::string query = rest.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string item =
          query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (!item.empty()) {
        size_t eq = item.find('=');
        if (eq == std::string::npos) {
          return UserError("generate: URI parameter '" + item + "' in '" + args.uri +
                           "' has no value (expected name=value)");
        }
        raw.push_back({PercentDecode(item.substr(0, eq)),
                       PercentDecode(item.substr(eq + 1)), "URI '" + args.uri + "'"});
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  ARROW_ASSIGN_OR_RAISE(Options from_uri,
                        Options::Validate(specs, raw, "generate source"));
  Options merged = args.options;
  for (const auto& spec : specs) {
    if (from_uri.IsSet(spec.name) && !args.options.IsSet(spec.name)) {
      merged.Set(spec.name, from_uri.GetString(spec.name));
    }
  }
  return merged;
}

Result<std::unique_ptr<Source>> MakeGenerateSource(const ConnectorArgs& args) {
  ARROW_ASSIGN_OR_RAISE(Options options, MergeUriOptions(args, SourceOptions()));
  const std::string function = options.GetString(kFunctionOption, kGenerate);
  const int64_t batch_size = options.GetInt("batch_size", 65536);
  if (batch_size <= 0) {
    return UserError("option 'batch_size' must be positive, got " +
                     std::to_string(batch_size));
  }
  const int64_t splits = options.GetInt("splits", 1);
  if (splits <= 0 || splits > 1024) {
    return UserError("option 'splits' must be 1..1024, got " + std::to_string(splits));
  }
  if (function == kGenerateSeries || function == kRange) {
    for (const char* name :
         {"rate", "rows_per_minute", "rows", "start", "seed", "ack_log"}) {
      if (options.IsSet(name)) {
        return UserError("option '" + std::string(name) + "' does not apply to " +
                         function + "()");
      }
    }
    ARROW_ASSIGN_OR_RAISE(Series series, MakeSeries(function, args.positional));
    return std::make_unique<SeriesSource>(std::move(series), batch_size, splits);
  }
  if (!args.positional.empty()) {
    return UserError(
        "generate() takes named arguments only, e.g. generate(rate => 100, "
        "rows => 1000); got positional argument '" +
        args.positional[0] + "'");
  }
  StreamConfig config;
  config.rate = options.GetDouble("rate", 0);
  if (options.IsSet("rows_per_minute")) {
    if (options.IsSet("rate")) {
      return UserError("options 'rate' and 'rows_per_minute' exclude each other");
    }
    config.rate = options.GetDouble("rows_per_minute") / 60.0;
  }
  if (config.rate < 0 || !std::isfinite(config.rate)) {
    return UserError(
        "option 'rate' must be 0 (unthrottled) or a positive number of rows "
        "per second");
  }
  config.rows = options.GetInt("rows", -1);
  if (config.rows < -1) {
    return UserError("option 'rows' must be -1 (unbounded) or a number of rows, got " +
                     std::to_string(config.rows));
  }
  config.batch_size = batch_size;
  config.start = options.GetInt("start", 0);
  config.seed = options.GetInt("seed", 42);
  config.splits = splits;
  config.ack_log = options.GetString("ack_log");
  if (config.rows >= 0 && config.start > kUnbounded - config.rows) {
    return UserError("options 'start' + 'rows' overflow a BIGINT id");
  }
  return std::make_unique<GenerateSource>(config);
}

}  // namespace

Status RegisterGenerateConnector(Registry* registry) {
  ConnectorSpec spec;
  spec.name = "generate";
  spec.doc =
      "Synthetic data: generate_series(start, stop[, step]) and range(start, stop[, "
      "step]) like DuckDB, and generate(rate => ..., rows => ...), a deterministic "
      "stream (id, ts, value, category) at a set rate that resumes from its offset "
      "(the next id). Also 'generate://?rate=100&rows=1000'.";
  spec.schemes = {"generate"};
  spec.functions = {{kGenerateSeries, {{kFunctionOption, kGenerateSeries}}},
                    {kRange, {{kFunctionOption, kRange}}},
                    {kGenerate, {{kFunctionOption, kGenerate}}}};
  spec.positional_names = {"start", "stop", "step"};
  spec.functions_take_uri = false;
  spec.source_options = SourceOptions();
  spec.make_source = MakeGenerateSource;
  return registry->Register(std::move(spec));
}

}  // namespace flowsql
