// unnest(list) in a select list: one output row per list element.
#pragma once

#include <arrow/acero/exec_plan.h>

#include <string>

namespace flowsql::plan {

/// `input` followed by a node that replaces its list column `column` by the lists'
/// elements, repeating the row's other columns once per element. Rows whose list
/// is NULL or empty produce nothing (DuckDB's unnest).
arrow::acero::Declaration UnnestDeclaration(arrow::acero::Declaration input,
                                            std::string column);

}  // namespace flowsql::plan
