#include "runtime/scanner.h"

#include <system_error>

namespace flowsql {

SplitScanner::SplitScanner(std::shared_ptr<Source> source, ScanRequest request,
                           std::vector<Split> splits, std::vector<SplitRange> ranges,
                           bool ordered, int threads)
    : source_(std::move(source)),
      request_(std::move(request)),
      splits_(std::move(splits)),
      ranges_(std::move(ranges)),
      ordered_(ordered),
      threads_(ordered ? std::max(1, threads) : static_cast<int>(splits_.size())),
      queues_(splits_.size()) {
  request_.stop = stop_source_.token();
}

SplitScanner::~SplitScanner() { Stop(); }

Status SplitScanner::Start() {
  const int n = std::min<int>(threads_, static_cast<int>(splits_.size()));
  try {
    for (int i = 0; i < n; ++i) workers_.emplace_back([this] { Work(); });
  } catch (const std::system_error& e) {
    Stop();
    return Status::IOError("cannot start a reader thread (", n, " splits): ", e.what());
  }
  return Status::OK();
}

void SplitScanner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_source_.RequestStop();
  ready_.notify_all();
  space_.notify_all();
  std::call_once(joined_, [this] {
    for (auto& w : workers_) {
      if (w.joinable()) w.join();
    }
  });
}

void SplitScanner::Work() {
  while (true) {
    size_t index;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || next_unassigned_ >= splits_.size()) return;
      index = next_unassigned_++;
    }
    ReadSplit(index);
  }
}

void SplitScanner::Fail(Status st) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.ok() && !stopping_) error_ = std::move(st);
    stopping_ = true;
  }
  stop_source_.RequestStop();
  ready_.notify_all();
  space_.notify_all();
}

void SplitScanner::ReadSplit(size_t index) {
  auto reader = source_->OpenSplit(splits_[index], ranges_[index], request_);
  if (!reader.ok()) return Fail(reader.status());
  while (true) {
    auto next = (*reader)->Next();
    if (!next.ok()) return Fail(next.status());
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock,
                [&] { return stopping_ || queues_[index].items.size() < kQueueDepth; });
    if (stopping_) return;
    const bool end = next->batch == nullptr;
    queues_[index].items.push_back(
        Item{index, std::move(next->batch), std::move(next->offset)});
    lock.unlock();
    ready_.notify_all();
    if (end) return;
  }
}

Result<std::optional<SplitScanner::Item>> SplitScanner::Next(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (!error_.ok()) {
      Status st = std::move(error_);
      error_ = Status::OK();
      return st;
    }
    if (ended_ == splits_.size()) return Item{splits_.size(), nullptr, ""};
    // Ordered: only the current split; unordered: the first ready one from current_.
    const size_t tries = ordered_ ? 1 : splits_.size();
    for (size_t t = 0; t < tries; ++t) {
      size_t i = (current_ + t) % splits_.size();
      auto& q = queues_[i].items;
      if (q.empty()) continue;
      Item item = std::move(q.front());
      q.pop_front();
      if (item.batch == nullptr) ++ended_;
      if (ordered_) {
        if (item.batch == nullptr) ++current_;
      } else {
        current_ = (i + 1) % splits_.size();
      }
      lock.unlock();
      space_.notify_all();
      return item;
    }
    if (stopping_) return Status::Cancelled("scan stopped");
    if (ready_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One more look: an item may have come with the timeout.
      bool any = false;
      for (size_t t = 0; t < tries && !any; ++t) {
        any = !queues_[(current_ + t) % splits_.size()].items.empty();
      }
      if (!any && error_.ok()) return std::nullopt;
    }
  }
}

BatchPull PullBatches(std::shared_ptr<SplitScanner> scanner, arrow::StopToken stop,
                      std::function<void(const SplitScanner::Item&)> seen) {
  return [scanner = std::move(scanner), stop = std::move(stop),
          seen = std::move(seen)]() -> Result<std::shared_ptr<arrow::RecordBatch>> {
    while (true) {
      ARROW_RETURN_NOT_OK(stop.Poll());
      // Wake up now and then to look at the stop token.
      ARROW_ASSIGN_OR_RAISE(auto item,
                            scanner->Next(Clock::now() + std::chrono::milliseconds(50)));
      if (!item) continue;
      if (item->split == scanner->splits().size()) return nullptr;
      if (item->batch == nullptr) continue;
      if (seen) seen(*item);
      if (item->batch->num_rows() > 0) return item->batch;
    }
  };
}

}  // namespace flowsql
