#include "sql/ast.h"

namespace flowsql::sql {

std::string Location::ToString() const {
  return "line " + std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace flowsql::sql
