#include "connectors/file/read_settings.h"

namespace flowsql::file {

namespace {

// Accepts one character, or the escapes \t and "tab".
Result<char> OneChar(const std::string& option, const std::string& value) {
  if (value == "\\t" || AsciiLower(value) == "tab") return '\t';
  if (value.size() != 1) {
    return Status::Invalid("option '", option, "': expected one character, got '", value,
                           "'");
  }
  return value[0];
}

}  // namespace

Result<NamedTypes> ParseNamedTypes(const Options& options, const std::string& name) {
  NamedTypes out;
  for (const auto& [col, type_name] : options.GetMap(name)) {
    auto type = SqlTypeToArrow(type_name);
    if (!type.ok()) {
      return Status::Invalid("option '", name, "', column '", col,
                             "': ", type.status().message());
    }
    out.emplace_back(col, *type);
  }
  return out;
}

Result<ReadSettings> ParseReadSettings(const Options& options,
                                       const std::string& first_path) {
  ReadSettings s;
  auto from_path = FormatFromPath(first_path);
  if (options.IsSet("format") || options.Has("format")) {
    ARROW_ASSIGN_OR_RAISE(s.format, FormatFromName(options.GetString("format")));
    if (AsciiLower(options.GetString("format")) == "tsv") s.delimiter = '\t';
  } else if (from_path) {
    s.format = from_path->format;
  } else {
    return Status::Invalid("cannot tell the format of '", first_path,
                           "' from its extension; set option format = "
                           "'csv'|'json'|'ndjson'|'parquet'|'ipc'|'orc'|'avro'");
  }
  if (from_path && from_path->tab_separated) s.delimiter = '\t';
  if (options.IsSet("delimiter")) {
    ARROW_ASSIGN_OR_RAISE(s.delimiter,
                          OneChar("delimiter", options.GetString("delimiter")));
  }
  s.header = options.GetBool("header", true);
  if (options.IsSet("quote")) {
    // '' reads no quoting at all: a quote character is data.
    if (options.GetString("quote").empty()) {
      s.quote = '\0';
    } else {
      ARROW_ASSIGN_OR_RAISE(s.quote, OneChar("quote", options.GetString("quote")));
    }
  }
  if (options.IsSet("escape")) {
    ARROW_ASSIGN_OR_RAISE(s.escape, OneChar("escape", options.GetString("escape")));
    // DuckDB's default escape equals the quote: that is Arrow's doubled-quote rule.
    if (*s.escape == s.quote) s.escape.reset();
  }
  if (options.IsSet("null_string")) s.null_string = options.GetString("null_string");
  s.allow_quoted_nulls = options.GetBool("allow_quoted_nulls", true);
  s.skip_rows = options.GetInt("skip_rows", 0);
  if (s.skip_rows < 0) return Status::Invalid("option 'skip_rows' must be >= 0");
  s.newlines_in_values = options.GetBool("newlines_in_values", false);
  ARROW_ASSIGN_OR_RAISE(s.columns, ParseNamedTypes(options, "columns"));
  ARROW_ASSIGN_OR_RAISE(s.types, ParseNamedTypes(options, "types"));
  s.auto_detect = options.GetBool("auto_detect", true);
  s.timestamp_format = options.GetString("timestamp_format");
  s.batch_size = options.GetInt("batch_size", 0);
  if (s.batch_size < 0) return Status::Invalid("option 'batch_size' must be >= 0");
  // Measured on 100 MB inputs, 2 cores: CSV is fastest with 4 MB blocks, JSON with 1 MB.
  s.block_size = s.format == FileFormat::kCsv ? (4 << 20) : (1 << 20);
  if (options.Has("block_size")) {
    auto bytes = ParseSizeBytes(options.GetString("block_size"));
    if (!bytes.ok() || *bytes < 1024 || *bytes > (1LL << 30)) {
      return Status::Invalid("option 'block_size': expected a size between 1KB and 1GB");
    }
    s.block_size = *bytes;
  }
  s.union_by_name = options.GetBool("union_by_name", true);
  if (options.IsSet("hive_partitioning")) {
    s.hive_partitioning = options.GetBool("hive_partitioning", true);
  }
  s.filename = options.GetBool("filename", false);
  s.file_row_number = options.GetBool("file_row_number", false);
  if (options.Has("invalid_utf8")) {
    const std::string mode = AsciiLower(options.GetString("invalid_utf8"));
    s.invalid_utf8 = mode == "replace"  ? InvalidUtf8::kReplace
                     : mode == "ignore" ? InvalidUtf8::kIgnore
                                        : InvalidUtf8::kError;
  }
  if (options.Has("sample_size")) {
    const int64_t n = options.GetInt("sample_size");
    if (n < -1 || n == 0) {
      return Status::Invalid(
          "option 'sample_size': expected -1 (the whole file) or a "
          "positive number, got ",
          n);
    }
    s.sample_all = n == -1;
  }
  if (options.Has("compression") &&
      AsciiLower(options.GetString("compression")) != "auto") {
    ARROW_ASSIGN_OR_RAISE(
        s.compression,
        StreamCompressionFromName(options.GetString("compression"), "compression"));
  }
  return s;
}

}  // namespace flowsql::file
