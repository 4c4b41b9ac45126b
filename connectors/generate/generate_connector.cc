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
#include <limits>
#include <thread>

namespace flowsql {

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kFunctionOption = "function";
constexpr const char* kGenerate = "generate";
constexpr const char* kGenerateSeries = "generate_series";
constexpr const char* kRange = "range";
constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();
/// A rate-limited stream returns a batch (possibly empty) at least this often.
constexpr auto kTick = std::chrono::milliseconds(100);

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
       "reads. At a rate, a batch (possibly empty) comes at least every 100 ms",
       {"rows_per_second"}},
      {"rows_per_minute", OptionType::kDouble, "",
       "Alternative to rate, in rows per minute (rate = rows_per_minute / 60)"},
      {"rows",
       OptionType::kInt,
       "",
       "Total rows of the generate stream; absent or -1: unbounded",
       {"row_count", "count", "max_rows"}},
      {"batch_size", OptionType::kInt, "1024",
       "Most rows per batch (generate, generate_series and range)"},
      {"start",
       OptionType::kInt,
       "0",
       "First id of the generate stream",
       {"start_id", "start_row_id"}},
      {"seed", OptionType::kInt, "42",
       "Seed of the deterministic 'value' and 'category' columns"},
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

bool ParseInt64(const std::string& text, int64_t* out) {
  std::string t = Trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
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

class SeriesStream : public BatchStream {
 public:
  SeriesStream(Series series, std::shared_ptr<arrow::Schema> schema, bool emit_column,
               int64_t next_index, int64_t end_index, int64_t batch_size)
      : series_(std::move(series)),
        schema_(std::move(schema)),
        emit_column_(emit_column),
        next_index_(next_index),
        end_index_(end_index),
        batch_size_(batch_size) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (next_index_ >= end_index_) {
      *out = nullptr;
      return Status::OK();
    }
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
    *out = arrow::RecordBatch::Make(schema_, n, std::move(columns));
    next_index_ += n;
    return Status::OK();
  }

  /// The index of the next value, as text.
  std::string offset() const override { return std::to_string(next_index_); }

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
  SeriesSource(Series series, int64_t batch_size)
      : series_(std::move(series)),
        batch_size_(batch_size),
        schema_(arrow::schema({arrow::field(series_.function, arrow::int64())})) {}

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }
  Pushdown pushdown() const override { return {true, false, true}; }

  Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto indices,
                          ResolveColumns(schema_, request, series_.function));
    int64_t next = 0;
    if (!request.start_offset.empty()) {
      if (!ParseInt64(request.start_offset, &next) || next < 0 || next > series_.count) {
        return UserError(series_.function + "(): cannot resume from offset '" +
                         request.start_offset + "' (expected a row index 0.." +
                         std::to_string(series_.count) + ")");
      }
    }
    int64_t end = next + RemainingAfterLimit(series_.count - next, request);
    return std::make_unique<SeriesStream>(series_, Project(schema_, indices),
                                          !indices.empty(), next, end, batch_size_);
  }

  std::string Describe() const override {
    return series_.function + " start=" + std::to_string(series_.start) +
           " stop=" + std::to_string(series_.stop) +
           " step=" + std::to_string(series_.step) +
           " rows=" + std::to_string(series_.count);
  }

 private:
  Series series_;
  int64_t batch_size_;
  std::shared_ptr<arrow::Schema> schema_;
};

// ---------------------------------------------------------------------------
// generate: the synthetic stream

struct StreamConfig {
  double rate = 0;    // rows per second; 0: unthrottled
  int64_t rows = -1;  // -1: unbounded
  int64_t batch_size = 1024;
  int64_t start = 0;
  int64_t seed = 42;
};

enum class Column { kId, kTs, kValue, kCategory };

std::shared_ptr<arrow::Schema> GenerateSchema() {
  return arrow::schema(
      {arrow::field("id", arrow::int64()),
       arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
       arrow::field("value", arrow::float64()), arrow::field("category", arrow::utf8())});
}

class GenerateStream : public BatchStream {
 public:
  GenerateStream(StreamConfig config, std::shared_ptr<arrow::Schema> schema,
                 std::vector<int> columns, int64_t next_id, int64_t remaining)
      : config_(config),
        schema_(std::move(schema)),
        columns_(std::move(columns)),
        next_id_(next_id),
        remaining_(remaining),
        seed_mix_(SplitMix64(static_cast<uint64_t>(config.seed))) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (remaining_ <= 0) {
      *out = nullptr;
      return Status::OK();
    }
    int64_t n =
        config_.rate > 0 ? WaitForRows() : std::min(config_.batch_size, remaining_);
    int64_t first_ts_us = 0;
    double ts_step_us = 0;
    if (config_.rate > 0) {
      // Each row carries the wall-clock time at which the rate allowed it.
      ts_step_us = 1e6 / config_.rate;
      first_ts_us = wall_start_us_ + static_cast<int64_t>((emitted_ + 1) * ts_step_us);
    } else {
      first_ts_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    }
    std::vector<std::shared_ptr<arrow::Array>> arrays;
    for (int c : columns_) {
      std::shared_ptr<arrow::Array> array;
      switch (static_cast<Column>(c)) {
        case Column::kId: {
          arrow::Int64Builder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(next_id_ + i);
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kTs: {
          arrow::TimestampBuilder b(
              schema_->field(static_cast<int>(arrays.size()))->type(),
              arrow::default_memory_pool());
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) {
            b.UnsafeAppend(first_ts_us + static_cast<int64_t>(i * ts_step_us));
          }
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kValue: {
          arrow::DoubleBuilder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          for (int64_t i = 0; i < n; ++i) b.UnsafeAppend(Value(next_id_ + i));
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
        case Column::kCategory: {
          static const char* kCategories[] = {"a", "b", "c", "d", "e"};
          arrow::StringBuilder b;
          ARROW_RETURN_NOT_OK(b.Reserve(n));
          ARROW_RETURN_NOT_OK(b.ReserveData(n));
          for (int64_t i = 0; i < n; ++i) {
            b.UnsafeAppend(kCategories[Category(next_id_ + i)], 1);
          }
          ARROW_ASSIGN_OR_RAISE(array, b.Finish());
          break;
        }
      }
      arrays.push_back(std::move(array));
    }
    *out = arrow::RecordBatch::Make(schema_, n, std::move(arrays));
    next_id_ += n;
    remaining_ -= n;
    emitted_ += n;
    return Status::OK();
  }

  /// The next id, as text.
  std::string offset() const override { return std::to_string(next_id_); }

 private:
  double Value(int64_t id) const {
    uint64_t h = SplitMix64(seed_mix_ ^ static_cast<uint64_t>(id));
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }
  int Category(int64_t id) const {
    uint64_t h =
        SplitMix64(seed_mix_ ^ static_cast<uint64_t>(id) ^ 0x5bd1e9955bd1e995ULL);
    return static_cast<int>(h % 5);
  }

  /// Sleeps until rows may be emitted without exceeding rate * elapsed, and returns
  /// how many (possibly 0 after a tick of kTick, so that slow rates still flow).
  int64_t WaitForRows() {
    if (!started_) {
      started_ = true;
      start_ = SteadyClock::now();
      wall_start_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    }
    const int64_t most = std::min(config_.batch_size, remaining_);
    const int64_t target =
        std::clamp<int64_t>(static_cast<int64_t>(config_.rate * 0.1), 1, most);
    auto ready = start_ + std::chrono::microseconds(static_cast<int64_t>(
                              std::ceil((emitted_ + target) * 1e6 / config_.rate)));
    auto now = SteadyClock::now();
    int64_t floor_rows = 0;
    if (ready <= now + kTick) {
      std::this_thread::sleep_until(ready);
      floor_rows = target;
    } else {
      std::this_thread::sleep_until(now + kTick);
    }
    double elapsed_s = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    double allowed = std::floor(config_.rate * elapsed_s) - static_cast<double>(emitted_);
    int64_t due = allowed <= 0                           ? 0
                  : allowed >= static_cast<double>(most) ? most
                                                         : static_cast<int64_t>(allowed);
    return std::clamp<int64_t>(std::max(due, floor_rows), 0, most);
  }

  StreamConfig config_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<int> columns_;
  int64_t next_id_;
  int64_t remaining_;
  uint64_t seed_mix_;
  int64_t emitted_ = 0;
  bool started_ = false;
  SteadyClock::time_point start_;
  int64_t wall_start_us_ = 0;
};

class GenerateSource : public Source {
 public:
  explicit GenerateSource(StreamConfig config)
      : config_(config), schema_(GenerateSchema()) {}

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }
  bool bounded() const override { return config_.rows >= 0; }
  Pushdown pushdown() const override { return {true, false, true}; }

  Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) override {
    ARROW_ASSIGN_OR_RAISE(auto indices, ResolveColumns(schema_, request, "generate"));
    const int64_t end_id = config_.rows < 0 ? kUnbounded : config_.start + config_.rows;
    int64_t next = config_.start;
    if (!request.start_offset.empty()) {
      if (!ParseInt64(request.start_offset, &next) || next < config_.start ||
          next > end_id) {
        return UserError("generate: cannot resume from offset '" + request.start_offset +
                         "' (expected the next id, " + std::to_string(config_.start) +
                         (config_.rows < 0 ? " or more" : ".." + std::to_string(end_id)) +
                         ")");
      }
    }
    int64_t remaining = RemainingAfterLimit(end_id - next, request);
    return std::make_unique<GenerateStream>(config_, Project(schema_, indices), indices,
                                            next, remaining);
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
  const int64_t batch_size = options.GetInt("batch_size", 1024);
  if (batch_size <= 0) {
    return UserError("option 'batch_size' must be positive, got " +
                     std::to_string(batch_size));
  }
  if (function == kGenerateSeries || function == kRange) {
    for (const char* name : {"rate", "rows_per_minute", "rows", "start", "seed"}) {
      if (options.IsSet(name)) {
        return UserError("option '" + std::string(name) + "' does not apply to " +
                         function + "()");
      }
    }
    ARROW_ASSIGN_OR_RAISE(Series series, MakeSeries(function, args.positional));
    return std::make_unique<SeriesSource>(std::move(series), batch_size);
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
