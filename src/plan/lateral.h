// LATERAL table functions: `FROM t, LATERAL read_csv(t.path)` calls the function once
// per row of t, with arguments computed from that row.
#pragma once

#include <arrow/acero/exec_plan.h>
#include <arrow/util/cancel.h>

#include "plan/plan.h"

namespace flowsql::plan {

/// `input` followed by a node that, for each input batch, calls `node`'s table
/// function once per distinct argument list of its rows (up to kLateralCalls at a
/// time), reads each call's splits to the end, and outputs every input row joined
/// with its call's rows. A row with a NULL argument makes no call. Errors name the
/// call. REQUIRES: node.kind == kLateral.
arrow::acero::Declaration LateralDeclaration(arrow::acero::Declaration input,
                                             const PlanNode& node, arrow::StopToken stop);

/// How many calls of one input batch run at once.
constexpr int kLateralCalls = 8;

}  // namespace flowsql::plan
