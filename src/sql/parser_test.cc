#include "sql/parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/test_macros.h"
#include "sql/lexer.h"

namespace flowsql::sql {
namespace {

// ---- A compact AST dumper so that assertions read like SQL ------------------------

std::string Dump(const ExprPtr& e);
std::string Dump(const Query& q);

std::string JoinArgs(const std::vector<ExprPtr>& args, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < args.size(); ++i) {
    if (i > from) out += ", ";
    out += Dump(args[i]);
  }
  return out;
}

std::string Dump(const ExprPtr& e) {
  if (!e) return "<null>";
  switch (e->kind) {
    case ExprKind::kLiteral:
      switch (e->lit_kind) {
        case LiteralKind::kNull:
          return "NULL";
        case LiteralKind::kBool:
          return e->text == "true" ? "TRUE" : "FALSE";
        case LiteralKind::kInteger:
          return e->text;
        case LiteralKind::kDecimal:
          return "dec:" + e->text;
        case LiteralKind::kString:
          return "'" + e->text + "'";
        case LiteralKind::kDate:
          return "DATE '" + e->text + "'";
        case LiteralKind::kTimestamp:
          return "TIMESTAMP '" + e->text + "'";
        case LiteralKind::kInterval:
          return "INTERVAL '" + e->text + "'";
      }
      return "?";
    case ExprKind::kColumn:
      return e->table.empty() ? e->name : e->table + "." + e->name;
    case ExprKind::kStar:
      return e->table.empty() ? "*" : e->table + ".*";
    case ExprKind::kUnary:
      return "(" + e->op + " " + Dump(e->args[0]) + ")";
    case ExprKind::kBinary:
      return "(" + Dump(e->args[0]) + " " + e->op + " " + Dump(e->args[1]) + ")";
    case ExprKind::kFunction:
      return e->name + "(" + (e->distinct ? "DISTINCT " : "") + JoinArgs(e->args) + ")";
    case ExprKind::kCase: {
      std::string out = "(CASE";
      size_t i = 0;
      if (e->has_operand) out += " " + Dump(e->args[i++]);
      size_t pairs_end = e->args.size() - (e->has_else ? 1 : 0);
      for (; i + 1 < pairs_end; i += 2) {
        out += " WHEN " + Dump(e->args[i]) + " THEN " + Dump(e->args[i + 1]);
      }
      if (e->has_else) out += " ELSE " + Dump(e->args.back());
      return out + " END)";
    }
    case ExprKind::kCast:
      return std::string(e->try_cast ? "TRY_CAST(" : "CAST(") + Dump(e->args[0]) +
             " AS " + e->type_name + ")";
    case ExprKind::kIn:
      return "(" + Dump(e->args[0]) + (e->negated ? " NOT IN (" : " IN (") +
             (e->subquery ? Dump(*e->subquery) : JoinArgs(e->args, 1)) + "))";
    case ExprKind::kSubquery:
      return "(" + Dump(*e->subquery) + ")";
    case ExprKind::kExists:
      return "EXISTS(" + Dump(*e->subquery) + ")";
    case ExprKind::kBetween:
      return "(" + Dump(e->args[0]) + (e->negated ? " NOT BETWEEN " : " BETWEEN ") +
             Dump(e->args[1]) + " AND " + Dump(e->args[2]) + ")";
    case ExprKind::kLike:
      return "(" + Dump(e->args[0]) + (e->negated ? " NOT" : "") +
             (e->case_insensitive ? " ILIKE " : " LIKE ") + Dump(e->args[1]) + ")";
    case ExprKind::kIsNull:
      return "(" + Dump(e->args[0]) + (e->negated ? " IS NOT NULL)" : " IS NULL)");
    case ExprKind::kIsBool:
      return "(" + Dump(e->args[0]) + (e->negated ? " IS NOT " : " IS ") +
             (e->text == "true" ? "TRUE" : "FALSE") + ")";
  }
  return "?";
}

std::string DumpOptions(const std::vector<RawOption>& options) {
  std::string out;
  for (const auto& o : options) {
    if (!out.empty()) out += "; ";
    out += o.name + "=" + o.value;
  }
  return out;
}

std::string Dump(const TableRefPtr& t) {
  if (!t) return "<null>";
  std::string out;
  switch (t->kind) {
    case TableKind::kUri:
      out = "'" + t->uri + "'";
      if (!t->options.empty()) out += "{" + DumpOptions(t->options) + "}";
      break;
    case TableKind::kName:
      out = t->name;
      break;
    case TableKind::kFunction:
      out = t->name + "(" + JoinArgs(t->args);
      if (!t->options.empty())
        out += (t->args.empty() ? "" : "; ") + DumpOptions(t->options);
      out += ")";
      break;
    case TableKind::kSubquery:
      out = "(" + Dump(*t->subquery) + ")";
      break;
    case TableKind::kJoin: {
      static const char* kNames[] = {"JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN",
                                     "CROSS JOIN"};
      out = "(" + Dump(t->left) + " " + kNames[static_cast<int>(t->join_type)] + " " +
            Dump(t->right);
      if (t->on) out += " ON " + Dump(t->on);
      if (!t->using_columns.empty()) {
        out += " USING (";
        for (size_t i = 0; i < t->using_columns.size(); ++i) {
          out += (i ? ", " : "") + t->using_columns[i];
        }
        out += ")";
      }
      out += ")";
      break;
    }
  }
  if (!t->alias.empty()) out += " AS " + t->alias;
  if (!t->column_aliases.empty()) {
    out += "(";
    for (size_t i = 0; i < t->column_aliases.size(); ++i) {
      out += (i ? ", " : "") + t->column_aliases[i];
    }
    out += ")";
  }
  return out;
}

std::string Dump(const std::shared_ptr<QueryNode>& n) {
  switch (n->kind) {
    case QueryNode::Kind::kSelect: {
      const SelectCore& s = n->select;
      std::string out = s.distinct ? "SELECT DISTINCT " : "SELECT ";
      for (size_t i = 0; i < s.items.size(); ++i) {
        if (i) out += ", ";
        out += Dump(s.items[i].expr);
        if (!s.items[i].alias.empty()) out += " AS " + s.items[i].alias;
      }
      if (s.from) out += " FROM " + Dump(s.from);
      if (s.where) out += " WHERE " + Dump(s.where);
      if (!s.group_by.empty()) out += " GROUP BY " + JoinArgs(s.group_by);
      if (s.having) out += " HAVING " + Dump(s.having);
      return out;
    }
    case QueryNode::Kind::kSetOp: {
      static const char* kOps[] = {"UNION",         "UNION ALL", "INTERSECT",
                                   "INTERSECT ALL", "EXCEPT",    "EXCEPT ALL"};
      return "{" + Dump(n->left) + "} " + kOps[static_cast<int>(n->op)] + " {" +
             Dump(n->right) + "}";
    }
    case QueryNode::Kind::kQuery:
      return "(" + Dump(*n->query) + ")";
    case QueryNode::Kind::kValues: {
      std::string out = "VALUES ";
      for (size_t i = 0; i < n->rows.size(); ++i) {
        out += (i ? ", (" : "(") + JoinArgs(n->rows[i]) + ")";
      }
      return out;
    }
  }
  return "?";
}

std::string Dump(const Query& q) {
  std::string out;
  if (!q.ctes.empty()) {
    out = "WITH ";
    for (size_t i = 0; i < q.ctes.size(); ++i) {
      if (i) out += ", ";
      out += q.ctes[i].name;
      if (!q.ctes[i].column_aliases.empty()) {
        out += "(";
        for (size_t j = 0; j < q.ctes[i].column_aliases.size(); ++j) {
          out += (j ? ", " : "") + q.ctes[i].column_aliases[j];
        }
        out += ")";
      }
      out += " AS (" + Dump(*q.ctes[i].query) + ")";
    }
    out += " ";
  }
  out += Dump(q.body);
  if (!q.order_by.empty()) {
    out += " ORDER BY ";
    for (size_t i = 0; i < q.order_by.size(); ++i) {
      const OrderItem& item = q.order_by[i];
      if (i) out += ", ";
      out += Dump(item.expr);
      if (item.descending) out += " DESC";
      if (item.nulls_first) out += *item.nulls_first ? " NULLS FIRST" : " NULLS LAST";
    }
  }
  if (q.limit) out += " LIMIT " + Dump(q.limit);
  if (q.offset) out += " OFFSET " + Dump(q.offset);
  return out;
}

// ---- Helpers --------------------------------------------------------------------

Statement ParseOne(const std::string& sql) {
  auto result = ParseScript(sql);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  if (!result.ok()) return Statement{};
  EXPECT_EQ(result->size(), 1u);
  if (result->empty()) return Statement{};
  return (*result)[0];
}

/// The statement's query, dumped.
std::string Q(const std::string& sql) {
  Statement s = ParseOne(sql);
  if (!s.query) return "<no query>";
  return Dump(*s.query);
}

/// The expression, dumped.
std::string E(const std::string& text) {
  auto result = ParseExpression(text);
  if (!result.ok()) return "ERROR: " + result.status().message();
  return Dump(*result);
}

/// The error message of a script that must fail.
std::string Err(const std::string& sql) {
  auto result = ParseScript(sql);
  if (result.ok()) return "<parsed fine>";
  EXPECT_TRUE(result.status().IsInvalid()) << result.status().ToString();
  return result.status().message();
}

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

// ---- Lexer ----------------------------------------------------------------------

TEST(LexerTest, TokensAndLocations) {
  auto tokens =
      Tokenize("SELECT a,\n  'it''s' -- c\n /* x /* nested */ */ 1.5e3 \"Q\"\"x\"");
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 7u);
  EXPECT_EQ((*tokens)[0].text, "SELECT");
  EXPECT_EQ((*tokens)[2].text, ",");
  EXPECT_EQ((*tokens)[3].kind, TokenKind::kString);
  EXPECT_EQ((*tokens)[3].value, "it's");
  EXPECT_EQ((*tokens)[3].loc.line, 2);
  EXPECT_EQ((*tokens)[3].loc.column, 3);
  EXPECT_EQ((*tokens)[4].kind, TokenKind::kNumber);
  EXPECT_EQ((*tokens)[4].text, "1.5e3");
  EXPECT_EQ((*tokens)[5].value, "Q\"x");
  EXPECT_TRUE((*tokens)[5].quoted);
  EXPECT_EQ((*tokens)[6].kind, TokenKind::kEnd);
}

TEST(LexerTest, LongestOperatorsWin) {
  auto tokens = Tokenize("a::int<=b<>c!=d=>e:=f||g==h");
  ASSERT_TRUE(tokens.ok());
  std::vector<std::string> ops;
  for (const auto& t : *tokens) {
    if (t.kind == TokenKind::kOperator) ops.push_back(t.text);
  }
  EXPECT_EQ(ops,
            (std::vector<std::string>{"::", "<=", "<>", "!=", "=>", ":=", "||", "=="}));
}

TEST(LexerTest, EscapeStrings) {
  auto tokens = Tokenize(R"(E'a\tb\'c\\' e'\n')");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)[0].value, "a\tb'c\\");
  EXPECT_EQ((*tokens)[1].value, "\n");
}

TEST(LexerTest, ColumnsCountCharactersNotBytes) {
  auto tokens = Tokenize("'é' x");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)[1].loc.column, 5);
}

TEST(LocationTest, ToString) { EXPECT_EQ((Location{3, 14}).ToString(), "line 3:14"); }

// ---- Statements -------------------------------------------------------------------

TEST(ParserTest, ScriptSplitsStatementsAndKeepsText) {
  auto result = ParseScript(";; SELECT 1 ;\n\n  SELECT 'a;b'  -- done\n;;");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->size(), 2u);
  EXPECT_EQ((*result)[0].text, "SELECT 1");
  EXPECT_EQ((*result)[0].loc.ToString(), "line 1:4");
  EXPECT_EQ((*result)[1].text, "SELECT 'a;b'");
  EXPECT_EQ((*result)[1].loc.ToString(), "line 3:3");
  EXPECT_EQ((*result)[1].kind, StatementKind::kQuery);
}

TEST(ParserTest, EmptyScript) {
  auto result = ParseScript("  -- nothing\n ; ");
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->empty());
}

TEST(ParserTest, SelectCoreClauses) {
  EXPECT_EQ(Q("select distinct a, b AS x, c y FROM t WHERE a > 1 GROUP BY a, 2 "
              "HAVING count(*) > 1"),
            "SELECT DISTINCT a, b AS x, c AS y FROM t WHERE (a > 1) GROUP BY a, 2 "
            "HAVING (count(*) > 1)");
  EXPECT_EQ(Q("SELECT ALL 1"), "SELECT 1");
  EXPECT_EQ(Q("SELECT a \"My Alias\", b AS 'str' FROM t"),
            "SELECT a AS My Alias, b AS str FROM t");
}

TEST(ParserTest, StarItems) {
  EXPECT_EQ(Q("SELECT *, t.*, \"T\".* FROM t"), "SELECT *, t.*, T.* FROM t");
}

TEST(ParserTest, IdentifiersKeepTheirCase) {
  Statement s = ParseOne("SELECT MyCol, T.Other FROM MyTable");
  EXPECT_EQ(Dump(*s.query), "SELECT MyCol, T.Other FROM MyTable");
}

TEST(ParserTest, GroupByAll) {
  Statement s = ParseOne("SELECT a, sum(b) FROM t GROUP BY ALL");
  const auto& group_by = s.query->body->select.group_by;
  ASSERT_EQ(group_by.size(), 1u);
  EXPECT_EQ(group_by[0]->kind, ExprKind::kStar);
}

TEST(ParserTest, OrderByLimitOffset) {
  EXPECT_EQ(
      Q("SELECT a FROM t ORDER BY a DESC NULLS LAST, b ASC, 2 NULLS FIRST "
        "LIMIT 10 OFFSET 5"),
      "SELECT a FROM t ORDER BY a DESC NULLS LAST, b, 2 NULLS FIRST LIMIT 10 OFFSET 5");
  EXPECT_EQ(Q("SELECT a FROM t OFFSET 5 LIMIT 10"), "SELECT a FROM t LIMIT 10 OFFSET 5");
  EXPECT_EQ(Q("SELECT a FROM t LIMIT ALL"), "SELECT a FROM t");
  EXPECT_EQ(Q("SELECT a FROM t OFFSET 3 ROWS"), "SELECT a FROM t OFFSET 3");
}

TEST(ParserTest, SetOperationsPrecedence) {
  EXPECT_EQ(Q("SELECT 1 UNION SELECT 2 INTERSECT SELECT 3 EXCEPT SELECT 4"),
            "{{SELECT 1} UNION {{SELECT 2} INTERSECT {SELECT 3}}} EXCEPT {SELECT 4}");
  EXPECT_EQ(Q("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3"),
            "{{SELECT 1} UNION ALL {SELECT 2}} UNION ALL {SELECT 3}");
}

TEST(ParserTest, ParenthesizedQueries) {
  EXPECT_EQ(Q("(SELECT a FROM t ORDER BY a LIMIT 1) UNION ALL (SELECT b FROM u) "
              "ORDER BY 1"),
            "{(SELECT a FROM t ORDER BY a LIMIT 1)} UNION ALL {(SELECT b FROM u)} "
            "ORDER BY 1");
  Statement s = ParseOne("((SELECT 1))");
  EXPECT_EQ(s.query->body->kind, QueryNode::Kind::kQuery);
}

TEST(ParserTest, CommonTableExpressions) {
  EXPECT_EQ(
      Q("WITH a AS (SELECT 1), b(x, y) AS (SELECT 1, 2) SELECT * FROM a, b"),
      "WITH a AS (SELECT 1), b(x, y) AS (SELECT 1, 2) SELECT * FROM (a CROSS JOIN b)");
}

TEST(ParserTest, Locations) {
  Statement s = ParseOne("SELECT a,\n  b + 1 FROM\n 'x.csv'");
  const auto& core = s.query->body->select;
  EXPECT_EQ(s.query->loc.ToString(), "line 1:1");
  EXPECT_EQ(s.query->body->loc.ToString(), "line 1:1");
  EXPECT_EQ(core.items[1].expr->loc.ToString(), "line 2:3");
  EXPECT_EQ(core.items[1].expr->args[1]->loc.ToString(), "line 2:7");
  EXPECT_EQ(core.from->loc.ToString(), "line 3:2");
}

// ---- Table references ---------------------------------------------------------------

TEST(ParserTest, UriTables) {
  EXPECT_EQ(Q("SELECT * FROM 'data/*.csv'"), "SELECT * FROM 'data/*.csv'");
  EXPECT_EQ(Q("SELECT * FROM 'x.csv' WITH (delimiter = ';', header false) AS t(a, b)"),
            "SELECT * FROM 'x.csv'{delimiter=;; header=false} AS t(a, b)");
  EXPECT_EQ(Q("SELECT * FROM 'x.csv' t WITH (header)"),
            "SELECT * FROM 'x.csv'{header=true} AS t");
}

TEST(ParserTest, OptionValues) {
  Statement s = ParseOne(
      "SELECT * FROM 'k' WITH (kafka.group_id = 'g', 'quoted key' 'v', n 42, neg -1, "
      "f 1.5, b TRUE, z NULL, format parquet, cols {'a': 'INT', b: 'VARCHAR'}, "
      "l ['a', 'b'], p ('x', 'y'), e => 1, c := 2)");
  const auto& options = s.query->body->select.from->options;
  EXPECT_EQ(DumpOptions(options),
            "kafka.group_id=g; quoted key=v; n=42; neg=-1; f=1.5; b=true; z=; "
            "format=parquet; cols=a=INT,b=VARCHAR; l=a,b; p=x,y; e=1; c=2");
  EXPECT_EQ(options[0].position, "line 1:25");
}

TEST(ParserTest, MapOptionsKeepCommasEqualsAndQuotes) {
  Statement s = ParseOne(
      "SELECT * FROM 'k' WITH (headers {'X-List': 'a,b=c', 'X-Quote': 'say \"hi\" "
      "''x''', "
      "'k=1': 'v\\w'}, plain 'a=1,b=2')");
  const auto& options = s.query->body->select.from->options;
  ASSERT_EQ(options.size(), 2u);
  EXPECT_TRUE(options[0].map);
  EXPECT_FALSE(options[1].map);
  std::vector<OptionSpec> specs = {{"headers", OptionType::kMap, "", ""},
                                   {"plain", OptionType::kMap, "", ""}};
  ASSERT_OK_AND_ASSIGN(auto validated, Options::Validate(specs, options, "test"));
  using Entries = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(
      validated.GetMap("headers"),
      (Entries{{"X-List", "a,b=c"}, {"X-Quote", "say \"hi\" 'x'"}, {"k=1", "v\\w"}}));
  EXPECT_EQ(validated.GetMap("plain"), (Entries{{"a", "1"}, {"b", "2"}}));
}

TEST(ParserTest, NamedTables) {
  EXPECT_EQ(Q("SELECT * FROM my_view v"), "SELECT * FROM my_view AS v");
  EXPECT_EQ(Q("SELECT * FROM main.events AS e"), "SELECT * FROM main.events AS e");
}

TEST(ParserTest, TableFunctions) {
  Statement s = ParseOne(
      "SELECT * FROM Read_CSV('a.csv', delim = ';', header => true, "
      "columns := {'a': 'INT'}) AS r");
  const auto& from = s.query->body->select.from;
  EXPECT_EQ(from->kind, TableKind::kFunction);
  EXPECT_EQ(Dump(from), "read_csv('a.csv'; delim=;; header=true; columns=a=INT) AS r");
  EXPECT_EQ(from->options[0].position, "line 1:33");
  EXPECT_EQ(Q("SELECT * FROM generate_series(1, 10)"),
            "SELECT * FROM generate_series(1, 10)");
  EXPECT_EQ(Q("SELECT * FROM f()"), "SELECT * FROM f()");
}

TEST(ParserTest, Subqueries) {
  Statement s = ParseOne("SELECT * FROM (SELECT 1 AS x) AS s(y)");
  EXPECT_EQ(s.query->body->select.from->kind, TableKind::kSubquery);
  EXPECT_EQ(Dump(*s.query), "SELECT * FROM (SELECT 1 AS x) AS s(y)");
  EXPECT_EQ(Q("SELECT * FROM ((SELECT 1) UNION (SELECT 2)) u"),
            "SELECT * FROM ({(SELECT 1)} UNION {(SELECT 2)}) AS u");
}

TEST(ParserTest, Joins) {
  EXPECT_EQ(Q("SELECT * FROM a JOIN b ON a.x = b.x INNER JOIN c USING (x, y)"),
            "SELECT * FROM ((a JOIN b ON (a.x = b.x)) JOIN c USING (x, y))");
  EXPECT_EQ(
      Q("SELECT * FROM a LEFT OUTER JOIN b ON true RIGHT JOIN c ON true "
        "FULL JOIN d ON true CROSS JOIN e"),
      "SELECT * FROM ((((a LEFT JOIN b ON TRUE) RIGHT JOIN c ON TRUE) FULL JOIN d ON "
      "TRUE) CROSS JOIN e)");
  EXPECT_EQ(Q("SELECT * FROM a LEFT JOIN b USING (k)"),
            "SELECT * FROM (a LEFT JOIN b USING (k))");
}

TEST(ParserTest, CommaBindsLooserThanJoin) {
  EXPECT_EQ(Q("SELECT * FROM a, b JOIN c ON true"),
            "SELECT * FROM (a CROSS JOIN (b JOIN c ON TRUE))");
  EXPECT_EQ(Q("SELECT * FROM (a JOIN b ON true) JOIN c ON true"),
            "SELECT * FROM ((a JOIN b ON TRUE) JOIN c ON TRUE)");
}

TEST(ParserTest, ParenthesizedJoinStartingWithASubquery) {
  EXPECT_EQ(Q("SELECT * FROM ((SELECT 1 AS k) s JOIN t USING (k)) j"),
            "SELECT * FROM ((SELECT 1 AS k) AS s JOIN t USING (k)) AS j");
  EXPECT_EQ(Q("SELECT * FROM ((SELECT 1) UNION ALL (SELECT 2))"),
            "SELECT * FROM ({(SELECT 1)} UNION ALL {(SELECT 2)})");
}

TEST(ParserTest, MaterializedCte) {
  EXPECT_EQ(Q("WITH a AS MATERIALIZED (SELECT 1), b AS NOT MATERIALIZED (SELECT 2) "
              "SELECT * FROM a"),
            "WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a");
}

TEST(ParserTest, JoinLocationIsItsStart) {
  Statement s = ParseOne("SELECT * FROM a JOIN b ON true");
  EXPECT_EQ(s.query->body->select.from->loc.ToString(), "line 1:15");
}

// ---- Statement kinds ----------------------------------------------------------------

TEST(ParserTest, IntoAfterQuery) {
  Statement s = ParseOne(
      "SELECT a FROM t ORDER BY a LIMIT 3 INTO 'out.parquet' WITH (compression zstd)");
  EXPECT_EQ(s.kind, StatementKind::kInto);
  EXPECT_EQ(s.targets[0].uri, "out.parquet");
  EXPECT_EQ(s.targets[0].loc.ToString(), "line 1:41");
  EXPECT_EQ(DumpOptions(s.targets[0].options), "compression=zstd");
  EXPECT_EQ(Dump(*s.query), "SELECT a FROM t ORDER BY a LIMIT 3");
}

TEST(ParserTest, IntoPostgresPosition) {
  Statement s = ParseOne("SELECT a INTO 'out.csv' FROM t WHERE a > 1");
  EXPECT_EQ(s.kind, StatementKind::kInto);
  EXPECT_EQ(s.targets[0].uri, "out.csv");
  EXPECT_EQ(Dump(*s.query), "SELECT a FROM t WHERE (a > 1)");
}

TEST(ParserTest, Copy) {
  Statement s = ParseOne("COPY (SELECT * FROM t) TO 'out.csv' (FORMAT csv, HEADER)");
  EXPECT_EQ(s.kind, StatementKind::kCopy);
  EXPECT_EQ(s.targets[0].uri, "out.csv");
  EXPECT_EQ(DumpOptions(s.targets[0].options), "FORMAT=csv; HEADER=true");
  EXPECT_EQ(Dump(*s.query), "SELECT * FROM t");

  s = ParseOne("COPY events TO 'e.parquet' WITH (format 'parquet')");
  EXPECT_EQ(Dump(*s.query), "SELECT * FROM events");
  EXPECT_EQ(DumpOptions(s.targets[0].options), "format=parquet");

  s = ParseOne("COPY 'in.csv' TO 'out.json'");
  EXPECT_EQ(Dump(*s.query), "SELECT * FROM 'in.csv'");
  EXPECT_TRUE(s.targets[0].options.empty());
}

TEST(ParserTest, Explain) {
  Statement s = ParseOne("EXPLAIN ANALYZE SELECT 1 INTO 'x.csv'");
  EXPECT_EQ(s.kind, StatementKind::kExplain);
  EXPECT_TRUE(s.analyze);
  ASSERT_TRUE(s.inner);
  EXPECT_EQ(s.inner->kind, StatementKind::kInto);
  EXPECT_EQ(s.inner->text, "SELECT 1 INTO 'x.csv'");
  EXPECT_EQ(s.text, "EXPLAIN ANALYZE SELECT 1 INTO 'x.csv'");
  s = ParseOne("explain select 1");
  EXPECT_FALSE(s.analyze);
}

TEST(ParserTest, Describe) {
  Statement s = ParseOne("DESCRIBE 'x.csv' WITH (header true)");
  EXPECT_EQ(s.kind, StatementKind::kDescribe);
  EXPECT_EQ(Dump(*s.query), "SELECT * FROM 'x.csv'{header=true}");
  EXPECT_EQ(Q("DESC read_csv('a.csv', delim = ',')"),
            "SELECT * FROM read_csv('a.csv'; delim=,)");
  EXPECT_EQ(Q("DESCRIBE my_view"), "SELECT * FROM my_view");
  // Delta's DESCRIBE HISTORY: a query of the table's commits. `history` alone is a name.
  Statement h = ParseOne("DESCRIBE HISTORY 'delta://t' WITH (region 'eu')");
  EXPECT_EQ(h.kind, StatementKind::kQuery);
  EXPECT_EQ(h.query->body->select.from->kind, TableKind::kFunction);
  EXPECT_EQ(h.query->body->select.from->name, "delta_history");
  EXPECT_EQ(h.query->body->select.from->options.size(), 1u);
  EXPECT_EQ(Q("DESCRIBE history"), "SELECT * FROM history");
  EXPECT_EQ(Q("DESCRIBE SELECT a FROM t"), "SELECT a FROM t");
  EXPECT_EQ(Q("DESCRIBE (SELECT a FROM t)"), "(SELECT a FROM t)");
}

TEST(ParserTest, Views) {
  Statement s = ParseOne("CREATE OR REPLACE VIEW v AS SELECT 1");
  EXPECT_EQ(s.kind, StatementKind::kCreateView);
  EXPECT_EQ(s.name, "v");
  EXPECT_TRUE(s.or_replace);
  EXPECT_EQ(Dump(*s.query), "SELECT 1");
  s = ParseOne("create view V2 as with x as (select 1) select * from x");
  EXPECT_FALSE(s.or_replace);
  EXPECT_EQ(s.name, "V2");
  s = ParseOne("DROP VIEW IF EXISTS v");
  EXPECT_EQ(s.kind, StatementKind::kDropView);
  EXPECT_TRUE(s.if_exists);
  EXPECT_EQ(s.name, "v");
  s = ParseOne("DROP VIEW v");
  EXPECT_FALSE(s.if_exists);
}

// ---- Expressions ------------------------------------------------------------------

TEST(ExpressionTest, Literals) {
  EXPECT_EQ(E("NULL"), "NULL");
  EXPECT_EQ(E("true"), "TRUE");
  EXPECT_EQ(E("FALSE"), "FALSE");
  EXPECT_EQ(E("42"), "42");
  EXPECT_EQ(E("1.5"), "dec:1.5");
  EXPECT_EQ(E("1e3"), "dec:1e3");
  EXPECT_EQ(E(".5"), "dec:.5");
  EXPECT_EQ(E("'it''s'"), "'it's'");
  EXPECT_EQ(E("E'a\\nb'"), "'a\nb'");
}

TEST(ExpressionTest, TypedLiterals) {
  EXPECT_EQ(E("DATE '2024-01-31'"), "DATE '2024-01-31'");
  EXPECT_EQ(E("timestamp '2024-01-31 10:00:00'"), "TIMESTAMP '2024-01-31 10:00:00'");
  EXPECT_EQ(E("INTERVAL '1 day'"), "INTERVAL '1 day'");
  EXPECT_EQ(E("INTERVAL 1 DAY"), "INTERVAL '1 day'");
  EXPECT_EQ(E("interval '2' Hours"), "INTERVAL '2 hours'");
  EXPECT_EQ(E("date"), "date");  // a column named date
  EXPECT_EQ(E("date(x)"), "date(x)");
}

TEST(ExpressionTest, ColumnRefs) {
  EXPECT_EQ(E("a"), "a");
  EXPECT_EQ(E("t.a"), "t.a");
  EXPECT_EQ(E("s.t.a"), "s.t.a");
  EXPECT_EQ(E("\"Quoted Col\""), "Quoted Col");
  auto e = ParseExpression("t.\"A b\"");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->table, "t");
  EXPECT_EQ((*e)->name, "A b");
}

TEST(ExpressionTest, ArithmeticPrecedence) {
  EXPECT_EQ(E("1 + 2 * 3 - 4 / 5 % 6"), "((1 + (2 * 3)) - ((4 / 5) % 6))");
  EXPECT_EQ(E("a || b + c"), "(a || (b + c))");
  EXPECT_EQ(E("-a * b"), "((- a) * b)");
  EXPECT_EQ(E("- - +1"), "(- (- (+ 1)))");
  EXPECT_EQ(E("(1 + 2) * 3"), "((1 + 2) * 3)");
}

TEST(ExpressionTest, ComparisonOperators) {
  EXPECT_EQ(E("a == b"), "(a = b)");
  EXPECT_EQ(E("a != b"), "(a <> b)");
  EXPECT_EQ(E("a <> b"), "(a <> b)");
  EXPECT_EQ(E("a <= b + 1"), "(a <= (b + 1))");
  EXPECT_EQ(E("a >= b AND c < d OR e > f"), "(((a >= b) AND (c < d)) OR (e > f))");
}

TEST(ExpressionTest, BooleanPrecedence) {
  EXPECT_EQ(E("NOT a = b AND c"), "((NOT (a = b)) AND c)");
  EXPECT_EQ(E("a OR b AND c"), "(a OR (b AND c))");
  EXPECT_EQ(E("NOT NOT a"), "(NOT (NOT a))");
  EXPECT_EQ(E("NOT a IS NULL"), "(NOT (a IS NULL))");
}

TEST(ExpressionTest, IsPredicates) {
  EXPECT_EQ(E("a IS NULL"), "(a IS NULL)");
  EXPECT_EQ(E("a IS NOT NULL"), "(a IS NOT NULL)");
  EXPECT_EQ(E("a ISNULL"), "(a IS NULL)");
  EXPECT_EQ(E("a NOTNULL"), "(a IS NOT NULL)");
  EXPECT_EQ(E("a = b IS TRUE"), "((a = b) IS TRUE)");
  EXPECT_EQ(E("a IS NOT FALSE"), "(a IS NOT FALSE)");
  EXPECT_EQ(E("a IS DISTINCT FROM b + 1"), "(a IS DISTINCT FROM (b + 1))");
  EXPECT_EQ(E("a IS NOT DISTINCT FROM b"), "(a IS NOT DISTINCT FROM b)");
  auto e = ParseExpression("x IS TRUE");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, ExprKind::kIsBool);
  EXPECT_EQ((*e)->lit_kind, LiteralKind::kBool);
  EXPECT_EQ((*e)->text, "true");
}

TEST(ExpressionTest, BetweenInLike) {
  EXPECT_EQ(E("a BETWEEN 1 AND 2 + 3 AND b"), "((a BETWEEN 1 AND (2 + 3)) AND b)");
  EXPECT_EQ(E("a NOT BETWEEN b AND c"), "(a NOT BETWEEN b AND c)");
  EXPECT_EQ(E("a IN (1, 2, 3)"), "(a IN (1, 2, 3))");
  EXPECT_EQ(E("a NOT IN ('x')"), "(a NOT IN ('x'))");
  EXPECT_EQ(E("a LIKE 'x%' || y"), "(a LIKE ('x%' || y))");
  EXPECT_EQ(E("a NOT ILIKE 'x'"), "(a NOT ILIKE 'x')");
  EXPECT_EQ(E("a = 1 AND b IN (1) OR c LIKE 'z'"),
            "(((a = 1) AND (b IN (1))) OR (c LIKE 'z'))");
}

TEST(ExpressionTest, FunctionCalls) {
  EXPECT_EQ(E("COUNT(*)"), "count(*)");
  EXPECT_EQ(E("count(DISTINCT x)"), "count(DISTINCT x)");
  EXPECT_EQ(E("Sum(ALL x)"), "sum(x)");
  EXPECT_EQ(E("random()"), "random()");
  EXPECT_EQ(E("coalesce(a, b, 1)"), "coalesce(a, b, 1)");
  EXPECT_EQ(E("left(s, 2) || right(s, 1)"), "(left(s, 2) || right(s, 1))");
  auto e = ParseExpression("count(*)");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ((*e)->args.size(), 1u);
  EXPECT_EQ((*e)->args[0]->kind, ExprKind::kStar);
}

TEST(ExpressionTest, Case) {
  EXPECT_EQ(E("CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END"),
            "(CASE WHEN a THEN 1 WHEN b THEN 2 ELSE 3 END)");
  EXPECT_EQ(E("case x when 1 then 'a' end"), "(CASE x WHEN 1 THEN 'a' END)");
  auto e = ParseExpression("CASE x WHEN 1 THEN 2 ELSE 3 END");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE((*e)->has_operand);
  EXPECT_TRUE((*e)->has_else);
  EXPECT_EQ((*e)->args.size(), 4u);
}

TEST(ExpressionTest, Casts) {
  EXPECT_EQ(E("CAST(a AS int)"), "CAST(a AS INT)");
  EXPECT_EQ(E("TRY_CAST(a AS Decimal(10, 2))"), "TRY_CAST(a AS DECIMAL(10,2))");
  EXPECT_EQ(E("a::varchar(20)::text"), "CAST(CAST(a AS VARCHAR(20)) AS TEXT)");
  EXPECT_EQ(E("-a::double precision"), "(- CAST(a AS DOUBLE PRECISION))");
  EXPECT_EQ(E("CAST(a AS timestamp with time zone)"),
            "CAST(a AS TIMESTAMP WITH TIME ZONE)");
  EXPECT_EQ(E("CAST(a AS timestamp without time zone)"), "CAST(a AS TIMESTAMP)");
  EXPECT_EQ(E("a::int[]"), "CAST(a AS INT[])");
  EXPECT_EQ(E("1 + a::bigint"), "(1 + CAST(a AS BIGINT))");
}

TEST(ExpressionTest, SpecialFunctions) {
  EXPECT_EQ(E("EXTRACT(YEAR FROM d)"), "extract('year', d)");
  EXPECT_EQ(E("SUBSTRING(s FROM 2 FOR 3)"), "substring(s, 2, 3)");
  EXPECT_EQ(E("substring(s FROM 2)"), "substring(s, 2)");
  EXPECT_EQ(E("substring(s, 2, 3)"), "substring(s, 2, 3)");
  EXPECT_EQ(E("POSITION('a' IN s)"), "position('a', s)");
  EXPECT_EQ(E("TRIM(s)"), "trim(s)");
  EXPECT_EQ(E("TRIM(BOTH 'x' FROM s)"), "trim(s, 'x')");
  EXPECT_EQ(E("TRIM(LEADING FROM s)"), "ltrim(s)");
  EXPECT_EQ(E("trim(trailing 'y' from s)"), "rtrim(s, 'y')");
  EXPECT_EQ(E("trim(s, 'z')"), "trim(s, 'z')");
}

TEST(ExpressionTest, CurrentTimeFunctions) {
  EXPECT_EQ(E("CURRENT_DATE"), "current_date()");
  EXPECT_EQ(E("current_timestamp"), "current_timestamp()");
  EXPECT_EQ(E("NOW()"), "now()");
  EXPECT_EQ(E("now"), "now()");
  EXPECT_EQ(E("now() - INTERVAL '1 hour'"), "(now() - INTERVAL '1 hour')");
}

// ---- Errors -------------------------------------------------------------------------

TEST(ErrorTest, ExpectedTokenWithCaret) {
  EXPECT_EQ(Err("SELECT 1;\nSELECT count(* FROM t"),
            "syntax error at line 2:16: expected ')' but found 'FROM'\n"
            "  SELECT count(* FROM t\n"
            "                 ^");
}

TEST(ErrorTest, EndOfInput) {
  EXPECT_EQ(Err("SELECT (1 + 2"),
            "syntax error at line 1:14: expected ')' but found end of input\n"
            "  SELECT (1 + 2\n"
            "               ^");
}

TEST(ErrorTest, MisspelledStatementKeyword) {
  EXPECT_EQ(
      Err("SELEC 1"),
      "syntax error at line 1:1: expected a statement (SELECT, WITH, COPY, EXPLAIN, "
      "DESCRIBE, CREATE VIEW, CREATE TABLE, DROP VIEW, DROP TABLE, SHOW TABLES, SET, "
      "OPTIMIZE, VACUUM) but "
      "found 'SELEC'\n"
      "  SELEC 1\n"
      "  ^");
}

TEST(ErrorTest, SelectFrom) {
  EXPECT_EQ(Err("SELECT FROM t"),
            "syntax error at line 1:8: expected an expression but found 'FROM'\n"
            "  SELECT FROM t\n"
            "         ^");
}

TEST(ErrorTest, TrailingGarbage) {
  EXPECT_EQ(FirstLine(Err("SELECT a b c FROM t")),
            "syntax error at line 1:12: expected ';' or end of input but found 'c'");
  EXPECT_EQ(FirstLine(Err("SELECT 1 )")),
            "syntax error at line 1:10: expected ';' or end of input but found ')'");
}

TEST(ErrorTest, UnterminatedString) {
  EXPECT_EQ(Err("SELECT 'abc"),
            "syntax error at line 1:8: unterminated string literal\n"
            "  SELECT 'abc\n"
            "         ^");
}

TEST(ErrorTest, UnterminatedCommentAndIdentifier) {
  EXPECT_EQ(FirstLine(Err("SELECT 1 /* never closed")),
            "syntax error at line 1:10: unterminated /* comment");
  EXPECT_EQ(FirstLine(Err("SELECT \"abc")),
            "syntax error at line 1:8: unterminated quoted identifier");
  EXPECT_EQ(FirstLine(Err("SELECT \"\"")),
            "syntax error at line 1:8: zero-length quoted identifier \"\"");
}

TEST(ErrorTest, UnknownCharacter) {
  EXPECT_EQ(Err("SELECT a # b"),
            "syntax error at line 1:10: unexpected character '#'\n"
            "  SELECT a # b\n"
            "           ^");
  EXPECT_EQ(FirstLine(Err(std::string("SELECT \x01"))),
            "syntax error at line 1:8: unexpected character '\\x01'");
}

TEST(ErrorTest, CaretKeepsTabs) {
  EXPECT_EQ(Err("\tSELECT\t)"),
            "syntax error at line 1:9: expected an expression but found ')'\n"
            "  \tSELECT\t)\n"
            "  \t      \t^");
}

TEST(ErrorTest, StringTokenIsDescribed) {
  EXPECT_EQ(
      FirstLine(Err("SELECT 1 'x'")),
      "syntax error at line 1:10: expected ';' or end of input but found string 'x'");
}

TEST(ParserTest, SubqueriesInExpressions) {
  ExprPtr where = ParseOne("SELECT * FROM t WHERE a NOT IN (SELECT b FROM u)")
                      .query->body->select.where;
  ASSERT_EQ(where->kind, ExprKind::kIn);
  EXPECT_TRUE(where->negated);
  ASSERT_NE(where->subquery, nullptr);
  EXPECT_EQ(Dump(*where->subquery), Q("SELECT b FROM u"));
  ExprPtr exists = ParseOne("SELECT 1 WHERE NOT EXISTS (SELECT * FROM u WHERE u.k = 1)")
                       .query->body->select.where;
  ASSERT_EQ(exists->kind, ExprKind::kUnary);
  EXPECT_EQ(exists->args[0]->kind, ExprKind::kExists);
  ExprPtr scalar =
      ParseOne("SELECT f((SELECT max(x) FROM u)) + 1").query->body->select.items[0].expr;
  EXPECT_EQ(Dump(scalar), "(f((" + Q("SELECT max(x) FROM u") + ")) + 1)");
  EXPECT_EQ(FirstLine(Err("SELECT * FROM t WHERE a IN (SELECT b FROM")),
            "syntax error at line 1:42: expected a table (a 'file' path, a name, a table "
            "function or a subquery) but found end of input");
}

TEST(ErrorTest, ClauseErrors) {
  EXPECT_EQ(FirstLine(Err("SELECT * FROM")),
            "syntax error at line 1:14: expected a table (a 'file' path, a name, a table "
            "function or a subquery) but found end of input");
  EXPECT_EQ(FirstLine(Err("SELECT * FROM a JOIN b")),
            "syntax error at line 1:23: expected ON or USING after the joined table but "
            "found end of input");
  EXPECT_EQ(FirstLine(Err("SELECT a FROM t GROUP a")),
            "syntax error at line 1:23: expected BY but found 'a'");
  EXPECT_EQ(FirstLine(Err("SELECT a FROM t ORDER BY a NULLS MIDDLE")),
            "syntax error at line 1:34: expected FIRST or LAST but found 'MIDDLE'");
  EXPECT_EQ(FirstLine(Err("SELECT 1 UNION 2")),
            "syntax error at line 1:16: expected SELECT or '(' but found '2'");
  EXPECT_EQ(FirstLine(Err("SELECT a AS FROM t")),
            "syntax error at line 1:13: expected an alias after AS but found 'FROM'");
}

TEST(ErrorTest, ExpressionErrors) {
  EXPECT_EQ(
      FirstLine(Err("SELECT CASE WHEN a THEN 1")),
      "syntax error at line 1:26: expected WHEN, ELSE or END but found end of input");
  EXPECT_EQ(FirstLine(Err("SELECT CASE END")),
            "syntax error at line 1:13: expected an expression but found 'END'");
  EXPECT_EQ(FirstLine(Err("SELECT CAST(a int)")),
            "syntax error at line 1:15: expected AS but found 'int'");
  EXPECT_EQ(
      FirstLine(Err("SELECT a IS 5")),
      "syntax error at line 1:13: expected NULL, TRUE or FALSE after IS but found '5'");
  EXPECT_EQ(FirstLine(Err("SELECT a BETWEEN 1 OR 2")),
            "syntax error at line 1:20: expected AND but found 'OR'");
  EXPECT_EQ(FirstLine(Err("SELECT INTERVAL 3 fortnights")),
            "syntax error at line 1:19: expected an interval unit (e.g. DAY) but found "
            "'fortnights'");
  EXPECT_EQ(FirstLine(Err("SELECT 1 +")),
            "syntax error at line 1:11: expected an expression but found end of input");
  EXPECT_EQ(FirstLine(Err("SELECT x::")),
            "syntax error at line 1:11: expected a type name but found end of input");
}

TEST(ErrorTest, StatementErrors) {
  EXPECT_EQ(
      FirstLine(Err("SELECT 1 INTO out")),
      "syntax error at line 1:15: expected a string literal target after INTO (e.g. "
      "INTO 'out.parquet') but found 'out'");
  EXPECT_EQ(FirstLine(Err("COPY t 'x.csv'")),
            "syntax error at line 1:8: expected TO but found string 'x.csv'");
  EXPECT_EQ(FirstLine(Err("CREATE TABLE t (a INT)")),
            "syntax error at line 1:16: expected AS but found '('");
  EXPECT_EQ(FirstLine(Err("DROP VIEW IF v")),
            "syntax error at line 1:14: expected EXISTS but found 'v'");
  EXPECT_EQ(
      FirstLine(Err("SELECT * FROM (SELECT a INTO 'x' FROM t)")),
      "syntax error at line 1:25: INTO is only allowed once, in the outermost SELECT");
  EXPECT_EQ(FirstLine(Err("SELECT a INTO 'x' FROM t INTO 'y'")),
            "syntax error at line 1:26: INTO is given twice");
  EXPECT_EQ(
      FirstLine(Err("EXPLAIN")),
      "syntax error at line 1:8: expected a statement (SELECT, WITH, COPY, EXPLAIN, "
      "DESCRIBE, CREATE VIEW, CREATE TABLE, DROP VIEW, DROP TABLE, SHOW TABLES, SET, "
      "OPTIMIZE, VACUUM) but "
      "found end of input");
}

TEST(ErrorTest, StandaloneExpression) {
  EXPECT_EQ(E("a b"),
            "ERROR: syntax error at line 1:3: expected end of input but found 'b'\n"
            "  a b\n"
            "    ^");
  EXPECT_EQ(E(""),
            "ERROR: syntax error at line 1:1: expected an expression but found end "
            "of input\n  \n  ^");
}

TEST(ErrorTest, OptionErrors) {
  EXPECT_EQ(FirstLine(Err("SELECT * FROM 'x' WITH (a = )")),
            "syntax error at line 1:29: expected an option value (a literal, a name, a "
            "{map} or a [list]) but found ')'");
  EXPECT_EQ(FirstLine(Err("SELECT * FROM 'x' WITH (a 1")),
            "syntax error at line 1:28: expected ')' but found end of input");
  EXPECT_EQ(FirstLine(Err("SELECT * FROM 'x' WITH ({'a': 1})")),
            "syntax error at line 1:25: expected an option name but found '{'");
}

TEST(ErrorTest, UnsupportedFeatures) {
  EXPECT_EQ(
      FirstLine(Err("SELECT * FROM a NATURAL CROSS JOIN b")),
      "syntax error at line 1:31: expected INNER, LEFT, RIGHT or FULL after NATURAL "
      "but found 'JOIN'");
  EXPECT_EQ(FirstLine(Err("SELECT * FROM a NATURAL b")),
            "syntax error at line 1:25: expected JOIN after NATURAL but found 'b'");
  EXPECT_EQ(FirstLine(Err("SELECT DISTINCT ON (a) a FROM t")),
            "DISTINCT ON lists are not supported yet at line 1:17");
  EXPECT_EQ(Q("SELECT 1 EXCEPT ALL SELECT 2 INTERSECT ALL SELECT 3"),
            "{SELECT 1} EXCEPT ALL {{SELECT 2} INTERSECT ALL {SELECT 3}}");
  EXPECT_EQ(FirstLine(Err("WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r")),
            "recursive common table expressions are not supported yet at line 1:6");
}

TEST(ParserTest, WindowFunctions) {
  Statement st = ParseOne(
      "SELECT sum(a) OVER (w ORDER BY b DESC ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), "
      "row_number() OVER w FROM t WINDOW w AS (PARTITION BY c) QUALIFY x = 1");
  const auto& select = st.query->body->select;
  const auto& over = select.items[0].expr->over;
  ASSERT_NE(over, nullptr);
  EXPECT_EQ(over->name, "w");
  ASSERT_EQ(over->order_by.size(), 1u);
  EXPECT_TRUE(over->order_by[0].descending);
  EXPECT_TRUE(over->has_frame);
  EXPECT_TRUE(over->rows);
  EXPECT_EQ(over->start.kind, FrameBound::Kind::kPreceding);
  EXPECT_EQ(over->start.offset, 2);
  EXPECT_EQ(over->end.kind, FrameBound::Kind::kCurrentRow);
  EXPECT_EQ(select.items[1].expr->over->name, "w");
  ASSERT_EQ(select.windows.size(), 1u);
  EXPECT_EQ(select.windows[0].first, "w");
  EXPECT_EQ(select.windows[0].second->partition_by.size(), 1u);
  ASSERT_NE(select.qualify, nullptr);
  EXPECT_EQ(FirstLine(Err(
                "SELECT sum(a) OVER (ROWS BETWEEN x PRECEDING AND CURRENT ROW) FROM t")),
            "syntax error at line 1:34: expected a frame bound but found 'x'");
}

TEST(ErrorTest, ErrorOnLaterLineOfMultiLineStatement) {
  EXPECT_EQ(Err("SELECT a,\n       b\n  FROM t\n WHERE a = = 1"),
            "syntax error at line 4:12: expected an expression but found '='\n"
            "   WHERE a = = 1\n"
            "             ^");
}

TEST(ErrorTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(5000, '(');
  EXPECT_EQ(FirstLine(Err("SELECT " + deep + "1")).rfind("syntax error at line 1:", 0),
            0u);
  EXPECT_NE(Err("SELECT " + deep + "1").find("nested too deeply"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "NOT ";
  EXPECT_NE(Err("SELECT " + nots + "1").find("nested too deeply"), std::string::npos);
  std::string queries;
  for (int i = 0; i < 3000; ++i) queries += "(";
  EXPECT_NE(Err(queries + "SELECT 1").find("nested too deeply"), std::string::npos);
  std::string from = "SELECT * FROM ";
  for (int i = 0; i < 3000; ++i) from += "(SELECT * FROM ";
  EXPECT_NE(Err(from + "t").find("nested too deeply"), std::string::npos);
}

TEST(ErrorTest, ModerateNestingIsFine) {
  std::string sql = "SELECT " + std::string(300, '(') + "1" + std::string(300, ')');
  EXPECT_TRUE(ParseScript(sql).ok());
  std::string chain = "SELECT 1";
  for (int i = 0; i < 2000; ++i) chain += " + 1";
  EXPECT_TRUE(ParseScript(chain).ok());
}

TEST(ErrorTest, NestingJustBelowTheLimitsIsFine) {
  // 990 parentheses: the recursion limit is 1000 levels.
  std::string parens = "SELECT " + std::string(990, '(') + "1" + std::string(990, ')');
  auto result = ParseScript(parens);
  EXPECT_TRUE(result.ok()) << FirstLine(result.status().message());
  // A left-deep chain of 4900 operators: the tree height limit is 5000.
  std::string chain = "SELECT 1";
  for (int i = 0; i < 4900; ++i) chain += " OR 1";
  result = ParseScript(chain);
  EXPECT_TRUE(result.ok()) << FirstLine(result.status().message());
}

TEST(ErrorTest, VeryLongChainsAreBounded) {
  std::string chain = "SELECT 1";
  for (int i = 0; i < 20000; ++i) chain += " OR 1";
  EXPECT_NE(Err(chain).find("nested too deeply"), std::string::npos);
}

TEST(ErrorTest, NeverCrashesOnPrefixes) {
  // Every prefix of a statement exercising most of the grammar parses or fails
  // cleanly.
  std::string sql =
      "WITH c(x) AS (SELECT 1) SELECT DISTINCT a.b AS x, count(*), CAST(y AS INT), "
      "CASE WHEN z IS NOT NULL THEN 1 ELSE 2 END, EXTRACT(year FROM d), "
      "TRIM(LEADING 'x' FROM s), INTERVAL '1' DAY FROM 'f.csv' WITH (h true, m {'a': 1}) "
      "f JOIN read_csv('x', d = ';') r USING (k) LEFT JOIN (SELECT 1) s ON s.a = f.b "
      "WHERE a NOT BETWEEN 1 AND 2 AND b IN (1, 2) OR c ILIKE 'x%' GROUP BY ALL HAVING "
      "sum(a) > 1 UNION ALL SELECT * FROM t ORDER BY 1 DESC NULLS FIRST LIMIT 1 OFFSET 2 "
      "INTO 'out.csv' WITH (header)";
  ASSERT_TRUE(ParseScript(sql).ok()) << ParseScript(sql).status().ToString();
  for (size_t i = 0; i < sql.size(); ++i) {
    auto result = ParseScript(sql.substr(0, i));
    if (!result.ok()) EXPECT_TRUE(result.status().IsInvalid());
  }
}

TEST(ErrorTest, RandomMutationsNeverCrash) {
  // Deletes, duplicates and swaps characters of valid statements; every result must
  // parse or fail with a positioned message ending in a caret line.
  const std::vector<std::string> corpus = {
      "SELECT a, b AS x FROM 'f.csv' WITH (h true) t JOIN u ON t.a = u.a WHERE a > 1",
      "WITH c AS (SELECT 1) SELECT count(DISTINCT x) FROM c GROUP BY ALL ORDER BY 1",
      "COPY (SELECT CAST(a AS DECIMAL(10,2)) FROM read_csv('x', d = ';')) TO 'o' (F csv)",
      "SELECT CASE x WHEN 1 THEN 'a' END, EXTRACT(day FROM d), a::int[] FROM t",
      "EXPLAIN SELECT a FROM t WHERE a NOT IN (1, 2) AND b BETWEEN 1 AND 2 LIMIT 3",
      "DESCRIBE read_json('x', columns = {'a': 'INT'}); DROP VIEW IF EXISTS v",
      "SELECT \"Q\" FROM (SELECT 1) s UNION (SELECT 2) INTO 'x' WITH (a [1, 2])",
  };
  const std::string alphabet = "()'\",;.*:=-/ \nSELCTFROMaz019{}[]\"";
  std::mt19937 rng(42);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string sql = corpus[rng() % corpus.size()];
    int edits = 1 + rng() % 4;
    for (int i = 0; i < edits && !sql.empty(); ++i) {
      size_t at = rng() % sql.size();
      switch (rng() % 3) {
        case 0:
          sql.erase(at, 1 + rng() % 5);
          break;
        case 1:
          sql.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          std::swap(sql[at], sql[rng() % sql.size()]);
          break;
      }
    }
    auto result = ParseScript(sql);
    if (result.ok()) continue;
    const std::string& message = result.status().message();
    ASSERT_TRUE(result.status().IsInvalid()) << sql;
    ASSERT_NE(message.find(" at line "), std::string::npos) << message;
    ASSERT_EQ(message.back(), '^') << message;
  }
}

}  // namespace
}  // namespace flowsql::sql
