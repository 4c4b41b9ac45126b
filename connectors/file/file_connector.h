// The file connector: CSV, NDJSON, JSON arrays, Parquet and Arrow IPC, read from
// and written to local paths and file:// URIs.
#pragma once

#include "flowsql/connector.h"

namespace flowsql {

/// Registers schemes "" (bare paths) and "file", and the table functions
/// read_csv, read_json, read_ndjson, read_parquet, read_ipc.
Status RegisterFileConnector(Registry* registry);

}  // namespace flowsql
