#include "connectors/file/file_connector.h"

#include "connectors/file/file_options.h"
#include "connectors/file/file_sink.h"
#include "connectors/file/file_source.h"
#include "connectors/file/format.h"
#include "connectors/file/http_fs.h"
#include "connectors/file/watch_source.h"

namespace flowsql {

Status RegisterFileConnector(Registry* registry) {
  ConnectorSpec spec;
  spec.name = "file";
  spec.doc =
      "Files: CSV, NDJSON, JSON arrays, Parquet, Arrow IPC, ORC and Avro, on the local "
      "disk (paths and file:// URIs), an object store (s3://, gs://, az://, abfss://) or "
      "a web server (http://, https:// URLs whose path ends in a file extension such as "
      ".parquet or .csv.gz, and any URL given to a read_xxx function: read-only, one "
      "file per URL, by range requests where the server allows them; other http(s) "
      "URLs are REST APIs, read by the http connector). A path may be a file, a "
      "directory or a glob.";
  spec.schemes = {"",   "file",  "s3",   "s3a",   "gs",   "gcs",
                  "az", "azure", "abfs", "abfss", "http", "https"};
  // An http(s) URL is a file when its path (the query left out) ends in an extension
  // of a format this connector reads; any other goes to the next connector
  // registered for http(s), the REST API source.
  spec.serves_uri = [](const std::string& uri) {
    return !http::IsHttpUrl(uri) || file::FormatFromPath(uri).has_value();
  };
  spec.functions = {
      {"read_csv", {{"format", "csv"}}},       {"read_csv_auto", {{"format", "csv"}}},
      {"read_json", {{"format", "json"}}},     {"read_json_auto", {{"format", "json"}}},
      {"read_ndjson", {{"format", "ndjson"}}}, {"read_parquet", {{"format", "parquet"}}},
      {"read_ipc", {{"format", "ipc"}}},       {"read_arrow", {{"format", "ipc"}}},
      {"read_orc", {{"format", "orc"}}},       {"read_avro", {{"format", "avro"}}},
  };
  spec.positional_names = {"path"};
  spec.functions_take_uri = true;
  spec.source_options = file::SourceOptionSpecs();
  spec.sink_options = file::SinkOptionSpecs();
  spec.make_source = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Source>> {
    const Options& o = args.options;
    if (o.GetBool("watch", false)) {
      if (http::IsHttpUrl(args.uri)) {
        return Status::Invalid(http::RedactUrl(args.uri),
                               ": watch = true lists a folder or a glob, and an http(s) "
                               "URL is one file that cannot be listed");
      }
      return std::make_unique<file::WatchSource>(args);
    }
    for (const char* option : {"delete_after_read", "move_after_read", "poll_interval",
                               "file_complete", "marker_suffix"}) {
      if (o.IsSet(option)) {
        return Status::Invalid("option '", option,
                               "' applies to watched folders: add "
                               "watch = true");
      }
    }
    return std::make_unique<file::FileSource>(args);
  };
  spec.make_sink = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Sink>> {
    if (http::IsHttpUrl(args.uri)) return file::HttpReadOnly(args.uri);
    return file::MakeFileSink(args);
  };
  return registry->Register(std::move(spec));
}

}  // namespace flowsql
