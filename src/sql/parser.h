// A hand-written recursive-descent parser for flowsql's PostgreSQL-flavoured SQL.
#pragma once

#include <string>
#include <vector>

#include "flowsql/status.h"
#include "sql/ast.h"

namespace flowsql::sql {

/// Parses a script of statements separated by ';'. Empty statements are skipped.
/// On error returns Status::Invalid with a message of the form
///
///   syntax error at line 2:15: expected ')' but found 'FROM'
///     SELECT count(* FROM t
///                    ^
Result<std::vector<Statement>> ParseScript(const std::string& sql);

/// Parses one expression (used for option values and tests).
Result<ExprPtr> ParseExpression(const std::string& text);

}  // namespace flowsql::sql
