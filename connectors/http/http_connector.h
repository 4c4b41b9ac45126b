// The http connector: REST APIs as tables, through read_http(url, ...) and FROM
// 'https://...' for URLs that do not name a file (see connectors/http/README.md).
#pragma once

#include "flowsql/connector.h"

namespace flowsql {

/// Registers schemes http and https (after the file connector, which keeps the URLs
/// that end in a file extension) and the table function read_http.
Status RegisterHttpConnector(Registry* registry);

}  // namespace flowsql
