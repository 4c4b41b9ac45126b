// The SQL abstract syntax tree produced by the parser and consumed by the planner.
// Plain structs: the parser fills them, nothing mutates them afterwards.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "flowsql/options.h"

namespace flowsql::sql {

/// A 1-based position in the script being parsed.
struct Location {
  int line = 0;
  int column = 0;
  /// "line 3:14"
  std::string ToString() const;
};

enum class ExprKind {
  kLiteral,   // lit_kind, text
  kColumn,    // table (qualifier, may be empty), name
  kStar,      // `*` or `t.*` in a select list, `count(*)`: table may hold the qualifier
  kUnary,     // op: "-", "+", "NOT"; args[0]
  kBinary,    // op: + - * / % || = <> < <= > >= AND OR; args[0], args[1]
  kFunction,  // name (lower case), args, distinct, filter; count(*) has one kStar
              // argument
  kCase,      // has_operand: args[0] is the operand; then WHEN/THEN pairs; has_else: last
  kCast,      // args[0] CAST AS type_name (upper case, e.g. "DECIMAL(10,2)"); try_cast
  kIn,        // args[0] [NOT] IN (args[1..]); negated
  kBetween,   // args[0] [NOT] BETWEEN args[1] AND args[2]; negated
  kLike,  // args[0] [NOT] LIKE|ILIKE args[1] [ESCAPE args[2]]; negated; case_insensitive
  kIsNull,    // args[0] IS [NOT] NULL; negated
  kIsBool,    // args[0] IS [NOT] TRUE|FALSE; negated; lit_kind kBool, text "true"/"false"
  kSubquery,  // ( subquery ): a scalar subquery
  kExists,    // EXISTS ( subquery )
  // kIn may instead hold args[0] [NOT] IN ( subquery ): subquery set, no args[1..]
};

enum class LiteralKind {
  kNull,
  kBool,       // text: "true" / "false"
  kInteger,    // text: digits
  kDecimal,    // text: "1.5", "1e3"
  kString,     // text: unquoted, escapes resolved
  kDate,       // DATE '2024-01-31'; text is the string
  kTimestamp,  // TIMESTAMP '2024-01-31 10:00:00'
  kInterval,   // INTERVAL '1 day' or INTERVAL 1 DAY; text "1 day"
};

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;
struct Query;
struct WindowSpec;

struct OrderItem {
  ExprPtr expr;  // may be an integer literal (ORDER BY 1) or an alias
  bool descending = false;
  std::optional<bool> nulls_first;  // unset: NULLS LAST for ASC, NULLS FIRST for DESC
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  Location loc;
  LiteralKind lit_kind = LiteralKind::kNull;
  std::string text;       // literal text
  std::string table;      // column / star qualifier
  std::string name;       // column or function name
  std::string op;         // unary / binary operator, upper case for words
  std::string type_name;  // CAST target
  std::vector<ExprPtr> args;
  std::shared_ptr<Query> subquery;   // kSubquery, kExists, kIn over a subquery
  ExprPtr filter;                    // kFunction: agg(...) FILTER (WHERE filter)
  std::shared_ptr<WindowSpec> over;  // kFunction: f(...) OVER (...) | OVER name
  // kFunction: agg(x ORDER BY k), or with within_group the ordered-set form
  // percentile_cont(0.5) WITHIN GROUP (ORDER BY x).
  std::vector<OrderItem> order_by;
  bool within_group = false;
  // kFunction: the names of named arguments, name := value (struct_pack), one per
  // argument when any is named; {'a': 1, 'b': x} is struct_pack(a := 1, b := x).
  std::vector<std::string> arg_names;
  bool distinct = false;
  bool negated = false;
  bool case_insensitive = false;
  bool has_operand = false;
  bool has_else = false;
  bool try_cast = false;
};

struct Query;
struct TableRef;
using TableRefPtr = std::shared_ptr<TableRef>;

enum class TableKind {
  kUri,       // FROM 'path-or-uri' [WITH (...)]: uri, options
  kName,      // FROM name: a CTE or view; name
  kFunction,  // FROM read_csv('x', delim = ';'): name, args (positional), options (named)
  kSubquery,  // FROM (SELECT ...): subquery
  kJoin,      // left JOIN right ON on | USING (using_columns)
};

enum class JoinType { kInner, kLeft, kRight, kFull, kCross, kSemi, kAnti };

struct TableRef {
  TableKind kind = TableKind::kUri;
  Location loc;
  std::string uri;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<RawOption> options;
  std::shared_ptr<Query> subquery;
  std::string alias;
  std::vector<std::string> column_aliases;  // AS t(a, b)
  bool lateral = false;  // LATERAL (kSubquery, kFunction): reads the tables before it
  // kJoin
  JoinType join_type = JoinType::kInner;
  TableRefPtr left;
  TableRefPtr right;
  ExprPtr on;
  std::vector<std::string> using_columns;
  bool natural = false;  // NATURAL JOIN: USING the columns both sides name
};

struct SelectItem {
  ExprPtr expr;       // kStar for `*`
  std::string alias;  // empty when none was given
};

struct SelectCore {
  bool distinct = false;
  std::vector<SelectItem> items;
  TableRefPtr from;  // null for SELECT without FROM
  ExprPtr where;
  std::vector<ExprPtr> group_by;  // may hold integer literals (GROUP BY 1) or aliases
  ExprPtr having;
  std::vector<std::pair<std::string, std::shared_ptr<WindowSpec>>>
      windows;  // WINDOW w AS
  ExprPtr qualify;
};

enum class SetOp { kUnion, kUnionAll, kIntersect, kIntersectAll, kExcept, kExceptAll };

/// A SELECT, a set operation of two nodes, a parenthesized query, or VALUES rows.
struct QueryNode {
  enum class Kind { kSelect, kSetOp, kQuery, kValues } kind = Kind::kSelect;
  Location loc;
  SelectCore select;            // kSelect
  SetOp op = SetOp::kUnionAll;  // kSetOp
  std::shared_ptr<QueryNode> left;
  std::shared_ptr<QueryNode> right;
  std::shared_ptr<Query> query;  // kQuery: ( query ) with its own ORDER BY / LIMIT
  std::vector<std::vector<ExprPtr>> rows;  // kValues: VALUES (a, b), (c, d)
};

/// One end of a window frame.
struct FrameBound {
  enum class Kind {
    kUnboundedPreceding,
    kPreceding,  // offset PRECEDING
    kCurrentRow,
    kFollowing,  // offset FOLLOWING
    kUnboundedFollowing
  } kind = Kind::kUnboundedPreceding;
  int64_t offset = 0;
};

/// OVER ([name] [PARTITION BY ...] [ORDER BY ...] [ROWS|RANGE ...]) or OVER name.
struct WindowSpec {
  Location loc;
  std::string name;  // a WINDOW clause's window this one refers to (and refines)
  std::vector<ExprPtr> partition_by;
  std::vector<OrderItem> order_by;
  bool has_frame = false;  // without: RANGE UNBOUNDED PRECEDING .. CURRENT ROW when
                           // ordered, else the whole partition
  bool rows = false;       // ROWS (else RANGE)
  FrameBound start, end;
};

struct CommonTableExpr {
  std::string name;
  std::vector<std::string> column_aliases;
  std::shared_ptr<Query> query;
  Location loc;
};

struct Query {
  Location loc;
  std::vector<CommonTableExpr> ctes;
  std::shared_ptr<QueryNode> body;
  std::vector<OrderItem> order_by;
  ExprPtr limit;   // null: none
  ExprPtr offset;  // null: none
};

enum class StatementKind {
  kQuery,       // query
  kInto,        // query INTO 'uri' [WITH (...)] [, 'uri' [WITH (...)]]...: query, targets
  kCopy,        // COPY (query) | table TO 'uri' [(...)|WITH (...)]: query, targets
  kExplain,     // EXPLAIN [ANALYZE] statement: inner
  kDescribe,    // DESCRIBE 'uri' [WITH (...)] | DESCRIBE query: query (SELECT * FROM ...)
  kCreateView,  // CREATE [OR REPLACE] VIEW name AS query: name, query, or_replace
  kDropView,    // DROP VIEW [IF EXISTS] name: name, if_exists
  kCreateTable,  // CREATE [OR REPLACE] TABLE name AS query: name, query, or_replace
  kDropTable,    // DROP TABLE [IF EXISTS] name: name, if_exists
  kShowTables,   // SHOW TABLES
  kSet,          // SET name = value | SET name TO value: name, value; RESET name: reset
};

/// A sink of INTO or COPY: 'uri' [WITH (options)].
struct IntoTarget {
  std::string uri;
  Location loc;
  std::vector<RawOption> options;
};

struct Statement {
  StatementKind kind = StatementKind::kQuery;
  Location loc;
  std::string text;  // the statement's own text, without the trailing ';'
  std::shared_ptr<Query> query;
  /// kInto: one or more ('a', 'b' WITH (...)); kCopy: one.
  std::vector<IntoTarget> targets;
  std::shared_ptr<Statement> inner;
  bool analyze = false;
  std::string name;
  bool or_replace = false;
  bool if_exists = false;
  std::string value;  // kSet: the value's text (a string's contents, a number, a word)
  bool reset = false;
};

}  // namespace flowsql::sql
