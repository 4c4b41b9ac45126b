// The python connector: tables read from Python classes in the embedded interpreter
// (python_source.h).
#pragma once

#include "flowsql/connector.h"

namespace flowsql {

/// Registers the scheme "python" ('python://package.module.Class') and the table
/// function read_python('package.module.Class', ...).
Status RegisterPythonConnector(Registry* registry);

}  // namespace flowsql
