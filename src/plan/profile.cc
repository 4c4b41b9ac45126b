#include "plan/profile.h"

#include <arrow/acero/options.h>
#include <arrow/compute/exec.h>

#include <cstdio>
#include <mutex>

#include "plan/exec_nodes.h"

namespace flowsql::plan {

namespace ac = arrow::acero;

namespace {

constexpr char kFactory[] = "flowsql_profile";

struct ProfileOptions : ac::ExecNodeOptions {
  std::shared_ptr<NodeProfile> profile;
  std::chrono::steady_clock::time_point start;
};

/// Forwards everything unchanged, counting the batches that pass.
class ProfileNode : public ac::ExecNode {
 public:
  ProfileNode(ac::ExecPlan* plan, ac::ExecNode* input, const ProfileOptions& options)
      : ac::ExecNode(plan, {input}, {"input"}, input->output_schema()),
        profile_(options.profile),
        start_(options.start) {}

  const char* kind_name() const override { return "ProfileNode"; }
  const arrow::compute::Ordering& ordering() const override {
    return inputs_[0]->ordering();
  }

  arrow::Status InputReceived(ac::ExecNode*, arrow::compute::ExecBatch batch) override {
    int64_t expected = -1;
    profile_->first_ns.compare_exchange_strong(expected, Now());
    profile_->rows += batch.length;
    profile_->batches += 1;
    Done();
    return output_->InputReceived(this, std::move(batch));
  }
  arrow::Status InputFinished(ac::ExecNode*, int total_batches) override {
    Done();
    return output_->InputFinished(this, total_batches);
  }
  arrow::Status StartProducing() override { return arrow::Status::OK(); }
  void PauseProducing(ac::ExecNode*, int32_t counter) override {
    inputs_[0]->PauseProducing(this, counter);
  }
  void ResumeProducing(ac::ExecNode*, int32_t counter) override {
    inputs_[0]->ResumeProducing(this, counter);
  }

 protected:
  arrow::Status StopProducingImpl() override { return arrow::Status::OK(); }

 private:
  /// The node is done at its last batch or its end, whichever comes later (Acero
  /// may announce the end before the last batch arrives).
  void Done() {
    int64_t now = Now();
    int64_t seen = profile_->done_ns.load();
    while (seen < now && !profile_->done_ns.compare_exchange_weak(seen, now)) {
    }
  }
  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now() - start_)
        .count();
  }

  std::shared_ptr<NodeProfile> profile_;
  std::chrono::steady_clock::time_point start_;
};

void RegisterOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterOneInputNode(kFactory, [](ac::ExecPlan* plan, ac::ExecNode* input,
                                      const ac::ExecNodeOptions& options) {
      const auto& opts = static_cast<const ProfileOptions&>(options);
      return plan->EmplaceNode<ProfileNode>(plan, input, opts);
    });
  });
}

std::string Millis(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fms", static_cast<double>(ns) / 1e6);
  return text;
}

}  // namespace

ac::Declaration Profiled(ac::Declaration input, std::shared_ptr<NodeProfile> profile,
                         std::chrono::steady_clock::time_point start) {
  RegisterOnce();
  ProfileOptions options;
  options.profile = std::move(profile);
  options.start = start;
  return ac::Declaration(kFactory, {std::move(input)}, std::move(options));
}

std::string Profile::Describe(const PlanNode& node) const {
  auto it = nodes.find(&node);
  if (it == nodes.end()) return "";
  const NodeProfile& p = *it->second;
  std::string out = "rows=" + std::to_string(p.rows.load()) +
                    " batches=" + std::to_string(p.batches.load());
  if (p.first_ns >= 0) out += " first=" + Millis(p.first_ns);
  if (p.done_ns >= 0) out += " done=" + Millis(p.done_ns);
  return out;
}

}  // namespace flowsql::plan
