// The flowsql command: runs SQL from -c, -f or stdin, or an interactive shell,
// and prints results as a table, CSV, JSON, NDJSON or an Arrow IPC stream.
#include <arrow/builder.h>
#include <arrow/config.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/format.h"
#include "cli/shell.h"
#include "common/secrets.h"
#include "flowsql/engine.h"
#include "runtime/state.h"

namespace flowsql::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

arrow::StopSource g_stop;
std::atomic<int> g_signal{0};

std::atomic<int64_t> g_first_signal_ms{0};

int64_t MonotonicMillis() {  // async-signal-safe
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// First SIGINT/SIGTERM: ask the running statement to stop (a continuous pipeline
// commits and returns; a batch write leaves its targets as they were). A second
// one, half a second or more later, leaves at once; sooner, it is the same
// request delivered twice (a terminal and `timeout` both signal the group).
void OnSignal(int signal) {
  const int64_t now = MonotonicMillis();
  if (g_stop.token().IsStopRequested()) {
    if (now - g_first_signal_ms.load() < 500) return;
    static const char kMessage[] = "\nInterrupted\n";
    ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    (void)ignored;
    _exit(128 + signal);
  }
  g_first_signal_ms.store(now);
  g_signal.store(signal);
  g_stop.RequestStopFromSignal(signal);
}

void InstallSignalHandlers() {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a blocking select() in the shell returns EINTR.
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

const char* kUsage =
    "Usage: flowsql [OPTIONS]                 run SQL from stdin, or an interactive "
    "shell\n"
    "       flowsql [OPTIONS] -c SQL [-c SQL] run SQL statements given as text\n"
    "       flowsql [OPTIONS] -f FILE         run the statements in FILE ('-' is stdin)\n"
    "       flowsql connectors [--markdown]   list connectors and their options\n"
    "       flowsql pipelines --state-dir DIR list pipelines: last epoch, rows, offsets\n"
    "\n"
    "Options:\n"
    "  -c, --command SQL     run SQL (statements separated by ';'); may be repeated\n"
    "  -f, --file FILE       run the SQL in FILE; may be repeated; -c and -f run in "
    "order\n"
    "  --format FORMAT       output format: table (default), csv, json, ndjson, arrow\n"
    "  -table, -csv, -json, -ndjson, -arrow\n"
    "                        short for --format FORMAT (also with two dashes)\n"
    "  --state-dir DIR       keep pipelines' offset and commit logs in DIR, so a\n"
    "                        restarted pipeline resumes where it committed\n"
    "  --pipeline NAME       name the pipeline of write statements (default: from\n"
    "                        the targets)\n"
    "  --reset               forget the pipeline's state and start it over\n"
    "  --no-progress         never show the progress line on stderr\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the version\n"
    "\n"
    "Without -c or -f, flowsql reads SQL from stdin when it is not a terminal, and\n"
    "starts an interactive shell when it is.\n"
    "\n"
    "Exit codes: 0 success, 1 user error (bad SQL, unknown option, missing file),\n"
    "2 runtime failure, 130/143 interrupted by SIGINT/SIGTERM. Scripts stop at the\n"
    "first failing statement. Ctrl-C or SIGTERM stops the running statement: a\n"
    "continuous pipeline commits its epoch in progress and exits 0; a batch write\n"
    "leaves its targets as they were. A second Ctrl-C exits at once.\n"
    "\n"
    "Examples:\n"
    "  flowsql -c \"SELECT * FROM 'data/orders.csv' LIMIT 10\"\n"
    "  flowsql --format json -c \"SELECT count(*) AS n FROM 'data/*.parquet'\"\n"
    "  flowsql -c \"SELECT * FROM 'in.csv' INTO 'out.parquet'\"\n"
    "  flowsql -f pipeline.sql --state-dir .flowsql-state\n"
    "  echo \"SELECT * FROM generate_series(1, 5)\" | flowsql -csv\n"
    "  flowsql connectors --markdown > docs/connectors.md\n";

/// `flowsql pipelines`: one row per pipeline of a state directory.
Status PrintPipelines(const std::vector<PipelineSummary>& pipelines,
                      OutputFormat format) {
  arrow::StringBuilder name, offsets;
  arrow::Int64Builder epoch, rows;
  arrow::BooleanBuilder committed;
  arrow::TimestampBuilder time(arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"),
                               arrow::default_memory_pool());
  for (const auto& p : pipelines) {
    ARROW_RETURN_NOT_OK(name.Append(p.name));
    const int64_t last = p.offsets ? p.offsets->epoch : -1;
    ARROW_RETURN_NOT_OK(last >= 0 ? epoch.Append(last) : epoch.AppendNull());
    ARROW_RETURN_NOT_OK(
        committed.Append(last < 0 || (p.commit && p.commit->epoch >= last)));
    ARROW_RETURN_NOT_OK(p.commit ? rows.Append(p.commit->total_rows) : rows.Append(0));
    ARROW_RETURN_NOT_OK(p.commit ? time.Append(p.commit->time_ms) : time.AppendNull());
    std::string text;
    if (p.offsets) {
      for (const auto& s : p.offsets->splits) {
        if (!text.empty()) text += ", ";
        text += s.scan + ":" + s.split.id + "=" +
                (s.done ? std::string("done") : s.range.end);
      }
    }
    ARROW_RETURN_NOT_OK(offsets.Append(text));
  }
  std::vector<std::shared_ptr<arrow::Array>> columns(6);
  ARROW_RETURN_NOT_OK(name.Finish(&columns[0]));
  ARROW_RETURN_NOT_OK(epoch.Finish(&columns[1]));
  ARROW_RETURN_NOT_OK(committed.Finish(&columns[2]));
  ARROW_RETURN_NOT_OK(rows.Finish(&columns[3]));
  ARROW_RETURN_NOT_OK(time.Finish(&columns[4]));
  ARROW_RETURN_NOT_OK(offsets.Finish(&columns[5]));
  auto schema = arrow::schema({arrow::field("pipeline", arrow::utf8()),
                               arrow::field("last_epoch", arrow::int64()),
                               arrow::field("committed", arrow::boolean()),
                               arrow::field("rows", arrow::int64()),
                               arrow::field("last_commit", columns[4]->type()),
                               arrow::field("offsets", arrow::utf8())});
  WriterOptions options;
  options.format = format;
  options.max_width = TerminalWidth();
  auto writer = MakeResultWriter(options, stdout);
  ARROW_RETURN_NOT_OK(writer->Begin(schema));
  ARROW_RETURN_NOT_OK(writer->Write(arrow::RecordBatch::Make(
      schema, static_cast<int64_t>(pipelines.size()), std::move(columns))));
  return writer->End();
}

int UsageError(const std::string& message) {
  fprintf(stderr, "Error: %s\nRun 'flowsql --help' for usage.\n", message.c_str());
  return kExitUserError;
}

struct Script {
  bool is_file;
  std::string text;  // SQL, or a file name
};

struct Args {
  std::vector<Script> scripts;
  OutputFormat format = OutputFormat::kTable;
  std::string state_dir;
  std::string pipeline;
  bool reset = false;
  bool pipelines = false;
  bool progress = true;
  bool help = false;
  bool version = false;
  bool connectors = false;
  bool markdown = false;
};

// Parses argv into `args`. Returns -1 to go on, or an exit code.
int ParseArgs(int argc, char** argv, Args* args) {
  std::vector<std::string> argv_s(argv + 1, argv + argc);
  for (size_t i = 0; i < argv_s.size(); ++i) {
    std::string arg = argv_s[i];
    std::string value;
    bool has_value = false;
    // --name=value
    if (arg.rfind("--", 0) == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_value = true;
      }
    }
    auto take_value = [&](const std::string& name) -> bool {
      if (has_value) return true;
      if (i + 1 >= argv_s.size()) return false;
      value = argv_s[++i];
      return true;
    };
    if (arg == "-c" || arg == "--command") {
      if (!take_value(arg)) return UsageError("option " + arg + " needs a SQL string");
      args->scripts.push_back({false, value});
    } else if (arg.size() > 2 && arg.rfind("-c", 0) == 0 && arg[1] == 'c' &&
               arg.rfind("--", 0) != 0 && arg != "-csv") {
      args->scripts.push_back({false, arg.substr(2)});
    } else if (arg == "-f" || arg == "--file") {
      if (!take_value(arg)) return UsageError("option " + arg + " needs a file name");
      args->scripts.push_back({true, value});
    } else if (arg == "--format" || arg == "-format") {
      if (!take_value(arg)) return UsageError("option " + arg + " needs a format name");
      auto format = ParseOutputFormat(value);
      if (!format.ok()) return UsageError(format.status().message());
      args->format = *format;
    } else if (arg == "-table" || arg == "--table" || arg == "-box" || arg == "-csv" ||
               arg == "--csv" || arg == "-json" || arg == "--json" || arg == "-ndjson" ||
               arg == "--ndjson" || arg == "-jsonlines" || arg == "-arrow" ||
               arg == "--arrow") {
      args->format = *ParseOutputFormat(arg.substr(arg.find_first_not_of('-')));
    } else if (arg == "--state-dir") {
      if (!take_value(arg)) return UsageError("option --state-dir needs a directory");
      args->state_dir = value;
    } else if (arg == "--pipeline") {
      if (!take_value(arg)) return UsageError("option --pipeline needs a name");
      args->pipeline = value;
    } else if (arg == "--reset") {
      args->reset = true;
    } else if (arg == "pipelines" && !args->pipelines && !args->connectors) {
      args->pipelines = true;
    } else if (arg == "--no-progress") {
      args->progress = false;
    } else if (arg == "-h" || arg == "--help" || arg == "-help") {
      args->help = true;
    } else if (arg == "-V" || arg == "--version" || arg == "-version") {
      args->version = true;
    } else if (arg == "--markdown" && args->connectors) {
      args->markdown = true;
    } else if (arg == "connectors" && !args->connectors && !args->pipelines) {
      args->connectors = true;
    } else if (arg == "-") {
      args->scripts.push_back({true, "-"});
    } else if (!arg.empty() && arg[0] == '-') {
      return UsageError("unknown option '" + arg + "'");
    } else {
      return UsageError("unexpected argument '" + arg +
                        "' (use -c to run SQL, -f to run a file)");
    }
    if (has_value && arg != "--command" && arg != "--file" && arg != "--format" &&
        arg != "--state-dir" && arg != "--pipeline") {
      return UsageError("option " + arg + " takes no value");
    }
  }
  return -1;
}

// Reads a whole file ("-": stdin). Errors are user errors naming the file.
Result<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    std::stringstream text;
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Status::Invalid("cannot read file '", path, "': ", strerror(errno));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) return Status::Invalid("cannot read file '", path, "'");
  return text.str();
}

int Main(int argc, char** argv) {
  // Arrow's default allocator here is mimalloc, which hands pages back to the kernel
  // and faults them in again: TPC-H q9 spent more time in the kernel than in user
  // space. jemalloc keeps them (q9 1.2 s -> 0.7 s). The variable is read on
  // Arrow's first allocation; a user's own setting wins.
  setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc", /*overwrite=*/0);
  Args args;
  const int parsed = ParseArgs(argc, argv, &args);
  if (parsed >= 0) return parsed;
  if (args.help) {
    fputs(kUsage, stdout);
    return kExitOk;
  }
  if (args.version) {
    printf("flowsql %s (Apache Arrow %s)\n", kVersion,
           arrow::GetBuildInfo().version_string.c_str());
    return kExitOk;
  }

  if (args.pipelines) {
    if (!args.scripts.empty()) return UsageError("'pipelines' takes no -c or -f");
    if (args.state_dir.empty()) return UsageError("'pipelines' needs --state-dir DIR");
    auto listed = ListPipelines(args.state_dir);
    if (!listed.ok()) {
      fprintf(stderr, "Error: %s\n", Redact(listed.status().message()).c_str());
      return IsUserError(listed.status()) ? kExitUserError : kExitRuntimeError;
    }
    Status st = PrintPipelines(*listed, args.format);
    if (!st.ok()) {
      fprintf(stderr, "Error: %s\n", Redact(st.message()).c_str());
      return kExitRuntimeError;
    }
    return kExitOk;
  }

  InstallSignalHandlers();
  ProgressLine progress(args.progress && isatty(STDERR_FILENO));

  EngineOptions options;
  options.state_dir = args.state_dir;
  options.pipeline = args.pipeline;
  options.reset = args.reset;
  options.stop = g_stop.token();
  options.progress = [&progress](int64_t rows, int64_t bytes) {
    progress.Update(rows, bytes);
  };
  auto engine = Engine::Make(std::move(options));
  if (!engine.ok()) {
    fprintf(stderr, "Error: %s\n", Redact(engine.status().message()).c_str());
    return kExitRuntimeError;
  }

  if (args.connectors) {
    if (!args.scripts.empty()) return UsageError("'connectors' takes no -c or -f");
    fputs(FormatConnectors((*engine)->registry(), args.markdown, TerminalWidth()).c_str(),
          stdout);
    return kExitOk;
  }

  Session session;
  session.engine = engine->get();
  session.format = args.format;
  session.stop = &g_stop;
  session.signal = &g_signal;
  session.progress = &progress;
  session.max_width = TerminalWidth();

  if (args.scripts.empty()) {
    if (isatty(STDIN_FILENO)) return RunShell(&session);
    args.scripts.push_back({true, "-"});
  }
  for (const auto& script : args.scripts) {
    std::string sql = script.text;
    if (script.is_file) {
      auto text = ReadFile(script.text);
      if (!text.ok()) {
        fprintf(stderr, "Error: %s\n", Redact(text.status().message()).c_str());
        return kExitUserError;
      }
      sql = std::move(*text);
    }
    const int code = RunScript(&session, sql);
    if (code != kExitOk) return code;
    if (g_stop.token().IsStopRequested()) break;
  }
  fflush(stdout);
  return kExitOk;
}

}  // namespace
}  // namespace flowsql::cli

int main(int argc, char** argv) {
  const int code = flowsql::cli::Main(argc, argv);
  flowsql::ShutdownConnectors();
  return code;
}
