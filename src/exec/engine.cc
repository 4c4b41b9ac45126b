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
#include <functional>
#include <map>

#include "plan/binder.h"
#include "plan/plan.h"
#include "runtime/pipeline.h"
#include "sql/parser.h"

namespace flowsql {

namespace cp = arrow::compute;
namespace ac = arrow::acero;

struct ParsedStatement {
  sql::Statement statement;
};

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
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

/// A running Acero plan.
class QueryResult : public StatementResult {
 public:
  QueryResult(std::unique_ptr<arrow::RecordBatchReader> reader,
              std::shared_ptr<arrow::Schema> schema, const EngineOptions* options)
      : reader_(std::move(reader)), schema_(std::move(schema)), options_(options) {}
  ~QueryResult() override { Close(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (!reader_) return nullptr;
    if (options_->interrupt && options_->interrupt->load()) {
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
    if (options_->progress) options_->progress(rows_, 0);
    // Acero names fields by its own rules: give the user's names back.
    return arrow::RecordBatch::Make(schema_, batch->num_rows(), batch->columns());
  }
  void Close() override {
    if (reader_) {
      (void)reader_->Close();
      reader_.reset();
    }
  }
  std::string kind() const override { return "query"; }

 private:
  std::unique_ptr<arrow::RecordBatchReader> reader_;
  std::shared_ptr<arrow::Schema> schema_;
  const EngineOptions* options_;
  int64_t rows_ = 0;
};

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

std::string Hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// The chain of Filter/Project nodes above a single scan, top first, when the
/// whole plan is one (a "stateless" pipeline). Limit may sit on top.
bool StatelessChain(const plan::PlanPtr& root, std::vector<plan::PlanPtr>* chain,
                    plan::PlanPtr* scan, int64_t* limit) {
  *limit = -1;
  plan::PlanPtr node = root;
  while (true) {
    switch (node->kind) {
      case plan::NodeKind::kScan:
        *scan = node;
        return true;
      case plan::NodeKind::kFilter:
      case plan::NodeKind::kProject:
        chain->push_back(node);
        node = node->inputs[0];
        break;
      case plan::NodeKind::kLimit:
        if (*limit >= 0 || node->offset != 0) return false;
        // The pipeline counts its limit after the transform: no filter may sit above.
        for (const auto& n : *chain) {
          if (n->kind == plan::NodeKind::kFilter) return false;
        }
        *limit = node->count;
        node = node->inputs[0];
        break;
      default:
        return false;
    }
  }
}

/// Evaluates a chain of Filter/Project nodes on one batch.
class ChainTransform {
 public:
  explicit ChainTransform(std::vector<plan::PlanPtr> chain) : chain_(std::move(chain)) {
    std::reverse(chain_.begin(), chain_.end());  // bottom first
  }

  Result<std::shared_ptr<arrow::RecordBatch>> operator()(
      const std::shared_ptr<arrow::RecordBatch>& input) {
    std::shared_ptr<arrow::RecordBatch> batch = input;
    if (bound_.empty()) ARROW_RETURN_NOT_OK(Bind(*batch->schema()));
    for (size_t i = 0; i < chain_.size(); ++i) {
      const auto& node = chain_[i];
      cp::ExecBatch exec(*batch);
      if (node->kind == plan::NodeKind::kFilter) {
        ARROW_ASSIGN_OR_RAISE(auto mask, cp::ExecuteScalarExpression(bound_[i][0], exec));
        ARROW_ASSIGN_OR_RAISE(auto filtered, cp::Filter(batch, mask));
        batch = filtered.record_batch();
      } else {
        std::vector<std::shared_ptr<arrow::Array>> columns;
        for (const auto& e : bound_[i]) {
          ARROW_ASSIGN_OR_RAISE(auto d, cp::ExecuteScalarExpression(e, exec));
          if (d.is_scalar()) {
            ARROW_ASSIGN_OR_RAISE(
                auto arr, arrow::MakeArrayFromScalar(*d.scalar(), batch->num_rows()));
            columns.push_back(arr);
          } else {
            columns.push_back(d.make_array());
          }
        }
        batch = arrow::RecordBatch::Make(node->schema, batch->num_rows(), columns);
      }
    }
    return batch;
  }

 private:
  Status Bind(const arrow::Schema& input) {
    std::shared_ptr<arrow::Schema> schema = std::make_shared<arrow::Schema>(input);
    for (const auto& node : chain_) {
      std::vector<cp::Expression> exprs;
      if (node->kind == plan::NodeKind::kFilter) {
        ARROW_ASSIGN_OR_RAISE(auto e, node->predicate.Bind(*schema));
        exprs.push_back(e);
      } else {
        for (const auto& x : node->exprs) {
          ARROW_ASSIGN_OR_RAISE(auto e, x.Bind(*schema));
          exprs.push_back(e);
        }
        schema = node->schema;
      }
      bound_.push_back(std::move(exprs));
    }
    return Status::OK();
  }

  std::vector<plan::PlanPtr> chain_;
  std::vector<std::vector<cp::Expression>> bound_;
};

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  Registry registry;
  plan::ViewMap views;

  Result<plan::PlanPtr> Plan(const sql::Query& query) {
    plan::Binder binder(&registry, &views);
    ARROW_ASSIGN_OR_RAISE(auto root, binder.BindQuery(query));
    plan::Optimize(root);
    if (plan::BlocksOnUnbounded(*root)) {
      return Status::Invalid(
          "this query never finishes: it aggregates, sorts or joins an unbounded source; "
          "add a LIMIT on the source side (e.g. in a subquery) or use a bounded source");
    }
    return root;
  }

  Result<std::unique_ptr<StatementResult>> RunQuery(const sql::Query& query) {
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(query));
    ARROW_ASSIGN_OR_RAISE(auto decl, plan::Lower(root));
    ac::QueryOptions qo;
    qo.use_threads = true;
    ARROW_ASSIGN_OR_RAISE(auto reader, ac::DeclarationToReader(std::move(decl), qo));
    return std::make_unique<QueryResult>(std::move(reader), root->schema, &options);
  }

  Result<std::unique_ptr<StatementResult>> RunWrite(const sql::Statement& st) {
    const ConnectorSpec* spec = registry.FindByUri(st.target);
    if (spec == nullptr || !spec->make_sink) {
      return Status::Invalid("no connector can write '", st.target, "' at ",
                             st.target_loc.ToString());
    }
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(*st.query));
    ConnectorArgs args;
    args.uri = st.target;
    ARROW_ASSIGN_OR_RAISE(
        args.options,
        Options::Validate(spec->sink_options, st.target_options, spec->name + " sink"));
    std::vector<plan::PlanPtr> chain;
    plan::PlanPtr scan;
    int64_t limit = -1;
    bool stateless = StatelessChain(root, &chain, &scan, &limit);
    bool unbounded = plan::IsUnbounded(*root);
    std::string pipeline_id = Hash(st.text);
    std::string resume;
    if (stateless && !options.state_dir.empty()) {
      ARROW_ASSIGN_OR_RAISE(resume, LoadOffset(options.state_dir, pipeline_id));
      // A resumed pipeline continues the target it started.
      if (!resume.empty() && !args.options.IsSet("mode"))
        args.options.Set("mode", "append");
    }
    ARROW_ASSIGN_OR_RAISE(std::unique_ptr<Sink> sink, spec->make_sink(args));
    ARROW_RETURN_NOT_OK(sink->Open(root->schema));
    int64_t rows = 0;
    if (stateless) {
      PipelineOptions po;
      if (unbounded) {
        po.flush_rows = args.options.GetInt("flush_rows", 0);
        po.flush_interval_ms = args.options.GetMillis("flush_interval", 0);
        if (po.flush_rows == 0 && po.flush_interval_ms == 0) po.flush_interval_ms = 1000;
      }
      po.limit = limit;
      po.state_dir = options.state_dir;
      po.pipeline_id = pipeline_id;
      po.interrupt = options.interrupt;
      po.on_commit = options.progress;
      ChainTransform transform(chain);
      // The scan is opened by the pipeline with the resume offset.
      class PlanSource : public Source {
       public:
        explicit PlanSource(plan::PlanPtr scan) : scan_(std::move(scan)) {}
        Result<std::shared_ptr<arrow::Schema>> GetSchema() override {
          return scan_->schema;
        }
        bool bounded() const override { return scan_->source->bounded(); }
        Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) override {
          plan::PlanNode node = *scan_;
          node.pushed.start_offset = request.start_offset;
          return plan::OpenScan(node);
        }
        std::string Describe() const override { return scan_->source->Describe(); }

       private:
        plan::PlanPtr scan_;
      } source(scan);
      auto result = RunPipeline(
          &source, scan->pushed,
          [&](const std::shared_ptr<arrow::RecordBatch>& b) { return transform(b); },
          sink.get(), po);
      if (!result.ok()) {
        (void)sink->Abort();
        return result.status();
      }
      rows = result->rows_written;
    } else {
      ARROW_ASSIGN_OR_RAISE(auto decl, plan::Lower(root));
      auto reader = ac::DeclarationToReader(std::move(decl));
      Status st_run = reader.status();
      while (st_run.ok()) {
        std::shared_ptr<arrow::RecordBatch> batch;
        st_run = (*reader)->ReadNext(&batch);
        if (!st_run.ok() || !batch) break;
        batch =
            arrow::RecordBatch::Make(root->schema, batch->num_rows(), batch->columns());
        st_run = sink->Write(batch);
        rows += batch->num_rows();
        if (options.progress) options.progress(rows, 0);
      }
      if (st_run.ok()) st_run = sink->Commit();
      if (!st_run.ok()) {
        (void)sink->Abort();
        return st_run;
      }
    }
    arrow::Int64Builder b;
    ARROW_RETURN_NOT_OK(b.Append(rows));
    ARROW_ASSIGN_OR_RAISE(auto arr, b.Finish());
    auto table = arrow::Table::Make(
        arrow::schema({arrow::field("rows_written", arrow::int64())}), {arr}, 1);
    return std::make_unique<TableResult>(table, "write");
  }

  Result<std::unique_ptr<StatementResult>> Explain(const sql::Statement& st) {
    const sql::Statement& inner = *st.inner;
    if (!inner.query) {
      return Status::Invalid("EXPLAIN needs a query, INTO or COPY statement at ",
                             st.loc.ToString());
    }
    ARROW_ASSIGN_OR_RAISE(auto root, Plan(*inner.query));
    std::string text;
    if (inner.kind == sql::StatementKind::kInto ||
        inner.kind == sql::StatementKind::kCopy) {
      text = "Write " + inner.target + "\n" + plan::ToString(*root, 1);
    } else {
      text = plan::ToString(*root);
    }
    std::vector<std::vector<std::optional<std::string>>> rows;
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

  Result<std::unique_ptr<StatementResult>> Describe(const sql::Statement& st) {
    plan::Binder binder(&registry, &views);
    ARROW_ASSIGN_OR_RAISE(auto root, binder.BindQuery(*st.query));
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (const auto& f : root->schema->fields()) {
      rows.push_back({f->name(), plan::ArrowTypeToSql(*f->type())});
    }
    ARROW_ASSIGN_OR_RAISE(auto table, TextTable({"column_name", "column_type"}, rows));
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
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ARROW_RETURN_NOT_OK(RegisterBuiltinConnectors(&impl->registry));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const Registry& Engine::registry() const { return impl_->registry; }

Result<std::vector<std::shared_ptr<ParsedStatement>>> Engine::Parse(
    const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statements, sql::ParseScript(sql));
  std::vector<std::shared_ptr<ParsedStatement>> out;
  for (auto& s : statements) {
    out.push_back(std::make_shared<ParsedStatement>(ParsedStatement{std::move(s)}));
  }
  return out;
}

Result<std::unique_ptr<StatementResult>> Engine::Execute(const ParsedStatement& parsed) {
  const sql::Statement& st = parsed.statement;
  switch (st.kind) {
    case sql::StatementKind::kQuery:
      return impl_->RunQuery(*st.query);
    case sql::StatementKind::kInto:
    case sql::StatementKind::kCopy:
      return impl_->RunWrite(st);
    case sql::StatementKind::kExplain:
      return impl_->Explain(st);
    case sql::StatementKind::kDescribe:
      return impl_->Describe(st);
    case sql::StatementKind::kCreateView: {
      std::string key = Lower(st.name);
      if (impl_->views.count(key) && !st.or_replace) {
        return Status::Invalid("view '", st.name, "' already exists at ",
                               st.loc.ToString(), "; use CREATE OR REPLACE VIEW");
      }
      plan::Binder binder(&impl_->registry, &impl_->views);
      ARROW_RETURN_NOT_OK(binder.BindQuery(*st.query).status());
      impl_->views[key] = st.query;
      return impl_->Done();
    }
    case sql::StatementKind::kDropView: {
      std::string key = Lower(st.name);
      if (!impl_->views.erase(key) && !st.if_exists) {
        return Status::Invalid("view '", st.name, "' does not exist at ",
                               st.loc.ToString());
      }
      return impl_->Done();
    }
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
