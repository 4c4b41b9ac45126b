// Turns a JSON array of objects into NDJSON on the fly, so that Arrow's streaming
// JSON reader can read it with bounded memory.
#pragma once

#include <arrow/io/interfaces.h>

#include <memory>
#include <string>

#include "flowsql/status.h"

namespace flowsql::file {

/// Returns a stream of the elements of the JSON array in `inner`, minified, one per
/// line. Whitespace outside strings is dropped; strings are copied verbatim. Errors
/// (no '[', unterminated array, data after ']') name `path` and the byte offset.
/// Memory: one input chunk plus the output not yet read.
std::shared_ptr<arrow::io::InputStream> MakeJsonArrayToNdjsonStream(
    std::shared_ptr<arrow::io::InputStream> inner, std::string path);

}  // namespace flowsql::file
