// The file sink: a single file written atomically, or a directory of part files.
#pragma once

#include <memory>

#include "flowsql/connector.h"

namespace flowsql::file {

/// Builds the sink for args.uri. Option errors are user errors.
Result<std::unique_ptr<Sink>> MakeFileSink(const ConnectorArgs& args);

}  // namespace flowsql::file
