// unnest(list) in a select list: one output row per list element.
#pragma once

#include <arrow/acero/exec_plan.h>

#include <string>
#include <vector>

namespace flowsql::plan {

/// `input` followed by a node that replaces its list columns `columns` by the
/// lists' elements, zipped: each row repeated once per element of its longest list,
/// a shorter list's column NULL past its end. Rows whose lists are all NULL or
/// empty produce nothing (DuckDB's unnest).
arrow::acero::Declaration UnnestDeclaration(arrow::acero::Declaration input,
                                            std::vector<std::string> columns);

}  // namespace flowsql::plan
