// The runtime against an in-memory transactional sink: epochs, limits, state,
// replay of a pending epoch, and fingerprints.
#include "runtime/pipeline.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "common/test_macros.h"
#include "runtime/state.h"

namespace flowsql {
namespace {

/// 0..n-1 in one int64 column "id", split in `splits` contiguous ranges; its
/// offset is the next id. Acknowledgements are recorded.
class CountingSource : public Source {
 public:
  CountingSource(int64_t n, int splits, bool bounded = true)
      : n_(n), splits_(splits), bounded_(bounded) {}
  Result<std::shared_ptr<arrow::Schema>> GetSchema() override { return schema_; }
  bool bounded() const override { return bounded_; }
  Result<std::vector<Split>> PlanSplits(const ScanRequest&) override {
    std::vector<Split> out;
    for (int i = 0; i < splits_; ++i) {
      out.push_back({std::to_string(i), std::to_string(n_ * i / splits_) + " " +
                                            std::to_string(n_ * (i + 1) / splits_)});
    }
    return out;
  }
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override {
    long long begin, end;
    sscanf(split.payload.c_str(), "%lld %lld", &begin, &end);
    if (!range.start.empty()) begin = std::stoll(range.start);
    if (!range.end.empty()) end = std::stoll(range.end);
    return std::make_unique<Reader>(schema_, begin, end);
  }
  Status Acknowledge(const std::map<std::string, std::string>& offsets) override {
    for (const auto& [k, v] : offsets) acked[k] = v;
    return Status::OK();
  }
  std::string Describe() const override { return "counting"; }

  std::map<std::string, std::string> acked;

 private:
  class Reader : public SplitReader {
   public:
    Reader(std::shared_ptr<arrow::Schema> schema, int64_t next, int64_t end)
        : schema_(std::move(schema)), next_(next), end_(end) {}
    std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
    Result<SourceBatch> Next() override {
      if (next_ >= end_) return SourceBatch{};
      int64_t n = std::min<int64_t>(10, end_ - next_);
      arrow::Int64Builder b;
      for (int64_t i = 0; i < n; ++i) ARROW_RETURN_NOT_OK(b.Append(next_ + i));
      ARROW_ASSIGN_OR_RAISE(auto array, b.Finish());
      next_ += n;
      return SourceBatch{arrow::RecordBatch::Make(schema_, n, {array}),
                         std::to_string(next_)};
    }

   private:
    std::shared_ptr<arrow::Schema> schema_;
    int64_t next_, end_;
  };

  int64_t n_;
  int splits_;
  bool bounded_;
  std::shared_ptr<arrow::Schema> schema_ =
      arrow::schema({arrow::field("id", arrow::int64())});
};

/// Keeps committed epochs in memory, as a transactional sink would.
class MemorySink : public Sink {
 public:
  Status Open(const std::shared_ptr<arrow::Schema>&, const SinkContext& c) override {
    context = c;
    return Status::OK();
  }
  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    for (int64_t i = 0; i < batch->num_rows(); ++i) {
      pending.push_back(
          std::static_pointer_cast<arrow::Int64Array>(batch->column(0))->Value(i));
    }
    return Status::OK();
  }
  Status Commit(const Epoch& epoch) override {
    if (epochs.count(epoch.number) == 0) epochs[epoch.number] = pending;
    pending.clear();
    return Status::OK();
  }
  Status Abort() override {
    pending.clear();
    return Status::OK();
  }
  bool transactional() const override { return true; }
  Result<int64_t> LastCommittedEpoch(const std::string&) override {
    return epochs.empty() ? -1 : epochs.rbegin()->first;
  }
  std::string Describe() const override { return "memory"; }

  std::vector<int64_t> All() const {
    std::vector<int64_t> out;
    for (const auto& [e, ids] : epochs) out.insert(out.end(), ids.begin(), ids.end());
    std::sort(out.begin(), out.end());
    return out;
  }

  SinkContext context;
  std::vector<int64_t> pending;
  std::map<int64_t, std::vector<int64_t>> epochs;
};

/// The plan is the identity over the first scan.
class PullReader : public arrow::RecordBatchReader {
 public:
  explicit PullReader(BatchPull pull) : pull_(std::move(pull)) {}
  std::shared_ptr<arrow::Schema> schema() const override {
    return arrow::schema({arrow::field("id", arrow::int64())});
  }
  Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_ASSIGN_OR_RAISE(*out, pull_());
    return Status::OK();
  }

 private:
  BatchPull pull_;
};

PipelineSpec Spec(std::shared_ptr<Source> source, Sink* sink) {
  PipelineSpec spec;
  spec.name = "p";
  spec.fingerprint = "f";
  spec.scans.push_back({"0", std::move(source), {}});
  spec.schema = arrow::schema({arrow::field("id", arrow::int64())});
  spec.sinks.push_back(sink);
  spec.run_plan = [](std::vector<BatchPull> inputs)
      -> Result<std::shared_ptr<arrow::RecordBatchReader>> {
    return std::make_shared<PullReader>(inputs[0]);
  };
  return spec;
}

std::vector<int64_t> Range(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(i);
  return out;
}

struct TempDir {
  TempDir() {
    path = (std::filesystem::temp_directory_path() /
            ("flowsql_pipeline_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++)))
               .string();
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
  static inline int counter = 0;
};

TEST(Pipeline, BatchIsOneEpochOverEverySplit) {
  auto source = std::make_shared<CountingSource>(1000, 7);
  MemorySink sink;
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(Spec(source, &sink)));
  EXPECT_EQ(stats.rows_written, 1000);
  EXPECT_EQ(stats.epochs, 1);
  ASSERT_EQ(sink.epochs.size(), 1u);
  // Ordered read of bounded splits: the rows come in split order.
  EXPECT_EQ(sink.epochs[0], Range(1000));
  EXPECT_EQ(source->acked.size(), 7u);
  EXPECT_EQ(source->acked["6"], "1000");
}

TEST(Pipeline, ContinuousCutsEpochsAndStopsAtLimit) {
  auto source = std::make_shared<CountingSource>(1000000, 2, /*bounded=*/false);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  spec.continuous = true;
  spec.flush_rows = 100;
  spec.limit = 450;
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(spec));
  EXPECT_EQ(stats.rows_written, 450);
  EXPECT_GE(sink.epochs.size(), 4u);
  auto all = sink.All();
  std::set<int64_t> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), 450u);
}

TEST(Pipeline, StopCommitsTheEpochInProgress) {
  auto source = std::make_shared<CountingSource>(1000000000, 1, /*bounded=*/false);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  spec.continuous = true;
  spec.flush_interval_ms = 60000;
  arrow::StopSource stop;
  spec.stop = stop.token();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop.RequestStop();
  });
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(spec));
  stopper.join();
  EXPECT_TRUE(stats.stopped);
  EXPECT_EQ(sink.epochs.size(), 1u);
  EXPECT_GT(stats.rows_written, 0);
  EXPECT_EQ(sink.All(), Range(stats.rows_written));
}

TEST(Pipeline, StopAbortsABatchWrite) {
  auto source = std::make_shared<CountingSource>(1000, 1);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  arrow::StopSource stop;
  stop.RequestStop();
  spec.stop = stop.token();
  auto result = RunPipeline(spec);
  ASSERT_TRUE(result.status().IsCancelled()) << result.status().ToString();
  EXPECT_TRUE(sink.epochs.empty());
}

TEST(Pipeline, RestartResumesAfterTheLoggedOffsets) {
  TempDir dir;
  auto source = std::make_shared<CountingSource>(1000000, 1, /*bounded=*/false);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  spec.continuous = true;
  spec.flush_rows = 100;
  spec.limit = 300;
  spec.state_dir = dir.path;
  ASSERT_OK(RunPipeline(spec).status());
  EXPECT_FALSE(sink.context.resumed);
  // A LIMIT counts the rows of every run: 200 more.
  spec.limit = 500;
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(spec));
  EXPECT_TRUE(sink.context.resumed);
  EXPECT_EQ(stats.rows_written, 200);
  EXPECT_EQ(sink.All(), Range(500));
  ASSERT_OK_AND_ASSIGN(auto listed, ListPipelines(dir.path));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].commit->total_rows, 500);
}

TEST(Pipeline, PendingEpochIsReplayedOnlyWhereMissing) {
  TempDir dir;
  auto source = std::make_shared<CountingSource>(1000000, 1, /*bounded=*/false);
  MemorySink has, lacks;
  // A crash after the offset log of epoch 1: the log holds it, no commit does.
  {
    ASSERT_OK_AND_ASSIGN(auto state, PipelineState::Open(dir.path, "p", "f", false));
    OffsetEntry e0{0, {{"0", {"0", "0 1000000"}, {"", "100"}, false, true}}};
    OffsetEntry e1{1, {{"0", {"0", "0 1000000"}, {"100", "250"}, false, true}}};
    ASSERT_OK(state.WriteOffsets(e0));
    ASSERT_OK(state.WriteCommit(CommitEntry{0, 100, 100, 0}));
    ASSERT_OK(state.WriteOffsets(e1));
    // One process at a time.
    auto twice = PipelineState::Open(dir.path, "p", "f", false);
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.status().message().find("running in another process"),
              std::string::npos);
  }
  for (int64_t i = 0; i < 100; ++i) {
    has.epochs[0].push_back(i);
    lacks.epochs[0].push_back(i);
  }
  for (int64_t i = 100; i < 250; ++i) has.epochs[1].push_back(i);  // committed, unlogged
  auto spec = Spec(source, &has);
  spec.sinks.push_back(&lacks);
  spec.continuous = true;
  spec.flush_rows = 50;
  spec.limit = 300;  // 250 committed or replayed, then 50 more
  spec.state_dir = dir.path;
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(spec));
  EXPECT_EQ(stats.replayed, 1);
  auto replayed = Range(250);
  replayed.erase(replayed.begin(), replayed.begin() + 100);
  EXPECT_EQ(lacks.epochs[1], replayed);
  EXPECT_EQ(has.All(), Range(250 + 50));
  EXPECT_EQ(lacks.All(), Range(250 + 50));
}

TEST(Pipeline, AnotherPlanUnderTheSameNameIsRefused) {
  TempDir dir;
  auto source = std::make_shared<CountingSource>(10, 1);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  spec.state_dir = dir.path;
  ASSERT_OK(RunPipeline(spec).status());
  spec.fingerprint = "g";
  auto st = RunPipeline(spec).status();
  ASSERT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("--reset"), std::string::npos) << st.message();
  spec.reset = true;
  ASSERT_OK(RunPipeline(spec).status());
}

TEST(Pipeline, ResumedBatchWithNothingNewWritesNothing) {
  TempDir dir;
  auto source = std::make_shared<CountingSource>(10, 2);
  MemorySink sink;
  auto spec = Spec(source, &sink);
  spec.state_dir = dir.path;
  ASSERT_OK(RunPipeline(spec).status());
  ASSERT_OK_AND_ASSIGN(auto stats, RunPipeline(spec));
  EXPECT_EQ(stats.rows_written, 0);
  EXPECT_EQ(sink.epochs.size(), 1u);
}

TEST(State, PipelineNames) {
  EXPECT_OK(ValidatePipelineName("orders_to_lake-2.v1"));
  EXPECT_FALSE(ValidatePipelineName("").ok());
  EXPECT_FALSE(ValidatePipelineName("a/b").ok());
  EXPECT_FALSE(ValidatePipelineName(".hidden").ok());
}

}  // namespace
}  // namespace flowsql
