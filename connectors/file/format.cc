#include "connectors/file/format.h"

#include <arrow/type.h>
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace flowsql::file {

namespace fs = std::filesystem;

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
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
  std::string n = AsciiLower(name);
  if (n == "csv" || n == "tsv" || n == "txt") return FileFormat::kCsv;
  if (n == "json") return FileFormat::kJson;
  if (n == "ndjson" || n == "jsonl" || n == "newline_delimited")
    return FileFormat::kNdjson;
  if (n == "parquet") return FileFormat::kParquet;
  if (n == "ipc" || n == "arrow" || n == "feather") return FileFormat::kIpc;
  return Status::Invalid("unknown file format '", name,
                         "'; expected csv, json, ndjson, parquet or ipc");
}

namespace {

struct CompressionExtension {
  const char* extension;
  arrow::Compression::type codec;
};
constexpr CompressionExtension kCompressionExtensions[] = {
    {".gz", arrow::Compression::GZIP},  {".gzip", arrow::Compression::GZIP},
    {".zst", arrow::Compression::ZSTD}, {".zstd", arrow::Compression::ZSTD},
    {".bz2", arrow::Compression::BZ2},  {".lz4", arrow::Compression::LZ4_FRAME},
};

}  // namespace

arrow::Compression::type CompressionFromPath(const std::string& path) {
  const std::string p = AsciiLower(path);
  for (const auto& c : kCompressionExtensions) {
    if (EndsWith(p, c.extension)) return c.codec;
  }
  return arrow::Compression::UNCOMPRESSED;
}

Result<arrow::Compression::type> StreamCompressionFromName(const std::string& name,
                                                           const std::string& option) {
  const std::string n = AsciiLower(name);
  if (n == "none" || n == "uncompressed") return arrow::Compression::UNCOMPRESSED;
  if (n == "gzip" || n == "gz") return arrow::Compression::GZIP;
  if (n == "zstd" || n == "zst") return arrow::Compression::ZSTD;
  if (n == "bz2" || n == "bzip2") return arrow::Compression::BZ2;
  if (n == "lz4") return arrow::Compression::LZ4_FRAME;
  return Status::Invalid("option '", option, "': unknown codec '", name,
                         "' for CSV or JSON (gzip, zstd, bz2, lz4 or none)");
}

std::optional<PathFormat> FormatFromPath(const std::string& path) {
  std::string p = AsciiLower(path);
  PathFormat out{FileFormat::kCsv};
  out.compression = CompressionFromPath(p);
  for (const auto& c : kCompressionExtensions) {
    if (EndsWith(p, c.extension)) {
      p.resize(p.size() - std::strlen(c.extension));
      break;
    }
  }
  const bool compressed = out.compression != arrow::Compression::UNCOMPRESSED;
  if (EndsWith(p, ".csv") || EndsWith(p, ".txt")) {
    out.format = FileFormat::kCsv;
  } else if (EndsWith(p, ".tsv") || EndsWith(p, ".tab")) {
    out.format = FileFormat::kCsv;
    out.tab_separated = true;
  } else if (EndsWith(p, ".json")) {
    out.format = FileFormat::kJson;
  } else if (EndsWith(p, ".ndjson") || EndsWith(p, ".jsonl")) {
    out.format = FileFormat::kNdjson;
  } else if (!compressed && (EndsWith(p, ".parquet") || EndsWith(p, ".pq"))) {
    out.format = FileFormat::kParquet;
  } else if (!compressed && (EndsWith(p, ".arrow") || EndsWith(p, ".ipc") ||
                             EndsWith(p, ".feather") || EndsWith(p, ".arrows"))) {
    out.format = FileFormat::kIpc;
  } else {
    return std::nullopt;
  }
  return out;
}

std::string UriToPath(const std::string& uri) {
  static const std::string kPrefix = "file://";
  if (uri.size() >= kPrefix.size() &&
      AsciiLower(uri.substr(0, kPrefix.size())) == kPrefix) {
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

}  // namespace flowsql::file
