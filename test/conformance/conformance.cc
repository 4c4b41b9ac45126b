#include "test/conformance/conformance.h"

#include <arrow/array.h>

namespace flowsql::conformance {

Result<ConnectorArgs> MakeArgs(const Registry& registry, const std::string& connector,
                               const std::string& uri,
                               std::vector<std::pair<std::string, std::string>> raw,
                               bool sink, std::vector<std::string> positional) {
  const ConnectorSpec* spec = registry.FindByName(connector);
  if (spec == nullptr) return Status::Invalid("no connector ", connector);
  std::vector<RawOption> options;
  for (auto& [k, v] : raw) options.push_back({k, v, ""});
  ConnectorArgs args;
  args.uri = uri;
  args.positional = std::move(positional);
  ARROW_ASSIGN_OR_RAISE(
      args.options, Options::Validate(sink ? spec->sink_options : spec->source_options,
                                      options, connector));
  return args;
}

Result<SplitRead> ReadSplit(Source* source, const Split& split, const SplitRange& range,
                            const ScanRequest& request, int64_t max_rows) {
  SplitRead out;
  ARROW_ASSIGN_OR_RAISE(auto reader, source->OpenSplit(split, range, request));
  const auto deadline = std::chrono::steady_clock::now() + kUnboundedWait;
  int64_t rows = 0;
  while (max_rows < 0 || rows < max_rows) {
    if (max_rows >= 0 && std::chrono::steady_clock::now() > deadline) {
      return Status::Invalid("split ", split.id, " gave ", rows, " rows in ",
                             kUnboundedWait.count(), " s, where ", max_rows,
                             " were to be read");
    }
    ARROW_ASSIGN_OR_RAISE(auto next, reader->Next());
    if (next.batch == nullptr) break;
    rows += next.batch->num_rows();
    if (!next.batch->schema()->Equals(*reader->schema())) {
      return Status::Invalid("batch schema ", next.batch->schema()->ToString(),
                             " is not the reader's ", reader->schema()->ToString());
    }
    out.batches.push_back(next.batch);
    out.offsets.push_back(next.offset);
  }
  return out;
}

Result<std::vector<int64_t>> Keys(
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::string& column) {
  std::vector<int64_t> out;
  for (const auto& b : batches) {
    auto array = b->GetColumnByName(column);
    if (array == nullptr) return Status::Invalid("no column ", column);
    auto ints = std::dynamic_pointer_cast<arrow::Int64Array>(array);
    if (ints == nullptr) return Status::Invalid(column, " is not int64");
    for (int64_t i = 0; i < ints->length(); ++i) out.push_back(ints->Value(i));
  }
  return out;
}

}  // namespace flowsql::conformance
