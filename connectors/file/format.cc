#include "connectors/file/format.h"

#include <arrow/type.h>
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

namespace flowsql::file {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

const char* FormatName(FileFormat format) {
  switch (format) {
    case FileFormat::kCsv:
      return "csv";
    case FileFormat::kJson:
      return "json";
    case FileFormat::kNdjson:
      return "ndjson";
    case FileFormat::kParquet:
      return "parquet";
    case FileFormat::kIpc:
      return "ipc";
  }
  return "?";
}

const char* FormatExtension(FileFormat format) {
  switch (format) {
    case FileFormat::kCsv:
      return "csv";
    case FileFormat::kJson:
      return "json";
    case FileFormat::kNdjson:
      return "ndjson";
    case FileFormat::kParquet:
      return "parquet";
    case FileFormat::kIpc:
      return "arrow";
  }
  return "?";
}

Result<FileFormat> FormatFromName(const std::string& name) {
  std::string n = Lower(name);
  if (n == "csv" || n == "tsv" || n == "txt") return FileFormat::kCsv;
  if (n == "json") return FileFormat::kJson;
  if (n == "ndjson" || n == "jsonl" || n == "newline_delimited")
    return FileFormat::kNdjson;
  if (n == "parquet") return FileFormat::kParquet;
  if (n == "ipc" || n == "arrow" || n == "feather") return FileFormat::kIpc;
  return Status::Invalid("unknown file format '", name,
                         "'; expected csv, json, ndjson, parquet or ipc");
}

bool IsGzipPath(const std::string& path) { return EndsWith(Lower(path), ".gz"); }

std::optional<PathFormat> FormatFromPath(const std::string& path) {
  std::string p = Lower(path);
  PathFormat out{FileFormat::kCsv};
  if (EndsWith(p, ".gz")) {
    out.gzip = true;
    p.resize(p.size() - 3);
  }
  if (EndsWith(p, ".csv") || EndsWith(p, ".txt")) {
    out.format = FileFormat::kCsv;
  } else if (EndsWith(p, ".tsv") || EndsWith(p, ".tab")) {
    out.format = FileFormat::kCsv;
    out.tab_separated = true;
  } else if (EndsWith(p, ".json")) {
    out.format = FileFormat::kJson;
  } else if (EndsWith(p, ".ndjson") || EndsWith(p, ".jsonl")) {
    out.format = FileFormat::kNdjson;
  } else if (!out.gzip && (EndsWith(p, ".parquet") || EndsWith(p, ".pq"))) {
    out.format = FileFormat::kParquet;
  } else if (!out.gzip && (EndsWith(p, ".arrow") || EndsWith(p, ".ipc") ||
                           EndsWith(p, ".feather") || EndsWith(p, ".arrows"))) {
    out.format = FileFormat::kIpc;
  } else {
    return std::nullopt;
  }
  return out;
}

std::string UriToPath(const std::string& uri) {
  static const std::string kPrefix = "file://";
  if (uri.size() >= kPrefix.size() && Lower(uri.substr(0, kPrefix.size())) == kPrefix) {
    std::string rest = uri.substr(kPrefix.size());
    // file://localhost/abs is the absolute path /abs.
    if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);
    return rest;
  }
  return uri;
}

bool HasGlob(const std::string& path) {
  return path.find_first_of("*?[") != std::string::npos;
}

namespace {

bool FormatMatches(const std::string& file, std::optional<FileFormat> format) {
  auto pf = FormatFromPath(file);
  if (!pf) return false;
  if (!format) return true;
  // A .json file may hold NDJSON and the other way round.
  auto json_like = [](FileFormat f) {
    return f == FileFormat::kJson || f == FileFormat::kNdjson;
  };
  return pf->format == *format || (json_like(pf->format) && json_like(*format));
}

// Keeps the files of one format: `format`, else the first file's.
std::vector<std::string> KeepOneFormat(std::vector<std::string> files,
                                       std::optional<FileFormat> format) {
  std::sort(files.begin(), files.end());
  if (!format) {
    for (const auto& f : files) {
      if (auto pf = FormatFromPath(f)) {
        format = pf->format;
        break;
      }
    }
  }
  std::vector<std::string> out;
  for (auto& f : files) {
    if (FormatMatches(f, format)) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> ResolvePaths(const std::string& path,
                                              std::optional<FileFormat> format) {
  std::error_code ec;
  if (HasGlob(path)) {
    glob_t g{};
    int rc = ::glob(path.c_str(), 0, nullptr, &g);
    std::vector<std::string> files;
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        if (fs::is_regular_file(g.gl_pathv[i], ec)) files.emplace_back(g.gl_pathv[i]);
      }
    }
    globfree(&g);
    std::sort(files.begin(), files.end());
    if (files.empty()) return Status::Invalid("no files match '", path, "'");
    return files;
  }
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      std::string name = entry.path().filename().string();
      // Hidden files include the sink's in-progress temp files.
      if (name.empty() || name[0] == '.' || name[0] == '_') continue;
      if (entry.is_regular_file(ec)) files.push_back(entry.path().string());
    }
    if (ec) return Status::IOError("cannot list directory '", path, "': ", ec.message());
    files = KeepOneFormat(std::move(files), format);
    if (files.empty()) {
      return Status::Invalid("no ", format ? FormatName(*format) : "data",
                             " files in directory '", path, "'");
    }
    return files;
  }
  if (!fs::exists(path, ec)) return Status::Invalid("file not found: ", path);
  return std::vector<std::string>{path};
}

Result<std::shared_ptr<arrow::DataType>> SqlTypeToArrow(const std::string& name) {
  std::string n = Lower(Trim(name));
  // Parameterised types.
  if (n.rfind("decimal", 0) == 0 || n.rfind("numeric", 0) == 0) {
    int p = 18, s = 3;
    size_t open = n.find('(');
    if (open != std::string::npos) {
      if (std::sscanf(n.c_str() + open, "(%d , %d)", &p, &s) < 1 || p <= 0 || p > 76 ||
          s < 0 || s > p) {
        return Status::Invalid("bad type '", name,
                               "': expected DECIMAL(precision, scale)");
      }
      if (n.find(',', open) == std::string::npos) s = 0;
    }
    if (p <= 38) return arrow::decimal128(p, s);
    return arrow::decimal256(p, s);
  }
  if (n.size() > 2 && n.substr(n.size() - 2) == "[]") {
    ARROW_ASSIGN_OR_RAISE(auto item, SqlTypeToArrow(n.substr(0, n.size() - 2)));
    return arrow::list(item);
  }
  if (n == "varchar" || n == "text" || n == "string" || n == "char" || n == "bpchar" ||
      n.rfind("varchar(", 0) == 0 || n.rfind("char(", 0) == 0 || n == "utf8") {
    return arrow::utf8();
  }
  if (n == "bigint" || n == "int8" || n == "long" || n == "int64") return arrow::int64();
  if (n == "integer" || n == "int" || n == "int4" || n == "int32" || n == "signed") {
    return arrow::int32();
  }
  if (n == "smallint" || n == "int2" || n == "short" || n == "int16")
    return arrow::int16();
  if (n == "tinyint" || n == "int1") return arrow::int8();
  if (n == "ubigint" || n == "uint64") return arrow::uint64();
  if (n == "uinteger" || n == "uint32") return arrow::uint32();
  if (n == "usmallint" || n == "uint16") return arrow::uint16();
  if (n == "utinyint" || n == "uint8") return arrow::uint8();
  if (n == "double" || n == "float8" || n == "double precision" || n == "float64") {
    return arrow::float64();
  }
  if (n == "float" || n == "real" || n == "float4" || n == "float32")
    return arrow::float32();
  if (n == "boolean" || n == "bool" || n == "logical") return arrow::boolean();
  if (n == "date") return arrow::date32();
  if (n == "time") return arrow::time64(arrow::TimeUnit::MICRO);
  if (n == "timestamp" || n == "datetime" || n == "timestamp without time zone") {
    return arrow::timestamp(arrow::TimeUnit::MICRO);
  }
  if (n == "timestamptz" || n == "timestamp with time zone") {
    return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  }
  if (n == "timestamp_ms") return arrow::timestamp(arrow::TimeUnit::MILLI);
  if (n == "timestamp_s") return arrow::timestamp(arrow::TimeUnit::SECOND);
  if (n == "timestamp_ns") return arrow::timestamp(arrow::TimeUnit::NANO);
  if (n == "blob" || n == "bytea" || n == "binary" || n == "varbinary") {
    return arrow::binary();
  }
  if (n == "interval") return arrow::month_day_nano_interval();
  if (n == "json") return arrow::utf8();
  return Status::Invalid("unknown type '", name, "'");
}

}  // namespace flowsql::file
