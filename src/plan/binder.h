// Binds a parsed query to connectors and columns, producing a logical plan.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sql_types.h"
#include "common/text.h"
#include "flowsql/connector.h"
#include "plan/plan.h"
#include "plan/settings.h"
#include "sql/ast.h"

namespace flowsql::plan {

/// Views by lower-case name.
using ViewMap = std::map<std::string, std::shared_ptr<sql::Query>>;
/// Tables (CREATE TABLE ... AS, kept in memory) by lower-case name.
using TableMap = std::map<std::string, std::shared_ptr<arrow::Table>>;
/// Sources registered under a name (Engine::RegisterSource), by lower-case name.
using SourceMap = std::map<std::string, std::shared_ptr<Source>>;

/// Runs a bound query that reads no outer column to completion (the engine's
/// executor); the binder turns the result into a constant.
using SubqueryRunner =
    std::function<Result<std::shared_ptr<arrow::Table>>(const PlanPtr& root)>;

class Binder {
 public:
  /// REQUIRES: registry and views outlive the binder.
  Binder(const Registry* registry, const ViewMap* views)
      : registry_(registry), views_(views) {}

  /// Lets uncorrelated subqueries run at bind time; without it they are an error.
  void set_subquery_runner(SubqueryRunner runner) { runner_ = std::move(runner); }
  /// Lets FROM name read the session's tables. REQUIRES: `tables` outlives the binder.
  void set_tables(const TableMap* tables) { tables_ = tables; }
  /// Lets FROM name read the session's registered sources. REQUIRES: `sources`
  /// outlives the binder.
  void set_sources(const SourceMap* sources) { sources_ = sources; }
  /// The session's settings (TimeZone). REQUIRES: `settings` outlives the binder.
  void set_settings(const Settings* settings) { settings_ = settings; }
  /// The statement's stop token, given to the sources the binder makes.
  void set_stop(arrow::StopToken stop) { stop_ = std::move(stop); }

  /// Binds a query. The plan's root schema carries the user-visible column names.
  Result<PlanPtr> BindQuery(const sql::Query& query);

  struct Column {
    std::string qualifier;  // table alias or name, may be empty
    std::string name;       // user-visible name
    std::string internal;   // unique internal name
    std::shared_ptr<arrow::DataType> type;
    bool hidden = false;  // not expanded by `*` nor found unqualified (USING columns)
    bool star = true;     // expanded by `*` (false: a source's hidden columns)
  };
  struct Scope {
    std::vector<Column> columns;
    const Scope* outer = nullptr;  // unused for now: no correlated subqueries
  };
  struct Relation {
    PlanPtr plan;
    Scope scope;
  };
  struct CteFrame {
    std::map<std::string, const sql::CommonTableExpr*> ctes;
  };

  /// Binding over a GROUP BY: group keys and aggregate results by canonical text,
  /// and the input columns that are group keys.
  struct AggContext {
    const Scope* input = nullptr;
    std::map<std::string, std::string> by_text;        // canonical text -> internal
    std::map<std::string, std::string> key_by_column;  // input internal -> key internal
  };
  /// An expression bound to a scope, with its type.
  struct Bound {
    arrow::compute::Expression expr;
    std::shared_ptr<arrow::DataType> type;
  };
  /// A subquery's WHERE split by what it reads: its own FROM only (local), an
  /// equality of an inner and an outer expression (keys), or anything else reading
  /// the outer query (residual).
  struct Correlation {
    const sql::Query* query = nullptr;
    const sql::SelectCore* select = nullptr;
    Relation inner;  // the subquery's FROM, unfiltered
    std::vector<sql::ExprPtr> local, inner_keys, outer_keys, residual;
  };

 private:
  Result<Relation> BindQueryRelation(const sql::Query& query);
  Result<Relation> BindNode(const sql::QueryNode& node);
  Result<Relation> BindSelect(const sql::SelectCore& select,
                              const sql::Query* outer_query, bool* order_applied);
  Result<Relation> BindTable(const sql::TableRef& ref);
  Result<Relation> BindSource(const sql::TableRef& ref);
  /// A scan of `source` whose columns are qualified by `qualifier`.
  Result<Relation> BindScan(std::shared_ptr<Source> source, const std::string& connector,
                            ConnectorArgs args, const std::string& qualifier);
  Result<Relation> BindJoin(const sql::TableRef& ref);
  /// Joins `leaves` (inputs of inner joins) under `conditions` (ON and WHERE
  /// conjuncts): one input's conditions filter it, equalities become keys, the
  /// others residual conditions. Conditions it cannot place go to `leftover`. The
  /// scope lists the inputs' columns in `leaves` order; `widths` (when given)
  /// receives how many each input has.
  Result<Relation> BindJoinGraph(const std::vector<const sql::TableRef*>& leaves,
                                 const std::vector<sql::ExprPtr>& conditions,
                                 std::vector<sql::ExprPtr>* leftover,
                                 std::vector<size_t>* widths = nullptr);
  /// GROUPING SETS / ROLLUP / CUBE: `agg` (grouped by every key) once per set,
  /// the keys a set leaves out NULL, the grouping() columns constant, in a union;
  /// each set joins its own DISTINCT aggregates (JoinDistinctAggregates).
  Result<PlanPtr> GroupingSetsUnion(const PlanPtr& agg,
                                    const std::vector<std::vector<int>>& sets,
                                    const std::vector<sql::ExprPtr>& group_exprs,
                                    const sql::SelectCore& select,
                                    const sql::Query* query, AggContext* ctx,
                                    std::vector<Column>* agg_cols,
                                    const std::vector<AggregateCall>& distinct_aggs);
  // Window functions (bind_window.cc).
  /// A window with its WINDOW clause reference (OVER (w ORDER BY ...)) resolved.
  Result<sql::WindowSpec> ResolveWindow(const sql::WindowSpec& spec,
                                        const sql::SelectCore& select);
  /// Adds a kWindow node computing the window calls of the select list, QUALIFY and
  /// ORDER BY over `rel` (after any aggregation); BindExpr then finds them by text.
  Result<Relation> BindWindows(Relation rel, const sql::SelectCore& select,
                               const sql::Query* query, AggContext* agg);
  /// unnest(list) in the select list: a kUnnest node over `rel` that the call then
  /// reads (found by its text, as window calls are). One distinct call at most.
  Result<Relation> BindUnnest(Relation rel, const sql::SelectCore& select,
                              AggContext* agg);
  /// sum(DISTINCT x) and the like: each computed over the distinct (keys, x) of
  /// `agg`'s input and left-joined to `agg` (which loses their columns) on the keys.
  Result<PlanPtr> JoinDistinctAggregates(const PlanPtr& agg,
                                         const std::vector<AggregateCall>& calls);
  /// An aggregate computed from its group's collected values (aggregates.h): what
  /// `collect` gathers per row (several arguments as one struct), and the scalar
  /// function over the collected list that finishes it.
  struct Collected {
    Bound element;
    std::function<arrow::compute::Expression(arrow::compute::Expression list)> finish;
    std::shared_ptr<arrow::DataType> type;  // the finished value's
  };
  /// string_agg, list, median, quantiles, mode, arg_min/max, corr, covar_*, regr_*,
  /// with ORDER BY or WITHIN GROUP where they take one (bind_aggregate.cc). Nothing
  /// when `call` is another aggregate.
  Result<std::optional<Collected>> BindCollected(const sql::Expr& call,
                                                 const Scope& scope);
  /// The condition of agg(...) FILTER (WHERE cond), NULL taken as false.
  Result<Bound> BindFilterCondition(const sql::Expr& call, const Scope& scope);
  /// Filters `rel` by `cond` (boolean, or a bare NULL that keeps no row), bound over
  /// its scope (through `agg` after a GROUP BY); `clause` names it in errors.
  Result<Relation> ApplyCondition(Relation rel, const sql::Expr& cond,
                                  const std::string& clause, AggContext* agg);
  /// Filters `rel` by each conjunct (boolean, or a bare NULL that keeps no row).
  Result<Relation> ApplyWhere(Relation rel, const std::vector<sql::ExprPtr>& conjuncts);
  /// The join inputs (bits, by `owner` of each internal column) `e` reads.
  Result<uint64_t> LeafMask(const sql::Expr& e, const Scope& all,
                            const std::map<std::string, int>& owner);
  /// Joins two relations on key pairs (cast to a common type) and a residual
  /// condition over both. Semi and anti joins keep only one side's columns.
  Result<Relation> MakeJoin(Relation left, Relation right, arrow::acero::JoinType type,
                            std::vector<Bound> lkeys, std::vector<Bound> rkeys,
                            std::vector<arrow::compute::Expression> residual,
                            const sql::Location& loc);
  Result<Relation> BindSetOp(const sql::QueryNode& node);
  /// `rel` with a row per element of `lists` (bound over its scope), zipped: as
  /// many rows as the longest list, the others NULL past their end; the elements
  /// as last, hidden columns named `texts`. Lists all NULL or empty give no row.
  Result<Relation> UnnestLists(Relation rel, const std::vector<Bound>& lists,
                               const std::vector<std::string>& texts,
                               const sql::Location& loc);
  /// `e` with each unqualified name that `scope` lacks but a select item's alias
  /// has replaced by that item's expression (QUALIFY r = 1, HAVING total > 10).
  sql::ExprPtr WithAliases(const sql::ExprPtr& e, const sql::SelectCore& select,
                           const Scope& scope);
  Result<Relation> BindValues(const sql::QueryNode& node);
  Result<Relation> ApplyOrderLimit(Relation rel, const sql::Query& query,
                                   const std::vector<std::string>& names);

 public:
  /// Binds an expression. `scope` holds the columns the result may reference; with
  /// `agg`, column references must be group keys (resolved through agg->input).
  Result<Bound> BindExpr(const sql::Expr& expr, const Scope& scope, AggContext* agg);

 private:
  Result<Bound> BindFunction(const sql::Expr& expr, const Scope& scope, AggContext* agg);
  Result<Bound> Call(const std::string& function, std::vector<Bound> args,
                     const Scope& scope, const sql::Location& loc,
                     std::shared_ptr<arrow::compute::FunctionOptions> options = nullptr);
  Result<Bound> CastTo(Bound value, const std::shared_ptr<arrow::DataType>& type,
                       const Scope& scope, const sql::Location& loc);
  /// The casts a time zone takes part in (to or from TIMESTAMPTZ), through the
  /// session's zone as DuckDB does; nothing for the others.
  Result<std::optional<Bound>> CastZoned(Bound value,
                                         const std::shared_ptr<arrow::DataType>& type,
                                         const Scope& scope, const sql::Location& loc);
  /// json->path / json->>path (as_text): the JSON text (a string's value) at a
  /// constant path, key or array index.
  Result<Bound> JsonExtract(Bound json, const sql::Expr& path, bool as_text,
                            const Scope& scope, const sql::Location& loc);
  /// value (DATE or TIMESTAMP) +/- a constant INTERVAL: months by the calendar,
  /// then days and time; a DATE becomes a TIMESTAMP.
  Result<Bound> AddInterval(Bound value, const Bound& interval, bool subtract,
                            const Scope& scope, const sql::Location& loc);
  // Subqueries (bind_subquery.cc).
  Result<int> Sides(const sql::Expr& e, const Scope& inner, const Scope& outer);
  /// Nothing when the subquery reads no column of `outer`.
  /// `lateral` admits ORDER BY, LIMIT and OFFSET (BindLateral ranks within each
  /// correlated group).
  Result<std::optional<Correlation>> Correlate(const sql::Query& query,
                                               const Scope& outer, bool lateral = false);
  Result<std::shared_ptr<arrow::Table>> RunSubquery(const sql::Query& query,
                                                    const sql::Location& loc);
  /// kSubquery, kExists and kIn over a subquery inside an expression.
  Result<Bound> BindSubquery(const sql::Expr& e, const Scope& scope, AggContext* agg);
  Result<Bound> BindCorrelatedScalar(const sql::Expr& e, const Correlation& c,
                                     const Scope& scope);
  /// Binds a subquery's SELECT on its own: nothing it reads joins onto the
  /// relation an outer expression is bound over.
  Result<Relation> BindDetached(const sql::SelectCore& select);
  /// Joins to *rel the aggregates `items` (of the correlated subquery `c`, without
  /// GROUP BY) grouped by its inner keys, left-joined on the outer keys: the
  /// returned values read each *rel row's group, or the items' value over no row.
  Result<std::vector<Bound>> JoinAggregates(Relation* rel, const Correlation& c,
                                            const std::vector<sql::SelectItem>& items,
                                            const sql::Location& loc);
  /// `left` joined (INNER or LEFT_OUTER) with `ref`, a LATERAL subquery or table
  /// function that reads `left`'s columns: decorrelated into a join on the
  /// correlation's equalities, never run once per row.
  Result<Relation> BindLateral(Relation left, const sql::TableRef& ref,
                               arrow::acero::JoinType type, const sql::ExprPtr& on);
  /// `left` joined with a connector's table function called once per row (a kLateral
  /// node). Its columns are those of the call for the first row with no NULL
  /// argument, which runs `left` once when the statement is bound.
  Result<Relation> BindLateralCall(Relation left, const sql::TableRef& ref,
                                   arrow::acero::JoinType type);
  /// A read's validated options (WITH, named arguments), with its function's presets.
  Result<Options> SourceOptions(const ConnectorSpec& spec,
                                const sql::TableRef& ref) const;
  /// A WHERE conjunct [NOT] EXISTS / IN over a correlated subquery becomes a semi or
  /// anti join of *rel; false when the conjunct is not one.
  Result<bool> JoinSubquery(Relation* rel, const sql::Expr& conjunct);

  /// A DECIMAL with one more digit (below 38), so rounding it cannot overflow
  /// (9.99 rounds to 10.0); any other value as it is.
  Result<Bound> RoomToRound(Bound value, const Scope& scope, const sql::Location& loc);
  Result<const Column*> Resolve(const Scope& scope, const std::string& table,
                                const std::string& name, const sql::Location& loc);

 public:
  std::string NewName(const std::string& base);

 private:
  /// The zone TIMESTAMPTZ values are shown, cast and taken apart in.
  std::string TimeZone() const { return settings_ ? settings_->time_zone : "UTC"; }
  /// A window node of this session: it spills beyond a quarter of memory_limit.
  PlanPtr WindowNode(PlanPtr input) const;
  /// A TIMESTAMPTZ as the same instants labelled with the session's zone, so that
  /// Arrow's field extraction, truncation and formatting see its wall clock; any
  /// other value as it is.
  Result<Bound> InSessionZone(Bound value, const Scope& scope, const sql::Location& loc);

  SubqueryRunner runner_;
  const TableMap* tables_ = nullptr;
  const SourceMap* sources_ = nullptr;
  const Settings* settings_ = nullptr;
  arrow::StopToken stop_ = arrow::StopToken::Unstoppable();
  /// Window and unnest() calls of the SELECT being bound, by canonical text ->
  /// output column.
  std::map<std::string, std::string> window_columns_;
  /// The relation a correlated scalar subquery may left-join onto while the
  /// expressions over its scope are bound (WHERE, a select list); else null.
  Relation* attach_ = nullptr;
  const Registry* registry_;
  const ViewMap* views_;
  std::vector<CteFrame> cte_stack_;
  int next_id_ = 0;
  int view_depth_ = 0;
};

/// The type the engine computes on for a column a source delivers as `type`: views,
/// large and dictionary-encoded variants become their plain forms, decimal32/64
/// become decimal128, date64 becomes date32, time32 becomes time64[us], timestamps
/// in s or ms become us (ns stay). Never loses a value; scans cast their batches on
/// the way in. (SQL type names: common/sql_types.h.)
std::shared_ptr<arrow::DataType> EngineType(const std::shared_ptr<arrow::DataType>& type);

/// Canonical text of an expression, used to match GROUP BY expressions and to name
/// unnamed result columns (DuckDB style: count_star(), (a + 1)).
std::string ExprToString(const sql::Expr& expr);

/// The type values of `types` meet in (CASE, COALESCE, UNION, join keys): integers
/// in BIGINT, integers and decimals in an exact decimal, other numbers in DOUBLE.
std::shared_ptr<arrow::DataType> CommonTypeOf(
    const std::vector<std::shared_ptr<arrow::DataType>>& types);

/// A user error that ends with " at line L:C".
Status ErrorAt(const sql::Location& loc, const std::string& message);

/// Expands GROUP BY's ROLLUP (...), CUBE (...) and GROUPING SETS (...) (with plain
/// expressions, a cross product) into `sets` of indices into `flat`, the distinct
/// grouping expressions. False (and `sets` untouched) when there is no such construct.
Result<bool> ExpandGroupingSets(const std::vector<sql::ExprPtr>& group_by,
                                std::vector<sql::ExprPtr>* flat,
                                std::vector<std::vector<int>>* sets);

/// The canonical text of an OVER clause: "(PARTITION BY a ORDER BY b DESC)".
std::string WindowToString(const sql::WindowSpec& w);

/// (a AND b) OR (a AND c) becomes a AND (b OR c), in each conjunct of `e`.
sql::ExprPtr FactorDisjunction(const sql::ExprPtr& e);

/// The conjuncts of `e` (a AND b AND c: a, b, c).
void SplitConjuncts(const sql::ExprPtr& e, std::vector<sql::ExprPtr>* out);
/// `parts` joined by `op` (AND or OR), left-deep. REQUIRES: parts is not empty.
sql::ExprPtr Combine(const std::string& op, std::vector<sql::ExprPtr> parts);

/// A select item's output name: its alias, a column's name, else the expression.
std::string ItemName(const sql::SelectItem& item);
/// True for a LATERAL subquery or table function, and for unnest() over a column.
bool IsLateral(const sql::TableRef& ref);

/// The window function calls in `e` (f(...) OVER ...), outermost ones only.
void CollectWindowCalls(const sql::Expr& e, std::vector<const sql::Expr*>* out);

/// The aggregate calls in `e` (not inside another aggregate's arguments).
void CollectAggregates(const sql::Expr& e, std::vector<const sql::Expr*>* out);

/// True for count, sum, avg, min, max and the other aggregate functions.
bool IsAggregateFunction(const std::string& name);
/// Aggregates bound by Binder::BindCollected (and their other names).
bool IsCollectedAggregate(const std::string& name);

}  // namespace flowsql::plan
