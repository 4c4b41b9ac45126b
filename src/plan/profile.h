// EXPLAIN ANALYZE: what each plan node emitted while a plan ran, and when.
#pragma once

#include <arrow/acero/exec_plan.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>

namespace flowsql::plan {

struct PlanNode;

/// One node's output while the plan ran: rows and batches, and the times (since
/// the plan started) of its first and last batch and of its end. Updated from the
/// plan's threads.
struct NodeProfile {
  std::atomic<int64_t> rows{0};
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> first_ns{-1};
  std::atomic<int64_t> done_ns{-1};
};

/// The profiles of a plan's nodes, filled by Lower() when it is given one.
struct Profile {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::map<const PlanNode*, std::shared_ptr<NodeProfile>> nodes;

  /// "rows=8 batches=1 first=1.2ms done=3.4ms" for `node`, or "" when unmeasured.
  std::string Describe(const PlanNode& node) const;
};

/// `input` followed by a pass-through node that records into `profile`.
arrow::acero::Declaration Profiled(arrow::acero::Declaration input,
                                   std::shared_ptr<NodeProfile> profile,
                                   std::chrono::steady_clock::time_point start);

}  // namespace flowsql::plan
