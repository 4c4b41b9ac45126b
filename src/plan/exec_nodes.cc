#include "plan/exec_nodes.h"

#include <arrow/acero/options.h>

namespace flowsql::plan {

void RegisterOneInputNode(const std::string& name, OneInputNodeMaker make) {
  namespace ac = arrow::acero;
  // A second registration under the same name is refused by the registry: ignored.
  (void)ac::default_exec_factory_registry()->AddFactory(
      name,
      [make = std::move(make)](
          ac::ExecPlan* plan, std::vector<ac::ExecNode*> inputs,
          const ac::ExecNodeOptions& options) -> arrow::Result<ac::ExecNode*> {
        if (inputs.size() != 1) return arrow::Status::Invalid("one input expected");
        return make(plan, inputs[0], options);
      });
}

}  // namespace flowsql::plan
