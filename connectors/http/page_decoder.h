// One page's body to one Arrow batch. The http source calls DecodePage and nothing
// else to turn bytes into rows, so the project's JSON decoder (common/json_decoder.h)
// replaces what is behind it in one place.
#pragma once

#include <arrow/record_batch.h>

#include <memory>
#include <string>
#include <string_view>

#include "connectors/http/http_settings.h"
#include "flowsql/status.h"

namespace flowsql::httpapi {

/// The format of an answer: `declared` unless it is kAuto, else what its
/// Content-Type says (ndjson, jsonl, csv), else JSON.
Format ResolveFormat(Format declared, const std::string& content_type);

/// Decodes `body` into one batch: JSON (the records at `records_path`: an array of
/// objects, or one object; with no path the document's array, or the array under
/// data, items, results, records, rows or entries, or the document as one record),
/// NDJSON or CSV. With `schema`, the batch has exactly its columns (a missing one
/// null, a value that does not convert an error; a field it lacks is an error unless
/// `declared`, when the user chose the columns); without, the columns are inferred.
/// `where` names the page in errors ("page 3 of https://h/items?page=3: malformed
/// JSON ...").
Result<std::shared_ptr<arrow::RecordBatch>> DecodePage(
    std::string_view body, Format format, const std::string& records_path,
    const std::shared_ptr<arrow::Schema>& schema, bool declared,
    const std::string& where);

}  // namespace flowsql::httpapi
