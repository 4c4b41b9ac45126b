#include "cli/shell.h"

#include <editline/readline.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/secrets.h"
#include "common/text.h"

namespace flowsql::cli {

// --- statements ---------------------------------------------------------------

namespace {

// Scans `text` from `pos` and returns the index just past the first ';' outside
// quotes and comments, or npos. `*open` tells whether the text ends inside a quote
// or a comment.
size_t Scan(const std::string& text, bool* open) {
  enum class State { kNormal, kSingle, kDouble, kLineComment, kBlockComment };
  State state = State::kNormal;
  int depth = 0;  // nesting of /* */ (PostgreSQL nests them)
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    const char next = i + 1 < n ? text[i + 1] : '\0';
    switch (state) {
      case State::kNormal:
        if (c == ';') {
          *open = false;
          return i + 1;
        } else if (c == '\'') {
          state = State::kSingle;
        } else if (c == '"') {
          state = State::kDouble;
        } else if (c == '-' && next == '-') {
          state = State::kLineComment;
          ++i;
        } else if (c == '/' && next == '*') {
          state = State::kBlockComment;
          depth = 1;
          ++i;
        }
        break;
      case State::kSingle:
        // '' inside a string is an escaped quote: leaving and re-entering is the same.
        if (c == '\'') state = State::kNormal;
        break;
      case State::kDouble:
        if (c == '"') state = State::kNormal;
        break;
      case State::kLineComment:
        if (c == '\n') state = State::kNormal;
        break;
      case State::kBlockComment:
        if (c == '/' && next == '*') {
          ++depth;
          ++i;
        } else if (c == '*' && next == '/') {
          ++i;
          if (--depth == 0) state = State::kNormal;
        }
        break;
    }
  }
  *open = state != State::kNormal && state != State::kLineComment;
  return std::string::npos;
}

}  // namespace

size_t FindStatementEnd(const std::string& text) {
  bool open = false;
  return Scan(text, &open);
}

bool IsBlank(const std::string& text) {
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
      continue;
    if (c == '-' && i + 1 < n && text[i + 1] == '-') {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      int depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] == '/' && i + 1 < n && text[i + 1] == '*') {
          ++depth;
          ++i;
        } else if (text[i] == '*' && i + 1 < n && text[i + 1] == '/') {
          --depth;
          ++i;
        }
        ++i;
      }
      --i;
      continue;
    }
    return false;
  }
  return true;
}

int64_t TerminalWidth() {
  if (const char* env = std::getenv("COLUMNS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return v;
  }
  struct winsize ws;
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
      ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 120;
}

// --- running ------------------------------------------------------------------------

namespace {

bool Interrupted(const Session* session) {
  return session->stop != nullptr && session->stop->token().IsStopRequested();
}

int InterruptedExit(const Session* session) {
  const int signal = session->signal != nullptr ? session->signal->load() : 0;
  return signal > 0 ? 128 + signal : kExitInterrupted;
}

int Report(Session* session, const Status& status) {
  if (Interrupted(session) && status.IsCancelled()) {
    fflush(stdout);
    fprintf(stderr, "Interrupted\n");
    return InterruptedExit(session);
  }
  std::string message = Redact(status.message());
  while (!message.empty() && message.back() == '\n') message.pop_back();
  fflush(stdout);
  fprintf(stderr, "Error: %s\n", message.c_str());
  return IsUserError(status) ? kExitUserError : kExitRuntimeError;
}

int RunStatement(Session* session, const ParsedStatement& statement) {
  ProgressLine* progress = session->progress;
  if (progress) progress->Start();
  auto result = session->engine->Execute(statement);
  if (!result.ok()) {
    if (progress) progress->Finish();
    return Report(session, result.status());
  }
  std::unique_ptr<StatementResult> stream = std::move(*result);

  WriterOptions options;
  options.format = session->format;
  options.kind = stream->kind();
  options.max_width = session->max_width;
  // Statements without a result (CREATE VIEW, kind "ok") print nothing.
  const std::shared_ptr<arrow::Schema> schema = stream->schema();
  std::unique_ptr<ResultWriter> writer;
  if (schema != nullptr && schema->num_fields() > 0) {
    writer = MakeResultWriter(options, stdout);
  }
  const bool stdout_tty = isatty(STDOUT_FILENO);

  Status st = writer ? writer->Begin(schema) : Status::OK();
  bool cancelled = false;
  while (st.ok()) {
    // A query stopped by Ctrl-C (here or inside the engine) still ends its output
    // properly: the table is drawn, the JSON array closed. (A pipeline stopped by
    // Ctrl-C has committed and returns its summary row: that is printed.)
    if (options.kind == "query" && Interrupted(session)) {
      cancelled = true;
      break;
    }
    auto batch = stream->Next();
    if (!batch.ok()) {
      st = batch.status();
      if (st.IsCancelled() && Interrupted(session)) {
        cancelled = true;
        st = Status::OK();
      }
      break;
    }
    if (*batch == nullptr) break;
    if (!writer) continue;
    if (progress && writer->streaming() && stdout_tty) progress->Suspend();
    st = writer->Write(*batch);
  }
  stream->Close();
  if (progress) progress->Finish();
  if (st.ok() && writer) st = writer->End();
  if (!st.ok()) return Report(session, st);
  if (cancelled) {
    fflush(stdout);
    fprintf(stderr, "Interrupted\n");
    return InterruptedExit(session);
  }
  return kExitOk;
}

}  // namespace

int RunScript(Session* session, const std::string& sql) {
  auto parsed = session->engine->Parse(sql);
  if (!parsed.ok()) return Report(session, parsed.status());
  for (const auto& statement : *parsed) {
    const int code = RunStatement(session, *statement);
    if (code != kExitOk) return code;
    if (Interrupted(session)) return kExitOk;
  }
  return kExitOk;
}

// --- the shell ------------------------------------------------------------------------

namespace {

constexpr const char* kPrompt = "flowsql> ";
constexpr const char* kContinuationPrompt = "     ...> ";

// Filled by the readline line handler; read by the loop in RunShell.
std::string g_line;
bool g_have_line = false;
bool g_eof = false;

void OnLine(char* line) {
  if (line == nullptr) {
    g_eof = true;
  } else {
    g_line = line;
    g_have_line = true;
    free(line);
  }
  // The statement runs with the terminal in its normal mode.
  rl_callback_handler_remove();
}

std::string HistoryPath() {
  if (const char* env = std::getenv("FLOWSQL_HISTORY")) return env;
  if (const char* home = std::getenv("HOME"))
    return std::string(home) + "/.flowsql_history";
  return "";
}

const char* kHelp =
    "Enter SQL statements ending with ';'. A statement may span several lines.\n"
    "Ctrl-C cancels the line being typed or the running statement; Ctrl-D exits.\n"
    "\n"
    ".help                 show this help\n"
    ".quit, .exit          leave the shell\n"
    ".format [FORMAT]      show or set the output format: table, csv, json, ndjson, "
    "arrow\n"
    ".mode [FORMAT]        same as .format\n"
    ".connectors           list connectors and their options\n"
    ".read FILE            run the statements in FILE\n";

// Runs a dot-command. Returns false when the shell should end.
bool RunDotCommand(Session* session, const std::string& line) {
  std::istringstream in(line);
  std::string command, arg;
  in >> command;
  std::getline(in, arg);
  arg = TrimBlanks(arg);
  if (command == ".quit" || command == ".exit" || command == ".q") return false;
  if (command == ".help" || command == ".h") {
    fputs(kHelp, stdout);
  } else if (command == ".format" || command == ".mode") {
    if (arg.empty()) {
      printf("%s\n", OutputFormatName(session->format));
    } else {
      auto format = ParseOutputFormat(arg);
      if (format.ok()) {
        session->format = *format;
      } else {
        fprintf(stderr, "Error: %s\n", format.status().message().c_str());
      }
    }
  } else if (command == ".connectors") {
    fputs(FormatConnectors(session->engine->registry(), false, TerminalWidth()).c_str(),
          stdout);
  } else if (command == ".read") {
    std::ifstream file(arg, std::ios::binary);
    if (arg.empty() || !file) {
      fprintf(stderr, "Error: cannot read file '%s': %s\n", arg.c_str(),
              arg.empty() ? "no file given" : strerror(errno));
    } else {
      std::stringstream text;
      text << file.rdbuf();
      session->max_width = TerminalWidth();
      RunScript(session, text.str());
    }
  } else {
    fprintf(stderr, "Error: unknown command '%s' (try .help)\n", command.c_str());
  }
  fflush(stdout);
  return true;
}

void AddHistory(const std::string& entry, const std::string& path) {
  const std::string text = TrimBlanks(entry);
  if (text.empty()) return;
  HIST_ENTRY* last =
      history_length > 0 ? history_get(history_base + history_length - 1) : nullptr;
  if (last != nullptr && text == last->line) return;
  add_history(text.c_str());
  // Saved as we go, so a killed shell keeps its history (at most 2000 entries:
  // stifle_history).
  if (!path.empty()) write_history(path.c_str());
}

}  // namespace

int RunShell(Session* session) {
  // libedit reads multibyte characters (UTF-8) only under the user's ctype locale.
  setlocale(LC_CTYPE, "");
  const std::string history_path = HistoryPath();
  rl_readline_name = "flowsql";
  // Ctrl-C is ours: the signal handler sets the interrupt flag and select() below
  // returns EINTR.
  rl_catch_signals = 0;
  using_history();
  stifle_history(2000);
  if (!history_path.empty()) read_history(history_path.c_str());

  printf(
      "flowsql — enter SQL ending with ';', .help for help, .quit or Ctrl-D to exit\n");
  fflush(stdout);

  std::string buffer;  // the statement being typed, across lines
  while (true) {
    g_have_line = false;
    g_eof = false;
    rl_callback_handler_install(buffer.empty() ? kPrompt : kContinuationPrompt, OnLine);
    bool cancelled = false;
    while (!g_have_line && !g_eof) {
      // A Ctrl-C that came while readline was busy.
      if (Interrupted(session)) {
        session->stop->Reset();
        cancelled = true;
        break;
      }
      const int fd = fileno(rl_instream != nullptr ? rl_instream : stdin);
      fd_set fds;
      FD_ZERO(&fds);
      FD_SET(fd, &fds);
      const int n = select(fd + 1, &fds, nullptr, nullptr, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        g_eof = true;
        break;
      }
      rl_callback_read_char();
    }
    if (cancelled) {
      // Ctrl-C: drop the line and the statement being typed.
      rl_free_line_state();
      rl_replace_line("", 0);
      rl_callback_handler_remove();
      fputs("^C\n", stdout);
      fflush(stdout);
      buffer.clear();
      continue;
    }
    if (g_eof) {
      rl_callback_handler_remove();
      fputs("\n", stdout);
      break;
    }

    const std::string line = g_line;
    if (buffer.empty() && TrimBlanks(line).rfind('.', 0) == 0) {
      AddHistory(line, history_path);
      if (!RunDotCommand(session, TrimBlanks(line))) break;
      session->stop->Reset();
      continue;
    }
    if (buffer.empty() && IsBlank(line)) continue;
    buffer += line;
    buffer += '\n';
    size_t end;
    while ((end = FindStatementEnd(buffer)) != std::string::npos) {
      std::string statement = buffer.substr(0, end);
      buffer.erase(0, end);
      AddHistory(statement, history_path);
      std::string body = statement.substr(0, statement.size() - 1);
      if (!IsBlank(body)) {
        session->max_width = TerminalWidth();
        RunScript(session, statement);
        fflush(stdout);
      }
      session->stop->Reset();
    }
    if (IsBlank(buffer)) buffer.clear();
  }
  fflush(stdout);
  return kExitOk;
}

}  // namespace flowsql::cli
