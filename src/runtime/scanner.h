// Reads the splits of one scan concurrently, with bounded buffers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "flowsql/connector.h"

namespace flowsql {

using Clock = std::chrono::steady_clock;

/// Pulls the next batch of one scan within one run of a plan; nullptr at the end.
/// Called from one thread at a time.
using BatchPull = std::function<Result<std::shared_ptr<arrow::RecordBatch>>()>;

/// Reads `splits` of `source`, each over its range, on worker threads, into one
/// small queue per split (kQueueDepth batches), so memory stays bounded however
/// fast the sources are.
///
/// Ordered (bounded sources): Next() returns the splits one after the other, in
/// the order given, while up to `threads` splits are read ahead. Unordered
/// (streams): every split has its own thread and Next() returns whichever batch
/// is ready, round-robin, since a stream split never ends.
///
/// Thread-safety: one consumer calls Next(); Stop() may be called from any thread,
/// more than once.
class SplitScanner {
 public:
  static constexpr size_t kQueueDepth = 4;

  struct Item {
    size_t split = 0;
    /// nullptr: the split has ended (it yields no more items).
    std::shared_ptr<arrow::RecordBatch> batch;
    std::string offset;
  };

  SplitScanner(std::shared_ptr<Source> source, ScanRequest request,
               std::vector<Split> splits, std::vector<SplitRange> ranges, bool ordered,
               int threads);
  ~SplitScanner();

  /// Starts the workers. REQUIRES: called once. Fails when the system refuses a
  /// thread.
  Status Start();
  /// The next item, or std::nullopt when `deadline` passed first. After the last
  /// split ended, returns an Item with split == splits().size(). A reader's error
  /// is returned (once; the scan is then stopped).
  Result<std::optional<Item>> Next(Clock::time_point deadline);
  /// Asks the readers to stop and waits for the workers. Idempotent.
  void Stop();

  const std::vector<Split>& splits() const { return splits_; }

 private:
  struct Queue {
    std::deque<Item> items;
  };

  void Work();
  void ReadSplit(size_t index);
  void Fail(Status st);

  std::shared_ptr<Source> source_;
  ScanRequest request_;
  std::vector<Split> splits_;
  std::vector<SplitRange> ranges_;
  bool ordered_;
  int threads_;
  arrow::StopSource stop_source_;

  std::mutex mutex_;
  std::condition_variable ready_;  // an item was queued or the scan failed
  std::condition_variable space_;  // an item was taken or the scan stopped
  std::vector<Queue> queues_;
  size_t next_unassigned_ = 0;
  size_t current_ = 0;  // ordered: the split being returned; unordered: round-robin
  size_t ended_ = 0;    // splits whose end item was returned
  bool stopping_ = false;
  Status error_;
  std::vector<std::thread> workers_;
  std::once_flag joined_;
};

/// A pull over `scanner`: its batches that have rows, nullptr after the last
/// split, Status::Cancelled once `stop` is set. `seen`, when given, is called with
/// every batch item first (to record the offsets reached).
BatchPull PullBatches(std::shared_ptr<SplitScanner> scanner, arrow::StopToken stop,
                      std::function<void(const SplitScanner::Item&)> seen = {});

}  // namespace flowsql
