// The SQL tokenizer: turns a script into tokens with their source positions, and
// formats syntax errors with the offending source line and a caret.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "flowsql/status.h"
#include "sql/ast.h"

namespace flowsql::sql {

enum class TokenKind {
  kEnd,         // end of input; always the last token
  kIdentifier,  // a word or a "quoted identifier"; keywords are unquoted identifiers
  kString,      // 'text' or E'text'
  kNumber,      // 12, 1.5, .5, 1e3
  kOperator,    // punctuation and operators: ( ) , ; . :: || <= => := ...
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  /// The token exactly as written in the source.
  std::string text;
  /// Identifiers: the name (quotes removed, "" unescaped); strings: the content with
  /// escapes resolved; otherwise the same as `text`.
  std::string value;
  /// True for "quoted" identifiers, which are never keywords.
  bool quoted = false;
  Location loc;
  /// Byte offsets of the token in the source: [begin, end).
  size_t begin = 0;
  size_t end = 0;
};

/// Splits `sql` into tokens, skipping whitespace and comments (`-- ...`, nested
/// `/* ... */`). The result always ends with one kEnd token, located just after the
/// last real token. Unterminated strings, quoted identifiers or comments and unknown
/// characters are syntax errors (Status::Invalid, formatted like SyntaxError()).
Result<std::vector<Token>> Tokenize(const std::string& sql);

/// The source line `loc` points into, indented two spaces, then a caret under the
/// column, each on its own line and preceded by a newline:
///   "\n  SELECT count(* FROM t\n                 ^"
std::string SourceExcerpt(const std::string& sql, const Location& loc);

/// Status::Invalid("syntax error at line L:C: <message>" + SourceExcerpt()).
Status SyntaxError(const std::string& sql, const Location& loc,
                   const std::string& message);

}  // namespace flowsql::sql
