#include "sql/lexer.h"

#include <cstdio>
#include <string_view>

namespace flowsql::sql {

namespace {

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c) || c == '$'; }

// Operators, longest first so that "<=" wins over "<".
constexpr std::string_view kOperators[] = {
    "->>", "->", "::", "||", "//", "**", "==", "!=", "<>", "<=", ">=",
    "=>",  ":=", "+",  "-",  "*",  "/",  "%",  "=",  "<",  ">",  "(",
    ")",   ",",  ".",  ";",  "[",  "]",  "{",  "}",  ":"};

class Lexer {
 public:
  explicit Lexer(const std::string& sql) : sql_(sql) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    Location end_loc{1, 1};
    size_t end_offset = 0;
    while (true) {
      ARROW_RETURN_NOT_OK(SkipSpaceAndComments());
      if (AtEnd()) break;
      Token token;
      token.begin = pos_;
      token.loc = Here();
      ARROW_RETURN_NOT_OK(LexToken(&token));
      token.end = pos_;
      token.text = sql_.substr(token.begin, token.end - token.begin);
      if (token.kind == TokenKind::kNumber) {
        // 1_000 is 1000, as in DuckDB.
        for (char c : token.text) {
          if (c != '_') token.value += c;
        }
      } else if (token.kind != TokenKind::kString &&
                 token.kind != TokenKind::kIdentifier) {
        token.value = token.text;
      }
      end_loc = Here();
      end_offset = pos_;
      tokens.push_back(std::move(token));
    }
    Token end;
    end.kind = TokenKind::kEnd;
    end.loc = end_loc;
    end.begin = end.end = end_offset;
    tokens.push_back(std::move(end));
    return tokens;
  }

 private:
  bool AtEnd() const { return pos_ >= sql_.size(); }
  char Peek(size_t k = 0) const { return pos_ + k < sql_.size() ? sql_[pos_ + k] : '\0'; }
  Location Here() const { return Location{line_, column_}; }

  void Advance() {
    char c = sql_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if (!IsContinuationByte(c)) {
      ++column_;
    }
  }

  Status SkipSpaceAndComments() {
    while (!AtEnd()) {
      char c = Peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        Advance();
      } else if (c == '-' && Peek(1) == '-') {
        while (!AtEnd() && Peek() != '\n') Advance();
      } else if (c == '/' && Peek(1) == '*') {
        Location start = Here();
        Advance();
        Advance();
        int nesting = 1;
        while (nesting > 0) {
          if (AtEnd()) return SyntaxError(sql_, start, "unterminated /* comment");
          if (Peek() == '*' && Peek(1) == '/') {
            Advance();
            Advance();
            --nesting;
          } else if (Peek() == '/' && Peek(1) == '*') {
            Advance();
            Advance();
            ++nesting;
          } else {
            Advance();
          }
        }
      } else {
        break;
      }
    }
    return Status::OK();
  }

  Status LexToken(Token* token) {
    char c = Peek();
    if ((c == 'e' || c == 'E') && Peek(1) == '\'') {
      Advance();
      return LexString(token, /*backslash_escapes=*/true);
    }
    if (IsIdentStart(c)) {
      while (!AtEnd() && IsIdentChar(Peek())) Advance();
      token->kind = TokenKind::kIdentifier;
      token->value = sql_.substr(token->begin, pos_ - token->begin);
      return Status::OK();
    }
    if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) {
      LexNumber(token);
      return Status::OK();
    }
    if (c == '\'') return LexString(token, /*backslash_escapes=*/false);
    if (c == '"') return LexQuotedIdentifier(token);
    for (std::string_view op : kOperators) {
      if (sql_.compare(pos_, op.size(), op) == 0) {
        for (size_t i = 0; i < op.size(); ++i) Advance();
        token->kind = TokenKind::kOperator;
        return Status::OK();
      }
    }
    std::string shown;
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      shown = buf;
    } else {
      shown = std::string(1, c);
    }
    return SyntaxError(sql_, token->loc, "unexpected character '" + shown + "'");
  }

  /// Digits, with single underscores between them (1_000).
  void LexDigits() {
    while (IsDigit(Peek()) || (Peek() == '_' && IsDigit(Peek(1)))) Advance();
  }

  void LexNumber(Token* token) {
    token->kind = TokenKind::kNumber;
    LexDigits();
    if (Peek() == '.' && Peek(1) != '.') {
      Advance();
      LexDigits();
    }
    if ((Peek() == 'e' || Peek() == 'E') &&
        (IsDigit(Peek(1)) || ((Peek(1) == '+' || Peek(1) == '-') && IsDigit(Peek(2))))) {
      Advance();
      if (Peek() == '+' || Peek() == '-') Advance();
      while (IsDigit(Peek())) Advance();
    }
  }

  // REQUIRES: Peek() == '\''.
  Status LexString(Token* token, bool backslash_escapes) {
    token->kind = TokenKind::kString;
    Advance();
    std::string value;
    while (true) {
      if (AtEnd()) return SyntaxError(sql_, token->loc, "unterminated string literal");
      char c = Peek();
      if (c == '\'') {
        if (Peek(1) == '\'') {
          value += '\'';
          Advance();
          Advance();
          continue;
        }
        Advance();
        break;
      }
      if (backslash_escapes && c == '\\' && pos_ + 1 < sql_.size()) {
        Advance();
        char e = Peek();
        Advance();
        switch (e) {
          case 'n':
            value += '\n';
            break;
          case 't':
            value += '\t';
            break;
          case 'r':
            value += '\r';
            break;
          case 'b':
            value += '\b';
            break;
          case 'f':
            value += '\f';
            break;
          case '0':
            value += '\0';
            break;
          default:
            value += e;
            break;
        }
        continue;
      }
      value += c;
      Advance();
    }
    token->value = std::move(value);
    return Status::OK();
  }

  // REQUIRES: Peek() == '"'.
  Status LexQuotedIdentifier(Token* token) {
    token->kind = TokenKind::kIdentifier;
    token->quoted = true;
    Advance();
    std::string value;
    while (true) {
      if (AtEnd()) {
        return SyntaxError(sql_, token->loc, "unterminated quoted identifier");
      }
      char c = Peek();
      Advance();
      if (c == '"') {
        if (Peek() == '"') {
          value += '"';
          Advance();
          continue;
        }
        break;
      }
      value += c;
    }
    if (value.empty()) {
      return SyntaxError(sql_, token->loc, "zero-length quoted identifier \"\"");
    }
    token->value = std::move(value);
    return Status::OK();
  }

  const std::string& sql_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

}  // namespace

Result<std::vector<Token>> Tokenize(const std::string& sql) { return Lexer(sql).Run(); }

std::string SourceExcerpt(const std::string& sql, const Location& loc) {
  // Find the start of line `loc.line`.
  size_t start = 0;
  for (int line = 1; line < loc.line && start < sql.size(); ++line) {
    size_t nl = sql.find('\n', start);
    if (nl == std::string::npos) {
      start = sql.size();
      break;
    }
    start = nl + 1;
  }
  size_t stop = sql.find('\n', start);
  if (stop == std::string::npos) stop = sql.size();
  std::string line = sql.substr(start, stop - start);
  if (!line.empty() && line.back() == '\r') line.pop_back();

  // Keep tabs in the caret line so that it lines up under the source line.
  std::string caret;
  int column = 1;
  for (size_t i = 0; i < line.size() && column < loc.column; ++i) {
    if (IsContinuationByte(line[i])) continue;
    caret += line[i] == '\t' ? '\t' : ' ';
    ++column;
  }
  for (; column < loc.column; ++column) caret += ' ';
  return "\n  " + line + "\n  " + caret + "^";
}

Status SyntaxError(const std::string& sql, const Location& loc,
                   const std::string& message) {
  return Status::Invalid("syntax error at ", loc.ToString(), ": ", message,
                         SourceExcerpt(sql, loc));
}

}  // namespace flowsql::sql
