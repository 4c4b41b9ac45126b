// The Engine API the Python package builds on: registered tables and sources,
// per-statement options, commit reports.
#include "flowsql/engine.h"

#include <arrow/api.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <vector>

namespace flowsql {
namespace {

std::unique_ptr<Engine> MakeEngine() {
  auto engine = Engine::Make();
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return std::move(*engine);
}

std::shared_ptr<arrow::Table> RunSql(Engine* engine, const std::string& sql) {
  auto result = engine->Query(sql);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  auto table = ReadAll(result->get());
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return *table;
}

std::shared_ptr<arrow::Table> KeyValueTable() {
  arrow::Int64Builder k;
  arrow::LargeStringBuilder v;
  EXPECT_TRUE(k.AppendValues({1, 2, 3}).ok());
  EXPECT_TRUE(v.AppendValues({"a", "b", "c"}).ok());
  return arrow::Table::Make(arrow::schema({arrow::field("k", arrow::int64()),
                                           arrow::field("v", arrow::large_utf8())}),
                            {*k.Finish(), *v.Finish()});
}

TEST(EngineRegister, TableTakesTheEngineTypesAndIsReadByName) {
  auto engine = MakeEngine();
  ASSERT_TRUE(engine->RegisterTable("Kv", KeyValueTable()).ok());
  auto table = RunSql(engine.get(), "SELECT v FROM kv WHERE k >= 2 ORDER BY k");
  EXPECT_TRUE(table->schema()->Equals(*arrow::schema({arrow::field("v", arrow::utf8())})))
      << table->schema()->ToString();
  EXPECT_EQ(table->num_rows(), 2);
  // SHOW TABLES lists it; a second scan reads it again.
  EXPECT_EQ(RunSql(engine.get(), "SHOW TABLES")->num_rows(), 1);
  EXPECT_EQ(RunSql(engine.get(), "SELECT * FROM KV")->num_rows(), 3);
}

TEST(EngineRegister, ReaderSourceOpensOneReaderPerScan) {
  auto engine = MakeEngine();
  auto table = KeyValueTable();
  std::atomic<int> opened{0};
  std::shared_ptr<Source> source = MakeReaderSource(
      table->schema(),
      [&]() -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
        ++opened;
        return std::make_shared<arrow::TableBatchReader>(table);
      },
      "test reader");
  ASSERT_TRUE(engine->RegisterSource("r", source).ok());
  auto result = RunSql(engine.get(), "SELECT sum(k) AS s FROM r");
  EXPECT_EQ(result->column(0)->GetScalar(0).ValueOrDie()->ToString(), "6");
  EXPECT_EQ(RunSql(engine.get(), "SELECT v FROM r")->schema()->field(0)->type()->id(),
            arrow::Type::STRING);
  EXPECT_EQ(opened.load(), 2);
}

TEST(EngineRegister, RegisteringReplacesAndUnregisterForgets) {
  auto engine = MakeEngine();
  ASSERT_TRUE(engine->Query("CREATE VIEW t AS SELECT 1 AS x").ok());
  ASSERT_TRUE(engine->RegisterTable("t", KeyValueTable()).ok());
  EXPECT_EQ(RunSql(engine.get(), "SELECT * FROM t")->num_columns(), 2);
  ASSERT_TRUE(engine->Unregister("T").ok());
  auto gone = engine->Query("SELECT * FROM t");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(gone.status().IsKeyError()) << gone.status().ToString();
  auto again = engine->Unregister("t");
  EXPECT_TRUE(again.IsKeyError());
  EXPECT_EQ(again.message(), "nothing is registered as 't'");
}

TEST(EngineStatementOptions, StopStopsOnlyItsStatement) {
  auto engine = MakeEngine();
  auto parsed = engine->Parse("SELECT * FROM generate(batch_size => 100)");  // unbounded
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(IsQuery(*(*parsed)[0]));
  arrow::StopSource stop;
  StatementOptions options;
  options.stop = stop.token();
  auto stopped = engine->Execute(*(*parsed)[0], options);
  auto running = engine->Execute(*(*parsed)[0]);
  ASSERT_TRUE(stopped.ok() && running.ok());
  ASSERT_TRUE((*stopped)->Next().ok());
  stop.RequestStop();
  auto next = (*stopped)->Next();
  EXPECT_TRUE(next.status().IsCancelled()) << next.status().ToString();
  auto other = (*running)->Next();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->num_rows(), 100);
  (*running)->Close();
}

TEST(EngineStatementOptions, CommitReportsEpochRowsAndOffsets) {
  auto engine = MakeEngine();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("flowsql_engine_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto parsed = engine->Parse("SELECT * FROM generate(rows => 10) INTO '" + dir.string() +
                              "/out.csv'");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(IsQuery(*(*parsed)[0]));
  std::vector<PipelineCommit> commits;
  StatementOptions options;
  options.commit = [&](const PipelineCommit& commit) { commits.push_back(commit); };
  auto result = engine->Execute(*(*parsed)[0], options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].epoch, 0);
  EXPECT_EQ(commits[0].rows, 10);
  EXPECT_FALSE(commits[0].pipeline.empty());
  ASSERT_EQ(commits[0].offsets.size(), 1u);
  EXPECT_EQ(commits[0].offsets.begin()->first, "0:0/1");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flowsql
