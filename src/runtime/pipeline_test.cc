#include "runtime/pipeline.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "runtime/checkpoint.h"

namespace flowsql {
namespace {

std::shared_ptr<arrow::Schema> CounterSchema() {
  return arrow::schema({arrow::field("x", arrow::int64())});
}

/// Counts 0, 1, ... in batches; its offset is the next value.
struct CounterConfig {
  int64_t rows = 100;  // -1: unbounded
  int64_t batch_size = 10;
  int64_t delay_ms = 0;             // sleep before each batch
  bool resumable = true;            // false: empty offsets
  int64_t fail_at_batch = -1;       // ReadNext fails on this batch number
  int64_t interrupt_at_batch = -1;  // sets *interrupt when returning this batch
  std::atomic<bool>* interrupt = nullptr;
};

class CounterStream : public BatchStream {
 public:
  CounterStream(CounterConfig config, int64_t next) : config_(config), next_(next) {}
  std::shared_ptr<arrow::Schema> schema() const override { return CounterSchema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (config_.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(config_.delay_ms));
    }
    if (batches_ == config_.fail_at_batch) return Status::IOError("source broke");
    int64_t n = config_.batch_size;
    if (config_.rows >= 0) n = std::min(n, config_.rows - next_);
    if (n <= 0) {
      *out = nullptr;
      return Status::OK();
    }
    arrow::Int64Builder b;
    for (int64_t i = 0; i < n; ++i) ARROW_RETURN_NOT_OK(b.Append(next_ + i));
    ARROW_ASSIGN_OR_RAISE(auto array, b.Finish());
    *out = arrow::RecordBatch::Make(CounterSchema(), n, {array});
    next_ += n;
    if (batches_ == config_.interrupt_at_batch) config_.interrupt->store(true);
    ++batches_;
    return Status::OK();
  }

  std::string offset() const override {
    return config_.resumable ? std::to_string(next_) : "";
  }

 private:
  CounterConfig config_;
  int64_t next_;
  int64_t batches_ = 0;
};

class CounterSource : public Source {
 public:
  explicit CounterSource(CounterConfig config) : config_(config) {}
  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return CounterSchema(); }
  bool bounded() const override { return config_.rows >= 0; }
  Result<std::unique_ptr<BatchStream>> Scan(const ScanRequest& request) override {
    start_offsets.push_back(request.start_offset);
    int64_t next = request.start_offset.empty() ? 0 : std::stoll(request.start_offset);
    return std::make_unique<CounterStream>(config_, next);
  }
  std::string Describe() const override { return "counter"; }

  std::vector<std::string> start_offsets;

 private:
  CounterConfig config_;
};

/// Records written and committed values; can be told to fail.
class RecordingSink : public Sink {
 public:
  Status Open(const std::shared_ptr<arrow::Schema>&) override { return Status::OK(); }
  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (writes == fail_write_at) return Status::IOError("disk full");
    ++writes;
    batch_sizes.push_back(batch->num_rows());
    auto a = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < a->length(); ++i) pending.push_back(a->Value(i));
    return Status::OK();
  }
  Status Commit() override {
    if (commits == fail_commit_at) return Status::Invalid("commit rejected");
    ++commits;
    committed.insert(committed.end(), pending.begin(), pending.end());
    commit_sizes.push_back(static_cast<int64_t>(pending.size()));
    pending.clear();
    return Status::OK();
  }
  Status Abort() override {
    ++aborts;
    pending.clear();
    return Status::OK();
  }
  std::string Describe() const override { return "recording"; }

  std::vector<int64_t> pending, committed, batch_sizes, commit_sizes;
  int64_t writes = 0, commits = 0, aborts = 0;
  int64_t fail_write_at = -1, fail_commit_at = -1;
};

std::vector<int64_t> Iota(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("flowsql_pipeline_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  PipelineOptions Checkpointed() {
    PipelineOptions o;
    o.state_dir = (dir_ / "state" / "nested").string();
    o.pipeline_id = "p1";
    return o;
  }
  std::string SavedOffset(const PipelineOptions& o) {
    return LoadOffset(o.state_dir, o.pipeline_id).ValueOrDie();
  }

  std::filesystem::path dir_;
};

TEST_F(PipelineTest, FlushByRows) {
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  PipelineOptions o;
  o.flush_rows = 30;
  std::vector<int64_t> reported;
  o.on_commit = [&](int64_t rows, int64_t bytes) {
    reported.push_back(rows);
    EXPECT_GT(bytes, 0);
  };
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 100);
  EXPECT_EQ(stats.commits, 4);
  EXPECT_EQ(sink.commit_sizes, (std::vector<int64_t>{30, 30, 30, 10}));
  EXPECT_EQ(reported, (std::vector<int64_t>{30, 60, 90, 100}));
  EXPECT_EQ(sink.committed, Iota(0, 100));
  EXPECT_EQ(stats.last_offset, "100");
}

TEST_F(PipelineTest, FlushByInterval) {
  // 12 batches of one row, 25 ms apart, committed at least every 60 ms.
  CounterSource source({.rows = 12, .batch_size = 1, .delay_ms = 25});
  RecordingSink sink;
  PipelineOptions o;
  o.flush_interval_ms = 60;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 12);
  EXPECT_GE(stats.commits, 2);
  EXPECT_LT(stats.commits, 12);
  EXPECT_EQ(sink.committed, Iota(0, 12));
}

TEST_F(PipelineTest, NoTriggerCommitsOnceAtEnd) {
  CounterSource source({.rows = 55, .batch_size = 10});
  RecordingSink sink;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, {}).ValueOrDie();
  EXPECT_EQ(stats.commits, 1);
  EXPECT_EQ(sink.committed, Iota(0, 55));
}

TEST_F(PipelineTest, EmptySourceStillCommitsOnce) {
  CounterSource source({.rows = 0});
  RecordingSink sink;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, {}).ValueOrDie();
  EXPECT_EQ(stats.commits, 1);
  EXPECT_EQ(stats.rows_written, 0);
}

TEST_F(PipelineTest, LimitSlicesTheLastBatch) {
  CounterSource source({.rows = -1, .batch_size = 10});
  RecordingSink sink;
  PipelineOptions o = Checkpointed();
  o.limit = 25;
  o.flush_rows = 10;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 25);
  EXPECT_EQ(sink.batch_sizes, (std::vector<int64_t>{10, 10, 5}));
  EXPECT_EQ(sink.committed, Iota(0, 25));
  // The sliced batch is not covered: a rerun repeats rows 20..24, never skips 25..29.
  EXPECT_EQ(SavedOffset(o), "20");
}

TEST_F(PipelineTest, LimitZeroReadsNothing) {
  CounterSource source({.rows = -1});
  RecordingSink sink;
  PipelineOptions o;
  o.limit = 0;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 0);
  EXPECT_TRUE(sink.batch_sizes.empty());
}

TEST_F(PipelineTest, InterruptCommitsPendingRows) {
  std::atomic<bool> interrupt{false};
  CounterSource source(
      {.rows = -1, .batch_size = 10, .interrupt_at_batch = 4, .interrupt = &interrupt});
  RecordingSink sink;
  PipelineOptions o = Checkpointed();
  o.flush_rows = 1000;
  o.interrupt = &interrupt;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 50);
  EXPECT_EQ(stats.commits, 1);
  EXPECT_EQ(sink.committed, Iota(0, 50));
  EXPECT_EQ(SavedOffset(o), "50");
  EXPECT_EQ(stats.last_offset, "50");
}

TEST_F(PipelineTest, InterruptFromAnotherThread) {
  std::atomic<bool> interrupt{false};
  CounterSource source({.rows = -1, .batch_size = 10, .delay_ms = 5});
  RecordingSink sink;
  PipelineOptions o;
  o.interrupt = &interrupt;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    interrupt = true;
  });
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  stopper.join();
  EXPECT_GT(stats.rows_written, 0);
  EXPECT_EQ(sink.committed, Iota(0, stats.rows_written));
  EXPECT_TRUE(sink.pending.empty());
}

TEST_F(PipelineTest, CheckpointAndResumeWithoutGapOrRepeat) {
  PipelineOptions o = Checkpointed();
  o.flush_rows = 20;
  std::vector<int64_t> all;
  {
    std::atomic<bool> interrupt{false};
    CounterSource source({.rows = 100,
                          .batch_size = 10,
                          .interrupt_at_batch = 4,
                          .interrupt = &interrupt});
    RecordingSink sink;
    o.interrupt = &interrupt;
    auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
    EXPECT_EQ(stats.rows_written, 50);
    EXPECT_EQ(SavedOffset(o), "50");
    all = sink.committed;
  }
  {
    std::atomic<bool> interrupt{false};
    CounterSource source({.rows = 100, .batch_size = 10});
    RecordingSink sink;
    o.interrupt = &interrupt;
    auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
    EXPECT_EQ(source.start_offsets, (std::vector<std::string>{"50"}));
    EXPECT_EQ(stats.rows_written, 50);
    all.insert(all.end(), sink.committed.begin(), sink.committed.end());
  }
  EXPECT_EQ(all, Iota(0, 100));
  EXPECT_EQ(SavedOffset(o), "100");
  // No temporary files are left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(o.state_dir)) {
    EXPECT_EQ(e.path().filename(), "p1.offset");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(PipelineTest, PreexistingCheckpointIsHonoured) {
  PipelineOptions o = Checkpointed();
  ASSERT_TRUE(SaveOffset(o.state_dir, o.pipeline_id, "70").ok());
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(source.start_offsets, (std::vector<std::string>{"70"}));
  EXPECT_EQ(sink.committed, Iota(70, 100));
  EXPECT_EQ(stats.last_offset, "100");
}

TEST_F(PipelineTest, FailingCommitAbortsAndKeepsTheOldCheckpoint) {
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  sink.fail_commit_at = 1;  // the second commit fails
  PipelineOptions o = Checkpointed();
  o.flush_rows = 30;
  std::vector<int64_t> reported;
  o.on_commit = [&](int64_t rows, int64_t) { reported.push_back(rows); };
  auto result = RunPipeline(&source, {}, nullptr, &sink, o);
  ASSERT_FALSE(result.ok());
  EXPECT_FALSE(IsUserError(result.status())) << result.status().ToString();
  EXPECT_NE(result.status().message().find("commit rejected"), std::string::npos);
  EXPECT_GE(sink.aborts, 1);
  EXPECT_TRUE(sink.pending.empty());
  EXPECT_EQ(sink.committed, Iota(0, 30));
  EXPECT_EQ(reported, (std::vector<int64_t>{30}));
  EXPECT_EQ(SavedOffset(o), "30");
}

TEST_F(PipelineTest, FailingWriteAborts) {
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  sink.fail_write_at = 4;
  PipelineOptions o = Checkpointed();
  o.flush_rows = 20;
  auto result = RunPipeline(&source, {}, nullptr, &sink, o);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsIOError());
  EXPECT_EQ(sink.aborts, 1);
  EXPECT_EQ(sink.committed, Iota(0, 40));
  EXPECT_EQ(SavedOffset(o), "40");
}

TEST_F(PipelineTest, FailingSourceAborts) {
  CounterSource source({.rows = 100, .batch_size = 10, .fail_at_batch = 3});
  RecordingSink sink;
  PipelineOptions o = Checkpointed();
  o.flush_rows = 20;
  auto result = RunPipeline(&source, {}, nullptr, &sink, o);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("source broke"), std::string::npos);
  EXPECT_EQ(sink.aborts, 1);
  EXPECT_EQ(sink.committed, Iota(0, 20));
  EXPECT_EQ(SavedOffset(o), "20");
}

TEST_F(PipelineTest, NonResumableSourceWritesNoCheckpoint) {
  CounterSource source({.rows = 50, .batch_size = 10, .resumable = false});
  RecordingSink sink;
  PipelineOptions o = Checkpointed();
  o.flush_rows = 10;
  auto stats = RunPipeline(&source, {}, nullptr, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 50);
  EXPECT_EQ(stats.last_offset, "");
  EXPECT_FALSE(std::filesystem::exists(CheckpointPath(o.state_dir, o.pipeline_id)));
}

TEST_F(PipelineTest, TransformFiltersAndProjects) {
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  PipelineOptions o = Checkpointed();
  o.limit = 15;
  // Keeps only batches whose first value is a multiple of 20.
  BatchTransform keep_even_batches = [](const std::shared_ptr<arrow::RecordBatch>& batch)
      -> Result<std::shared_ptr<arrow::RecordBatch>> {
    auto a = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    if (a->Value(0) % 20 != 0) return nullptr;
    return batch;
  };
  auto stats = RunPipeline(&source, {}, keep_even_batches, &sink, o).ValueOrDie();
  EXPECT_EQ(stats.rows_written, 15);
  std::vector<int64_t> expected = Iota(0, 10);
  for (int64_t i = 20; i < 25; ++i) expected.push_back(i);
  EXPECT_EQ(sink.committed, expected);
  // Rows 10..19 were filtered out; the sliced batch 20..29 is not covered.
  EXPECT_EQ(SavedOffset(o), "20");
}

TEST_F(PipelineTest, TransformErrorAborts) {
  CounterSource source({.rows = 100, .batch_size = 10});
  RecordingSink sink;
  BatchTransform failing = [](const std::shared_ptr<arrow::RecordBatch>&)
      -> Result<std::shared_ptr<arrow::RecordBatch>> {
    return Status::Invalid("cannot cast 'x' to INT");
  };
  auto result = RunPipeline(&source, {}, failing, &sink, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(sink.aborts, 1);
}

TEST_F(PipelineTest, LoadOffsetWithoutStateIsEmpty) {
  EXPECT_EQ(LoadOffset("", "p").ValueOrDie(), "");
  EXPECT_EQ(LoadOffset((dir_ / "missing").string(), "p").ValueOrDie(), "");
  EXPECT_FALSE(LoadOffset(dir_.string(), "../escape").ok());
}

TEST_F(PipelineTest, SaveOffsetReplacesAtomically) {
  std::string state = (dir_ / "s").string();
  ASSERT_TRUE(SaveOffset(state, "p", "{\"partition\": 3,\n \"pos\": 17}").ok());
  ASSERT_TRUE(SaveOffset(state, "p", "42").ok());
  EXPECT_EQ(LoadOffset(state, "p").ValueOrDie(), "42");
}

TEST_F(PipelineTest, UnwritableStateDirIsARuntimeError) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  CounterSource source({.rows = 10, .batch_size = 10});
  RecordingSink sink;
  PipelineOptions o;
  o.state_dir = (dir_ / "file" / "state").string();
  o.pipeline_id = "p";
  auto result = RunPipeline(&source, {}, nullptr, &sink, o);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsIOError()) << result.status().ToString();
  EXPECT_EQ(sink.committed, Iota(0, 10));  // committed data is kept
}

}  // namespace
}  // namespace flowsql
