// One page's body to one Arrow batch: JSON and NDJSON through the project's JSON
// decoder (common/json_decoder.h), CSV through Arrow's CSV reader.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/json_decoder.h"
#include "connectors/http/http_settings.h"
#include "flowsql/status.h"

namespace flowsql::httpapi {

/// The format of an answer: `declared` unless it is kAuto, else what its
/// Content-Type says (ndjson, jsonl, csv), else JSON.
Format ResolveFormat(Format declared, const std::string& content_type);

/// Where the records of a JSON page are when the user named no records_path: "$"
/// for an array (or a document that is neither array nor object), "$.data" when
/// the document's data, items, results, records, rows or entries member is an array,
/// else "$" (the object is one record).
std::string DefaultRecordsPath(std::string_view body);

/// The columns of the records of the pages it is fed, widened as later pages show
/// new keys or wider types: JSON and NDJSON pages through json::SchemaInferrer, CSV
/// pages' inferred columns unified as Arrow promotes them (int64 and double: double;
/// other differences: string). Not thread-safe.
class PageSchemaInferrer {
 public:
  explicit PageSchemaInferrer(json::DecodeOptions options);
  /// Feeds one page's records; returns how many there are. `where` names the page in
  /// errors, which leave the columns as they were.
  Result<int64_t> Feed(std::string_view body, Format format, const std::string& where);
  /// The columns so far.
  Result<std::shared_ptr<arrow::Schema>> schema();

 private:
  json::DecodeOptions options_;
  json::SchemaInferrer json_;
  std::shared_ptr<arrow::Schema> csv_;  // the CSV pages' columns; nullptr: none yet
};

/// Decodes `body` into one batch of exactly `schema`'s columns (a missing one null),
/// counting the records skipped or nulled. A record that does not fit follows
/// options.on_bad_record; a field the schema lacks follows options.unknown_keys.
/// Errors start with `where` ("page 3 of https://h/items?page=3: record 12: ...").
Result<json::DecodedPage> DecodePage(std::string_view body, Format format,
                                     const json::DecodeOptions& options,
                                     const std::shared_ptr<arrow::Schema>& schema,
                                     const std::string& where);

}  // namespace flowsql::httpapi
