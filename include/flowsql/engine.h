// The flowsql engine: parses SQL, plans it, runs it on Arrow Acero, and moves
// batches from sources to sinks.
//
//   FLOWSQL_ASSIGN_OR_RAISE(auto engine, flowsql::Engine::Make());
//   ARROW_ASSIGN_OR_RAISE(auto reader, engine->Query("SELECT 1 AS x"));
#pragma once

#include <arrow/record_batch.h>
#include <arrow/util/cancel.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowsql/connector.h"
#include "flowsql/status.h"

namespace flowsql {

/// What a continuous pipeline has committed, reported after each commit.
struct PipelineCommit {
  /// The pipeline's name (EngineOptions::pipeline, or derived from the targets).
  std::string pipeline;
  /// The epoch just committed: 0, 1, 2, ... (a resumed pipeline goes on counting).
  int64_t epoch = 0;
  /// Rows this run has committed so far (per sink).
  int64_t rows = 0;
  /// Where each split stands after the epoch, by "<scan>:<split id>" ("0:0/1");
  /// the value is the source's offset, or "done" for a split read to its end.
  std::map<std::string, std::string> offsets;
};

struct EngineOptions {
  /// Where pipelines keep their offset and commit logs between runs
  /// (docs/delivery.md). Empty: none; every write starts afresh.
  std::string state_dir;
  /// Names the pipeline of write statements. Empty: derived from the targets.
  std::string pipeline;
  /// Forget the pipeline's state before running it.
  bool reset = false;
  /// Stops running statements (a signal handler may request it): a continuous
  /// pipeline commits its epoch in progress and returns; a batch write aborts,
  /// leaving every target as it was, and a query is cancelled (Status::Cancelled).
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
  /// Called now and then during long statements with rows and bytes moved so far,
  /// possibly from another thread (a continuous pipeline commits on one).
  std::function<void(int64_t rows, int64_t bytes)> progress;
  /// Called after each epoch a write commits, from the thread that commits.
  std::function<void(const PipelineCommit&)> commit;
};

/// Settings of one Execute() call; those left unset are the engine's
/// (EngineOptions).
struct StatementOptions {
  /// Stops this statement only, as EngineOptions::stop stops every statement.
  std::optional<arrow::StopToken> stop;
  std::function<void(int64_t rows, int64_t bytes)> progress;
  std::function<void(const PipelineCommit&)> commit;
};

/// The result of one statement, streamed. A query streams its rows; INTO and COPY
/// stream one row with the number of rows written; EXPLAIN and DESCRIBE stream text.
class StatementResult {
 public:
  virtual ~StatementResult() = default;
  virtual std::shared_ptr<arrow::Schema> schema() const = 0;
  /// Next batch, or nullptr at the end.
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Next() = 0;
  /// Stops the statement early (a consumer that has seen enough). Idempotent.
  virtual void Close() = 0;
  /// What kind of statement produced this: "query", "write", "explain", "describe".
  virtual std::string kind() const = 0;
};

/// A statement parsed from a script, with its text and position.
struct ParsedStatement;

/// True for a statement that only reads (a query, EXPLAIN, DESCRIBE, SHOW TABLES):
/// Execute() plans and starts it, and its rows come as they are read. Any other
/// statement (INTO, COPY, CREATE, DROP, SET) has done its work when Execute()
/// returns.
bool IsQuery(const ParsedStatement& statement);

/// Thread-safe: several threads may parse and execute statements at once, and
/// read their results; statements that change the session (CREATE, DROP, SET,
/// Register*) take effect for statements planned after them.
class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Make(EngineOptions options = {});
  ~Engine();

  /// Splits and parses every statement in `sql`. Errors name line:column.
  Result<std::vector<std::shared_ptr<ParsedStatement>>> Parse(const std::string& sql);
  /// Plans and starts one statement.
  Result<std::unique_ptr<StatementResult>> Execute(const ParsedStatement& statement);
  /// Execute() with settings of its own (a stop token for this statement alone).
  Result<std::unique_ptr<StatementResult>> Execute(const ParsedStatement& statement,
                                                   const StatementOptions& options);
  /// Parse + Execute for a script of exactly one statement.
  Result<std::unique_ptr<StatementResult>> Query(const std::string& sql);

  /// Makes `name` (case-insensitive) read `table` in FROM, for this engine's later
  /// statements, as CREATE OR REPLACE TABLE would: it replaces a table, view or
  /// source of that name.
  Status RegisterTable(const std::string& name, std::shared_ptr<arrow::Table> table);
  /// Makes `name` read `source` in FROM (EXPLAIN shows source->Describe()); it
  /// replaces a table, view or source of that name. Each statement that names it
  /// scans it again.
  Status RegisterSource(const std::string& name, std::shared_ptr<Source> source);
  /// Forgets a name registered by RegisterTable or RegisterSource. KeyError when
  /// there is none.
  Status Unregister(const std::string& name);

  const Registry& registry() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Reads a whole result into a table.
Result<std::shared_ptr<arrow::Table>> ReadAll(StatementResult* result);

}  // namespace flowsql
