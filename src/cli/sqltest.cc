// flowsql_sqltest: runs sqllogictest files (test/sql/**/*.test) against the engine.
//
//   flowsql_sqltest [--timeout SECONDS] [--verbose] FILE_OR_DIR...
//
// Records (DuckDB's dialect of sqllogictest):
//
//   statement ok                 SQL up to a blank line; must succeed (result drained)
//   statement error [substring]  SQL must fail; the message must contain the substring,
//                                or the lines after a `----` line (`<REGEX>:re` allowed)
//   query <types> [rowsort|nosort]
//                                SQL, `----`, then one line per row, columns separated
//                                by a tab, rendered as described at RenderScalar()
//   halt, mode skip, mode unskip, require ..., # comments
//
// Every file runs in a fresh Engine; `__TEST_DIR__` in SQL is replaced by a fresh
// temporary directory per file. Paths are relative to the working directory (the
// repository root). The last line of output is `sqltest: N passed, M failed`.
#include <arrow/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/util/decimal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/temporal.h"
#include "common/text.h"
#include "flowsql/engine.h"

namespace fs = std::filesystem;

namespace flowsql {
namespace {

// ---------------------------------------------------------------------------
// Value rendering. test/sql/gen_expected.py implements the same rules in Python;
// change both together.

/// Floats: rounded to 3 decimals, trailing zeros and '.' stripped, -0 -> 0.
std::string FormatDouble(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  std::string s(buf);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

/// Days since 1970-01-01 to YYYY-MM-DD (proleptic Gregorian).
std::string FormatDate(int64_t days) {
  const auto [y, m, d] = CivilFromDays(days);
  char buf[128];
  if (y < 0) {
    std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lld (BC)",
                  static_cast<long long>(1 - y), static_cast<long long>(m),
                  static_cast<long long>(d));
  } else {
    std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lld", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d));
  }
  return buf;
}

/// A time of day from a sub-second count: HH:MM:SS[.fraction with trailing zeros cut].
/// `units_per_second` is 1, 1e3, 1e6 or 1e9.
std::string FormatTimeOfDay(int64_t value, int64_t units_per_second) {
  const int64_t secs = FloorDiv(value, units_per_second);
  const int64_t frac = value - secs * units_per_second;
  char buf[64];
  std::snprintf(
      buf, sizeof(buf), "%02lld:%02lld:%02lld", static_cast<long long>(secs / 3600),
      static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  std::string out(buf);
  if (frac != 0) {
    int digits = 0;
    for (int64_t u = units_per_second; u > 1; u /= 10) ++digits;
    std::snprintf(buf, sizeof(buf), "%0*lld", digits, static_cast<long long>(frac));
    std::string f(buf);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}

std::string FormatTimestamp(int64_t value, arrow::TimeUnit::type unit) {
  const int64_t per_second = UnitsPerSecond(unit);
  const int64_t per_day = per_second * 86400;
  const int64_t days = FloorDiv(value, per_day);
  return FormatDate(days) + " " + FormatTimeOfDay(value - days * per_day, per_second);
}

/// DuckDB's interval text: "1 year 2 months 3 days 04:05:06".
std::string FormatInterval(int64_t months, int64_t days, int64_t nanos) {
  std::vector<std::string> parts;
  auto add = [&](int64_t n, const char* unit) {
    if (n == 0) return;
    parts.push_back(std::to_string(n) + " " + unit + (n == 1 || n == -1 ? "" : "s"));
  };
  add(months / 12, "year");
  add(months % 12, "month");
  add(days, "day");
  if (nanos != 0 || parts.empty()) {
    std::string t = nanos < 0 ? "-" + FormatTimeOfDay(-nanos, 1000000000)
                              : FormatTimeOfDay(nanos, 1000000000);
    parts.push_back(t);
  }
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? " " : "") + parts[i];
  return out;
}

std::string FormatBinary(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 32 && c < 127 && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string RenderScalar(const arrow::Scalar& scalar, bool nested);

std::string RenderArrayElements(const arrow::Array& values) {
  std::string out = "[";
  for (int64_t i = 0; i < values.length(); ++i) {
    if (i) out += ", ";
    auto s = values.GetScalar(i);
    out += s.ok() ? RenderScalar(**s, /*nested=*/true) : "<error>";
  }
  return out + "]";
}

/// Renders one value the way expected results are written:
///   NULL; true/false; integers in decimal; floats via FormatDouble; strings as is,
///   the empty string as (empty) (inside nested values: ''); dates YYYY-MM-DD;
///   timestamps YYYY-MM-DD HH:MM:SS[.ffffff]; decimals as text; lists [a, b];
///   structs {'k': v}; maps {k=v}; intervals as DuckDB prints them.
std::string RenderScalar(const arrow::Scalar& scalar, bool nested) {
  using arrow::Type;
  if (!scalar.is_valid) return "NULL";
  switch (scalar.type->id()) {
    case Type::NA:
      return "NULL";
    case Type::BOOL:
      return static_cast<const arrow::BooleanScalar&>(scalar).value ? "true" : "false";
    case Type::INT8:
      return std::to_string(static_cast<const arrow::Int8Scalar&>(scalar).value);
    case Type::INT16:
      return std::to_string(static_cast<const arrow::Int16Scalar&>(scalar).value);
    case Type::INT32:
      return std::to_string(static_cast<const arrow::Int32Scalar&>(scalar).value);
    case Type::INT64:
      return std::to_string(static_cast<const arrow::Int64Scalar&>(scalar).value);
    case Type::UINT8:
      return std::to_string(static_cast<const arrow::UInt8Scalar&>(scalar).value);
    case Type::UINT16:
      return std::to_string(static_cast<const arrow::UInt16Scalar&>(scalar).value);
    case Type::UINT32:
      return std::to_string(static_cast<const arrow::UInt32Scalar&>(scalar).value);
    case Type::UINT64:
      return std::to_string(static_cast<const arrow::UInt64Scalar&>(scalar).value);
    case Type::FLOAT:
      return FormatDouble(static_cast<const arrow::FloatScalar&>(scalar).value);
    case Type::DOUBLE:
      return FormatDouble(static_cast<const arrow::DoubleScalar&>(scalar).value);
    case Type::STRING:
    case Type::LARGE_STRING:
    case Type::STRING_VIEW: {
      auto view = static_cast<const arrow::BaseBinaryScalar&>(scalar).view();
      if (view.empty()) return nested ? "''" : "(empty)";
      return std::string(view);
    }
    case Type::BINARY:
    case Type::LARGE_BINARY:
    case Type::BINARY_VIEW:
    case Type::FIXED_SIZE_BINARY: {
      auto view = static_cast<const arrow::BaseBinaryScalar&>(scalar).view();
      if (view.empty()) return nested ? "''" : "(empty)";
      return FormatBinary(view);
    }
    case Type::DATE32:
      return FormatDate(static_cast<const arrow::Date32Scalar&>(scalar).value);
    case Type::DATE64:
      return FormatDate(
          FloorDiv(static_cast<const arrow::Date64Scalar&>(scalar).value, 86400000));
    case Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampScalar&>(scalar);
      return FormatTimestamp(
          ts.value, static_cast<const arrow::TimestampType&>(*scalar.type).unit());
    }
    case Type::TIME32: {
      const auto& t = static_cast<const arrow::Time32Scalar&>(scalar);
      return FormatTimeOfDay(
          t.value,
          UnitsPerSecond(static_cast<const arrow::Time32Type&>(*scalar.type).unit()));
    }
    case Type::TIME64: {
      const auto& t = static_cast<const arrow::Time64Scalar&>(scalar);
      return FormatTimeOfDay(
          t.value,
          UnitsPerSecond(static_cast<const arrow::Time64Type&>(*scalar.type).unit()));
    }
    case Type::DURATION: {
      const auto& d = static_cast<const arrow::DurationScalar&>(scalar);
      const int64_t per_second =
          UnitsPerSecond(static_cast<const arrow::DurationType&>(*scalar.type).unit());
      const int64_t nanos = d.value * (1000000000 / per_second);
      const int64_t day = int64_t{86400} * 1000000000;
      return FormatInterval(0, nanos / day, nanos % day);
    }
    case Type::INTERVAL_MONTHS:
      return FormatInterval(static_cast<const arrow::MonthIntervalScalar&>(scalar).value,
                            0, 0);
    case Type::INTERVAL_DAY_TIME: {
      const auto& v = static_cast<const arrow::DayTimeIntervalScalar&>(scalar).value;
      return FormatInterval(0, v.days, int64_t{v.milliseconds} * 1000000);
    }
    case Type::INTERVAL_MONTH_DAY_NANO: {
      const auto& v = static_cast<const arrow::MonthDayNanoIntervalScalar&>(scalar).value;
      return FormatInterval(v.months, v.days, v.nanoseconds);
    }
    case Type::DECIMAL32:
    case Type::DECIMAL64:
    case Type::DECIMAL128:
    case Type::DECIMAL256:
      return scalar.ToString();
    case Type::LIST:
    case Type::LARGE_LIST:
    case Type::FIXED_SIZE_LIST:
    case Type::LIST_VIEW:
    case Type::LARGE_LIST_VIEW: {
      const auto& list = static_cast<const arrow::BaseListScalar&>(scalar);
      return RenderArrayElements(*list.value);
    }
    case Type::MAP: {
      const auto& map = static_cast<const arrow::MapScalar&>(scalar);
      const auto& entries = static_cast<const arrow::StructArray&>(*map.value);
      std::string out = "{";
      for (int64_t i = 0; i < entries.length(); ++i) {
        if (i) out += ", ";
        auto k = entries.field(0)->GetScalar(i);
        auto v = entries.field(1)->GetScalar(i);
        out += (k.ok() ? RenderScalar(**k, true) : "<error>") + "=" +
               (v.ok() ? RenderScalar(**v, true) : "<error>");
      }
      return out + "}";
    }
    case Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructScalar&>(scalar);
      const auto& type = static_cast<const arrow::StructType&>(*scalar.type);
      std::string out = "{";
      for (int i = 0; i < type.num_fields(); ++i) {
        if (i) out += ", ";
        out += "'" + type.field(i)->name() + "': " + RenderScalar(*st.value[i], true);
      }
      return out + "}";
    }
    case Type::DICTIONARY: {
      auto decoded =
          static_cast<const arrow::DictionaryScalar&>(scalar).GetEncodedValue();
      return decoded.ok() ? RenderScalar(**decoded, nested) : "<error>";
    }
    default:
      return scalar.ToString();
  }
}

/// Renders a table as lines of tab-separated values.
std::vector<std::string> RenderTable(const arrow::Table& table) {
  std::vector<std::string> rows(table.num_rows());
  for (int c = 0; c < table.num_columns(); ++c) {
    int64_t r = 0;
    for (const auto& chunk : table.column(c)->chunks()) {
      for (int64_t i = 0; i < chunk->length(); ++i, ++r) {
        auto s = chunk->GetScalar(i);
        std::string text =
            s.ok() ? RenderScalar(**s, false) : "<" + s.status().ToString() + ">";
        if (c) rows[r] += '\t';
        rows[r] += text;
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------
// Records.

struct Record {
  enum class Kind { kStatementOk, kStatementError, kQuery, kInvalid } kind;
  int line = 0;
  std::string sql;
  std::string types;
  bool rowsort = false;
  std::vector<std::string> expected;  // rows, or error message lines
  std::string note;                   // kInvalid: why
};

std::vector<std::string> SplitWords(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

/// Parses every record; those between `mode skip` and `mode unskip` are counted in
/// `*skipped` and left out.
std::vector<Record> ParseRecords(const std::vector<std::string>& lines, int* skipped) {
  std::vector<Record> records;
  bool skipping = false;
  size_t i = 0;
  const size_t n = lines.size();
  auto is_blank = [&](size_t k) { return TrimBlanks(lines[k]).empty(); };
  while (i < n) {
    std::string line = TrimBlanks(lines[i]);
    if (line.empty() || line[0] == '#') {
      ++i;
      continue;
    }
    auto words = SplitWords(line);
    const std::string& head = words[0];
    const int line_no = static_cast<int>(i) + 1;
    if (head == "halt") break;
    if (head == "mode") {
      if (words.size() > 1 && words[1] == "skip") skipping = true;
      if (words.size() > 1 && words[1] == "unskip") skipping = false;
      ++i;
      continue;
    }
    if (head == "require" || head == "load" || head == "skipif" || head == "onlyif") {
      ++i;
      continue;
    }
    Record rec;
    rec.line = line_no;
    if (head == "statement" && words.size() >= 2 &&
        (words[1] == "ok" || words[1] == "error" || words[1] == "maybe")) {
      rec.kind =
          words[1] == "ok" ? Record::Kind::kStatementOk : Record::Kind::kStatementError;
      if (rec.kind == Record::Kind::kStatementError) {
        std::string rest = TrimBlanks(line.substr(line.find("error") + 5));
        if (!rest.empty()) rec.expected.push_back(rest);
      }
    } else if (head == "query" && words.size() >= 2) {
      rec.kind = Record::Kind::kQuery;
      rec.types = words[1];
      for (size_t w = 2; w < words.size(); ++w) {
        if (words[w] == "rowsort" || words[w] == "valuesort") rec.rowsort = true;
      }
    } else {
      rec.kind = Record::Kind::kInvalid;
      rec.note = "unknown record: " + line;
    }
    ++i;
    // Skip to the end of an invalid record.
    std::vector<std::string> sql;
    while (i < n && !is_blank(i) && TrimBlanks(lines[i]) != "----")
      sql.push_back(lines[i++]);
    bool has_sep = i < n && TrimBlanks(lines[i]) == "----";
    std::vector<std::string> result;
    if (has_sep) {
      ++i;
      while (i < n && !is_blank(i)) {
        std::string l = lines[i++];
        if (!l.empty() && l.back() == '\r') l.pop_back();
        result.push_back(l);
      }
    }
    for (size_t k = 0; k < sql.size(); ++k) rec.sql += (k ? "\n" : "") + sql[k];
    if (rec.kind == Record::Kind::kQuery) {
      if (!has_sep) {
        rec.kind = Record::Kind::kInvalid;
        rec.note = "query without ---- line";
      }
      rec.expected = result;
    } else if (rec.kind == Record::Kind::kStatementError && has_sep) {
      for (auto& l : result) rec.expected.push_back(l);
    } else if (rec.kind == Record::Kind::kStatementOk && has_sep) {
      rec.kind = Record::Kind::kInvalid;
      rec.note = "statement ok with a ---- section";
    }
    if (rec.sql.empty() && rec.kind != Record::Kind::kInvalid) {
      rec.kind = Record::Kind::kInvalid;
      rec.note = "record without SQL";
    }
    if (skipping) {
      ++*skipped;
    } else {
      records.push_back(std::move(rec));
    }
  }
  return records;
}

// ---------------------------------------------------------------------------
// Running.

/// Sets the engine's interrupt flag when a statement runs past its deadline, and
/// ends the process if the engine does not stop soon after.
class Watchdog {
 public:
  explicit Watchdog(int timeout_s) : timeout_s_(timeout_s), thread_([this] { Loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  arrow::StopToken token() { return stop_source_.token(); }
  void Arm(const std::string& where) {
    std::lock_guard<std::mutex> lock(mu_);
    stop_source_.Reset();
    fired_ = false;
    where_ = where;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s_);
    armed_ = true;
    cv_.notify_all();
  }
  /// Returns true when the deadline passed while armed.
  bool Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    stop_source_.Reset();
    return fired_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
          !stop_) {
        if (!fired_) {
          fired_ = true;
          stop_source_.RequestStop();
          std::cerr << "sqltest: " << where_ << ": timed out after " << timeout_s_
                    << " s, interrupting" << std::endl;
          deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        } else {
          std::cerr << "sqltest: " << where_
                    << ": did not stop after an interrupt; giving up" << std::endl;
          std::cout << "sqltest: 0 passed, 1 failed" << std::endl;
          std::_Exit(1);
        }
      }
    }
  }

  int timeout_s_;
  arrow::StopSource stop_source_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point deadline_;
  bool armed_ = false;
  bool fired_ = false;
  bool stop_ = false;
  std::string where_;
  std::thread thread_;
};

/// Parses and runs every statement of `sql`; returns the last result read whole.
Result<std::shared_ptr<arrow::Table>> RunSql(Engine* engine, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto statements, engine->Parse(sql));
  if (statements.empty()) return Status::Invalid("no statement in record");
  std::shared_ptr<arrow::Table> last;
  for (const auto& statement : statements) {
    ARROW_ASSIGN_OR_RAISE(auto result, engine->Execute(*statement));
    ARROW_ASSIGN_OR_RAISE(last, ReadAll(result.get()));
  }
  return last;
}

Result<std::shared_ptr<arrow::Table>> RunSqlGuarded(Engine* engine,
                                                    const std::string& sql) {
  try {
    return RunSql(engine, sql);
  } catch (const std::exception& e) {
    return Status::UnknownError("C++ exception escaped the engine: ", e.what());
  } catch (...) {
    return Status::UnknownError("unknown C++ exception escaped the engine");
  }
}

std::string Indent(const std::string& text) {
  std::string out = "    ";
  for (char c : text) {
    out.push_back(c);
    if (c == '\n') out += "    ";
  }
  return out;
}

void PrintLines(const char* title, const std::vector<std::string>& lines) {
  std::cout << "  " << title << " (" << lines.size() << " rows):\n";
  const size_t limit = 60;
  for (size_t i = 0; i < lines.size() && i < limit; ++i)
    std::cout << "    " << lines[i] << "\n";
  if (lines.size() > limit) std::cout << "    ... " << lines.size() - limit << " more\n";
}

/// A plain decimal number as rendered ("-12", "3.25", "1e+20"); not NULL, nan or inf.
bool ParseNumber(const std::string& s, double* out) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  for (size_t pos; (pos = line.find('\t', start)) != std::string::npos; start = pos + 1) {
    cells.push_back(line.substr(start, pos - start));
  }
  cells.push_back(line.substr(start));
  return cells;
}

/// Rows match when every cell is equal, or both cells are numbers that differ by at
/// most one unit of the third decimal: floats are rendered rounded to 3 decimals, and
/// a value on a rounding boundary may round either way depending on summation order.
bool RowsMatch(const std::string& expected, const std::string& actual) {
  if (expected == actual) return true;
  auto e = SplitTabs(expected);
  auto a = SplitTabs(actual);
  if (e.size() != a.size()) return false;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] == a[i]) continue;
    double x, y;
    if (!ParseNumber(e[i], &x) || !ParseNumber(a[i], &y)) return false;
    if (std::fabs(x - y) > 0.0011 + 1e-9 * std::fabs(x)) return false;
  }
  return true;
}

bool MessageMatches(const std::string& message,
                    const std::vector<std::string>& expected) {
  for (const auto& raw : expected) {
    std::string e = TrimBlanks(raw);
    if (e.empty()) continue;
    if (e.rfind("<REGEX>:", 0) == 0) {
      try {
        if (!std::regex_search(message, std::regex(e.substr(8)))) return false;
      } catch (const std::regex_error&) {
        return false;
      }
    } else if (message.find(e) == std::string::npos) {
      return false;
    }
  }
  return true;
}

struct Counts {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};

/// A column's type as a query record's letter, as test/sql/gen_expected.py infers
/// them from DuckDB's result: B boolean, I integer (and DECIMAL(p,0)), R floating
/// point and decimal, D date/time/timestamp, T anything else.
char TypeLetter(const arrow::DataType& t) {
  if (t.id() == arrow::Type::BOOL) return 'B';
  if (arrow::is_integer(t.id())) return 'I';
  if (arrow::is_decimal(t.id())) {
    return static_cast<const arrow::DecimalType&>(t).scale() == 0 ? 'I' : 'R';
  }
  if (arrow::is_floating(t.id())) return 'R';
  switch (t.id()) {
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
      return 'D';
    default:
      return 'T';
  }
}

std::string TypeLetters(const arrow::Schema& schema) {
  std::string out;
  for (const auto& f : schema.fields()) {
    out += f->type()->id() == arrow::Type::NA ? '?' : TypeLetter(*f->type());
  }
  return out;
}

/// A column of the null type (SELECT NULL) has no type to compare: it matches any.
bool TypeLettersMatch(const std::string& actual, const std::string& expected) {
  if (actual.size() != expected.size()) return false;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] != '?' && actual[i] != expected[i]) return false;
  }
  return true;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

void RunFile(const std::string& path, Watchdog* watchdog, bool verbose, Counts* counts) {
  std::ifstream in(path);
  if (!in) {
    std::cout << "FAIL " << path << ": cannot open\n";
    ++counts->failed;
    return;
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  auto records = ParseRecords(lines, &counts->skipped);

  // A fresh temporary directory per file for write tests.
  std::string tmpl = (fs::temp_directory_path() / "flowsql_sqltest_XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  std::string test_dir = mkdtemp(buf.data()) ? std::string(buf.data()) : "/tmp";

  EngineOptions options;
  options.stop = watchdog->token();
  auto engine_result = Engine::Make(options);
  if (!engine_result.ok()) {
    std::cout << "FAIL " << path
              << ": Engine::Make: " << engine_result.status().ToString() << "\n";
    counts->failed += static_cast<int>(records.size());
    return;
  }
  auto engine = std::move(*engine_result);

  int file_passed = 0, file_failed = 0;
  for (const auto& rec : records) {
    const std::string where = path + ":" + std::to_string(rec.line);
    const std::string sql = ReplaceAll(rec.sql, "__TEST_DIR__", test_dir);
    std::string failure;
    std::vector<std::string> expected_rows, actual_rows;
    bool show_rows = false;
    if (rec.kind == Record::Kind::kInvalid) {
      failure = rec.note;
    } else {
      if (verbose) std::cout << "RUN  " << where << "\n" << std::flush;
      watchdog->Arm(where);
      auto result = RunSqlGuarded(engine.get(), sql);
      if (watchdog->Disarm()) failure = "timed out (interrupted)";
      if (!failure.empty()) {
        // keep the timeout message
      } else if (rec.kind == Record::Kind::kStatementOk) {
        if (!result.ok())
          failure = "expected success, got error: " + result.status().ToString();
      } else if (rec.kind == Record::Kind::kStatementError) {
        std::vector<std::string> expected = rec.expected;
        for (auto& e : expected) e = ReplaceAll(e, "__TEST_DIR__", test_dir);
        if (result.ok()) {
          failure = "expected an error, but the statement succeeded";
        } else if (!MessageMatches(result.status().ToString(), expected)) {
          std::string want;
          for (const auto& e : rec.expected) want += (want.empty() ? "" : " / ") + e;
          failure = "error message does not contain '" + want +
                    "'; got: " + result.status().ToString();
        }
      } else if (!result.ok()) {
        failure = "query failed: " + result.status().ToString();
      } else {
        const auto& table = **result;
        actual_rows = RenderTable(table);
        expected_rows = rec.expected;
        if (rec.rowsort) {
          std::sort(actual_rows.begin(), actual_rows.end());
          std::sort(expected_rows.begin(), expected_rows.end());
        }
        if (static_cast<size_t>(table.num_columns()) != rec.types.size()) {
          failure = "expected " + std::to_string(rec.types.size()) + " columns (" +
                    rec.types + "), got " + std::to_string(table.num_columns()) + ": " +
                    table.schema()->ToString();
          show_rows = true;
        } else if (std::string letters = TypeLetters(*table.schema());
                   !TypeLettersMatch(letters, rec.types)) {
          failure = "expected column types " + rec.types + ", got " + letters + ": " +
                    table.schema()->ToString();
          show_rows = true;
        } else if (actual_rows != expected_rows) {
          for (size_t k = 0; k < std::max(actual_rows.size(), expected_rows.size());
               ++k) {
            const std::string a = k < actual_rows.size() ? actual_rows[k] : "<missing>";
            const std::string e =
                k < expected_rows.size() ? expected_rows[k] : "<missing>";
            if (!RowsMatch(e, a)) {
              failure = "wrong result (first difference at row " + std::to_string(k + 1) +
                        ": expected '" + e + "', got '" + a + "')";
              show_rows = true;
              break;
            }
          }
        }
      }
    }
    if (failure.empty()) {
      ++file_passed;
      continue;
    }
    ++file_failed;
    std::cout << "FAIL " << where << ": " << failure << "\n";
    std::cout << "  SQL:\n" << Indent(sql) << "\n";
    if (show_rows) {
      PrintLines("expected", expected_rows);
      PrintLines("actual", actual_rows);
    }
    std::cout << std::flush;
  }
  counts->passed += file_passed;
  counts->failed += file_failed;
  if (verbose || file_failed) {
    std::cout << "file " << path << ": " << file_passed << " passed, " << file_failed
              << " failed\n";
  }
  engine.reset();
  std::error_code ec;
  fs::remove_all(test_dir, ec);
}

int Main(int argc, char** argv) {
  std::vector<std::string> inputs;
  int timeout_s = 60;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc) {
      timeout_s = std::atoi(argv[++i]);
    } else if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else if (a == "--update") {
      std::cerr << "sqltest: --update is not supported; use test/sql/gen_expected.py\n";
      return 2;
    } else if (a == "-h" || a == "--help") {
      std::cout
          << "usage: flowsql_sqltest [--timeout SECONDS] [--verbose] FILE_OR_DIR...\n";
      return 0;
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty()) {
    std::cerr
        << "usage: flowsql_sqltest [--timeout SECONDS] [--verbose] FILE_OR_DIR...\n";
    return 2;
  }
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::recursive_directory_iterator(input)) {
        if (entry.is_regular_file() && entry.path().extension() == ".test") {
          found.push_back(entry.path().string());
        }
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  Counts counts;
  {
    Watchdog watchdog(timeout_s);
    for (const auto& file : files) RunFile(file, &watchdog, verbose, &counts);
  }
  if (counts.skipped > 0) {
    std::cout << "sqltest: " << counts.skipped << " records skipped (mode skip)\n";
  }
  std::cout << "sqltest: " << counts.passed << " passed, " << counts.failed << " failed"
            << std::endl;
  return counts.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace flowsql

int main(int argc, char** argv) {
  const int code = flowsql::Main(argc, argv);
  flowsql::ShutdownConnectors();
  return code;
}
