#include "connectors/python/python_connector.h"

#include <algorithm>

#include "common/http_client.h"
#include "common/secrets.h"
#include "connectors/python/python_sink.h"
#include "connectors/python/python_source.h"

namespace flowsql {

namespace {

constexpr char kScheme[] = "python://";

/// python_module and python_class, a source's and a sink's, then `more`.
std::vector<OptionSpec> WithClassOptions(std::vector<OptionSpec> more) {
  std::vector<OptionSpec> options = {
      {"python_module", OptionType::kString, "",
       "The module of the class (seed 001's spelling): python_module and python_class "
       "in place of the URI"},
      {"python_class", OptionType::kString, "", "The class, with python_module"},
  };
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

std::vector<OptionSpec> SourceOptions() {
  using T = OptionType;
  return WithClassOptions({
      {"streaming", T::kBool, "false",
       "Read a PySpark DataSource's streamReader() or simpleStreamReader() for ever: "
       "an unbounded source whose offsets go through the runtime's offset log; "
       "commit() follows each committed epoch"},
      {"interval", T::kDuration, "1s",
       "streaming: the wait before asking again when the last ask found nothing new"},
      {"workers", T::kBool, "false",
       "Read the partitions in Python worker processes, one per partition read at "
       "once (the `threads` setting), given the reader pickled as Spark's executors "
       "get it, rather than in flowsql's interpreter: for sources that yield tuples "
       "or Rows, whose conversion to Arrow holds one interpreter's GIL. Not for "
       "streaming"},
      {kAnyOption, T::kString, "",
       "Any other option reaches the class's methods in their options dict, as a "
       "string; values of options whose names look secret (*key, *token*, *secret*, "
       "password, ...) are redacted in messages"},
  });
}

std::vector<OptionSpec> SinkOptions() {
  using T = OptionType;
  return WithClassOptions({
      {"mode",
       T::kEnum,
       "append",
       "append, or overwrite: a PySpark writer's `overwrite` argument (false when a "
       "continuous pipeline resumes: its earlier epochs stay)",
       {"write_mode", "save_mode"},
       {"append", "overwrite"}},
      {kAnyOption, T::kString, "",
       "Any other option reaches the class in its options dict, as a string; values of "
       "options whose names look secret are redacted in messages"},
  });
}

/// The options the class gets: those `declared` does not declare (kAnyOption's).
/// Secret-looking values are registered for redaction.
std::map<std::string, std::string> ClassOptions(const ConnectorArgs& args,
                                                const std::vector<OptionSpec>& declared) {
  std::map<std::string, std::string> options;
  for (const auto& [name, value] : args.options.values()) {
    if (std::any_of(declared.begin(), declared.end(),
                    [&](const OptionSpec& s) { return s.name == name; })) {
      continue;
    }
    if (http::IsSecretParameter(name)) RegisterSecret(value);
    options[name] = value;
  }
  return options;
}

/// "package.module.Class" from the URI, read_python's argument, or python_module /
/// python_class.
Result<std::string> ClassPath(const ConnectorArgs& args) {
  const std::string module = args.options.GetString("python_module");
  const std::string cls = args.options.GetString("python_class");
  if (args.positional.size() > 1) {
    return Status::Invalid(
        "read_python() takes one argument, the class; options are "
        "named (name => 'value')");
  }
  std::string path = args.positional.empty() ? args.uri : args.positional[0];
  if (path.rfind(kScheme, 0) == 0) path = path.substr(sizeof(kScheme) - 1);
  if (!module.empty() || !cls.empty()) {
    if (module.empty() || cls.empty() || !path.empty()) {
      return Status::Invalid(
          "name the Python class once: 'python://package.module.Class', or both "
          "options python_module and python_class");
    }
    path = module + "." + cls;
  }
  if (path.empty() || path.find('.') == std::string::npos) {
    return Status::Invalid("'", path,
                           "' is not a Python class path: expected "
                           "'package.module.Class'");
  }
  return path;
}

}  // namespace

Status RegisterPythonConnector(Registry* registry) {
  ConnectorSpec spec;
  spec.name = "python";
  spec.doc =
      "Tables read from Python classes in the embedded interpreter: "
      "'python://package.module.Class' or read_python('package.module.Class', ...); "
      "the class has infer_schema(options), plan_partitions(options) and "
      "read_partition(partition, options) (seed 001), or is a PySpark DataSource "
      "(schema(), reader(schema) with partitions() and read(partition)), yielding "
      "pyarrow.RecordBatch, tuples or Rows. Partitions are read concurrently; batches "
      "cross without a copy. As a sink (INTO 'python://...'): write_partition(batches, "
      "options) (seed 001), or a PySpark DataSource's writer() / streamWriter(), one "
      "write and commit per epoch.";
  spec.schemes = {"python"};
  spec.functions = {{"read_python", {}}};
  spec.positional_names = {"class"};
  // The class may also come from options (python_module, python_class).
  spec.functions_take_uri = false;
  spec.source_options = SourceOptions();
  spec.make_source = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Source>> {
    ARROW_ASSIGN_OR_RAISE(auto path, ClassPath(args));
    static const std::vector<OptionSpec> declared = SourceOptions();
    python::PythonSourceSettings settings;
    settings.streaming = args.options.GetBool("streaming");
    settings.interval =
        std::chrono::milliseconds(args.options.GetMillis("interval", 1000));
    settings.workers = args.options.GetBool("workers");
    if (settings.workers && settings.streaming) {
      return Status::Invalid(
          "option 'workers' reads a bounded source's partitions in worker processes; "
          "it does not apply to streaming = true");
    }
    return std::make_unique<python::PythonSource>(std::move(path),
                                                  ClassOptions(args, declared), settings);
  };
  spec.sink_options = SinkOptions();
  spec.make_sink = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Sink>> {
    ARROW_ASSIGN_OR_RAISE(auto path, ClassPath(args));
    static const std::vector<OptionSpec> declared = SinkOptions();
    ARROW_ASSIGN_OR_RAISE(auto sink, python::PythonSink::Make(
                                         std::move(path), ClassOptions(args, declared),
                                         args.options.GetString("mode") == "overwrite"));
    return sink;
  };
  return registry->Register(std::move(spec));
}

}  // namespace flowsql
