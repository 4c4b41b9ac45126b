#include "connectors/file/file_sink.h"

namespace flowsql::file {

Result<std::unique_ptr<Sink>> MakeFileSink(const ConnectorArgs& args) {
  return Status::NotImplemented("file sink");
}

}  // namespace flowsql::file
