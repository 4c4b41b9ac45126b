// flowsql's own Acero nodes (profile, unnest) register through here.
#pragma once

#include <arrow/acero/exec_plan.h>

#include <functional>
#include <string>

namespace flowsql::plan {

/// Makes the nodes of a one-input node factory: the plan, its input, the options.
using OneInputNodeMaker = std::function<arrow::Result<arrow::acero::ExecNode*>(
    arrow::acero::ExecPlan*, arrow::acero::ExecNode*,
    const arrow::acero::ExecNodeOptions&)>;

/// Registers `make` in Acero's default registry as factory `name`, whose nodes take
/// exactly one input. Calls after the first for a name do nothing. Thread-safe.
void RegisterOneInputNode(const std::string& name, OneInputNodeMaker make);

}  // namespace flowsql::plan
