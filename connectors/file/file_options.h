// The option declarations of the file connector (the user-visible documentation).
#pragma once

#include <vector>

#include "flowsql/options.h"

namespace flowsql::file {

std::vector<OptionSpec> SourceOptionSpecs();
std::vector<OptionSpec> SinkOptionSpecs();

}  // namespace flowsql::file
