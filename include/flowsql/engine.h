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
#include <memory>
#include <string>
#include <vector>

#include "flowsql/connector.h"
#include "flowsql/status.h"

namespace flowsql {

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

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Make(EngineOptions options = {});
  ~Engine();

  /// Splits and parses every statement in `sql`. Errors name line:column.
  Result<std::vector<std::shared_ptr<ParsedStatement>>> Parse(const std::string& sql);
  /// Plans and starts one statement.
  Result<std::unique_ptr<StatementResult>> Execute(const ParsedStatement& statement);
  /// Parse + Execute for a script of exactly one statement.
  Result<std::unique_ptr<StatementResult>> Query(const std::string& sql);

  const Registry& registry() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Reads a whole result into a table.
Result<std::shared_ptr<arrow::Table>> ReadAll(StatementResult* result);

}  // namespace flowsql
