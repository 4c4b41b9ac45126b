#include "flowsql/engine.h"

#include <arrow/acero/exec_plan.h>
#include <arrow/array/builder_binary.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/util.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/table.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/codec.h"
#include "common/secrets.h"
#include "common/text.h"
#include "plan/binder.h"
#include "plan/functions.h"
#include "plan/plan.h"
#include "runtime/pipeline.h"
#include "runtime/scanner.h"
#include "runtime/state.h"
#include "sql/parser.h"

namespace flowsql {

namespace cp = arrow::compute;
namespace ac = arrow::acero;

struct ParsedStatement {
  sql::Statement statement;
};

namespace {

/// Splits of a bounded scan read at once: one per core, at least two so that
/// reading overlaps decoding.
int ReadThreads() {
  return std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
}

/// A result already computed: a table streamed batch by batch.
class TableResult : public StatementResult {
 public:
  TableResult(std::shared_ptr<arrow::Table> table, std::string kind)
      : table_(std::move(table)), reader_(table_), kind_(std::move(kind)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return table_->schema(); }
  Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader_.ReadNext(&batch));
    return batch;
  }
  void Close() override {}
  std::string kind() const override { return kind_; }

 private:
  std::shared_ptr<arrow::Table> table_;
  arrow::TableBatchReader reader_;
  std::string kind_;
};

/// A running Acero plan, with the scanners that feed it.
class QueryResult : public StatementResult {
 public:
  QueryResult(std::unique_ptr<arrow::RecordBatchReader> reader,
              std::shared_ptr<arrow::Schema> schema,
              std::vector<std::shared_ptr<SplitScanner>> scanners, arrow::StopToken stop,
              std::function<void(int64_t rows, int64_t bytes)> progress)
      : reader_(std::move(reader)),
        schema_(std::move(schema)),
        scanners_(std::move(scanners)),
        stop_(std::move(stop)),
        progress_(std::move(progress)) {}
  ~QueryResult() override { Close(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (!reader_) return nullptr;
    if (stop_.IsStopRequested()) {
      Close();
      return Status::Cancelled("interrupted");
    }
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader_->ReadNext(&batch));
    if (!batch) {
      Close();
      return nullptr;
    }
    rows_ += batch->num_rows();
    if (progress_) progress_(rows_, 0);
    return batch;
  }
  void Close() override {
    // Stop the scanners first, so that pulls blocked on them return.
    for (auto& s : scanners_) s->Stop();
    if (reader_) {
      (void)reader_->Close();
      reader_.reset();
    }
  }
  std::string kind() const override { return "query"; }

 private:
  std::unique_ptr<arrow::RecordBatchReader> reader_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<SplitScanner>> scanners_;
  arrow::StopToken stop_;
  std::function<void(int64_t rows, int64_t bytes)> progress_;
  int64_t rows_ = 0;
};

/// Lowers each scan to a source fed by a SplitScanner that reads its splits in
/// parallel (bounded sources in split order); a pull stops with Cancelled when
/// `stop` is set. The scanners are added to `scanners`, for the caller to stop.
plan::ScanLowering ParallelLowering(
    arrow::StopToken stop, std::vector<std::shared_ptr<SplitScanner>>* scanners) {
  return [stop, scanners](const plan::PlanNode& scan) -> Result<ac::Declaration> {
    ARROW_ASSIGN_OR_RAISE(auto splits, scan.source->PlanSplits(scan.pushed));
    std::vector<SplitRange> ranges(splits.size());
    auto scanner = std::make_shared<SplitScanner>(scan.source, scan.pushed,
                                                  std::move(splits), std::move(ranges),
                                                  scan.source->bounded(), ReadThreads());
    scanners->push_back(scanner);
    ARROW_RETURN_NOT_OK(scanner->Start());
    BatchPull pull = PullBatches(scanner, stop);
    return plan::SourceDeclaration(scan, std::move(pull));
  };
}

/// True when rows of an unbounded source reach the output through streaming
/// operators: the statement is a continuous pipeline (a LIMIT on top does not
/// change that; the runtime counts it across epochs).
bool ReadsStream(const plan::PlanNode& node) {
  switch (node.kind) {
    case plan::NodeKind::kScan:
      return !node.source->bounded();
    case plan::NodeKind::kFilter:
    case plan::NodeKind::kProject:
    case plan::NodeKind::kLimit:
    case plan::NodeKind::kUnion:
      for (const auto& in : node.inputs) {
        if (ReadsStream(*in)) return true;
      }
      return false;
    case plan::NodeKind::kJoin:
      return ReadsStream(*node.inputs[0]);
    default:
      return false;
  }
}

/// A pipeline name from the targets: their characters outside [A-Za-z0-9_.-]
/// become '_' ("out/orders/" -> "out_orders").
std::string NameFromTargets(const std::vector<sql::IntoTarget>& targets) {
  std::string name;
  for (const auto& t : targets) {
    while (!name.empty() && name.back() == '_') name.pop_back();
    if (!name.empty()) name += "__";
    for (char c : t.uri) {
      bool ok =
          std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
      char out = ok ? c : '_';
      if (out == '_' && !name.empty() && name.back() == '_') continue;
      name += out;
    }
  }
  while (!name.empty() && (name.front() == '_' || name.front() == '.')) name.erase(0, 1);
  while (!name.empty() && name.back() == '_') name.pop_back();
  if (name.empty()) name = "pipeline";
  if (name.size() > 100) {
    name = name.substr(0, 80) + "-" + StableHash(name);
  }
  return name;
}

Result<std::shared_ptr<arrow::Table>> TextTable(
    const std::vector<std::string>& names,
    const std::vector<std::vector<std::optional<std::string>>>& rows) {
  arrow::FieldVector fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (size_t c = 0; c < names.size(); ++c) {
    arrow::StringBuilder b;
    for (const auto& row : rows) {
      if (row[c]) {
        ARROW_RETURN_NOT_OK(b.Append(*row[c]));
      } else {
        ARROW_RETURN_NOT_OK(b.AppendNull());
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
    arrays.push_back(arr);
    fields.push_back(arrow::field(names[c], arrow::utf8()));
  }
  return arrow::Table::Make(arrow::schema(fields), arrays,
                            static_cast<int64_t>(rows.size()));
}

/// The engine's options with a statement's own in place of them.
EngineOptions WithStatementOptions(EngineOptions options, const StatementOptions& own) {
  if (own.stop) options.stop = *own.stop;
  if (own.progress) options.progress = own.progress;
  if (own.commit) options.commit = own.commit;
  return options;
}

/// Offsets of `entry`'s splits by "<scan>:<split id>".
std::map<std::string, std::string> SplitOffsets(const OffsetEntry& entry) {
  std::map<std::string, std::string> offsets;
  for (const auto& s : entry.splits) {
    offsets[s.scan + ":" + s.split.id] = s.done ? std::string("done") : s.range.end;
  }
  return offsets;
}

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  Registry registry;
  /// Guards the session: views, tables, sources and settings. Held while a
  /// statement is bound (its uncorrelated subqueries run then) and while one
  /// changes the session, never while a statement runs.
  std::mutex session_mutex;
  plan::ViewMap views;
  plan::TableMap tables;
  plan::SourceMap sources;
  plan::Settings settings = plan::DefaultSettings();

  /// A binder over the session's views, tables, sources and settings that can run
  /// subqueries. REQUIRES: session_mutex held while it binds.
  plan::Binder NewBinder(const EngineOptions& run) {
    plan::Binder binder(&registry, &views);
    binder.set_subquery_runner(SubqueryRunner(run));
    binder.set_tables(&tables);
    binder.set_sources(&sources);
    binder.set_settings(&settings);
    binder.set_stop(run.stop);
    return binder;
  }

  /// Removes `key` from the views, tables and sources. REQUIRES: session_mutex held.
  void Forget(const std::string& key) {
    views.erase(key);
    tables.erase(key);
    sources.erase(key);
  }

  /// Lowers `root` with parallel scans (measured into `profile` when given) and
  /// starts it. On failure the scanners it started are stopped.
  Result<std::unique_ptr<arrow::RecordBatchReader>> Start(
      const EngineOptions& run, const plan::PlanPtr& root,
      std::vector<std::shared_ptr<SplitScanner>>* scanners,
      plan::Profile* profile = nullptr) {
    auto decl =
        plan::Lower(root, ParallelLowering(run.stop, scanners), profile, run.stop);
    Result<std::unique_ptr<arrow::RecordBatchReader>> reader =
        decl.ok() ? plan::ToReader(std::move(*decl), root->schema) : decl.status();
    if (!reader.ok()) {
      for (auto& s : *scanners) s->Stop();
    }
    return reader;
  }

  /// Runs an uncorrelated subquery to completion when a statement is bound.
  plan::SubqueryRunner SubqueryRunner(const EngineOptions& run) {
    return
        [this, run](const plan::PlanPtr& root) -> Result<std::shared_ptr<arrow::Table>> {
          plan::Optimize(root);
          std::vector<plan::PlanPtr> scans;
          plan::CollectScans(root, &scans);
          for (const auto& scan : scans) {
            if (!scan->source->bounded()) {
              return Status::NotImplemented(
                  "not supported: a subquery in an expression that reads an unbounded "
                  "source (",
                  scan->source->Describe(), ")");
            }
          }
          std::vector<std::shared_ptr<SplitScanner>> scanners;
          ARROW_ASSIGN_OR_RAISE(auto reader, Start(run, root, &scanners));
          auto table = reader->ToTable();
          (void)reader->Close();
          for (auto& s : scanners) s->Stop();
          return table;
        };
  }

  Result<plan::PlanPtr> Plan(const EngineOptions& run, const sql::Query& query) {
    std::lock_guard<std::mutex> lock(session_mutex);
    plan::Binder binder = NewBinder(run);
    ARROW_ASSIGN_OR_RAISE(auto root, binder.BindQuery(query));
    plan::Optimize(root);
    if (plan::BlocksOnUnbounded(*root)) {
      return Status::Invalid(
          "this query never finishes: it aggregates, sorts or joins an unbounded source; "
          "add a LIMIT on the source side (e.g. in a subquery) or use a bounded source");
    }
    return root;
  }

  Result<std::unique_ptr<StatementResult>> RunQuery(const EngineOptions& run,
                                                    const sql::Query& query) {
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(run, query));
    std::vector<std::shared_ptr<SplitScanner>> scanners;
    ARROW_ASSIGN_OR_RAISE(auto reader, Start(run, root, &scanners));
    return std::make_unique<QueryResult>(std::move(reader), root->schema,
                                         std::move(scanners), run.stop, run.progress);
  }

  /// Prepares a continuous plan: the LIMIT on top moves into the runtime, and each
  /// bounded input that a join reads whole (its build side) is read once, here,
  /// into a table. Returns the scans left to stream, left to right.
  Result<std::vector<plan::PlanPtr>> PrepareContinuous(const EngineOptions& run,
                                                       plan::PlanPtr* root,
                                                       int64_t* limit) {
    // The LIMIT among the Projects on top: projections keep rows one for one, so
    // the runtime may count the limit after them.
    plan::PlanNode* parent = nullptr;
    plan::PlanPtr node = *root;
    while (node->kind == plan::NodeKind::kProject ||
           node->kind == plan::NodeKind::kLimit) {
      if (node->kind == plan::NodeKind::kProject) {
        parent = node.get();
        node = node->inputs[0];
        continue;
      }
      if (node->offset != 0) {
        return Status::NotImplemented("OFFSET over an unbounded source is not supported");
      }
      if (node->count >= 0 && (*limit < 0 || node->count < *limit)) *limit = node->count;
      plan::PlanPtr below = node->inputs[0];
      if (parent == nullptr) {
        below->schema = node->schema;
        *root = below;
      } else {
        parent->inputs[0] = below;
      }
      node = below;
    }
    std::vector<plan::PlanPtr> streams;
    std::function<Status(const plan::PlanPtr&)> walk =
        [&](const plan::PlanPtr& node) -> Status {
      switch (node->kind) {
        case plan::NodeKind::kScan:
          streams.push_back(node);
          return Status::OK();
        case plan::NodeKind::kValues:
          // The plan runs once per epoch: a constant row would come every epoch.
          return Status::NotImplemented(
              "a continuous pipeline cannot combine constant rows with a stream yet");
        case plan::NodeKind::kFilter:
        case plan::NodeKind::kProject:
        case plan::NodeKind::kUnion:
          for (const auto& in : node->inputs) ARROW_RETURN_NOT_OK(walk(in));
          return Status::OK();
        case plan::NodeKind::kJoin: {
          // The stream probes a table read once. A join that also emits the
          // table's unmatched rows would emit them again every epoch.
          const auto type = node->join_type;
          if (type != ac::JoinType::INNER && type != ac::JoinType::LEFT_OUTER &&
              type != ac::JoinType::LEFT_SEMI && type != ac::JoinType::LEFT_ANTI) {
            return Status::NotImplemented(
                "a continuous pipeline joins a stream only with INNER, LEFT, SEMI or "
                "ANTI joins that keep the stream on the left (got ",
                ac::ToString(type), ")");
          }
          ARROW_RETURN_NOT_OK(walk(node->inputs[0]));
          auto& build = node->inputs[1];
          ARROW_ASSIGN_OR_RAISE(auto table, ReadWhole(run, build));
          auto values = std::make_shared<plan::PlanNode>();
          values->kind = plan::NodeKind::kValues;
          values->schema = build->schema;
          values->table = std::move(table);
          build = values;
          return Status::OK();
        }
        default:
          return Status::NotImplemented(
              "a continuous pipeline cannot run this operator over a stream yet: ",
              plan::ToString(*node, 0, /*children=*/false));
      }
    };
    ARROW_RETURN_NOT_OK(walk(*root));
    return streams;
  }

  /// Runs a bounded subplan to the end (a join's build side under a stream).
  Result<std::shared_ptr<arrow::Table>> ReadWhole(const EngineOptions& run,
                                                  const plan::PlanPtr& node) {
    std::vector<std::shared_ptr<SplitScanner>> scanners;
    auto decl =
        plan::Lower(node, ParallelLowering(run.stop, &scanners), nullptr, run.stop);
    Result<std::shared_ptr<arrow::Table>> table =
        decl.ok() ? ac::DeclarationToTable(std::move(*decl)) : decl.status();
    for (auto& s : scanners) s->Stop();
    ARROW_ASSIGN_OR_RAISE(auto t, table);
    return arrow::Table::Make(node->schema, t->columns(), t->num_rows());
  }

  /// The sink of `target` for rows of `schema`: its options validated by its
  /// connector (into `options`), its condition options bound over `schema`.
  Result<std::unique_ptr<Sink>> MakeSink(const EngineOptions& run,
                                         const sql::IntoTarget& target,
                                         const arrow::Schema& schema, Options* options) {
    const ConnectorSpec* connector = registry.FindByUri(target.uri);
    if (connector == nullptr || !connector->make_sink) {
      return Status::Invalid("no connector can write '", target.uri, "' at ",
                             target.loc.ToString());
    }
    ConnectorArgs args;
    args.uri = target.uri;
    ARROW_ASSIGN_OR_RAISE(args.options,
                          Options::Validate(connector->sink_options, target.options,
                                            connector->name + " sink"));
    for (const auto& option : connector->sink_options) {
      if (option.type != OptionType::kCondition || !args.options.IsSet(option.name)) {
        continue;
      }
      auto bound = BindCondition(run, args.options.GetString(option.name), schema);
      if (!bound.ok()) {
        return bound.status().WithMessage("option '", option.name, "' of ",
                                          connector->name,
                                          " sink: ", bound.status().message());
      }
      args.conditions[option.name] = std::move(*bound);
    }
    *options = args.options;
    return connector->make_sink(args);
  }

  /// `text`, a SQL condition over the columns of `schema`, bound.
  Result<arrow::compute::Expression> BindCondition(const EngineOptions& run,
                                                   const std::string& text,
                                                   const arrow::Schema& schema) {
    ARROW_ASSIGN_OR_RAISE(auto expr, sql::ParseExpression(text));
    plan::Binder::Scope scope;
    for (const auto& field : schema.fields()) {
      scope.columns.push_back({"", field->name(), field->name(), field->type()});
    }
    std::lock_guard<std::mutex> lock(session_mutex);
    plan::Binder binder = NewBinder(run);
    ARROW_ASSIGN_OR_RAISE(auto bound, binder.BindExpr(*expr, scope, nullptr));
    if (bound.type->id() != arrow::Type::BOOL && bound.type->id() != arrow::Type::NA) {
      return Status::Invalid("'", text, "' is ", bound.type->ToString(),
                             ", not a condition");
    }
    return bound.expr;
  }

  Result<std::unique_ptr<StatementResult>> RunWrite(const EngineOptions& run,
                                                    const sql::Statement& st) {
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(run, *st.query));
    // The sinks, their options validated by their connectors.
    std::vector<std::unique_ptr<Sink>> sinks;
    PipelineSpec spec;
    for (const auto& target : st.targets) {
      Options options;
      ARROW_ASSIGN_OR_RAISE(auto sink, MakeSink(run, target, *root->schema, &options));
      if (spec.flush_rows == 0 && options.IsSet("flush_rows")) {
        spec.flush_rows = options.GetInt("flush_rows");
      }
      if (spec.flush_interval_ms == 0 && options.IsSet("flush_interval")) {
        spec.flush_interval_ms = options.GetMillis("flush_interval");
      }
      spec.sinks.push_back(sink.get());
      sinks.push_back(std::move(sink));
    }
    spec.continuous = ReadsStream(*root);
    if (spec.continuous && spec.flush_rows == 0 && spec.flush_interval_ms == 0) {
      spec.flush_interval_ms = 1000;
    }
    spec.name = run.pipeline.empty() ? NameFromTargets(st.targets) : run.pipeline;
    ARROW_RETURN_NOT_OK(ValidatePipelineName(spec.name));
    // The fingerprint covers the plan and the sinks, never the SQL text.
    std::string identity = plan::Fingerprint(*root);
    for (const auto& s : spec.sinks) identity += "|" + s->Describe();
    spec.fingerprint = identity;
    std::vector<plan::PlanPtr> scans;
    if (spec.continuous) {
      ARROW_ASSIGN_OR_RAISE(scans, PrepareContinuous(run, &root, &spec.limit));
    } else {
      plan::CollectScans(root, &scans);
    }
    for (size_t i = 0; i < scans.size(); ++i) {
      spec.scans.push_back(
          PipelineScan{std::to_string(i), scans[i]->source, scans[i]->pushed});
    }
    spec.run_plan = [root, scans, stop = run.stop](std::vector<BatchPull> inputs)
        -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
      auto lower_scan = [&](const plan::PlanNode& scan) -> Result<ac::Declaration> {
        for (size_t i = 0; i < scans.size(); ++i) {
          if (scans[i].get() == &scan) return plan::SourceDeclaration(scan, inputs[i]);
        }
        return Status::Invalid("a scan the runtime does not read");
      };
      ARROW_ASSIGN_OR_RAISE(auto decl, plan::Lower(root, lower_scan, nullptr, stop));
      ARROW_ASSIGN_OR_RAISE(auto reader, plan::ToReader(std::move(decl), root->schema));
      return std::shared_ptr<arrow::RecordBatchReader>(std::move(reader));
    };
    spec.schema = root->schema;
    spec.state_dir = run.state_dir;
    spec.reset = run.reset;
    spec.stop = run.stop;
    spec.progress = run.progress;
    if (run.commit) {
      spec.commit = [name = spec.name, commit = run.commit](int64_t epoch, int64_t rows,
                                                            const OffsetEntry& entry) {
        commit(PipelineCommit{name, epoch, rows, SplitOffsets(entry)});
      };
    }
    spec.threads = ReadThreads();
    ARROW_ASSIGN_OR_RAISE(auto stats, RunPipeline(spec));
    arrow::Int64Builder b;
    ARROW_RETURN_NOT_OK(b.Append(stats.rows_written));
    ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
    auto table = arrow::Table::Make(
        arrow::schema({arrow::field("rows_written", arrow::int64())}), {arr}, 1);
    return std::make_unique<TableResult>(table, "write");
  }

  /// EXPLAIN ANALYZE of a query: runs it to the end and shows what each node
  /// emitted and when.
  Result<std::string> Analyze(const EngineOptions& run, const plan::PlanPtr& root) {
    plan::Profile profile;
    std::vector<std::shared_ptr<SplitScanner>> scanners;
    ARROW_ASSIGN_OR_RAISE(auto reader, Start(run, root, &scanners, &profile));
    int64_t rows = 0;
    Status status;
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch;
      status = reader->ReadNext(&batch);
      if (!status.ok() || batch == nullptr) break;
      rows += batch->num_rows();
    }
    (void)reader->Close();
    for (auto& s : scanners) s->Stop();
    ARROW_RETURN_NOT_OK(status);
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - profile.start)
                    .count();
    char total[96];
    std::snprintf(total, sizeof(total), "Total: %.1fms, %lld rows\n", ms,
                  static_cast<long long>(rows));
    return std::string(total) + plan::ToString(*root, 0, true, &profile);
  }

  Result<std::unique_ptr<StatementResult>> Explain(const EngineOptions& run,
                                                   const sql::Statement& st) {
    const sql::Statement& inner = *st.inner;
    if (!inner.query) {
      return Status::Invalid("EXPLAIN needs a query, INTO or COPY statement at ",
                             st.loc.ToString());
    }
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(run, *inner.query));
    std::string text;
    if (st.analyze) {
      if (inner.kind != sql::StatementKind::kQuery || plan::IsUnbounded(*root)) {
        return Status::NotImplemented(
            "not supported: EXPLAIN ANALYZE of a write or of an unbounded source at ",
            st.loc.ToString());
      }
      ARROW_ASSIGN_OR_RAISE(text, Analyze(run, root));
    } else if (inner.kind == sql::StatementKind::kInto ||
               inner.kind == sql::StatementKind::kCopy) {
      for (const auto& target : inner.targets) {
        text += "Write " + target.uri;
        const ConnectorSpec* connector = registry.FindByUri(target.uri);
        if (connector != nullptr && connector->make_sink) {
          Options options;
          ARROW_ASSIGN_OR_RAISE(auto sink,
                                MakeSink(run, target, *root->schema, &options));
          text += sink->transactional() ? " (exactly-once)" : " (at-least-once)";
        }
        text += "\n";
      }
      text += plan::ToString(*root, 1);
    } else {
      text = plan::ToString(*root);
    }
    std::vector<std::vector<std::optional<std::string>>> rows;
    text = Redact(text);
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      rows.push_back({text.substr(start, nl - start)});
      start = nl + 1;
    }
    ARROW_ASSIGN_OR_RAISE(auto table, TextTable({"explain"}, rows));
    return std::make_unique<TableResult>(table, "explain");
  }

  Result<std::unique_ptr<StatementResult>> Describe(const EngineOptions& run,
                                                    const sql::Statement& st) {
    std::unique_lock<std::mutex> lock(session_mutex);
    plan::Binder binder = NewBinder(run);
    ARROW_ASSIGN_OR_RAISE(auto root, binder.BindQuery(*st.query));
    lock.unlock();
    std::vector<std::vector<std::optional<std::string>>> rows;
    // DuckDB's six columns: key, default and extra are NULL for a query or a file.
    for (const auto& f : root->schema->fields()) {
      rows.push_back({f->name(), ArrowTypeToSql(*f->type()),
                      std::string(f->nullable() ? "YES" : "NO"), std::nullopt,
                      std::nullopt, std::nullopt});
    }
    ARROW_ASSIGN_OR_RAISE(auto table, TextTable({"column_name", "column_type", "null",
                                                 "key", "default", "extra"},
                                                rows));
    return std::make_unique<TableResult>(table, "describe");
  }

  Result<std::unique_ptr<StatementResult>> Done() {
    ARROW_ASSIGN_OR_RAISE(auto table, TextTable({}, {}));
    return std::make_unique<TableResult>(table, "ok");
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Make(EngineOptions options) {
  ARROW_RETURN_NOT_OK(cp::Initialize());
  ARROW_RETURN_NOT_OK(plan::RegisterFunctions());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ARROW_RETURN_NOT_OK(RegisterBuiltinConnectors(&impl->registry));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const Registry& Engine::registry() const { return impl_->registry; }

Status Engine::RegisterTable(const std::string& name,
                             std::shared_ptr<arrow::Table> table) {
  if (name.empty()) return Status::Invalid("a registered table needs a name");
  // The types the engine computes on, as a source's columns get them (large and
  // view strings become strings, dictionaries their values, ...).
  arrow::FieldVector fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table->num_columns(); ++i) {
    const auto& field = table->schema()->field(i);
    auto type = plan::EngineType(field->type());
    auto column = table->column(i);
    if (!type->Equals(*field->type())) {
      ARROW_ASSIGN_OR_RAISE(auto cast, cp::Cast(column, type));
      column = cast.chunked_array();
    }
    fields.push_back(field->WithType(type));
    columns.push_back(std::move(column));
  }
  auto engine_table = arrow::Table::Make(arrow::schema(std::move(fields)),
                                         std::move(columns), table->num_rows());
  ARROW_ASSIGN_OR_RAISE(auto combined, engine_table->CombineChunks());
  const std::string key = AsciiLower(name);
  std::lock_guard<std::mutex> lock(impl_->session_mutex);
  impl_->Forget(key);
  impl_->tables[key] = std::move(combined);
  return Status::OK();
}

Status Engine::RegisterSource(const std::string& name, std::shared_ptr<Source> source) {
  if (name.empty()) return Status::Invalid("a registered source needs a name");
  const std::string key = AsciiLower(name);
  std::lock_guard<std::mutex> lock(impl_->session_mutex);
  impl_->Forget(key);
  impl_->sources[key] = std::move(source);
  return Status::OK();
}

Status Engine::Unregister(const std::string& name) {
  const std::string key = AsciiLower(name);
  std::lock_guard<std::mutex> lock(impl_->session_mutex);
  if (!impl_->tables.count(key) && !impl_->sources.count(key)) {
    return Status::KeyError("nothing is registered as '", name, "'");
  }
  impl_->tables.erase(key);
  impl_->sources.erase(key);
  return Status::OK();
}

Result<std::vector<std::shared_ptr<ParsedStatement>>> Engine::Parse(
    const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statements, sql::ParseScript(sql));
  std::vector<std::shared_ptr<ParsedStatement>> out;
  for (auto& s : statements) {
    out.push_back(std::make_shared<ParsedStatement>(ParsedStatement{std::move(s)}));
  }
  return out;
}

bool IsQuery(const ParsedStatement& parsed) {
  switch (parsed.statement.kind) {
    case sql::StatementKind::kQuery:
    case sql::StatementKind::kExplain:
    case sql::StatementKind::kDescribe:
    case sql::StatementKind::kShowTables:
      return true;
    default:
      return false;
  }
}

Result<std::unique_ptr<StatementResult>> Engine::Execute(const ParsedStatement& parsed) {
  return Execute(parsed, StatementOptions{});
}

Result<std::unique_ptr<StatementResult>> Engine::Execute(
    const ParsedStatement& parsed, const StatementOptions& statement_options) {
  const EngineOptions run = WithStatementOptions(impl_->options, statement_options);
  const sql::Statement& st = parsed.statement;
  switch (st.kind) {
    case sql::StatementKind::kQuery:
      return impl_->RunQuery(run, *st.query);
    case sql::StatementKind::kInto:
    case sql::StatementKind::kCopy:
      return impl_->RunWrite(run, st);
    case sql::StatementKind::kExplain:
      return impl_->Explain(run, st);
    case sql::StatementKind::kDescribe:
      return impl_->Describe(run, st);
    default:
      break;
  }
  // The statements that change the session.
  std::lock_guard<std::mutex> lock(impl_->session_mutex);
  switch (st.kind) {
    case sql::StatementKind::kCreateView: {
      std::string key = AsciiLower(st.name);
      if (impl_->tables.count(key)) {
        return Status::Invalid("'", st.name, "' is a table at ", st.loc.ToString());
      }
      if (impl_->views.count(key) && !st.or_replace) {
        return Status::Invalid("view '", st.name, "' already exists at ",
                               st.loc.ToString(), "; use CREATE OR REPLACE VIEW");
      }
      plan::Binder binder = impl_->NewBinder(run);
      ARROW_RETURN_NOT_OK(binder.BindQuery(*st.query).status());
      impl_->views[key] = st.query;
      return impl_->Done();
    }
    case sql::StatementKind::kDropView: {
      std::string key = AsciiLower(st.name);
      if (!impl_->views.erase(key) && !st.if_exists) {
        return Status::Invalid("view '", st.name, "' does not exist at ",
                               st.loc.ToString());
      }
      return impl_->Done();
    }
    case sql::StatementKind::kCreateTable: {
      std::string key = AsciiLower(st.name);
      if (impl_->views.count(key)) {
        return Status::Invalid("'", st.name, "' is a view at ", st.loc.ToString());
      }
      if (impl_->tables.count(key) && !st.or_replace) {
        return Status::Invalid("table '", st.name, "' already exists at ",
                               st.loc.ToString(), "; use CREATE OR REPLACE TABLE");
      }
      plan::Binder binder = impl_->NewBinder(run);
      ARROW_ASSIGN_OR_RAISE(auto root, binder.BindQuery(*st.query));
      ARROW_ASSIGN_OR_RAISE(auto table, impl_->SubqueryRunner(run)(root));
      ARROW_ASSIGN_OR_RAISE(impl_->tables[key], table->CombineChunks());
      return impl_->Done();
    }
    case sql::StatementKind::kDropTable: {
      std::string key = AsciiLower(st.name);
      if (!impl_->tables.erase(key) && !st.if_exists) {
        return Status::Invalid("table '", st.name, "' does not exist at ",
                               st.loc.ToString());
      }
      return impl_->Done();
    }
    case sql::StatementKind::kSet: {
      std::optional<std::string> value;
      if (!st.reset) value = st.value;
      auto applied = plan::ApplySetting(&impl_->settings, st.name, value);
      if (!applied.ok()) {
        return Status::Invalid(applied.message(), " at ", st.loc.ToString());
      }
      return impl_->Done();
    }
    case sql::StatementKind::kShowTables: {
      // DuckDB's one column, `name`: the session's tables, views and registered
      // sources, sorted.
      std::vector<std::vector<std::optional<std::string>>> rows;
      std::vector<std::string> names;
      for (const auto& [k, v] : impl_->tables) names.push_back(k);
      for (const auto& [k, v] : impl_->views) names.push_back(k);
      for (const auto& [k, v] : impl_->sources) names.push_back(k);
      std::sort(names.begin(), names.end());
      for (const auto& n : names) rows.push_back({n});
      ARROW_ASSIGN_OR_RAISE(auto table, TextTable({"name"}, rows));
      return std::make_unique<TableResult>(table, "show");
    }
    default:
      break;
  }
  return Status::Invalid("unsupported statement");
}

Result<std::unique_ptr<StatementResult>> Engine::Query(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statements, Parse(sql));
  if (statements.size() != 1) {
    return Status::Invalid("expected exactly one statement, got ", statements.size());
  }
  return Execute(*statements[0]);
}

Result<std::shared_ptr<arrow::Table>> ReadAll(StatementResult* result) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, result->Next());
    if (!batch) break;
    batches.push_back(batch);
  }
  return arrow::Table::FromRecordBatches(result->schema(), batches);
}

}  // namespace flowsql
