// Running SQL from the flowsql command: scripts (-c, -f, stdin) and the
// interactive shell.
#pragma once

#include <arrow/util/cancel.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "cli/format.h"
#include "flowsql/engine.h"

namespace flowsql::cli {

/// Exit codes of the flowsql command.
constexpr int kExitOk = 0;
constexpr int kExitUserError = 1;
constexpr int kExitRuntimeError = 2;
constexpr int kExitInterrupted = 130;

/// What running statements needs. Not owned.
struct Session {
  Engine* engine = nullptr;
  OutputFormat format = OutputFormat::kTable;
  /// Requested by SIGINT/SIGTERM; its token is EngineOptions::stop. The shell
  /// resets it after each statement.
  arrow::StopSource* stop = nullptr;
  /// The signal that requested the stop (exit code 128 + signal).
  const std::atomic<int>* signal = nullptr;
  ProgressLine* progress = nullptr;
  /// Width tables must fit in (the terminal's, or 120).
  int64_t max_width = 120;
};

/// Parses `sql` and runs its statements in order, printing results on stdout and
/// errors on stderr ("Error: <message>"). Stops at the first failing statement,
/// and after a statement during which a stop was requested.
/// Returns kExitOk, kExitUserError, kExitRuntimeError, or 128 + the signal
/// (130 for SIGINT, 143 for SIGTERM) when a statement was interrupted.
int RunScript(Session* session, const std::string& sql);

/// Runs the interactive shell on the terminal until .quit or Ctrl-D. Errors are
/// printed and the shell goes on. Returns the exit code of the command.
int RunShell(Session* session);

/// Where one complete statement of `text` ends: the index just past the first ';'
/// outside quotes and comments, or std::string::npos when none is complete yet.
size_t FindStatementEnd(const std::string& text);

/// True when `text` holds nothing but blanks and comments.
bool IsBlank(const std::string& text);

/// Width of the terminal on stdout: $COLUMNS, else TIOCGWINSZ, else 120.
int64_t TerminalWidth();

}  // namespace flowsql::cli
