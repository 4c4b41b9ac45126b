#include "connectors/delta/delta_connector.h"
#include "connectors/file/file_connector.h"
#include "connectors/file/storage.h"
#include "connectors/generate/generate_connector.h"
#include "connectors/http/http_connector.h"
#include "connectors/python/python_connector.h"
#include "flowsql/connector.h"

namespace flowsql {

Status RegisterBuiltinConnectors(Registry* registry) {
  ARROW_RETURN_NOT_OK(RegisterFileConnector(registry));
  ARROW_RETURN_NOT_OK(RegisterGenerateConnector(registry));
  // After the file connector, which keeps the http(s) URLs that name files.
  ARROW_RETURN_NOT_OK(RegisterHttpConnector(registry));
  ARROW_RETURN_NOT_OK(RegisterPythonConnector(registry));
  ARROW_RETURN_NOT_OK(RegisterDeltaConnector(registry));
  return Status::OK();
}

void ShutdownConnectors() { file::ShutdownStorage(); }

}  // namespace flowsql
