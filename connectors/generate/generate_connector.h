// The generate connector: synthetic rows, bounded (generate_series) or an
// unbounded stream at a set rate that can resume from an offset.
#pragma once

#include "flowsql/connector.h"

namespace flowsql {

/// Registers the scheme "generate" and the table functions generate_series and
/// generate.
Status RegisterGenerateConnector(Registry* registry);

}  // namespace flowsql
