#include "plan/unnest.h"

#include <arrow/acero/map_node.h>
#include <arrow/acero/options.h>
#include <arrow/array/array_nested.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/util.h>
#include <arrow/compute/api.h>

#include <algorithm>
#include <mutex>

#include "plan/exec_nodes.h"

namespace flowsql::plan {

namespace ac = arrow::acero;
namespace cp = arrow::compute;

namespace {

constexpr char kFactory[] = "flowsql_unnest";

struct UnnestOptions : ac::ExecNodeOptions {
  std::vector<std::string> columns;
};

class UnnestNode : public ac::MapNode {
 public:
  UnnestNode(ac::ExecPlan* plan, ac::ExecNode* input,
             std::shared_ptr<arrow::Schema> schema, std::vector<int> indices)
      : ac::MapNode(plan, {input}, std::move(schema)), indices_(std::move(indices)) {}

  const char* kind_name() const override { return "UnnestNode"; }

 protected:
  arrow::Result<cp::ExecBatch> ProcessBatch(cp::ExecBatch batch) override {
    std::vector<std::shared_ptr<arrow::ListArray>> lists;
    for (int index : indices_) {
      const arrow::Datum& column = batch.values[index];
      std::shared_ptr<arrow::Array> array;
      if (column.is_scalar()) {
        ARROW_ASSIGN_OR_RAISE(array,
                              arrow::MakeArrayFromScalar(*column.scalar(), batch.length));
      } else {
        array = column.make_array();
      }
      lists.push_back(std::static_pointer_cast<arrow::ListArray>(array));
    }
    // Each output row's input row, and per list the element there (NULL past the
    // list's end; a NULL list's slots may still hold values, so it counts as empty).
    arrow::Int64Builder parent_builder;
    std::vector<arrow::Int64Builder> place_builders(lists.size());
    for (int64_t r = 0; r < batch.length; ++r) {
      int64_t n = 0;
      for (const auto& list : lists) {
        if (!list->IsNull(r)) n = std::max<int64_t>(n, list->value_length(r));
      }
      for (int64_t j = 0; j < n; ++j) {
        ARROW_RETURN_NOT_OK(parent_builder.Append(r));
        for (size_t i = 0; i < lists.size(); ++i) {
          const auto& list = *lists[i];
          if (!list.IsNull(r) && j < list.value_length(r)) {
            ARROW_RETURN_NOT_OK(place_builders[i].Append(list.value_offset(r) + j));
          } else {
            ARROW_RETURN_NOT_OK(place_builders[i].AppendNull());
          }
        }
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto parents, parent_builder.Finish());
    std::vector<arrow::Datum> out;
    for (size_t c = 0; c < batch.values.size(); ++c) {
      auto at = std::find(indices_.begin(), indices_.end(), static_cast<int>(c));
      if (at != indices_.end()) {
        const size_t i = at - indices_.begin();
        ARROW_ASSIGN_OR_RAISE(auto places, place_builders[i].Finish());
        ARROW_ASSIGN_OR_RAISE(auto elements, cp::Take(lists[i]->values(), places));
        out.push_back(std::move(elements));
      } else if (batch.values[c].is_scalar()) {
        out.push_back(batch.values[c]);
      } else {
        ARROW_ASSIGN_OR_RAISE(auto repeated, cp::Take(batch.values[c], parents));
        out.push_back(std::move(repeated));
      }
    }
    return cp::ExecBatch(std::move(out), parents->length());
  }

 private:
  std::vector<int> indices_;
};

void RegisterOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterOneInputNode(
        kFactory,
        [](ac::ExecPlan* plan, ac::ExecNode* input,
           const ac::ExecNodeOptions& options) -> arrow::Result<ac::ExecNode*> {
          const auto& columns = static_cast<const UnnestOptions&>(options).columns;
          std::shared_ptr<arrow::Schema> schema = input->output_schema();
          std::vector<int> indices;
          for (const auto& column : columns) {
            int index = schema->GetFieldIndex(column);
            if (index < 0 || schema->field(index)->type()->id() != arrow::Type::LIST) {
              return arrow::Status::Invalid("unnest: no list column ", column);
            }
            auto element =
                static_cast<const arrow::ListType&>(*schema->field(index)->type())
                    .value_type();
            ARROW_ASSIGN_OR_RAISE(schema,
                                  schema->SetField(index, arrow::field(column, element)));
            indices.push_back(index);
          }
          return plan->EmplaceNode<UnnestNode>(plan, input, std::move(schema),
                                               std::move(indices));
        });
  });
}

}  // namespace

ac::Declaration UnnestDeclaration(ac::Declaration input,
                                  std::vector<std::string> columns) {
  RegisterOnce();
  UnnestOptions options;
  options.columns = std::move(columns);
  return ac::Declaration(kFactory, {std::move(input)}, std::move(options));
}

}  // namespace flowsql::plan
