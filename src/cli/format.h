// Output of the flowsql command: rendering Arrow values as text and JSON, the
// result writers behind --format, the `flowsql connectors` listing and the
// progress line on stderr.
#pragma once

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type_fwd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "flowsql/connector.h"
#include "flowsql/status.h"

namespace flowsql::cli {

enum class OutputFormat { kTable, kCsv, kJson, kNdjson, kArrow };

/// Parses "table", "csv", "json", "ndjson" or "arrow" (case-insensitive).
Result<OutputFormat> ParseOutputFormat(const std::string& name);
const char* OutputFormatName(OutputFormat format);

// --- values -------------------------------------------------------------------

/// Appends row `i` of `array` as text, the way DuckDB prints it: dates
/// YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM:SS[.ffffff], floats in their shortest
/// round-trip form, nested values as {'a': 1, 'b': [1, 2]}. A null appends `null_text`.
void AppendText(const arrow::Array& array, int64_t i, std::string* out,
                const std::string& null_text = "NULL");
std::string FormatText(const arrow::Array& array, int64_t i,
                       const std::string& null_text = "NULL");

/// Appends row `i` of `array` as a JSON value: numbers and booleans as such,
/// structs and maps with string keys as objects, lists as arrays, null as null,
/// everything else (dates, timestamps, decimals are numbers) as strings.
/// Non-finite floats become null so the output stays valid JSON.
void AppendJson(const arrow::Array& array, int64_t i, std::string* out);

/// A short type name for the table header: int64, double, varchar, date,
/// timestamp, decimal(10,2), int64[], struct(a int64, b varchar), ...
std::string ShortTypeName(const arrow::DataType& type);

/// Number of terminal columns `s` occupies (UTF-8 code points).
int64_t DisplayWidth(std::string_view s);

// --- result writers -------------------------------------------------------------

struct WriterOptions {
  OutputFormat format = OutputFormat::kTable;
  /// The statement kind from StatementResult::kind(). In table mode "explain"
  /// prints its text raw, line by line.
  std::string kind = "query";
  /// Width the table must fit in.
  int64_t max_width = 120;
  /// Cells longer than this are cut with "…".
  int64_t max_cell_width = 40;
  /// Table mode keeps at most this many first and last rows.
  int64_t head_rows = 20;
  int64_t tail_rows = 20;
};

/// Writes one statement's result to a stdio stream. Streaming formats (csv, json,
/// ndjson, arrow) write and flush every batch as it arrives; table keeps only the
/// first and last rows and writes at End(). Not thread-safe.
class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  virtual Status Begin(const std::shared_ptr<arrow::Schema>& schema) = 0;
  virtual Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  /// Finishes the output (closing bracket, table, footer, IPC end-of-stream).
  virtual Status End() = 0;
  /// True when Write() sends output immediately (everything but table).
  virtual bool streaming() const { return true; }
};

/// REQUIRES: `out` outlives the writer.
std::unique_ptr<ResultWriter> MakeResultWriter(const WriterOptions& options, FILE* out);

/// Renders rows as a box table (for tests and the connectors listing).
/// `rows` are rendered cells; `right_align[c]` right-aligns column c.
/// `total_rows` > rows.size() inserts a "…" row after `head` rows.
struct TableLayout {
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::vector<bool> right_align;
  std::vector<std::vector<std::string>> rows;
  int64_t head = 0;  // rows before the "…" row when truncated
  int64_t total_rows = 0;
};
std::string RenderTable(const TableLayout& layout, int64_t max_width,
                        int64_t max_cell_width);

// --- connectors -----------------------------------------------------------------

/// Every registered connector with its schemes, table functions and options, as
/// aligned text wrapped to `max_width` columns, or (markdown = true) as Markdown
/// sections with tables.
std::string FormatConnectors(const Registry& registry, bool markdown,
                             int64_t max_width = 100);

// --- progress -------------------------------------------------------------------

/// One self-updating line on stderr while a statement runs longer than a second:
/// "\r  1,234,567 rows  123.4 MB  456,789 rows/s". Thread-safe: Update() is called
/// from engine threads.
class ProgressLine {
 public:
  /// Shows nothing unless `enabled` (stderr is a terminal).
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}

  /// A statement starts: resets the counters and the clock.
  void Start();
  /// Rows and bytes moved so far by the running statement.
  void Update(int64_t rows, int64_t bytes);
  /// Stops drawing until the next Start() (results are being printed to a terminal).
  void Suspend();
  /// The statement ended: clears the line.
  void Finish();

 private:
  void ClearLocked();

  const bool enabled_;
  std::mutex mutex_;
  bool active_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// 1234567 -> "1,234,567".
std::string WithThousands(int64_t n);

}  // namespace flowsql::cli
