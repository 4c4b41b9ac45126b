#include "plan/unnest.h"

#include <arrow/acero/map_node.h>
#include <arrow/acero/options.h>
#include <arrow/array/array_nested.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/array/util.h>
#include <arrow/compute/api.h>

#include <mutex>

namespace flowsql::plan {

namespace ac = arrow::acero;
namespace cp = arrow::compute;

namespace {

constexpr char kFactory[] = "flowsql_unnest";

struct UnnestOptions : ac::ExecNodeOptions {
  std::string column;
};

class UnnestNode : public ac::MapNode {
 public:
  UnnestNode(ac::ExecPlan* plan, ac::ExecNode* input,
             std::shared_ptr<arrow::Schema> schema, int index)
      : ac::MapNode(plan, {input}, std::move(schema)), index_(index) {}

  const char* kind_name() const override { return "UnnestNode"; }

 protected:
  arrow::Result<cp::ExecBatch> ProcessBatch(cp::ExecBatch batch) override {
    std::shared_ptr<arrow::Array> lists;
    const arrow::Datum& column = batch.values[index_];
    if (column.is_scalar()) {
      ARROW_ASSIGN_OR_RAISE(lists,
                            arrow::MakeArrayFromScalar(*column.scalar(), batch.length));
    } else {
      lists = column.make_array();
    }
    // Each element's row and place, NULL lists skipped (their slots may still hold
    // values, which list_parent_indices would count and list_flatten not).
    const auto& list = static_cast<const arrow::ListArray&>(*lists);
    arrow::Int64Builder parent_builder, place_builder;
    for (int64_t r = 0; r < list.length(); ++r) {
      if (list.IsNull(r)) continue;
      for (int64_t j = list.value_offset(r); j < list.value_offset(r + 1); ++j) {
        ARROW_RETURN_NOT_OK(parent_builder.Append(r));
        ARROW_RETURN_NOT_OK(place_builder.Append(j));
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto parents, parent_builder.Finish());
    ARROW_ASSIGN_OR_RAISE(auto places, place_builder.Finish());
    ARROW_ASSIGN_OR_RAISE(auto elements, cp::Take(list.values(), places));
    std::vector<arrow::Datum> out;
    for (size_t i = 0; i < batch.values.size(); ++i) {
      if (static_cast<int>(i) == index_) {
        out.push_back(elements);
      } else if (batch.values[i].is_scalar()) {
        out.push_back(batch.values[i]);
      } else {
        ARROW_ASSIGN_OR_RAISE(auto repeated, cp::Take(batch.values[i], parents));
        out.push_back(std::move(repeated));
      }
    }
    return cp::ExecBatch(std::move(out), elements.length());
  }

 private:
  int index_;
};

void RegisterOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)ac::default_exec_factory_registry()->AddFactory(
        kFactory,
        [](ac::ExecPlan* plan, std::vector<ac::ExecNode*> inputs,
           const ac::ExecNodeOptions& options) -> arrow::Result<ac::ExecNode*> {
          if (inputs.size() != 1) return arrow::Status::Invalid("one input expected");
          const auto& column = static_cast<const UnnestOptions&>(options).column;
          const auto& in = inputs[0]->output_schema();
          int index = in->GetFieldIndex(column);
          if (index < 0 || in->field(index)->type()->id() != arrow::Type::LIST) {
            return arrow::Status::Invalid("unnest: no list column ", column);
          }
          auto element =
              static_cast<const arrow::ListType&>(*in->field(index)->type()).value_type();
          ARROW_ASSIGN_OR_RAISE(auto schema,
                                in->SetField(index, arrow::field(column, element)));
          return plan->EmplaceNode<UnnestNode>(plan, inputs[0], std::move(schema), index);
        });
  });
}

}  // namespace

ac::Declaration UnnestDeclaration(ac::Declaration input, std::string column) {
  RegisterOnce();
  UnnestOptions options;
  options.column = std::move(column);
  return ac::Declaration(kFactory, {std::move(input)}, std::move(options));
}

}  // namespace flowsql::plan
