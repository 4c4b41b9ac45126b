#include "connectors/file/format.h"

#include <arrow/type.h>
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/http_client.h"

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
    case FileFormat::kOrc:
      return "orc";
    case FileFormat::kAvro:
      return "avro";
  }
  return "?";
}

const char* FormatExtension(FileFormat format) {
  return format == FileFormat::kIpc ? "arrow" : FormatName(format);
}

Result<FileFormat> FormatFromName(const std::string& name) {
  std::string n = AsciiLower(name);
  if (n == "csv" || n == "tsv" || n == "txt") return FileFormat::kCsv;
  if (n == "json") return FileFormat::kJson;
  if (n == "ndjson" || n == "jsonl" || n == "newline_delimited")
    return FileFormat::kNdjson;
  if (n == "parquet") return FileFormat::kParquet;
  if (n == "ipc" || n == "arrow" || n == "feather") return FileFormat::kIpc;
  if (n == "orc") return FileFormat::kOrc;
  if (n == "avro") return FileFormat::kAvro;
  return Status::Invalid("unknown file format '", name,
                         "'; expected csv, json, ndjson, parquet, ipc, orc or avro");
}

namespace {

struct CompressionExtension {
  const char* extension;
  arrow::Compression::type codec;
};
// A codec's first extension here is the one written. Arrow's gzip reader takes a zlib
// stream too, which is Hadoop's and Spark's codec 'deflate' (".deflate").
constexpr CompressionExtension kCompressionExtensions[] = {
    {".gz", arrow::Compression::GZIP},       {".gzip", arrow::Compression::GZIP},
    {".deflate", arrow::Compression::GZIP},  {".zst", arrow::Compression::ZSTD},
    {".zstd", arrow::Compression::ZSTD},     {".bz2", arrow::Compression::BZ2},
    {".lz4", arrow::Compression::LZ4_FRAME}, {".snappy", arrow::Compression::SNAPPY},
    {".sz", arrow::Compression::SNAPPY},
};

}  // namespace

arrow::Compression::type CompressionFromPath(const std::string& path) {
  const std::string p = AsciiLower(WithoutQuery(path));
  for (const auto& c : kCompressionExtensions) {
    if (EndsWith(p, c.extension)) return c.codec;
  }
  return arrow::Compression::UNCOMPRESSED;
}

std::string CompressionExtension(arrow::Compression::type codec) {
  if (codec == arrow::Compression::UNCOMPRESSED) return "";
  for (const auto& c : kCompressionExtensions) {
    if (c.codec == codec) return c.extension;
  }
  return "";
}

Result<arrow::Compression::type> StreamCompressionFromName(const std::string& name,
                                                           const std::string& option) {
  const std::string n = AsciiLower(name);
  if (n == "none" || n == "uncompressed") return arrow::Compression::UNCOMPRESSED;
  if (n == "gzip" || n == "gz") return arrow::Compression::GZIP;
  if (n == "zstd" || n == "zst") return arrow::Compression::ZSTD;
  if (n == "bz2" || n == "bzip2") return arrow::Compression::BZ2;
  if (n == "lz4") return arrow::Compression::LZ4_FRAME;
  if (n == "snappy") return arrow::Compression::SNAPPY;
  return Status::Invalid("option '", option, "': unknown codec '", name,
                         "' for CSV or JSON (gzip, zstd, bz2, lz4, snappy or none)");
}

std::optional<PathFormat> FormatFromPath(const std::string& path) {
  std::string p = AsciiLower(WithoutQuery(path));
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
  } else if (!compressed && EndsWith(p, ".orc")) {
    out.format = FileFormat::kOrc;
  } else if (!compressed && EndsWith(p, ".avro")) {
    out.format = FileFormat::kAvro;
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
  return path.find_first_of("*?[{") != std::string::npos;
}

std::string WithoutQuery(const std::string& path) {
  if (!http::IsHttpUrl(path)) return path;
  return path.substr(0, path.find_first_of("?#"));
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

namespace {

/// `pattern` with each {a,b,...} expanded, outermost first: "x{1,2}/*.{csv,tsv}" ->
/// x1/*.csv, x1/*.tsv, x2/*.csv, x2/*.tsv.
std::vector<std::string> ExpandBraces(const std::string& pattern) {
  size_t open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  int depth = 0;
  size_t close = std::string::npos;
  std::vector<size_t> commas;
  for (size_t i = open; i < pattern.size(); ++i) {
    if (pattern[i] == '{') ++depth;
    if (pattern[i] == '}' && --depth == 0) {
      close = i;
      break;
    }
    if (pattern[i] == ',' && depth == 1) commas.push_back(i);
  }
  if (close == std::string::npos) return {pattern};  // no closing brace: literal
  std::vector<std::string> out;
  size_t start = open + 1;
  commas.push_back(close);
  for (size_t comma : commas) {
    std::string alternative = pattern.substr(0, open) +
                              pattern.substr(start, comma - start) +
                              pattern.substr(close + 1);
    for (auto& e : ExpandBraces(alternative)) out.push_back(std::move(e));
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

/// Whether `name` segments match `pattern` segments from the given positions; "**"
/// matches any number of segments.
bool MatchSegments(const std::vector<std::string>& pattern, size_t p,
                   const std::vector<std::string>& name, size_t n) {
  if (p == pattern.size()) return n == name.size();
  if (pattern[p] == "**") {
    for (size_t k = n; k <= name.size(); ++k) {
      if (MatchSegments(pattern, p + 1, name, k)) return true;
    }
    return false;
  }
  return n < name.size() &&
         fnmatch(pattern[p].c_str(), name[n].c_str(), FNM_PERIOD) == 0 &&
         MatchSegments(pattern, p + 1, name, n + 1);
}

/// A local path as the user would write it: "./x/../y.csv" -> "y.csv".
std::string Normal(const Storage& storage, const std::string& path) {
  return storage.local() ? fs::path(path).lexically_normal().string() : path;
}

/// The files matching a glob: `*`, `?` and `[...]` within a name, `**` across
/// folders, `{a,b}` alternatives.
Result<std::vector<std::string>> Glob(const Storage& storage, const std::string& path) {
  std::vector<std::string> files;
  for (const auto& pattern : ExpandBraces(path)) {
    // The folder before the first segment with a wildcard is listed, once. It keeps
    // what precedes the path proper: "s3://", or "/" of an absolute path.
    size_t scheme = pattern.find("://");
    std::string root = scheme == std::string::npos ? "" : pattern.substr(0, scheme + 3);
    std::string rest = scheme == std::string::npos ? pattern : pattern.substr(scheme + 3);
    if (root.empty() && !rest.empty() && rest[0] == '/') root = "/";
    const std::vector<std::string> parts = Segments(rest);
    size_t first = 0;
    for (; first < parts.size() && !HasGlob(parts[first]); ++first) {
      root += (first == 0 ? "" : "/") + parts[first];
    }
    if (root.empty()) root = ".";
    ARROW_ASSIGN_OR_RAISE(auto kind, storage.KindOf(root));
    if (first == parts.size()) {
      if (kind == Storage::Kind::kFile) files.push_back(Normal(storage, root));
      continue;
    }
    if (kind != Storage::Kind::kDirectory) continue;
    std::vector<std::string> below;
    ARROW_RETURN_NOT_OK(storage.ListFiles(root, &below));
    const std::vector<std::string> wanted(parts.begin() + first, parts.end());
    for (const auto& relative : below) {
      if (MatchSegments(wanted, 0, Segments(relative), 0)) {
        files.push_back(Normal(storage, Storage::Join(root, relative)));
      }
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

}  // namespace

Result<std::vector<std::string>> ResolvePaths(const std::string& path,
                                              std::optional<FileFormat> format,
                                              const Storage& storage) {
  if (http::IsHttpUrl(path)) return std::vector<std::string>{path};
  if (HasGlob(path)) {
    ARROW_ASSIGN_OR_RAISE(auto files, Glob(storage, path));
    if (files.empty()) return Status::Invalid("no files match '", path, "'");
    return files;
  }
  ARROW_ASSIGN_OR_RAISE(auto kind, storage.KindOf(path));
  if (kind == Storage::Kind::kDirectory) {
    // Every file below, folders of partitions (year=2024/) included.
    std::vector<std::string> files;
    ARROW_RETURN_NOT_OK(storage.ListFiles(path, &files));
    for (auto& f : files) f = Normal(storage, Storage::Join(path, f));
    files = KeepOneFormat(std::move(files), format);
    if (files.empty()) {
      return Status::Invalid("no ", format ? FormatName(*format) : "data",
                             " files in directory '", path, "'");
    }
    return files;
  }
  if (kind == Storage::Kind::kMissing) return Status::Invalid("file not found: ", path);
  return std::vector<std::string>{path};
}

}  // namespace flowsql::file
