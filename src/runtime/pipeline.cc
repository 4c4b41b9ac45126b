#include "runtime/pipeline.h"

#include <arrow/util/byte_size.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "runtime/scanner.h"
#include "runtime/state.h"

namespace flowsql {

namespace {

/// An epoch's input stops growing at this size even before its triggers fire.
constexpr int64_t kMaxEpochBytes = 64 << 20;
/// How often a wait looks at the stop token.
constexpr auto kPoll = std::chrono::milliseconds(50);

/// Kills the process at `point` when FLOWSQL_FAULT names it (and, with
/// ":<epoch>", only in that epoch). For the crash suite.
void Fault(const char* point, int64_t epoch) {
  static const char* fault = std::getenv("FLOWSQL_FAULT");
  if (fault == nullptr) return;
  std::string spec = fault;
  std::string name = spec.substr(0, spec.find(':'));
  if (name != point) return;
  if (spec.find(':') != std::string::npos &&
      std::atoll(spec.c_str() + spec.find(':') + 1) != epoch) {
    return;
  }
  ::kill(::getpid(), SIGKILL);
}

/// A sink failure is a runtime failure even when the sink reports a user-error code.
Status AsRuntimeError(const Status& st, const std::string& what) {
  if (IsUserError(st)) return Status::IOError(what, ": ", st.message());
  return st.WithMessage(what, ": ", st.message());
}

int64_t BatchBytes(const arrow::RecordBatch& batch) {
  auto referenced = arrow::util::ReferencedBufferSize(batch);
  return referenced.ok() ? *referenced : arrow::util::TotalBufferSize(batch);
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Where every known split of every scan stands: the key is (scan, split id).
using Progress = std::map<std::pair<std::string, std::string>, SplitProgress>;

class PipelineRun {
 public:
  explicit PipelineRun(const PipelineSpec& spec) : spec_(spec) {}

  Result<PipelineStats> Run() {
    Status st = RunInner();
    if (!st.ok()) {
      for (Sink* sink : spec_.sinks) (void)sink->Abort();
      return st;
    }
    return stats_;
  }

 private:
  Status RunInner() {
    if (!spec_.state_dir.empty()) {
      ARROW_ASSIGN_OR_RAISE(state_, PipelineState::Open(spec_.state_dir, spec_.name,
                                                        spec_.fingerprint, spec_.reset));
      if (state_->last_commit()) total_rows_ = state_->last_commit()->total_rows;
    }
    // Epoch numbers continue after both the logs and what sinks already hold
    // (a directory written by an earlier run without a state directory).
    for (Sink* sink : spec_.sinks) {
      int64_t last = -1;
      if (sink->transactional()) {
        ARROW_ASSIGN_OR_RAISE(last, sink->LastCommittedEpoch(spec_.name));
      }
      sink_last_.push_back(last);
      next_epoch_ = std::max(next_epoch_, last + 1);
    }
    // Resumed, per sink: an earlier run of the pipeline committed to it (an epoch
    // in the commit log, or the pending epoch already in a transactional sink). A
    // pending first epoch no sink is known to hold is written afresh.
    const auto& logged = state_ ? state_->last_offsets() : std::nullopt;
    const bool committed = state_ && state_->last_commit().has_value();
    for (size_t i = 0; i < spec_.sinks.size(); ++i) {
      SinkContext context;
      context.pipeline = spec_.name;
      context.continuous = spec_.continuous;
      context.resumed = committed || (logged && spec_.sinks[i]->transactional() &&
                                      sink_last_[i] >= logged->epoch);
      context.pending_first = logged && !committed && !context.resumed;
      ARROW_RETURN_NOT_OK(spec_.sinks[i]->Open(spec_.schema, context));
    }
    if (state_ && state_->last_offsets()) {
      const OffsetEntry& logged = *state_->last_offsets();
      ARROW_RETURN_NOT_OK(ReplayIfPending(logged));
      for (const auto& s : logged.splits) {
        SplitProgress p = s;
        p.range.start = p.range.end;
        p.read = false;
        progress_[{s.scan, s.split.id}] = std::move(p);
      }
      next_epoch_ = std::max(next_epoch_, logged.epoch + 1);
    }
    // After a replay, the replayed epoch counts as committed too.
    return spec_.continuous ? RunContinuous()
                            : RunBatch(state_ && state_->last_commit().has_value());
  }

  // ---------------------------------------------------------------------------
  // Replay

  Status ReplayIfPending(const OffsetEntry& logged) {
    const int64_t epoch = logged.epoch;
    if (state_->last_commit() && state_->last_commit()->epoch >= epoch) {
      // A crash may have come between the commit log and the acknowledgement:
      // acknowledge again (sources take a repeated acknowledgement as a no-op).
      return Acknowledge(logged);
    }
    std::vector<bool> targets;
    for (size_t i = 0; i < spec_.sinks.size(); ++i) {
      // A sink that is not transactional cannot tell: it gets the epoch again.
      targets.push_back(!spec_.sinks[i]->transactional() || sink_last_[i] < epoch);
    }
    // Sinks that hold the epoch get nothing, but the epoch is read again all the
    // same: the commit log records how many rows it holds.
    std::vector<std::vector<SplitProgress>> per_scan(spec_.scans.size());
    for (const auto& s : logged.splits) {
      if (!s.read) continue;
      int i = ScanIndex(s.scan);
      if (i < 0) return Status::IOError("offset log names an unknown scan ", s.scan);
      per_scan[i].push_back(s);
    }
    std::map<std::pair<size_t, std::string>, std::string> reached;
    // A LIMIT caps the replay as it capped the epoch: by what came before it.
    ARROW_ASSIGN_OR_RAISE(int64_t rows,
                          RunRanges(epoch, per_scan, targets, &reached, Room()));
    OffsetEntry entry = logged;
    ARROW_RETURN_NOT_OK(RecordReached(&entry, reached));
    ++stats_.replayed;
    return FinishEpoch(epoch, rows, entry);
  }

  int ScanIndex(const std::string& key) const {
    for (size_t i = 0; i < spec_.scans.size(); ++i) {
      if (spec_.scans[i].key == key) return static_cast<int>(i);
    }
    return -1;
  }

  // ---------------------------------------------------------------------------
  // Batch: one epoch over the remaining part of every split.

  /// `committed`: an earlier run committed an epoch.
  Status RunBatch(bool committed) {
    const int64_t epoch = next_epoch_;
    OffsetEntry entry;
    entry.epoch = epoch;
    std::vector<std::vector<SplitProgress>> per_scan(spec_.scans.size());
    bool any = false;
    for (size_t i = 0; i < spec_.scans.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto splits, PlanSplits(i));
      for (auto& p : splits) {
        if (!p.done) {
          p.done = true;
          p.read = true;
          p.range.end.clear();  // to the end of the split
          per_scan[i].push_back(p);
          any = true;
        }
        entry.splits.push_back(std::move(p));
      }
    }
    // A resumed pipeline with nothing new commits nothing: an empty epoch would
    // replace a single-file target with an empty one.
    if (!any && committed) {
      for (Sink* sink : spec_.sinks) (void)sink->Abort();
      return Status::OK();
    }
    ARROW_RETURN_NOT_OK(LogOffsets(entry));
    std::vector<bool> targets(spec_.sinks.size(), true);
    std::map<std::pair<size_t, std::string>, std::string> reached;
    ARROW_ASSIGN_OR_RAISE(int64_t rows,
                          RunRanges(epoch, per_scan, targets, &reached, -1));
    ARROW_RETURN_NOT_OK(RecordReached(&entry, reached));
    return FinishEpoch(epoch, rows, entry);
  }

  /// A batch epoch is logged "to the end of each split"; once read, its entry is
  /// logged again with the offsets reached, which the acknowledgement names.
  Status RecordReached(
      OffsetEntry* entry,
      const std::map<std::pair<size_t, std::string>, std::string>& reached) {
    bool changed = false;
    for (auto& s : entry->splits) {
      if (!s.read || !s.range.end.empty()) continue;
      auto it = reached.find({static_cast<size_t>(ScanIndex(s.scan)), s.split.id});
      if (it == reached.end()) continue;
      s.range.end = it->second;
      changed = true;
    }
    if (changed && state_) ARROW_RETURN_NOT_OK(state_->WriteOffsets(*entry));
    return Status::OK();
  }

  /// The splits scan `i` plans now, with where each stands: resumed after its
  /// logged offset, done, or new (from its beginning).
  Result<std::vector<SplitProgress>> PlanSplits(size_t i) {
    const PipelineScan& scan = spec_.scans[i];
    ARROW_ASSIGN_OR_RAISE(auto splits, scan.source->PlanSplits(scan.request));
    std::vector<SplitProgress> out;
    for (auto& split : splits) {
      auto it = progress_.find({scan.key, split.id});
      if (it != progress_.end()) {
        SplitProgress p = it->second;
        p.range.start = p.range.end;
        out.push_back(std::move(p));
      } else {
        out.push_back(SplitProgress{scan.key, std::move(split), {}, false});
      }
    }
    return out;
  }

  /// Reads the given ranges of every scan through the plan into the sinks marked
  /// in `targets`, then commits them. Returns the rows written. `reached`, when
  /// given, receives the last offset read of each (scan, split).
  Result<int64_t> RunRanges(
      int64_t epoch, const std::vector<std::vector<SplitProgress>>& per_scan,
      const std::vector<bool>& targets,
      std::map<std::pair<size_t, std::string>, std::string>* reached, int64_t room) {
    std::vector<std::shared_ptr<SplitScanner>> scanners;
    std::vector<BatchPull> pulls;
    auto reached_mutex = std::make_shared<std::mutex>();
    for (size_t i = 0; i < spec_.scans.size(); ++i) {
      std::vector<Split> splits;
      std::vector<SplitRange> ranges;
      for (const auto& p : per_scan[i]) {
        splits.push_back(p.split);
        ranges.push_back(p.range);
      }
      auto scanner = std::make_shared<SplitScanner>(
          spec_.scans[i].source, spec_.scans[i].request, std::move(splits),
          std::move(ranges), /*ordered=*/true, spec_.threads);
      scanners.push_back(scanner);
      Status started = scanner->Start();
      if (!started.ok()) {
        for (auto& sc : scanners) sc->Stop();
        return started;
      }
      std::function<void(const SplitScanner::Item&)> seen;
      if (reached) {
        seen = [scanner, i, reached, reached_mutex](const SplitScanner::Item& item) {
          std::lock_guard<std::mutex> lock(*reached_mutex);
          (*reached)[{i, scanner->splits()[item.split].id}] = item.offset;
        };
      }
      pulls.push_back(PullBatches(scanner, spec_.stop, std::move(seen)));
    }
    auto result = WriteEpoch(epoch, std::move(pulls), targets, room);
    for (auto& s : scanners) s->Stop();
    return result;
  }

  // ---------------------------------------------------------------------------
  // Continuous: epochs cut from the buffered input of every scan.

  struct EpochInput {
    std::vector<std::vector<std::shared_ptr<arrow::RecordBatch>>> batches;
    int64_t rows = 0;
    int64_t bytes = 0;
    bool moved = false;  // some offset moved or some split ended
  };

  Status RunContinuous() {
    if (Room() == 0) return Status::OK();  // earlier runs reached the LIMIT
    for (size_t i = 0; i < spec_.scans.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto planned, PlanSplits(i));
      std::vector<Split> to_read;
      std::vector<SplitRange> ranges;
      for (auto& p : planned) {
        p.range.end = p.range.start;
        if (!p.done) {
          to_read.push_back(p.split);
          ranges.push_back({p.range.start, ""});
        }
        progress_[{p.scan, p.split.id}] = p;
      }
      auto scanner = std::make_shared<SplitScanner>(
          spec_.scans[i].source, spec_.scans[i].request, std::move(to_read),
          std::move(ranges), spec_.scans[i].source->bounded(), spec_.threads);
      scanners_.push_back(scanner);
      ARROW_RETURN_NOT_OK(scanner->Start());
      ended_.push_back(false);
    }
    Status st = ContinuousLoop();
    for (auto& s : scanners_) s->Stop();
    return st;
  }

  /// Cuts and writes epochs. Epoch N is written and committed on a second thread
  /// while the input of N + 1 is collected; N + 1 is logged only once N is
  /// committed, so the offset log never runs ahead of the commit log by more
  /// than one epoch. With a LIMIT, epochs run one after the other, since the
  /// room left depends on what the previous one wrote.
  Status ContinuousLoop() {
    std::future<Status> inflight;
    auto wait = [&]() -> Status {
      if (!inflight.valid()) return Status::OK();
      return inflight.get();
    };
    bool finished = false;
    Status st;
    while (!finished && st.ok()) {
      EpochInput input;
      input.batches.resize(spec_.scans.size());
      auto collected = Collect(&input);
      if (!collected.ok()) {
        st = collected.status();
        break;
      }
      finished = *collected;
      if (!input.moved) continue;
      ARROW_RETURN_NOT_OK(wait());
      const int64_t epoch = next_epoch_++;
      OffsetEntry entry;
      entry.epoch = epoch;
      for (auto& [key, p] : progress_) entry.splits.push_back(p);
      ARROW_RETURN_NOT_OK(LogOffsets(entry));
      for (auto& [key, p] : progress_) {
        p.range.start = p.range.end;
        p.read = false;
      }
      std::vector<BatchPull> pulls;
      for (auto& batches : input.batches) {
        auto shared = std::make_shared<std::vector<std::shared_ptr<arrow::RecordBatch>>>(
            std::move(batches));
        auto next = std::make_shared<size_t>(0);
        pulls.push_back([shared, next]() -> Result<std::shared_ptr<arrow::RecordBatch>> {
          if (*next >= shared->size()) return nullptr;
          return (*shared)[(*next)++];
        });
      }
      const int64_t room = Room();
      inflight =
          std::async(std::launch::async, [this, epoch, room, entry = std::move(entry),
                                          pulls = std::move(pulls)]() mutable {
            std::vector<bool> targets(spec_.sinks.size(), true);
            ARROW_ASSIGN_OR_RAISE(int64_t rows,
                                  WriteEpoch(epoch, std::move(pulls), targets, room));
            return FinishEpoch(epoch, rows, entry);
          });
      if (spec_.limit >= 0) {
        ARROW_RETURN_NOT_OK(wait());
        if (Room() == 0) finished = true;
      }
    }
    Status last = wait();
    return st.ok() ? last : st;
  }

  /// Fills `input` until a trigger fires. Returns true when the pipeline ends
  /// after this epoch (inputs ended, or stopped).
  Result<bool> Collect(EpochInput* input) {
    const auto start = Clock::now();
    const auto deadline = spec_.flush_interval_ms > 0
                              ? start + std::chrono::milliseconds(spec_.flush_interval_ms)
                              : Clock::time_point::max();
    size_t turn = 0;
    while (true) {
      if (spec_.stop.IsStopRequested()) {
        stats_.stopped = true;
        return true;
      }
      bool all_ended = true;
      for (bool e : ended_) all_ended = all_ended && e;
      if (all_ended) return true;
      if (spec_.flush_rows > 0 && input->rows >= spec_.flush_rows) return false;
      if (input->bytes >= kMaxEpochBytes) return false;
      const auto now = Clock::now();
      if (now >= deadline && input->moved) return false;
      // Wait on one scanner at a time; several share the wait in short slices.
      size_t i = turn++ % scanners_.size();
      if (ended_[i]) continue;
      auto until = std::min(deadline > now ? deadline : now + kPoll, now + kPoll);
      if (scanners_.size() > 1)
        until = std::min(until, now + std::chrono::milliseconds(5));
      ARROW_ASSIGN_OR_RAISE(auto item, scanners_[i]->Next(until));
      if (!item) continue;
      SplitScanner& scanner = *scanners_[i];
      if (item->split == scanner.splits().size()) {
        ended_[i] = true;
        continue;
      }
      SplitProgress& p =
          progress_[{spec_.scans[i].key, scanner.splits()[item->split].id}];
      input->moved = true;
      p.read = true;
      if (item->batch == nullptr) {
        p.done = true;
        continue;
      }
      p.range.end = item->offset;
      if (item->batch->num_rows() == 0) continue;
      input->rows += item->batch->num_rows();
      input->bytes += BatchBytes(*item->batch);
      input->batches[i].push_back(std::move(item->batch));
    }
  }

  // ---------------------------------------------------------------------------
  // The steps of an epoch

  Status LogOffsets(const OffsetEntry& entry) {
    if (!state_) return Status::OK();
    ARROW_RETURN_NOT_OK(state_->WriteOffsets(entry));
    Fault("after_offset_log", entry.epoch);
    return Status::OK();
  }

  /// Runs the plan over `pulls` into the sinks marked in `targets` and commits
  /// them as `epoch`. At most `room` rows are written (-1: all).
  Result<int64_t> WriteEpoch(int64_t epoch, std::vector<BatchPull> pulls,
                             const std::vector<bool>& targets, int64_t room) {
    for (size_t i = 0; i < spec_.sinks.size(); ++i) {
      if (!targets[i]) continue;
      Status st = spec_.sinks[i]->BeginEpoch(Epoch{spec_.name, epoch});
      if (!st.ok()) return AsRuntimeError(st, "sink write failed");
    }
    ARROW_ASSIGN_OR_RAISE(auto reader, spec_.run_plan(std::move(pulls)));
    int64_t rows = 0;
    int64_t bytes = 0;
    while (room < 0 || rows < room) {
      if (!spec_.continuous) ARROW_RETURN_NOT_OK(spec_.stop.Poll());
      std::shared_ptr<arrow::RecordBatch> batch;
      Status st = reader->ReadNext(&batch);
      if (!st.ok()) {
        (void)reader->Close();
        return st;
      }
      if (!batch) break;
      if (batch->num_rows() == 0) continue;
      if (room >= 0 && batch->num_rows() > room - rows)
        batch = batch->Slice(0, room - rows);
      for (size_t i = 0; i < spec_.sinks.size(); ++i) {
        if (!targets[i]) continue;
        Status w = spec_.sinks[i]->Write(batch);
        if (!w.ok()) {
          (void)reader->Close();
          return AsRuntimeError(w, "sink write failed");
        }
      }
      rows += batch->num_rows();
      bytes += BatchBytes(*batch);
      Fault("mid_write", epoch);
      if (!spec_.continuous && spec_.progress) {
        spec_.progress(stats_.rows_written + rows, committed_bytes_ + bytes);
      }
    }
    (void)reader->Close();
    if (!spec_.continuous) ARROW_RETURN_NOT_OK(spec_.stop.Poll());
    for (size_t i = 0; i < spec_.sinks.size(); ++i) {
      if (!targets[i]) continue;
      Status st = spec_.sinks[i]->Commit(Epoch{spec_.name, epoch});
      if (!st.ok()) return AsRuntimeError(st, "sink commit failed");
      Fault("after_sink_commit", epoch);
    }
    committed_bytes_ += bytes;
    return rows;
  }

  /// Logs the commit of `epoch` and acknowledges the offsets it reached.
  Status FinishEpoch(int64_t epoch, int64_t rows, const OffsetEntry& entry) {
    total_rows_ += rows;
    stats_.rows_written += rows;
    stats_.epochs += 1;
    Fault("before_commit_log", epoch);
    if (state_) {
      ARROW_RETURN_NOT_OK(
          state_->WriteCommit(CommitEntry{epoch, rows, total_rows_, NowMillis()}));
    }
    Fault("before_ack", epoch);
    ARROW_RETURN_NOT_OK(Acknowledge(entry));
    if (spec_.progress) spec_.progress(stats_.rows_written, committed_bytes_);
    if (spec_.commit) spec_.commit(epoch, stats_.rows_written, entry);
    return Status::OK();
  }

  /// Rows a LIMIT still allows, counting every run's committed epochs; -1: no limit.
  int64_t Room() const {
    return spec_.limit < 0 ? -1 : std::max<int64_t>(0, spec_.limit - total_rows_);
  }

  /// Tells each source the offsets its splits reached in `entry`.
  Status Acknowledge(const OffsetEntry& entry) {
    for (size_t i = 0; i < spec_.scans.size(); ++i) {
      std::map<std::string, std::string> offsets;
      for (const auto& s : entry.splits) {
        if (s.scan == spec_.scans[i].key && s.read && !s.range.end.empty()) {
          offsets[s.split.id] = s.range.end;
        }
      }
      if (offsets.empty()) continue;
      Status st = spec_.scans[i].source->Acknowledge(offsets);
      if (!st.ok()) {
        return st.WithMessage("acknowledging epoch ", entry.epoch, ": ", st.message());
      }
    }
    return Status::OK();
  }

  const PipelineSpec& spec_;
  PipelineStats stats_;
  std::optional<PipelineState> state_;
  std::vector<int64_t> sink_last_;
  int64_t next_epoch_ = 0;
  int64_t total_rows_ = 0;
  int64_t committed_bytes_ = 0;
  Progress progress_;
  std::vector<std::shared_ptr<SplitScanner>> scanners_;
  std::vector<bool> ended_;
};

}  // namespace

Result<PipelineStats> RunPipeline(const PipelineSpec& spec) {
  return PipelineRun(spec).Run();
}

}  // namespace flowsql
