// The delta connector: Delta Lake tables, local or in an object store
// (delta_source.h).
#pragma once

#include "flowsql/connector.h"

namespace flowsql {

/// Registers the scheme "delta" ('delta://path/to/table', 'delta://s3://bucket/t')
/// and the table function read_delta('path', version => N, timestamp => '...').
Status RegisterDeltaConnector(Registry* registry);

}  // namespace flowsql
