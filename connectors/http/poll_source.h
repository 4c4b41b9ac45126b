// A REST API polled for ever (streaming = true, seed 002): an unbounded source.
//
// Rounds. Each poll fills {offset_field} in the URL, params and body with the
// current offset and reads every page of that request, with the source's
// pagination, as a bounded HttpSource would (its splits in order). The next offset
// follows from what the round read (offset_type): the largest offset_field of the
// records (max_field; timestamp, less `lag`), the offset plus the records read
// (incremental), or the answer's offset_field (cursor). A round that read no
// records keeps the offset. Polls are `interval` apart.
//
// Offsets. The one split, "poll", has an offset that names the round's offset, the
// page split of the round and that split's own offset, what the round has found so
// far for the next offset, and the records read in the round and before it. A restarted
// pipeline so re-issues exactly the requests of an uncommitted epoch and stops where it
// stopped; the rows are the same when the API answers the same offset with the same
// records.
#pragma once

#include <memory>
#include <string>

#include "connectors/http/http_settings.h"
#include "flowsql/connector.h"

namespace flowsql::httpapi {

class PollSource : public Source {
 public:
  explicit PollSource(Settings settings);

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  bool bounded() const override { return false; }
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  std::string Describe() const override;

  /// The settings of the round whose offset is `offset`: placeholders filled, the
  /// columns fixed to the source's.
  Settings RoundSettings(const std::string& offset) const;
  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  std::shared_ptr<arrow::Schema> schema_;
};

}  // namespace flowsql::httpapi
