#include "plan/lateral.h"

#include <arrow/acero/map_node.h>
#include <arrow/acero/options.h>
#include <arrow/array/array_binary.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/concatenate.h>
#include <arrow/array/util.h>
#include <arrow/compute/api.h>
#include <arrow/table.h>
#include <arrow/util/thread_pool.h>

#include <atomic>
#include <map>
#include <mutex>

#include "common/conform.h"
#include "common/parallel.h"
#include "plan/exec_nodes.h"

namespace flowsql::plan {

namespace ac = arrow::acero;
namespace cp = arrow::compute;

namespace {

constexpr char kFactory[] = "flowsql_lateral";

struct LateralOptions : ac::ExecNodeOptions {
  std::shared_ptr<const PlanNode> node;  // a copy: the plan may go first
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
};

/// "read_csv('data/a.csv', ...)": a call, for errors.
std::string CallText(const PlanNode& node, const std::vector<std::string>& values) {
  std::string text = node.connector + "(";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i == 0 && values[0].empty()) continue;  // a function without a URI
    text += (text.back() == '(' ? "'" : ", '") + values[i] + "'";
  }
  return text + ")";
}

class LateralNode : public ac::MapNode {
 public:
  LateralNode(ac::ExecPlan* plan, ac::ExecNode* input, std::shared_ptr<arrow::Schema> out,
              std::shared_ptr<const PlanNode> node, std::vector<cp::Expression> args,
              arrow::StopToken stop)
      : ac::MapNode(plan, {input}, std::move(out)),
        node_(*node),
        keep_(std::move(node)),
        args_(std::move(args)),
        stop_(std::move(stop)) {
    const int left = input->output_schema()->num_fields();
    arrow::FieldVector right;
    for (int i = left; i < output_schema()->num_fields(); ++i) {
      right.push_back(output_schema()->field(i));
    }
    right_ = arrow::schema(std::move(right));
    arrow::FieldVector named;
    for (int i = 0; i < right_->num_fields(); ++i) {
      named.push_back(right_->field(i)->WithName(node_.source_columns[i]));
    }
    by_source_name_ = arrow::schema(std::move(named));
  }

  const char* kind_name() const override { return "LateralNode"; }

 protected:
  arrow::Result<cp::ExecBatch> ProcessBatch(cp::ExecBatch batch) override {
    // Each row's argument texts; rows with the same ones share one call.
    std::vector<std::shared_ptr<arrow::StringArray>> values;
    for (const auto& e : args_) {
      ARROW_ASSIGN_OR_RAISE(auto datum, cp::ExecuteScalarExpression(e, batch));
      std::shared_ptr<arrow::Array> array;
      if (datum.is_scalar()) {
        ARROW_ASSIGN_OR_RAISE(array,
                              arrow::MakeArrayFromScalar(*datum.scalar(), batch.length));
      } else {
        array = datum.make_array();
      }
      ARROW_ASSIGN_OR_RAISE(auto text, cp::Cast(*array, arrow::utf8()));
      values.push_back(std::static_pointer_cast<arrow::StringArray>(text));
    }
    std::map<std::vector<std::string>, int64_t> call_of;
    std::vector<std::vector<std::string>> calls;
    std::vector<int64_t> row_call(batch.length, -1);  // -1: a NULL argument, no call
    for (int64_t r = 0; r < batch.length; ++r) {
      std::vector<std::string> key;
      bool null = false;
      for (const auto& v : values) {
        null = null || v->IsNull(r);
        key.emplace_back(v->IsNull(r) ? std::string_view() : v->GetView(r));
      }
      if (null) continue;
      auto [it, added] = call_of.emplace(key, static_cast<int64_t>(calls.size()));
      if (added) calls.push_back(std::move(key));
      row_call[r] = it->second;
    }
    ARROW_ASSIGN_OR_RAISE(auto results, RunCalls(calls));
    // The output: each row once per row of its call (once with NULLs on the right
    // for a LEFT JOIN LATERAL whose call gave none).
    std::vector<int64_t> first(calls.size() + 1, 0);
    for (size_t c = 0; c < calls.size(); ++c)
      first[c + 1] = first[c] + results[c]->num_rows();
    const bool outer = node_.join_type == ac::JoinType::LEFT_OUTER;
    arrow::Int64Builder parents, children;
    for (int64_t r = 0; r < batch.length; ++r) {
      const int64_t c = row_call[r];
      const int64_t n = c < 0 ? 0 : results[c]->num_rows();
      for (int64_t j = 0; j < n; ++j) {
        ARROW_RETURN_NOT_OK(parents.Append(r));
        ARROW_RETURN_NOT_OK(children.Append(first[c] + j));
      }
      if (n == 0 && outer) {
        ARROW_RETURN_NOT_OK(parents.Append(r));
        ARROW_RETURN_NOT_OK(children.AppendNull());
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto parent_rows, parents.Finish());
    ARROW_ASSIGN_OR_RAISE(auto child_rows, children.Finish());
    std::vector<arrow::Datum> out;
    for (const auto& column : batch.values) {
      if (column.is_scalar()) {
        out.push_back(column);
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(column, parent_rows));
      out.push_back(std::move(taken));
    }
    for (int i = 0; i < right_->num_fields(); ++i) {
      arrow::ArrayVector chunks;
      for (const auto& table : results) {
        for (const auto& chunk : table->column(i)->chunks()) chunks.push_back(chunk);
      }
      std::shared_ptr<arrow::Array> all;
      if (chunks.empty()) {
        ARROW_ASSIGN_OR_RAISE(all, arrow::MakeEmptyArray(right_->field(i)->type()));
      } else {
        ARROW_ASSIGN_OR_RAISE(all, arrow::Concatenate(chunks));
      }
      ARROW_ASSIGN_OR_RAISE(auto taken, cp::Take(all, child_rows));
      out.push_back(std::move(taken));
    }
    return cp::ExecBatch(std::move(out), parent_rows->length());
  }

 private:
  /// Runs the calls, kLateralCalls at a time; the first error wins.
  Result<std::vector<std::shared_ptr<arrow::Table>>> RunCalls(
      const std::vector<std::vector<std::string>>& calls) {
    // This thread, one of Acero's CPU pool, waits for the calls, whose readers decode
    // on that pool: the pool has a thread more meanwhile, or two batches waiting so
    // on two cores would leave none to decode (a LATERAL read_json hung).
    CpuPoolLoan loan;
    std::vector<std::shared_ptr<arrow::Table>> tables(calls.size());
    std::mutex mutex;
    Status first_error;
    std::atomic<bool> failed{false};
    ParallelFor(calls.size(), kLateralCalls, [&](size_t i) {
      if (failed) return;
      auto table = Call(calls[i]);
      if (table.ok()) {
        tables[i] = std::move(*table);
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (first_error.ok()) first_error = table.status();
      failed = true;
    });
    ARROW_RETURN_NOT_OK(first_error);
    return tables;
  }

  /// While alive, Arrow's CPU pool has one thread more than it had.
  class CpuPoolLoan {
   public:
    CpuPoolLoan() { Lend(+1); }
    ~CpuPoolLoan() { Lend(-1); }

   private:
    static void Lend(int delta) {
      static std::mutex mutex;
      static int lent = 0;
      std::lock_guard<std::mutex> lock(mutex);
      auto* pool = arrow::internal::GetCpuThreadPool();
      static const int base = pool->GetCapacity();
      lent += delta;
      (void)pool->SetCapacity(base + lent);
    }
  };

  /// One call of the function, read to its end.
  Result<std::shared_ptr<arrow::Table>> Call(const std::vector<std::string>& values) {
    Result<std::shared_ptr<arrow::Table>> table = Read(values);
    if (table.ok()) return table;
    const Status& st = table.status();
    return st.WithMessage("LATERAL ", CallText(node_, values), ": ", st.message());
  }

  Result<std::shared_ptr<arrow::Table>> Read(const std::vector<std::string>& values) {
    if (stop_.IsStopRequested()) return Status::Cancelled("LATERAL call stopped");
    ConnectorArgs args = node_.args;
    args.stop = stop_;
    args.uri = values[0];
    args.positional.assign(values.begin() + 1, values.end());
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Source> source, node_.make_source(args));
    ARROW_ASSIGN_OR_RAISE(auto schema, source->GetSchema());
    ScanRequest request;
    request.stop = stop_;
    if (source->pushdown().projection) {
      std::vector<std::string> columns;
      for (const auto& name : node_.source_columns) {
        if (schema->GetFieldIndex(name) >= 0) columns.push_back(name);
      }
      if (!columns.empty()) request.columns = std::move(columns);
    }
    ARROW_ASSIGN_OR_RAISE(auto splits, source->PlanSplits(request));
    arrow::RecordBatchVector batches;
    for (const auto& split : splits) {
      ARROW_ASSIGN_OR_RAISE(auto reader, source->OpenSplit(split, SplitRange{}, request));
      while (true) {
        ARROW_ASSIGN_OR_RAISE(auto next, reader->Next());
        if (next.batch == nullptr) break;
        ARROW_ASSIGN_OR_RAISE(
            auto batch, ConformByName(next.batch, by_source_name_,
                                      values[0].empty() ? node_.connector : values[0]));
        ARROW_ASSIGN_OR_RAISE(batch, batch->ReplaceSchema(right_));
        batches.push_back(std::move(batch));
      }
    }
    return arrow::Table::FromRecordBatches(right_, std::move(batches));
  }

  const PlanNode& node_;
  std::shared_ptr<const PlanNode> keep_;  // owns node_
  std::vector<cp::Expression> args_;      // bound to the input
  arrow::StopToken stop_;
  std::shared_ptr<arrow::Schema> right_;           // the calls' columns
  std::shared_ptr<arrow::Schema> by_source_name_;  // right_ as the calls name them
};

void RegisterOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterOneInputNode(
        kFactory,
        [](ac::ExecPlan* plan, ac::ExecNode* input,
           const ac::ExecNodeOptions& options) -> arrow::Result<ac::ExecNode*> {
          const auto& o = static_cast<const LateralOptions&>(options);
          const PlanNode& node = *o.node;
          std::vector<cp::Expression> args;
          for (const auto& e : node.exprs) {
            ARROW_ASSIGN_OR_RAISE(auto bound, e.Bind(*input->output_schema()));
            args.push_back(std::move(bound));
          }
          // The input's columns as they are, then the calls' as the plan typed them.
          arrow::FieldVector fields = input->output_schema()->fields();
          const int right = static_cast<int>(node.source_columns.size());
          for (int i = node.schema->num_fields() - right; i < node.schema->num_fields();
               ++i) {
            fields.push_back(node.schema->field(i));
          }
          return plan->EmplaceNode<LateralNode>(plan, input, arrow::schema(fields),
                                                o.node, std::move(args), o.stop);
        });
  });
}

}  // namespace

ac::Declaration LateralDeclaration(ac::Declaration input, const PlanNode& node,
                                   arrow::StopToken stop) {
  RegisterOnce();
  LateralOptions options;
  options.node = std::make_shared<const PlanNode>(node);
  options.stop = std::move(stop);
  return ac::Declaration(kFactory, {std::move(input)}, std::move(options));
}

}  // namespace flowsql::plan
