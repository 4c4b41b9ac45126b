#include "sql/parser.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "common/numbers.h"
#include "common/text.h"
#include "sql/lexer.h"

namespace flowsql::sql {

namespace {

/// Maximum recursion depth (parentheses, subqueries, NOT NOT ...).
constexpr int kMaxDepth = 1000;
/// Maximum height of a left-deep chain (a OR b OR ..., UNION chains, join chains)
/// plus the recursion around it, so that walking the tree stays within the stack.
constexpr int kMaxHeight = 5000;

const std::unordered_set<std::string>& ReservedWords() {
  static const auto* words = new std::unordered_set<std::string>{
      "SELECT", "FROM",      "WHERE",   "GROUP",  "HAVING", "ORDER", "LIMIT", "OFFSET",
      "UNION",  "INTERSECT", "EXCEPT",  "JOIN",   "INNER",  "LEFT",  "RIGHT", "FULL",
      "OUTER",  "CROSS",     "ON",      "USING",  "AS",     "AND",   "OR",    "NOT",
      "INTO",   "WITH",      "WHEN",    "THEN",   "ELSE",   "END",   "CASE",  "IS",
      "NULL",   "IN",        "BETWEEN", "LIKE",   "ILIKE",  "ASC",   "DESC",  "BY",
      "ALL",    "DISTINCT",  "NATURAL", "WINDOW", "QUALIFY"};
  return *words;
}

const std::unordered_set<std::string>& IntervalUnits() {
  static const auto* units = new std::unordered_set<std::string>{
      "YEAR",   "YEARS",   "MONTH",       "MONTHS",       "WEEK",        "WEEKS",
      "DAY",    "DAYS",    "HOUR",        "HOURS",        "MINUTE",      "MINUTES",
      "SECOND", "SECONDS", "MILLISECOND", "MILLISECONDS", "MICROSECOND", "MICROSECONDS"};
  return *units;
}

// Binding powers of the expression operators, lowest first (PostgreSQL's order).
enum Prec : int {
  kPrecOr = 1,
  kPrecAnd,
  kPrecNot,
  kPrecIs,
  kPrecComparison,
  kPrecLikeIn,  // [NOT] BETWEEN, IN, LIKE, ILIKE
  kPrecConcat,
  kPrecAdd,
  kPrecMul,
  kPrecUnary,
  kPrecCast,
};

ExprPtr MakeExpr(ExprKind kind, Location loc) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->loc = loc;
  return e;
}

ExprPtr MakeLiteral(LiteralKind lit_kind, std::string text, Location loc) {
  auto e = MakeExpr(ExprKind::kLiteral, loc);
  e->lit_kind = lit_kind;
  e->text = std::move(text);
  return e;
}

std::shared_ptr<Query> SelectStarFrom(TableRefPtr ref) {
  auto node = std::make_shared<QueryNode>();
  node->kind = QueryNode::Kind::kSelect;
  node->loc = ref->loc;
  node->select.items.push_back(SelectItem{MakeExpr(ExprKind::kStar, ref->loc), ""});
  node->select.from = std::move(ref);
  auto query = std::make_shared<Query>();
  query->loc = node->loc;
  query->body = std::move(node);
  return query;
}

/// Counts one level of nesting for as long as it lives.
class Nesting {
 public:
  explicit Nesting(int* counter, int amount = 1) : counter_(counter), amount_(amount) {
    *counter_ += amount_;
  }
  ~Nesting() { *counter_ -= amount_; }
  Nesting(const Nesting&) = delete;
  Nesting& operator=(const Nesting&) = delete;
  void Add() {
    ++amount_;
    ++*counter_;
  }

 private:
  int* counter_;
  int amount_;
};

class Parser {
 public:
  Parser(const std::string& sql, std::vector<Token> tokens)
      : sql_(sql), tokens_(std::move(tokens)) {}

  Result<std::vector<Statement>> ParseScript() {
    std::vector<Statement> statements;
    while (true) {
      while (AcceptOp(";")) {
      }
      if (AtEnd()) break;
      ARROW_ASSIGN_OR_RAISE(auto statement, ParseStatement());
      if (!AtEnd() && !PeekOp(";")) return ErrorAt(Peek(), "';' or end of input");
      statements.push_back(std::move(*statement));
    }
    return statements;
  }

  Result<ExprPtr> ParseStandaloneExpression() {
    ARROW_ASSIGN_OR_RAISE(auto expr, ParseExpr());
    if (!AtEnd()) return ErrorAt(Peek(), "end of input");
    return expr;
  }

 private:
  // ---- Tokens -------------------------------------------------------------------

  const Token& Peek(size_t k = 0) const {
    return tokens_[std::min(pos_ + k, tokens_.size() - 1)];
  }
  bool AtEnd() const { return Peek().kind == TokenKind::kEnd; }
  const Token& Next() {
    const Token& token = tokens_[pos_];
    if (token.kind != TokenKind::kEnd) {
      last_end_ = token.end;
      ++pos_;
    }
    return token;
  }

  static bool IsKeyword(const Token& t, std::string_view keyword) {
    return t.kind == TokenKind::kIdentifier && !t.quoted &&
           EqualsIgnoreCase(t.text, keyword);
  }
  static bool IsOp(const Token& t, std::string_view op) {
    return t.kind == TokenKind::kOperator && t.text == op;
  }
  static bool IsReserved(const Token& t) {
    return t.kind == TokenKind::kIdentifier && !t.quoted &&
           ReservedWords().count(AsciiUpper(t.text)) > 0;
  }
  /// An identifier usable as a name: quoted, or not a reserved keyword.
  static bool IsName(const Token& t) {
    return t.kind == TokenKind::kIdentifier && (t.quoted || !IsReserved(t));
  }

  bool PeekKeyword(std::string_view keyword, size_t k = 0) const {
    return IsKeyword(Peek(k), keyword);
  }
  bool PeekOp(std::string_view op, size_t k = 0) const { return IsOp(Peek(k), op); }
  bool AcceptKeyword(std::string_view keyword) {
    if (!PeekKeyword(keyword)) return false;
    Next();
    return true;
  }
  bool AcceptOp(std::string_view op) {
    if (!PeekOp(op)) return false;
    Next();
    return true;
  }
  Status ExpectKeyword(std::string_view keyword) {
    if (AcceptKeyword(keyword)) return Status::OK();
    return ErrorAt(Peek(), std::string(keyword));
  }
  Status ExpectOp(std::string_view op) {
    if (AcceptOp(op)) return Status::OK();
    return ErrorAt(Peek(), "'" + std::string(op) + "'");
  }
  /// Consumes a name (see IsName) and returns it as written.
  Result<std::string> ExpectName(const std::string& what) {
    if (!IsName(Peek())) return ErrorAt(Peek(), what);
    return Next().value;
  }
  /// `name` or `a.b.c`, the parts joined with '.'.
  Result<std::string> ExpectQualifiedName(const std::string& what) {
    ARROW_ASSIGN_OR_RAISE(std::string name, ExpectName(what));
    while (PeekOp(".") && Peek(1).kind == TokenKind::kIdentifier) {
      Next();
      name += "." + Next().value;
    }
    return name;
  }

  /// True when the tokens from `k` on are '('... followed by SELECT or WITH.
  bool IsParenthesizedQuery(size_t k = 0) const {
    size_t limit = k + kMaxDepth + 1;
    while (PeekOp("(", k) && k < limit) ++k;
    return PeekKeyword("SELECT", k) || PeekKeyword("WITH", k) || PeekKeyword("VALUES", k);
  }

  // ---- Errors -------------------------------------------------------------------

  static std::string Describe(const Token& t) {
    if (t.kind == TokenKind::kEnd) return "end of input";
    std::string text = t.text;
    size_t nl = text.find('\n');
    if (nl != std::string::npos) text = text.substr(0, nl) + "...";
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    if (t.kind == TokenKind::kString) return "string " + text;
    return "'" + text + "'";
  }

  Status ErrorAt(const Token& t, const std::string& expected) const {
    return SyntaxError(sql_, t.loc, "expected " + expected + " but found " + Describe(t));
  }

  Status NotSupported(const Location& loc, const std::string& what) const {
    return Status::Invalid(what, " are not supported yet at ", loc.ToString(),
                           SourceExcerpt(sql_, loc));
  }

  Status TooDeep() const {
    return SyntaxError(sql_, Peek().loc,
                       "the statement is nested too deeply (more than " +
                           std::to_string(kMaxDepth) + " levels)");
  }

  /// Fails when the recursion (depth_) or the tree being built (height_) is too deep.
  Status CheckDepth() const {
    if (depth_ > kMaxDepth || height_ > kMaxHeight) return TooDeep();
    return Status::OK();
  }

  // ---- Statements ---------------------------------------------------------------

  Result<std::shared_ptr<Statement>> ParseStatement() {
    Nesting depth(&depth_), height(&height_);
    ARROW_RETURN_NOT_OK(CheckDepth());
    const Token& start = Peek();
    size_t begin = start.begin;
    auto stmt = std::make_shared<Statement>();
    stmt->loc = start.loc;

    if (PeekKeyword("SELECT") || PeekKeyword("WITH") || PeekKeyword("VALUES") ||
        PeekOp("(")) {
      ARROW_RETURN_NOT_OK(ParseQueryStatement(stmt.get()));
    } else if (AcceptKeyword("COPY")) {
      ARROW_RETURN_NOT_OK(ParseCopy(stmt.get()));
    } else if (AcceptKeyword("EXPLAIN")) {
      stmt->kind = StatementKind::kExplain;
      stmt->analyze = AcceptKeyword("ANALYZE");
      ARROW_ASSIGN_OR_RAISE(stmt->inner, ParseStatement());
    } else if (AcceptKeyword("DESCRIBE") || AcceptKeyword("DESC")) {
      ARROW_RETURN_NOT_OK(ParseDescribe(stmt.get()));
    } else if ((IsKeyword(Peek(), "OPTIMIZE") || IsKeyword(Peek(), "VACUUM")) &&
               Peek(1).kind == TokenKind::kString) {
      ARROW_RETURN_NOT_OK(ParseMaintenance(stmt.get()));
    } else if (AcceptKeyword("CREATE")) {
      stmt->kind = StatementKind::kCreateView;
      if (AcceptKeyword("OR")) {
        ARROW_RETURN_NOT_OK(ExpectKeyword("REPLACE"));
        stmt->or_replace = true;
      }
      if (AcceptKeyword("TABLE")) {
        // CREATE TABLE t AS query: the result, kept in memory for the session.
        stmt->kind = StatementKind::kCreateTable;
        ARROW_ASSIGN_OR_RAISE(stmt->name, ExpectQualifiedName("a table name"));
        ARROW_RETURN_NOT_OK(ExpectKeyword("AS"));
        ARROW_ASSIGN_OR_RAISE(stmt->query, ParseQuery());
      } else {
        ARROW_RETURN_NOT_OK(ParseCreateView(stmt.get()));
      }
    } else if (AcceptKeyword("DROP")) {
      stmt->kind = StatementKind::kDropView;
      if (AcceptKeyword("TABLE")) {
        stmt->kind = StatementKind::kDropTable;
      } else if (!AcceptKeyword("VIEW")) {
        return ErrorAt(Peek(), "VIEW or TABLE after DROP");
      }
      if (AcceptKeyword("IF")) {
        ARROW_RETURN_NOT_OK(ExpectKeyword("EXISTS"));
        stmt->if_exists = true;
      }
      ARROW_ASSIGN_OR_RAISE(stmt->name, ExpectQualifiedName("a view name"));
    } else if (PeekKeyword("SET") || PeekKeyword("RESET")) {
      ARROW_RETURN_NOT_OK(ParseSet(stmt.get()));
    } else if (IsKeyword(Peek(), "SHOW") && IsKeyword(Peek(1), "TABLES")) {
      Next();
      Next();
      stmt->kind = StatementKind::kShowTables;
    } else {
      return ErrorAt(start,
                     "a statement (SELECT, WITH, COPY, EXPLAIN, DESCRIBE, CREATE VIEW, "
                     "CREATE TABLE, DROP VIEW, DROP TABLE, SHOW TABLES, SET, OPTIMIZE, "
                     "VACUUM)");
    }
    stmt->text = sql_.substr(begin, last_end_ - begin);
    return stmt;
  }

  /// SET [SESSION | LOCAL | GLOBAL] name {= | TO} value, or RESET [...] name. The
  /// value is a string, a number, a word or DEFAULT (as RESET).
  Status ParseSet(Statement* stmt) {
    stmt->kind = StatementKind::kSet;
    stmt->reset = AcceptKeyword("RESET");
    if (!stmt->reset) Next();  // SET
    if (!AcceptKeyword("SESSION") && !AcceptKeyword("LOCAL")) AcceptKeyword("GLOBAL");
    ARROW_ASSIGN_OR_RAISE(stmt->name, ExpectName("a setting name"));
    if (stmt->reset) return Status::OK();
    if (!AcceptOp("=") && !AcceptKeyword("TO")) return ErrorAt(Peek(), "'=' or TO");
    const Token& v = Peek();
    if (IsKeyword(v, "DEFAULT")) {
      Next();
      stmt->reset = true;
      return Status::OK();
    }
    bool negative = AcceptOp("-");
    const Token& value = Peek();
    if (value.kind != TokenKind::kString && value.kind != TokenKind::kNumber &&
        value.kind != TokenKind::kIdentifier) {
      return ErrorAt(value, "a setting value");
    }
    const Token& token = Next();
    stmt->value = (negative ? "-" : "") +
                  (token.kind == TokenKind::kNumber ? token.text : token.value);
    return Status::OK();
  }

  Status ParseQueryStatement(Statement* stmt) {
    stmt->kind = StatementKind::kQuery;
    select_into_.reset();
    into_allowed_ = true;
    ARROW_ASSIGN_OR_RAISE(stmt->query, ParseQuery());
    into_allowed_ = false;
    if (select_into_) {
      stmt->kind = StatementKind::kInto;
      stmt->targets = std::move(select_into_->targets);
      select_into_.reset();
      if (PeekKeyword("INTO")) {
        return SyntaxError(sql_, Peek().loc, "INTO is given twice");
      }
    } else if (AcceptKeyword("INTO")) {
      stmt->kind = StatementKind::kInto;
      ARROW_RETURN_NOT_OK(ParseIntoTarget(stmt));
    }
    return Status::OK();
  }

  /// After INTO: 'uri' [WITH (options)] [, 'uri' [WITH (options)]]...
  Status ParseIntoTarget(Statement* stmt) {
    do {
      if (Peek().kind != TokenKind::kString) {
        return ErrorAt(Peek(),
                       "a string literal target after INTO (e.g. INTO 'out.parquet')");
      }
      IntoTarget target;
      target.loc = Peek().loc;
      target.uri = Next().value;
      if (AcceptKeyword("WITH")) {
        ARROW_RETURN_NOT_OK(ParseOptionList(&target.options));
      }
      stmt->targets.push_back(std::move(target));
    } while (AcceptOp(","));
    return Status::OK();
  }

  [[gnu::noinline]] Status ParseCopy(Statement* stmt) {
    stmt->kind = StatementKind::kCopy;
    if (PeekOp("(")) {
      Next();
      ARROW_ASSIGN_OR_RAISE(stmt->query, ParseQuery());
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto ref, ParseTablePrimary(/*allow_alias=*/false));
      stmt->query = SelectStarFrom(std::move(ref));
    }
    ARROW_RETURN_NOT_OK(ExpectKeyword("TO"));
    if (Peek().kind != TokenKind::kString) {
      return ErrorAt(Peek(), "a string literal target after TO (e.g. TO 'out.csv')");
    }
    IntoTarget target;
    target.loc = Peek().loc;
    target.uri = Next().value;
    if (PeekOp("(")) {
      ARROW_RETURN_NOT_OK(ParseOptionList(&target.options));
    } else if (AcceptKeyword("WITH")) {
      ARROW_RETURN_NOT_OK(ParseOptionList(&target.options));
    }
    stmt->targets.push_back(std::move(target));
    return Status::OK();
  }

  /// CREATE [OR REPLACE] VIEW, after VIEW: name [(cols)] AS query.
  [[gnu::noinline]] Status ParseCreateView(Statement* stmt) {
    if (!AcceptKeyword("VIEW")) return ErrorAt(Peek(), "VIEW or TABLE after CREATE");

    ARROW_ASSIGN_OR_RAISE(stmt->name, ExpectQualifiedName("a view name"));
    std::vector<std::string> columns;
    if (PeekOp("(")) {
      ARROW_RETURN_NOT_OK(ParseNameList(&columns, "a column name"));
    }
    ARROW_RETURN_NOT_OK(ExpectKeyword("AS"));
    ARROW_ASSIGN_OR_RAISE(stmt->query, ParseQuery());
    if (!columns.empty()) {
      // CREATE VIEW v (a, b) AS q is SELECT * FROM (q) AS v(a, b).
      auto from = std::make_shared<TableRef>();
      from->kind = TableKind::kSubquery;
      from->loc = stmt->query->loc;
      from->subquery = stmt->query;
      from->alias = stmt->name;
      from->column_aliases = std::move(columns);
      auto star = MakeExpr(ExprKind::kStar, stmt->query->loc);
      auto query = std::make_shared<Query>();
      query->loc = stmt->query->loc;
      query->body = std::make_shared<QueryNode>();
      query->body->loc = stmt->query->loc;
      query->body->select.items.push_back({star, ""});
      query->body->select.from = from;
      stmt->query = query;
    }
    return Status::OK();
  }

  [[gnu::noinline]] Status ParseDescribe(Statement* stmt) {
    stmt->kind = StatementKind::kDescribe;
    if (IsKeyword(Peek(), "HISTORY") && Peek(1).kind == TokenKind::kString) {
      // DESCRIBE HISTORY 'delta://t' [WITH (...)]: the table's commits, as Delta's
      // SQL has them; a query of delta_history('t', ...).
      Next();
      ARROW_ASSIGN_OR_RAISE(auto ref, ParseTablePrimary(/*allow_alias=*/false));
      ref->kind = TableKind::kFunction;
      ref->name = "delta_history";
      ref->args = {MakeLiteral(LiteralKind::kString, ref->uri, ref->loc)};
      ref->uri.clear();
      stmt->kind = StatementKind::kQuery;
      stmt->query = SelectStarFrom(std::move(ref));
      return Status::OK();
    }
    if (PeekKeyword("SELECT") || PeekKeyword("WITH") || IsParenthesizedQuery()) {
      ARROW_ASSIGN_OR_RAISE(stmt->query, ParseQuery());
    } else {
      ARROW_ASSIGN_OR_RAISE(auto ref, ParseTablePrimary(/*allow_alias=*/false));
      stmt->query = SelectStarFrom(std::move(ref));
    }
    return Status::OK();
  }

  /// OPTIMIZE 'delta://t' [WITH (...)] [ZORDER BY (a, b)] and VACUUM 'delta://t'
  /// [WITH (...)] [RETAIN n HOURS] [DRY RUN], as Delta's SQL has them: queries of
  /// delta_optimize('t', ...) and delta_vacuum('t', ...), whose rows say what they did.
  [[gnu::noinline]] Status ParseMaintenance(Statement* stmt) {
    const bool optimize = IsKeyword(Next(), "OPTIMIZE");
    ARROW_ASSIGN_OR_RAISE(auto ref, ParseTablePrimary(/*allow_alias=*/false));
    auto option = [&](const char* name, std::string value, const Token& at) {
      ref->options.push_back(RawOption{name, std::move(value), at.loc.ToString()});
    };
    if (optimize && AcceptKeyword("ZORDER")) {
      const Token& at = Peek();
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      const bool parenthesized = AcceptOp("(");
      std::string columns;
      do {
        ARROW_ASSIGN_OR_RAISE(auto name, ExpectName("a column name"));
        columns += (columns.empty() ? "" : ",") + name;
      } while (AcceptOp(","));
      if (parenthesized) ARROW_RETURN_NOT_OK(ExpectOp(")"));
      option("zorder_by", columns, at);
    }
    if (!optimize && AcceptKeyword("RETAIN")) {
      const Token& hours = Peek();
      if (hours.kind != TokenKind::kNumber) return ErrorAt(hours, "a number of hours");
      Next();
      ARROW_RETURN_NOT_OK(ExpectKeyword("HOURS"));
      option("retain_hours", hours.value, hours);
    }
    if (!optimize && AcceptKeyword("DRY")) {
      const Token& at = Peek();
      ARROW_RETURN_NOT_OK(ExpectKeyword("RUN"));
      option("dry_run", "true", at);
    }
    ref->kind = TableKind::kFunction;
    ref->name = optimize ? "delta_optimize" : "delta_vacuum";
    ref->args = {MakeLiteral(LiteralKind::kString, ref->uri, ref->loc)};
    ref->uri.clear();
    stmt->kind = StatementKind::kQuery;
    stmt->query = SelectStarFrom(std::move(ref));
    return Status::OK();
  }

  // ---- Options ------------------------------------------------------------------

  /// ( key [=|=>|:=] [value], ... )
  [[gnu::noinline]] Status ParseOptionList(std::vector<RawOption>* options) {
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    if (AcceptOp(")")) return Status::OK();
    do {
      const Token& key = Peek();
      RawOption option;
      option.position = key.loc.ToString();
      if (key.kind == TokenKind::kString) {
        option.name = Next().value;
      } else if (key.kind == TokenKind::kIdentifier) {
        option.name = Next().value;
        while (PeekOp(".") && Peek(1).kind == TokenKind::kIdentifier) {
          Next();
          option.name += "." + Next().value;
        }
      } else {
        return ErrorAt(key, "an option name");
      }
      bool assigned = AcceptOp("=") || AcceptOp("=>") || AcceptOp(":=");
      if (!assigned && (PeekOp(",") || PeekOp(")"))) {
        option.value = "true";
      } else {
        ARROW_RETURN_NOT_OK(ParseOptionValue(&option));
      }
      options->push_back(std::move(option));
    } while (AcceptOp(","));
    return ExpectOp(")");
  }

  /// Sets option->value: a literal, a bare word, {'k': v, ...} (EncodeMap() of its
  /// entries, option->map set) or [v, ...] / (v, ...) (as "v,...").
  Status ParseOptionValue(RawOption* option) {
    if (PeekOp("{")) {
      Next();
      option->map = true;
      std::vector<std::pair<std::string, std::string>> entries;
      if (!AcceptOp("}")) {
        do {
          const Token& key = Peek();
          if (key.kind != TokenKind::kString && key.kind != TokenKind::kIdentifier) {
            return ErrorAt(key, "a map key");
          }
          std::string name = Next().value;
          ARROW_RETURN_NOT_OK(ExpectOp(":"));
          ARROW_ASSIGN_OR_RAISE(std::string value, ParseOptionScalar());
          entries.emplace_back(std::move(name), std::move(value));
        } while (AcceptOp(","));
        ARROW_RETURN_NOT_OK(ExpectOp("}"));
      }
      option->value = EncodeMap(entries);
      return Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(option->value, ParseOptionSequence());
    return Status::OK();
  }

  /// [v, ...] / (v, ...) as "v,...", or a scalar.
  Result<std::string> ParseOptionSequence() {
    if (PeekOp("[") || PeekOp("(")) {
      std::string close = PeekOp("[") ? "]" : ")";
      Next();
      std::string out;
      if (AcceptOp(close)) return out;
      bool first = true;
      do {
        ARROW_ASSIGN_OR_RAISE(std::string value, ParseOptionScalar());
        if (!first) out += ",";
        out += value;
        first = false;
      } while (AcceptOp(","));
      ARROW_RETURN_NOT_OK(ExpectOp(close));
      return out;
    }
    return ParseOptionScalar();
  }

  Result<std::string> ParseOptionScalar() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kString:
        return Next().value;
      case TokenKind::kNumber:
        return Next().value;
      case TokenKind::kIdentifier:
        Next();
        if (IsKeyword(t, "TRUE")) return std::string("true");
        if (IsKeyword(t, "FALSE")) return std::string("false");
        if (IsKeyword(t, "NULL")) return std::string();
        return t.value;
      case TokenKind::kOperator:
        if ((t.text == "-" || t.text == "+") && Peek(1).kind == TokenKind::kNumber) {
          Next();
          std::string sign = t.text == "-" ? "-" : "";
          return sign + Next().value;
        }
        break;
      case TokenKind::kEnd:
        break;
    }
    return ErrorAt(t, "an option value (a literal, a name, a {map} or a [list])");
  }

  // ---- Queries ------------------------------------------------------------------

  Result<std::shared_ptr<Query>> ParseQuery() {
    Nesting depth(&depth_), height(&height_), level(&query_level_);
    ARROW_RETURN_NOT_OK(CheckDepth());
    auto query = std::make_shared<Query>();
    query->loc = Peek().loc;
    if (AcceptKeyword("WITH")) {
      if (PeekKeyword("RECURSIVE")) {
        return NotSupported(Peek().loc, "recursive common table expressions");
      }
      do {
        CommonTableExpr cte;
        cte.loc = Peek().loc;
        ARROW_ASSIGN_OR_RAISE(cte.name, ExpectName("a name for the WITH query"));
        if (PeekOp("(")) {
          ARROW_RETURN_NOT_OK(ParseNameList(&cte.column_aliases, "a column name"));
        }
        ARROW_RETURN_NOT_OK(ExpectKeyword("AS"));
        if (PeekKeyword("NOT") && PeekKeyword("MATERIALIZED", 1)) Next();
        AcceptKeyword("MATERIALIZED");
        ARROW_RETURN_NOT_OK(ExpectOp("("));
        ARROW_ASSIGN_OR_RAISE(cte.query, ParseQuery());
        ARROW_RETURN_NOT_OK(ExpectOp(")"));
        query->ctes.push_back(std::move(cte));
      } while (AcceptOp(","));
    }
    ARROW_ASSIGN_OR_RAISE(query->body, ParseUnion());

    if (AcceptKeyword("ORDER")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      if (PeekKeyword("ALL")) {
        OrderItem item;
        item.expr = MakeExpr(ExprKind::kStar, Next().loc);  // ORDER BY ALL
        ARROW_RETURN_NOT_OK(ParseOrderDirection(&item));
        query->order_by.push_back(std::move(item));
      } else {
        ARROW_RETURN_NOT_OK(ParseOrderItems(&query->order_by));
      }
    }

    bool seen_limit = false;
    bool seen_offset = false;
    while (true) {
      if (!seen_limit && AcceptKeyword("LIMIT")) {
        seen_limit = true;
        if (!AcceptKeyword("ALL")) {
          ARROW_ASSIGN_OR_RAISE(query->limit, ParseExpr());
        }
      } else if (!seen_offset && AcceptKeyword("OFFSET")) {
        seen_offset = true;
        ARROW_ASSIGN_OR_RAISE(query->offset, ParseExpr());
        if (!AcceptKeyword("ROWS")) AcceptKeyword("ROW");
      } else {
        break;
      }
    }
    return query;
  }

  /// ( name, ... )
  Status ParseNameList(std::vector<std::string>* names, const std::string& what) {
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    do {
      ARROW_ASSIGN_OR_RAISE(std::string name, ExpectName(what));
      names->push_back(std::move(name));
    } while (AcceptOp(","));
    return ExpectOp(")");
  }

  /// UNION and EXCEPT, left-associative, over INTERSECT operands.
  Result<std::shared_ptr<QueryNode>> ParseUnion() {
    Nesting chain(&height_, 0);
    ARROW_ASSIGN_OR_RAISE(auto left, ParseIntersect());
    while (PeekKeyword("UNION") || PeekKeyword("EXCEPT")) {
      chain.Add();
      ARROW_RETURN_NOT_OK(CheckDepth());
      bool is_union = PeekKeyword("UNION");
      Next();
      SetOp set_op = is_union ? SetOp::kUnion : SetOp::kExcept;
      if (AcceptKeyword("ALL")) {
        set_op = is_union ? SetOp::kUnionAll : SetOp::kExceptAll;
      } else {
        AcceptKeyword("DISTINCT");
      }
      ARROW_ASSIGN_OR_RAISE(auto right, ParseIntersect());
      left = MakeSetOp(set_op, std::move(left), std::move(right));
    }
    return left;
  }

  Result<std::shared_ptr<QueryNode>> ParseIntersect() {
    Nesting chain(&height_, 0);
    ARROW_ASSIGN_OR_RAISE(auto left, ParseSetOperand());
    while (PeekKeyword("INTERSECT")) {
      chain.Add();
      ARROW_RETURN_NOT_OK(CheckDepth());
      Next();
      SetOp set_op = AcceptKeyword("ALL") ? SetOp::kIntersectAll : SetOp::kIntersect;
      if (set_op == SetOp::kIntersect) AcceptKeyword("DISTINCT");
      ARROW_ASSIGN_OR_RAISE(auto right, ParseSetOperand());
      left = MakeSetOp(set_op, std::move(left), std::move(right));
    }
    return left;
  }

  static std::shared_ptr<QueryNode> MakeSetOp(SetOp op, std::shared_ptr<QueryNode> left,
                                              std::shared_ptr<QueryNode> right) {
    auto node = std::make_shared<QueryNode>();
    node->kind = QueryNode::Kind::kSetOp;
    node->loc = left->loc;
    node->op = op;
    node->left = std::move(left);
    node->right = std::move(right);
    return node;
  }

  Result<std::shared_ptr<QueryNode>> ParseSetOperand() {
    if (PeekKeyword("SELECT")) return ParseSelectCore();
    if (PeekKeyword("VALUES")) return ParseValues();
    if (PeekOp("(")) {
      auto node = std::make_shared<QueryNode>();
      node->kind = QueryNode::Kind::kQuery;
      node->loc = Next().loc;
      ARROW_ASSIGN_OR_RAISE(node->query, ParseQuery());
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
      return node;
    }
    return ErrorAt(Peek(), "SELECT or '('");
  }

  /// VALUES (expr, ...), (expr, ...): rows of the same length.
  Result<std::shared_ptr<QueryNode>> ParseValues() {
    auto node = std::make_shared<QueryNode>();
    node->kind = QueryNode::Kind::kValues;
    node->loc = Next().loc;  // VALUES
    do {
      const Location row_loc = Peek().loc;
      ARROW_RETURN_NOT_OK(ExpectOp("("));
      std::vector<ExprPtr> row;
      do {
        ARROW_ASSIGN_OR_RAISE(auto e, ParseExpr());
        row.push_back(std::move(e));
      } while (AcceptOp(","));
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
      if (!node->rows.empty() && row.size() != node->rows[0].size()) {
        return Status::Invalid("VALUES lists must all be the same length at ",
                               row_loc.ToString(), SourceExcerpt(sql_, row_loc));
      }
      node->rows.push_back(std::move(row));
    } while (AcceptOp(","));
    return node;
  }

  Result<std::shared_ptr<QueryNode>> ParseSelectCore() {
    auto node = std::make_shared<QueryNode>();
    node->kind = QueryNode::Kind::kSelect;
    node->loc = Next().loc;  // SELECT
    SelectCore& core = node->select;
    if (AcceptKeyword("DISTINCT")) {
      if (PeekKeyword("ON")) return NotSupported(Peek().loc, "DISTINCT ON lists");
      core.distinct = true;
    } else {
      AcceptKeyword("ALL");
    }
    do {
      SelectItem item;
      ARROW_RETURN_NOT_OK(ParseSelectItem(&item));
      core.items.push_back(std::move(item));
    } while (AcceptOp(","));

    if (PeekKeyword("INTO")) ARROW_RETURN_NOT_OK(ParseSelectInto());
    if (AcceptKeyword("FROM")) {
      ARROW_ASSIGN_OR_RAISE(core.from, ParseTableRef());
    }
    if (AcceptKeyword("WHERE")) {
      ARROW_ASSIGN_OR_RAISE(core.where, ParseExpr());
    }
    if (AcceptKeyword("GROUP")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      if (PeekKeyword("ALL")) {
        core.group_by.push_back(MakeExpr(ExprKind::kStar, Next().loc));
      } else {
        do {
          if (IsKeyword(Peek(), "GROUPING") && IsKeyword(Peek(1), "SETS")) {
            ARROW_ASSIGN_OR_RAISE(auto sets, ParseGroupingSets());
            core.group_by.push_back(std::move(sets));
            continue;
          }
          ARROW_ASSIGN_OR_RAISE(auto expr, ParseExpr());
          core.group_by.push_back(std::move(expr));
        } while (AcceptOp(","));
      }
    }
    if (AcceptKeyword("HAVING")) {
      ARROW_ASSIGN_OR_RAISE(core.having, ParseExpr());
    }
    if (AcceptKeyword("WINDOW")) {
      do {
        ARROW_ASSIGN_OR_RAISE(std::string name, ExpectName("a window name"));
        ARROW_RETURN_NOT_OK(ExpectKeyword("AS"));
        Location loc = Peek().loc;
        ARROW_RETURN_NOT_OK(ExpectOp("("));
        ARROW_ASSIGN_OR_RAISE(auto spec, ParseWindowSpec(loc));
        core.windows.emplace_back(std::move(name), std::move(spec));
      } while (AcceptOp(","));
    }
    if (AcceptKeyword("QUALIFY")) {
      ARROW_ASSIGN_OR_RAISE(core.qualify, ParseExpr());
    }
    return node;
  }

  /// PostgreSQL's SELECT items INTO 'uri' [WITH (...)] FROM ...
  [[gnu::noinline]] Status ParseSelectInto() {
    const Token& into = Peek();
    if (!into_allowed_ || query_level_ != 1 || select_into_) {
      return SyntaxError(sql_, into.loc,
                         "INTO is only allowed once, in the outermost SELECT");
    }
    Next();
    Statement target;
    ARROW_RETURN_NOT_OK(ParseIntoTarget(&target));
    select_into_ = std::move(target);
    return Status::OK();
  }

  Status ParseSelectItem(SelectItem* item) {
    if (PeekOp("*")) {
      item->expr = MakeExpr(ExprKind::kStar, Next().loc);
      return Status::OK();
    }
    if (IsName(Peek()) && PeekOp(".", 1) && PeekOp("*", 2)) {
      item->expr = MakeExpr(ExprKind::kStar, Peek().loc);
      item->expr->table = Next().value;
      Next();
      Next();
      return Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(item->expr, ParseExpr());
    if (AcceptKeyword("AS")) {
      if (Peek().kind == TokenKind::kString) {
        item->alias = Next().value;
      } else {
        ARROW_ASSIGN_OR_RAISE(item->alias, ExpectName("an alias after AS"));
      }
    } else if (IsName(Peek())) {
      item->alias = Next().value;
    }
    return Status::OK();
  }

  // ---- Table references -----------------------------------------------------------

  /// joined-table [, joined-table ...]: a comma is a cross join binding looser
  /// than JOIN.
  /// `first`, when given, is the already parsed first table.
  Result<TableRefPtr> ParseTableRef(TableRefPtr first = nullptr) {
    Nesting depth(&depth_), height(&height_);
    ARROW_RETURN_NOT_OK(CheckDepth());
    ARROW_ASSIGN_OR_RAISE(auto left, ParseJoinedTable(std::move(first)));
    while (PeekOp(",")) {
      height.Add();
      ARROW_RETURN_NOT_OK(CheckDepth());
      Next();
      ARROW_ASSIGN_OR_RAISE(auto right, ParseJoinedTable());
      left = MakeJoin(JoinType::kCross, std::move(left), std::move(right));
    }
    return left;
  }

  static TableRefPtr MakeJoin(JoinType type, TableRefPtr left, TableRefPtr right) {
    auto join = std::make_shared<TableRef>();
    join->kind = TableKind::kJoin;
    join->loc = left->loc;
    join->join_type = type;
    join->left = std::move(left);
    join->right = std::move(right);
    return join;
  }

  /// `first`, when given, is the already parsed first table.
  Result<TableRefPtr> ParseJoinedTable(TableRefPtr first = nullptr) {
    Nesting chain(&height_, 0);
    TableRefPtr left = std::move(first);
    if (!left) {
      ARROW_ASSIGN_OR_RAISE(left, ParseTablePrimary(/*allow_alias=*/true));
    }
    while (true) {
      JoinType type;
      bool natural = false;
      if (PeekKeyword("NATURAL")) {
        Next();
        natural = true;
      }
      if (PeekKeyword("JOIN")) {
        type = JoinType::kInner;
      } else if (PeekKeyword("INNER") && PeekKeyword("JOIN", 1)) {
        type = JoinType::kInner;
        Next();
      } else if (PeekKeyword("CROSS")) {
        type = JoinType::kCross;
        Next();
      } else if (PeekKeyword("LEFT") || PeekKeyword("RIGHT") || PeekKeyword("FULL")) {
        type = PeekKeyword("LEFT")    ? JoinType::kLeft
               : PeekKeyword("RIGHT") ? JoinType::kRight
                                      : JoinType::kFull;
        Next();
        AcceptKeyword("OUTER");
      } else if ((PeekKeyword("SEMI") || PeekKeyword("ANTI")) && PeekKeyword("JOIN", 1)) {
        type = PeekKeyword("SEMI") ? JoinType::kSemi : JoinType::kAnti;
        Next();
      } else if (PeekKeyword("INNER")) {
        Next();
        return ErrorAt(Peek(), "JOIN");
      } else if (natural) {
        return ErrorAt(Peek(), "JOIN after NATURAL");
      } else {
        break;
      }
      if (natural && (type == JoinType::kCross || type == JoinType::kSemi ||
                      type == JoinType::kAnti)) {
        return ErrorAt(Peek(), "INNER, LEFT, RIGHT or FULL after NATURAL");
      }
      ARROW_RETURN_NOT_OK(ExpectKeyword("JOIN"));
      chain.Add();
      ARROW_RETURN_NOT_OK(CheckDepth());
      ARROW_ASSIGN_OR_RAISE(auto right, ParseTablePrimary(/*allow_alias=*/true));
      auto join = MakeJoin(type, std::move(left), std::move(right));
      join->natural = natural;
      if (type != JoinType::kCross && !natural) {
        if (AcceptKeyword("ON")) {
          ARROW_ASSIGN_OR_RAISE(join->on, ParseExpr());
        } else if (PeekKeyword("USING")) {
          Next();
          ARROW_RETURN_NOT_OK(ParseNameList(&join->using_columns, "a column name"));
        } else {
          return ErrorAt(Peek(), "ON or USING after the joined table");
        }
      }
      left = std::move(join);
    }
    return left;
  }

  Result<TableRefPtr> ParseTablePrimary(bool allow_alias) {
    Nesting depth(&depth_), height(&height_);
    ARROW_RETURN_NOT_OK(CheckDepth());
    if (PeekKeyword("LATERAL") && (PeekOp("(", 1) || IsName(Peek(1)))) {
      // LATERAL (SELECT ...) or LATERAL f(...): it may read the tables before it.
      Next();
      const Token& at = Peek();
      ARROW_ASSIGN_OR_RAISE(auto ref, ParseTablePrimary(allow_alias));
      if (ref->kind != TableKind::kSubquery && ref->kind != TableKind::kFunction) {
        return ErrorAt(at, "a subquery or a table function after LATERAL");
      }
      ref->lateral = true;
      return ref;
    }
    auto ref = std::make_shared<TableRef>();
    const Token& start = Peek();
    ref->loc = start.loc;

    if (start.kind == TokenKind::kString) {
      ref->kind = TableKind::kUri;
      ref->uri = Next().value;
      // WITH (...) and the alias, in either order.
      bool have_options = false;
      bool have_alias = false;
      while (true) {
        if (!have_options && PeekKeyword("WITH") && PeekOp("(", 1)) {
          Next();
          ARROW_RETURN_NOT_OK(ParseOptionList(&ref->options));
          have_options = true;
        } else if (allow_alias && !have_alias && (PeekKeyword("AS") || IsName(Peek()))) {
          ARROW_RETURN_NOT_OK(ParseTableAlias(ref.get()));
          have_alias = true;
        } else {
          break;
        }
      }
      return ref;
    }

    if (PeekOp("(")) {
      if (IsParenthesizedQuery(1)) {
        Next();
        ref->kind = TableKind::kSubquery;
        ARROW_ASSIGN_OR_RAISE(ref->subquery, ParseQuery());
        const Query& q = *ref->subquery;
        if (!PeekOp(")") && q.ctes.empty() && q.order_by.empty() && !q.limit &&
            !q.offset && q.body->kind == QueryNode::Kind::kQuery) {
          // ((SELECT ...) s JOIN t ON ...): the inner parentheses were a subquery
          // starting a parenthesized join.
          auto first = std::make_shared<TableRef>();
          first->kind = TableKind::kSubquery;
          first->loc = q.body->loc;
          first->subquery = q.body->query;
          ARROW_RETURN_NOT_OK(ParseTableAlias(first.get()));
          ARROW_ASSIGN_OR_RAISE(ref, ParseTableRef(std::move(first)));
        }
        ARROW_RETURN_NOT_OK(ExpectOp(")"));
      } else {
        Next();
        ARROW_ASSIGN_OR_RAISE(ref, ParseTableRef());
        ARROW_RETURN_NOT_OK(ExpectOp(")"));
      }
      if (allow_alias) ARROW_RETURN_NOT_OK(ParseTableAlias(ref.get()));
      return ref;
    }

    if (IsName(start) && PeekOp("(", 1)) {
      ref->kind = TableKind::kFunction;
      ref->name = AsciiLower(Next().value);
      Next();  // (
      if (!AcceptOp(")")) {
        do {
          ARROW_RETURN_NOT_OK(ParseTableFunctionArg(ref.get()));
        } while (AcceptOp(","));
        ARROW_RETURN_NOT_OK(ExpectOp(")"));
      }
      if (allow_alias) ARROW_RETURN_NOT_OK(ParseTableAlias(ref.get()));
      return ref;
    }

    if (IsName(start)) {
      ref->kind = TableKind::kName;
      ARROW_ASSIGN_OR_RAISE(ref->name, ExpectQualifiedName("a table name"));
      if (PeekOp("(")) {
        // A dotted name followed by '(': a qualified table function is not supported.
        return ErrorAt(Peek(), "a table alias, JOIN or the end of the FROM clause");
      }
      if (allow_alias) ARROW_RETURN_NOT_OK(ParseTableAlias(ref.get()));
      return ref;
    }

    return ErrorAt(start,
                   "a table (a 'file' path, a name, a table function or a subquery)");
  }

  /// name = value | name => value | name := value, or a positional expression.
  Status ParseTableFunctionArg(TableRef* ref) {
    const Token& t = Peek();
    if (t.kind == TokenKind::kIdentifier &&
        (PeekOp("=", 1) || PeekOp("=>", 1) || PeekOp(":=", 1))) {
      RawOption option;
      option.name = t.value;
      option.position = t.loc.ToString();
      Next();
      Next();
      ARROW_RETURN_NOT_OK(ParseOptionValue(&option));
      ref->options.push_back(std::move(option));
      return Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(auto arg, ParseExpr());
    ref->args.push_back(std::move(arg));
    return Status::OK();
  }

  /// [AS] alias [(column, ...)]; nothing when no alias follows.
  Status ParseTableAlias(TableRef* ref) {
    if (AcceptKeyword("AS")) {
      ARROW_ASSIGN_OR_RAISE(ref->alias, ExpectName("an alias after AS"));
    } else if (IsName(Peek())) {
      ref->alias = Next().value;
    } else {
      return Status::OK();
    }
    if (PeekOp("(")) {
      ARROW_RETURN_NOT_OK(ParseNameList(&ref->column_aliases, "a column alias"));
    }
    return Status::OK();
  }

  // ---- Expressions --------------------------------------------------------------

  Result<ExprPtr> ParseExpr() { return ParseBinary(0); }

  /// Precedence climbing: parses operators binding at least as tightly as
  /// `min_prec`.
  Result<ExprPtr> ParseBinary(int min_prec) {
    Nesting depth(&depth_), height(&height_);
    ARROW_RETURN_NOT_OK(CheckDepth());
    ARROW_ASSIGN_OR_RAISE(ExprPtr left, ParsePrefix());
    while (true) {
      const Token& t = Peek();
      if (IsKeyword(t, "AT") && IsKeyword(Peek(1), "TIME") &&
          IsKeyword(Peek(2), "ZONE")) {
        // x AT TIME ZONE zone is timezone(zone, x), as in DuckDB and PostgreSQL.
        if (kPrecCast < min_prec) break;
        Next();
        Next();
        Next();
        auto call = MakeExpr(ExprKind::kFunction, left->loc);
        call->name = "timezone";
        ARROW_ASSIGN_OR_RAISE(auto zone, ParsePrefix());
        call->args = {std::move(zone), std::move(left)};
        left = std::move(call);
        height.Add();
        ARROW_RETURN_NOT_OK(CheckDepth());
        continue;
      }
      if (t.kind == TokenKind::kOperator) {
        if (t.text == "[") {
          // l[i]: an element of a list.
          if (kPrecCast < min_prec) break;
          Next();
          auto get = MakeExpr(ExprKind::kFunction, left->loc);
          get->name = "list_extract";
          ARROW_ASSIGN_OR_RAISE(auto index, ParseExpr());
          ARROW_RETURN_NOT_OK(ExpectOp("]"));
          get->args = {std::move(left), std::move(index)};
          left = std::move(get);
          height.Add();
          ARROW_RETURN_NOT_OK(CheckDepth());
          continue;
        }
        if (t.text == "::") {
          if (kPrecCast < min_prec) break;
          Next();
          auto cast = MakeExpr(ExprKind::kCast, left->loc);
          ARROW_ASSIGN_OR_RAISE(cast->type_name, ParseTypeName());
          cast->args.push_back(std::move(left));
          left = std::move(cast);
          height.Add();
          ARROW_RETURN_NOT_OK(CheckDepth());
          continue;
        }
        int prec = 0;
        std::string op = t.text;
        if (op == "->" || op == "->>") {
          prec = kPrecCast;  // j->'a'->>'b' = 'x' groups as ((j->'a')->>'b') = 'x'
        } else if (op == "*" || op == "/" || op == "%" || op == "//" || op == "**") {
          prec = kPrecMul;
        } else if (op == "+" || op == "-") {
          prec = kPrecAdd;
        } else if (op == "||") {
          prec = kPrecConcat;
        } else if (op == "=" || op == "==") {
          prec = kPrecComparison;
          op = "=";
        } else if (op == "<>" || op == "!=") {
          prec = kPrecComparison;
          op = "<>";
        } else if (op == "<" || op == "<=" || op == ">" || op == ">=") {
          prec = kPrecComparison;
        } else {
          break;
        }
        if (prec < min_prec) break;
        Next();
        ARROW_ASSIGN_OR_RAISE(auto right, ParseBinary(prec + 1));
        left = MakeBinary(std::move(op), std::move(left), std::move(right));
      } else if (t.kind == TokenKind::kIdentifier && !t.quoted) {
        if (IsKeyword(t, "OR") || IsKeyword(t, "AND")) {
          int prec = IsKeyword(t, "OR") ? kPrecOr : kPrecAnd;
          if (prec < min_prec) break;
          std::string op = AsciiUpper(Next().text);
          ARROW_ASSIGN_OR_RAISE(auto right, ParseBinary(prec + 1));
          left = MakeBinary(std::move(op), std::move(left), std::move(right));
        } else if (IsKeyword(t, "IS") || IsKeyword(t, "ISNULL") ||
                   IsKeyword(t, "NOTNULL")) {
          if (kPrecIs < min_prec) break;
          ARROW_ASSIGN_OR_RAISE(left, ParseIs(std::move(left)));
        } else if (IsKeyword(t, "BETWEEN") || IsKeyword(t, "IN") ||
                   IsKeyword(t, "LIKE") || IsKeyword(t, "ILIKE") ||
                   (IsKeyword(t, "NOT") &&
                    (PeekKeyword("BETWEEN", 1) || PeekKeyword("IN", 1) ||
                     PeekKeyword("LIKE", 1) || PeekKeyword("ILIKE", 1)))) {
          if (kPrecLikeIn < min_prec) break;
          ARROW_ASSIGN_OR_RAISE(left, ParsePredicate(std::move(left)));
        } else {
          break;
        }
      } else {
        break;
      }
      height.Add();
      ARROW_RETURN_NOT_OK(CheckDepth());
    }
    return left;
  }

  static ExprPtr MakeBinary(std::string op, ExprPtr left, ExprPtr right) {
    auto e = MakeExpr(ExprKind::kBinary, left->loc);
    e->op = std::move(op);
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }

  /// IS [NOT] NULL | TRUE | FALSE | DISTINCT FROM x, ISNULL, NOTNULL after `left`.
  [[gnu::noinline]] Result<ExprPtr> ParseIs(ExprPtr left) {
    if (AcceptKeyword("ISNULL") || AcceptKeyword("NOTNULL")) {
      auto e = MakeExpr(ExprKind::kIsNull, left->loc);
      e->negated = IsKeyword(tokens_[pos_ - 1], "NOTNULL");
      e->args.push_back(std::move(left));
      return e;
    }
    Next();  // IS
    bool negated = AcceptKeyword("NOT");
    if (AcceptKeyword("DISTINCT")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("FROM"));
      ARROW_ASSIGN_OR_RAISE(auto right, ParseBinary(kPrecIs + 1));
      return MakeBinary(negated ? "IS NOT DISTINCT FROM" : "IS DISTINCT FROM",
                        std::move(left), std::move(right));
    }
    ExprPtr e;
    if (AcceptKeyword("NULL")) {
      e = MakeExpr(ExprKind::kIsNull, left->loc);
    } else if (PeekKeyword("TRUE") || PeekKeyword("FALSE")) {
      e = MakeExpr(ExprKind::kIsBool, left->loc);
      e->lit_kind = LiteralKind::kBool;
      e->text = AsciiLower(Next().text);
    } else {
      return ErrorAt(Peek(), negated ? "NULL, TRUE or FALSE after IS NOT"
                                     : "NULL, TRUE or FALSE after IS");
    }
    e->negated = negated;
    e->args.push_back(std::move(left));
    return e;
  }

  /// [NOT] BETWEEN / IN / LIKE / ILIKE after `left`.
  [[gnu::noinline]] Result<ExprPtr> ParsePredicate(ExprPtr left) {
    bool negated = AcceptKeyword("NOT");
    ExprPtr e;
    if (AcceptKeyword("BETWEEN")) {
      e = MakeExpr(ExprKind::kBetween, left->loc);
      e->args.push_back(std::move(left));
      ARROW_ASSIGN_OR_RAISE(auto low, ParseBinary(kPrecLikeIn + 1));
      ARROW_RETURN_NOT_OK(ExpectKeyword("AND"));
      ARROW_ASSIGN_OR_RAISE(auto high, ParseBinary(kPrecLikeIn + 1));
      e->args.push_back(std::move(low));
      e->args.push_back(std::move(high));
    } else if (AcceptKeyword("IN")) {
      e = MakeExpr(ExprKind::kIn, left->loc);
      e->args.push_back(std::move(left));
      ARROW_RETURN_NOT_OK(ExpectOp("("));
      if (PeekKeyword("SELECT") || PeekKeyword("WITH") || IsParenthesizedQuery()) {
        ARROW_ASSIGN_OR_RAISE(e->subquery, ParseQuery());
        ARROW_RETURN_NOT_OK(ExpectOp(")"));
        e->negated = negated;
        return e;
      }
      do {
        ARROW_ASSIGN_OR_RAISE(auto item, ParseExpr());
        e->args.push_back(std::move(item));
      } while (AcceptOp(","));
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
    } else {
      e = MakeExpr(ExprKind::kLike, left->loc);
      e->case_insensitive = PeekKeyword("ILIKE");
      Next();  // LIKE | ILIKE
      e->args.push_back(std::move(left));
      ARROW_ASSIGN_OR_RAISE(auto pattern, ParseBinary(kPrecLikeIn + 1));
      e->args.push_back(std::move(pattern));
      if (AcceptKeyword("ESCAPE")) {
        ARROW_ASSIGN_OR_RAISE(auto escape, ParseBinary(kPrecLikeIn + 1));
        e->args.push_back(std::move(escape));
      }
    }
    e->negated = negated;
    return e;
  }

  /// Prefix NOT, unary - and +, or a primary.
  Result<ExprPtr> ParsePrefix() {
    const Token& t = Peek();
    if (IsKeyword(t, "NOT")) {
      auto e = MakeExpr(ExprKind::kUnary, Next().loc);
      e->op = "NOT";
      ARROW_ASSIGN_OR_RAISE(auto operand, ParseBinary(kPrecIs));
      e->args.push_back(std::move(operand));
      return e;
    }
    if (IsOp(t, "-") || IsOp(t, "+")) {
      auto e = MakeExpr(ExprKind::kUnary, t.loc);
      e->op = Next().text;
      ARROW_ASSIGN_OR_RAISE(auto operand, ParseBinary(kPrecCast));
      e->args.push_back(std::move(operand));
      return e;
    }
    return ParsePrimary();
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kNumber: {
        Next();
        bool decimal = t.value.find_first_of(".eE") != std::string::npos;
        return MakeLiteral(decimal ? LiteralKind::kDecimal : LiteralKind::kInteger,
                           t.value, t.loc);
      }
      case TokenKind::kString:
        Next();
        return MakeLiteral(LiteralKind::kString, t.value, t.loc);
      case TokenKind::kOperator:
        if (t.text == "{") {
          // {'a': 1, 'b': x}: a struct (DuckDB's struct_pack(a := 1, b := x)).
          auto e = MakeExpr(ExprKind::kFunction, Next().loc);
          e->name = "struct_pack";
          if (!AcceptOp("}")) {
            do {
              const Token& key = Peek();
              if (key.kind != TokenKind::kString && key.kind != TokenKind::kIdentifier) {
                return ErrorAt(key, "a field name");
              }
              e->arg_names.push_back(Next().value);
              ARROW_RETURN_NOT_OK(ExpectOp(":"));
              ARROW_ASSIGN_OR_RAISE(auto value, ParseExpr());
              e->args.push_back(std::move(value));
            } while (AcceptOp(","));
            ARROW_RETURN_NOT_OK(ExpectOp("}"));
          }
          return e;
        }
        if (t.text == "[") {
          // [a, b, c]: a list.
          auto e = MakeExpr(ExprKind::kFunction, Next().loc);
          e->name = "list_value";
          if (!AcceptOp("]")) {
            do {
              ARROW_ASSIGN_OR_RAISE(auto item, ParseExpr());
              e->args.push_back(std::move(item));
            } while (AcceptOp(","));
            ARROW_RETURN_NOT_OK(ExpectOp("]"));
          }
          return e;
        }
        if (t.text == "(") {
          if (IsParenthesizedQuery(1)) {
            auto e = MakeExpr(ExprKind::kSubquery, t.loc);
            Next();
            ARROW_ASSIGN_OR_RAISE(e->subquery, ParseQuery());
            ARROW_RETURN_NOT_OK(ExpectOp(")"));
            return e;
          }
          Next();
          ARROW_ASSIGN_OR_RAISE(auto inner, ParseExpr());
          ARROW_RETURN_NOT_OK(ExpectOp(")"));
          return inner;
        }
        return ErrorAt(t, "an expression");
      case TokenKind::kEnd:
        return ErrorAt(t, "an expression");
      case TokenKind::kIdentifier:
        break;
    }
    if (t.quoted) return ParseNameExpr();
    return ParseWordPrimary();
  }

  /// A primary starting with an unquoted word: a keyword construct, a column
  /// reference or a function call.
  [[gnu::noinline]] Result<ExprPtr> ParseWordPrimary() {
    const Token& t = Peek();

    if (IsKeyword(t, "NULL")) return MakeLiteral(LiteralKind::kNull, "", Next().loc);
    if (IsKeyword(t, "TRUE")) return MakeLiteral(LiteralKind::kBool, "true", Next().loc);
    if (IsKeyword(t, "FALSE"))
      return MakeLiteral(LiteralKind::kBool, "false", Next().loc);
    if (IsKeyword(t, "CASE")) return ParseCase();
    if (IsKeyword(t, "EXISTS") && IsParenthesizedQuery(1)) {
      auto e = MakeExpr(ExprKind::kExists, Next().loc);
      ARROW_RETURN_NOT_OK(ExpectOp("("));
      ARROW_ASSIGN_OR_RAISE(e->subquery, ParseQuery());
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
      return e;
    }
    bool call = PeekOp("(", 1);
    if (call && (IsKeyword(t, "CAST") || IsKeyword(t, "TRY_CAST"))) return ParseCast();
    if (call && IsKeyword(t, "EXTRACT")) return ParseExtract();
    if (call && IsKeyword(t, "SUBSTRING")) return ParseSubstring();
    if (call && IsKeyword(t, "POSITION")) return ParsePosition();
    if (call && IsKeyword(t, "TRIM")) return ParseTrim();
    if (Peek(1).kind == TokenKind::kString &&
        (IsKeyword(t, "TIME") || IsKeyword(t, "TIMESTAMPTZ"))) {
      // TIME '12:00:00' is CAST('12:00:00' AS TIME); TIMESTAMPTZ '...' likewise.
      auto e = MakeExpr(ExprKind::kCast, t.loc);
      e->type_name = AsciiUpper(Next().text);
      e->args.push_back(MakeLiteral(LiteralKind::kString, Peek().value, Peek().loc));
      Next();
      return e;
    }
    if (Peek(1).kind == TokenKind::kString &&
        (IsKeyword(t, "DATE") || IsKeyword(t, "TIMESTAMP"))) {
      Next();
      LiteralKind kind =
          IsKeyword(t, "DATE") ? LiteralKind::kDate : LiteralKind::kTimestamp;
      return MakeLiteral(kind, Next().value, t.loc);
    }
    if (IsKeyword(t, "INTERVAL") &&
        (Peek(1).kind == TokenKind::kString || Peek(1).kind == TokenKind::kNumber)) {
      return ParseInterval();
    }
    if (IsKeyword(t, "CURRENT_DATE") || IsKeyword(t, "CURRENT_TIMESTAMP") ||
        IsKeyword(t, "NOW")) {
      auto e = MakeExpr(ExprKind::kFunction, t.loc);
      e->name = AsciiLower(Next().text);
      if (PeekOp("(") && PeekOp(")", 1)) {
        Next();
        Next();
      }
      return e;
    }
    if (IsReserved(t)) {
      // LEFT(s, n) and RIGHT(s, n) are functions despite being keywords.
      if (call && (IsKeyword(t, "LEFT") || IsKeyword(t, "RIGHT"))) {
        return ParseFunctionCall(AsciiLower(Next().text), t.loc);
      }
      if (IsKeyword(t, "SELECT")) {
        return ErrorAt(t, "an expression (subqueries need parentheses)");
      }
      return ErrorAt(t, "an expression");
    }
    return ParseNameExpr();
  }

  /// A column reference `a`, `t.a`, `"A"`, or a function call `f(...)`.
  [[gnu::noinline]] Result<ExprPtr> ParseNameExpr() {
    const Token& first = Next();
    Location loc = first.loc;
    std::vector<std::string> parts{first.value};
    while (PeekOp(".")) {
      if (Peek(1).kind != TokenKind::kIdentifier) {
        return ErrorAt(Peek(1), "a column name after '.'");
      }
      Next();
      parts.push_back(Next().value);
    }
    if (PeekOp("(")) {
      std::string name = parts[0];
      for (size_t i = 1; i < parts.size(); ++i) name += "." + parts[i];
      return ParseFunctionCall(AsciiLower(name), loc);
    }
    auto e = MakeExpr(ExprKind::kColumn, loc);
    e->name = parts.back();
    parts.pop_back();
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) e->table += ".";
      e->table += parts[i];
    }
    return e;
  }

  /// After the name: ( [* | [DISTINCT|ALL] expr, ...] ).
  [[gnu::noinline]] Result<ExprPtr> ParseFunctionCall(std::string name, Location loc) {
    auto e = MakeExpr(ExprKind::kFunction, loc);
    e->name = std::move(name);
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    if (PeekOp("*")) {
      e->args.push_back(MakeExpr(ExprKind::kStar, Next().loc));
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
    } else if (!AcceptOp(")")) {
      if (AcceptKeyword("DISTINCT")) {
        e->distinct = true;
      } else {
        AcceptKeyword("ALL");
      }
      do {
        if (PeekKeyword("SELECT") || PeekKeyword("WITH")) {
          return NotSupported(Peek().loc, "subqueries in expressions");
        }
        if (Peek().kind == TokenKind::kIdentifier && PeekOp(":=", 1)) {
          e->arg_names.resize(e->args.size());
          e->arg_names.push_back(Next().value);
          Next();
        } else if (!e->arg_names.empty()) {
          e->arg_names.emplace_back();
        }
        ARROW_ASSIGN_OR_RAISE(auto arg, ParseExpr());
        e->args.push_back(std::move(arg));
      } while (AcceptOp(","));
      if (PeekKeyword("ORDER")) {
        Next();
        ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
        ARROW_RETURN_NOT_OK(ParseOrderItems(&e->order_by));
      }
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
    }
    if (PeekKeyword("WITHIN")) {
      Next();
      ARROW_RETURN_NOT_OK(ExpectKeyword("GROUP"));
      ARROW_RETURN_NOT_OK(ExpectOp("("));
      ARROW_RETURN_NOT_OK(ExpectKeyword("ORDER"));
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      if (!e->order_by.empty()) {
        return NotSupported(e->loc, "ORDER BY both inside a call and WITHIN GROUP");
      }
      ARROW_RETURN_NOT_OK(ParseOrderItems(&e->order_by));
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
      e->within_group = true;
    }
    if (PeekKeyword("FILTER") && PeekOp("(", 1)) {
      Next();
      ARROW_RETURN_NOT_OK(ExpectOp("("));
      ARROW_RETURN_NOT_OK(ExpectKeyword("WHERE"));
      ARROW_ASSIGN_OR_RAISE(e->filter, ParseExpr());
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
    }
    if (PeekKeyword("OVER")) {
      Location over = Next().loc;
      if (AcceptOp("(")) {
        ARROW_ASSIGN_OR_RAISE(e->over, ParseWindowSpec(over));
      } else {
        e->over = std::make_shared<WindowSpec>();
        e->over->loc = over;
        ARROW_ASSIGN_OR_RAISE(e->over->name, ExpectName("a window name"));
      }
    }
    return e;
  }

  /// expr [ASC|DESC] [NULLS FIRST|LAST], ...
  Status ParseOrderItems(std::vector<OrderItem>* items) {
    do {
      OrderItem item;
      ARROW_ASSIGN_OR_RAISE(item.expr, ParseExpr());
      ARROW_RETURN_NOT_OK(ParseOrderDirection(&item));
      items->push_back(std::move(item));
    } while (AcceptOp(","));
    return Status::OK();
  }

  Status ParseOrderDirection(OrderItem* item) {
    if (AcceptKeyword("DESC")) {
      item->descending = true;
    } else {
      AcceptKeyword("ASC");
    }
    if (PeekKeyword("NULLS")) {
      Next();
      if (AcceptKeyword("FIRST")) {
        item->nulls_first = true;
      } else if (AcceptKeyword("LAST")) {
        item->nulls_first = false;
      } else {
        return ErrorAt(Peek(), "FIRST or LAST");
      }
    }
    return Status::OK();
  }

  /// The inside of OVER ( ... ) or of WINDOW w AS ( ... ), after its '('.
  Result<std::shared_ptr<WindowSpec>> ParseWindowSpec(Location loc) {
    auto w = std::make_shared<WindowSpec>();
    w->loc = loc;
    if (Peek().kind == TokenKind::kIdentifier && !IsKeyword(Peek(), "PARTITION") &&
        !IsKeyword(Peek(), "ORDER") && !IsKeyword(Peek(), "ROWS") &&
        !IsKeyword(Peek(), "RANGE")) {
      w->name = Next().value;
    }
    if (AcceptKeyword("PARTITION")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      do {
        ARROW_ASSIGN_OR_RAISE(auto e, ParseExpr());
        w->partition_by.push_back(std::move(e));
      } while (AcceptOp(","));
    }
    if (AcceptKeyword("ORDER")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("BY"));
      ARROW_RETURN_NOT_OK(ParseOrderItems(&w->order_by));
    }
    if (PeekKeyword("ROWS") || PeekKeyword("RANGE")) {
      w->has_frame = true;
      w->rows = IsKeyword(Next(), "ROWS");
      if (AcceptKeyword("BETWEEN")) {
        ARROW_ASSIGN_OR_RAISE(w->start, ParseFrameBound());
        ARROW_RETURN_NOT_OK(ExpectKeyword("AND"));
        ARROW_ASSIGN_OR_RAISE(w->end, ParseFrameBound());
      } else {
        ARROW_ASSIGN_OR_RAISE(w->start, ParseFrameBound());
        w->end.kind = FrameBound::Kind::kCurrentRow;
      }
    }
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return w;
  }

  /// UNBOUNDED PRECEDING | n PRECEDING | CURRENT ROW | n FOLLOWING | UNBOUNDED FOLLOWING
  Result<FrameBound> ParseFrameBound() {
    FrameBound b;
    if (AcceptKeyword("UNBOUNDED")) {
      if (AcceptKeyword("PRECEDING")) {
        b.kind = FrameBound::Kind::kUnboundedPreceding;
      } else {
        ARROW_RETURN_NOT_OK(ExpectKeyword("FOLLOWING"));
        b.kind = FrameBound::Kind::kUnboundedFollowing;
      }
      return b;
    }
    if (AcceptKeyword("CURRENT")) {
      ARROW_RETURN_NOT_OK(ExpectKeyword("ROW"));
      b.kind = FrameBound::Kind::kCurrentRow;
      return b;
    }
    const Token& t = Peek();
    if (t.kind != TokenKind::kNumber) return ErrorAt(t, "a frame bound");
    auto n = ParseInt64(t.value);
    if (!n || *n < 0) return ErrorAt(t, "a non-negative integer frame offset");
    Next();
    b.offset = *n;
    if (AcceptKeyword("PRECEDING")) {
      b.kind = FrameBound::Kind::kPreceding;
    } else {
      ARROW_RETURN_NOT_OK(ExpectKeyword("FOLLOWING"));
      b.kind = FrameBound::Kind::kFollowing;
    }
    return b;
  }

  /// GROUPING SETS ((a, b), a, ()): a kFunction "grouping_sets" whose arguments are
  /// the sets, each a kFunction "row" of its expressions. ROLLUP (...) and CUBE (...)
  /// parse as function calls; the binder expands all three.
  [[gnu::noinline]] Result<ExprPtr> ParseGroupingSets() {
    auto e = MakeExpr(ExprKind::kFunction, Next().loc);  // GROUPING
    Next();                                              // SETS
    e->name = "grouping_sets";
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    do {
      auto set = MakeExpr(ExprKind::kFunction, Peek().loc);
      set->name = "row";
      if (AcceptOp("(")) {
        if (!AcceptOp(")")) {
          do {
            ARROW_ASSIGN_OR_RAISE(auto item, ParseExpr());
            set->args.push_back(std::move(item));
          } while (AcceptOp(","));
          ARROW_RETURN_NOT_OK(ExpectOp(")"));
        }
      } else {
        ARROW_ASSIGN_OR_RAISE(auto item, ParseExpr());
        set->args.push_back(std::move(item));
      }
      e->args.push_back(std::move(set));
    } while (AcceptOp(","));
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// CASE [operand] WHEN a THEN b ... [ELSE c] END
  [[gnu::noinline]] Result<ExprPtr> ParseCase() {
    auto e = MakeExpr(ExprKind::kCase, Next().loc);
    if (!PeekKeyword("WHEN")) {
      ARROW_ASSIGN_OR_RAISE(auto operand, ParseExpr());
      e->args.push_back(std::move(operand));
      e->has_operand = true;
    }
    if (!PeekKeyword("WHEN")) return ErrorAt(Peek(), "WHEN");
    while (AcceptKeyword("WHEN")) {
      ARROW_ASSIGN_OR_RAISE(auto when, ParseExpr());
      ARROW_RETURN_NOT_OK(ExpectKeyword("THEN"));
      ARROW_ASSIGN_OR_RAISE(auto then, ParseExpr());
      e->args.push_back(std::move(when));
      e->args.push_back(std::move(then));
    }
    if (AcceptKeyword("ELSE")) {
      ARROW_ASSIGN_OR_RAISE(auto otherwise, ParseExpr());
      e->args.push_back(std::move(otherwise));
      e->has_else = true;
    }
    if (!AcceptKeyword("END")) {
      return ErrorAt(Peek(), e->has_else ? "END" : "WHEN, ELSE or END");
    }
    return e;
  }

  /// CAST(e AS type) | TRY_CAST(e AS type)
  [[gnu::noinline]] Result<ExprPtr> ParseCast() {
    auto e = MakeExpr(ExprKind::kCast, Peek().loc);
    e->try_cast = IsKeyword(Next(), "TRY_CAST");
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    ARROW_ASSIGN_OR_RAISE(auto operand, ParseExpr());
    e->args.push_back(std::move(operand));
    ARROW_RETURN_NOT_OK(ExpectKeyword("AS"));
    ARROW_ASSIGN_OR_RAISE(e->type_name, ParseTypeName());
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// A type name, normalized: upper case, single spaces, parameters kept,
  /// "[]" appended for arrays.
  [[gnu::noinline]] Result<std::string> ParseTypeName() {
    const Token& t = Peek();
    if (!IsName(t)) return ErrorAt(t, "a type name");
    Next();
    std::string name = AsciiUpper(t.value);
    if (name == "DOUBLE" && AcceptKeyword("PRECISION")) {
      name += " PRECISION";
    } else if (name == "CHARACTER" && AcceptKeyword("VARYING")) {
      name += " VARYING";
    } else if ((name == "TIMESTAMP" || name == "TIME") &&
               (PeekKeyword("WITH") || PeekKeyword("WITHOUT")) &&
               PeekKeyword("TIME", 1) && PeekKeyword("ZONE", 2)) {
      if (PeekKeyword("WITH")) name += " WITH TIME ZONE";
      Next();
      Next();
      Next();
    }
    if (AcceptOp("(")) {
      name += "(";
      bool first = true;
      do {
        const Token& p = Peek();
        if (p.kind != TokenKind::kNumber && p.kind != TokenKind::kIdentifier) {
          return ErrorAt(p, "a type parameter");
        }
        if (!first) name += ",";
        name += p.kind == TokenKind::kNumber ? p.text : AsciiUpper(p.value);
        Next();
        first = false;
      } while (AcceptOp(","));
      ARROW_RETURN_NOT_OK(ExpectOp(")"));
      name += ")";
    }
    while (PeekOp("[") && PeekOp("]", 1)) {
      Next();
      Next();
      name += "[]";
    }
    return name;
  }

  /// EXTRACT(field FROM e) -> extract('field', e)
  [[gnu::noinline]] Result<ExprPtr> ParseExtract() {
    auto e = MakeExpr(ExprKind::kFunction, Next().loc);
    e->name = "extract";
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    const Token& field = Peek();
    if (field.kind != TokenKind::kIdentifier && field.kind != TokenKind::kString) {
      return ErrorAt(field, "a date part (e.g. YEAR)");
    }
    Next();
    e->args.push_back(
        MakeLiteral(LiteralKind::kString, AsciiLower(field.value), field.loc));
    if (!AcceptKeyword("FROM") && !AcceptOp(",")) return ErrorAt(Peek(), "FROM");
    ARROW_ASSIGN_OR_RAISE(auto source, ParseExpr());
    e->args.push_back(std::move(source));
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// SUBSTRING(e FROM a [FOR b]) | SUBSTRING(e FOR b) | SUBSTRING(e, a [, b])
  [[gnu::noinline]] Result<ExprPtr> ParseSubstring() {
    auto e = MakeExpr(ExprKind::kFunction, Next().loc);
    e->name = "substring";
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    ARROW_ASSIGN_OR_RAISE(auto str, ParseExpr());
    e->args.push_back(std::move(str));
    if (PeekKeyword("FROM") || PeekKeyword("FOR")) {
      if (AcceptKeyword("FROM")) {
        ARROW_ASSIGN_OR_RAISE(auto from, ParseExpr());
        e->args.push_back(std::move(from));
      } else {
        e->args.push_back(MakeLiteral(LiteralKind::kInteger, "1", Peek().loc));
      }
      if (AcceptKeyword("FOR")) {
        ARROW_ASSIGN_OR_RAISE(auto length, ParseExpr());
        e->args.push_back(std::move(length));
      }
    } else {
      while (AcceptOp(",")) {
        ARROW_ASSIGN_OR_RAISE(auto arg, ParseExpr());
        e->args.push_back(std::move(arg));
      }
    }
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// POSITION(a IN b) -> position(a, b)
  [[gnu::noinline]] Result<ExprPtr> ParsePosition() {
    auto e = MakeExpr(ExprKind::kFunction, Next().loc);
    e->name = "position";
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    ARROW_ASSIGN_OR_RAISE(auto needle, ParseBinary(kPrecLikeIn + 1));
    e->args.push_back(std::move(needle));
    if (!AcceptKeyword("IN") && !AcceptOp(",")) return ErrorAt(Peek(), "IN");
    ARROW_ASSIGN_OR_RAISE(auto haystack, ParseExpr());
    e->args.push_back(std::move(haystack));
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// TRIM([BOTH|LEADING|TRAILING] [chars] FROM e) | TRIM(e [, chars])
  [[gnu::noinline]] Result<ExprPtr> ParseTrim() {
    auto e = MakeExpr(ExprKind::kFunction, Next().loc);
    e->name = "trim";
    ARROW_RETURN_NOT_OK(ExpectOp("("));
    if (AcceptKeyword("LEADING")) {
      e->name = "ltrim";
    } else if (AcceptKeyword("TRAILING")) {
      e->name = "rtrim";
    } else {
      AcceptKeyword("BOTH");
    }
    if (AcceptKeyword("FROM")) {
      ARROW_ASSIGN_OR_RAISE(auto str, ParseExpr());
      e->args.push_back(std::move(str));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto first, ParseExpr());
      if (AcceptKeyword("FROM")) {
        ARROW_ASSIGN_OR_RAISE(auto str, ParseExpr());
        e->args.push_back(std::move(str));
        e->args.push_back(std::move(first));
      } else {
        e->args.push_back(std::move(first));
        while (AcceptOp(",")) {
          ARROW_ASSIGN_OR_RAISE(auto arg, ParseExpr());
          e->args.push_back(std::move(arg));
        }
      }
    }
    ARROW_RETURN_NOT_OK(ExpectOp(")"));
    return e;
  }

  /// INTERVAL '1 day' | INTERVAL '1' DAY | INTERVAL 1 DAY -> text "1 day"
  [[gnu::noinline]] Result<ExprPtr> ParseInterval() {
    Location loc = Next().loc;
    const Token& value = Next();
    std::string text = value.value;
    const Token& unit = Peek();
    bool has_unit = unit.kind == TokenKind::kIdentifier && !unit.quoted &&
                    IntervalUnits().count(AsciiUpper(unit.text)) > 0;
    if (has_unit) {
      text += " " + AsciiLower(Next().text);
    } else if (value.kind == TokenKind::kNumber) {
      return ErrorAt(unit, "an interval unit (e.g. DAY)");
    }
    return MakeLiteral(LiteralKind::kInterval, std::move(text), loc);
  }

  const std::string& sql_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  size_t last_end_ = 0;
  int depth_ = 0;
  int height_ = 0;
  int query_level_ = 0;
  bool into_allowed_ = false;
  std::optional<Statement> select_into_;
};

}  // namespace

Result<std::vector<Statement>> ParseScript(const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto tokens, Tokenize(sql));
  return Parser(sql, std::move(tokens)).ParseScript();
}

Result<ExprPtr> ParseExpression(const std::string& text) {
  ARROW_ASSIGN_OR_RAISE(auto tokens, Tokenize(text));
  return Parser(text, std::move(tokens)).ParseStandaloneExpression();
}

}  // namespace flowsql::sql
