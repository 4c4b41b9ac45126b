// Files by URL: a read-only arrow::fs::FileSystem over http:// and https://, so that
// every format the file connector reads can be read from a web server.
//
// A path is the full URL, query included ("https://host/x.parquet?sig=abc"). A file
// opened for random access (Parquet, IPC, ORC) is read with range requests when the
// server allows them: the footer, then only the byte ranges the reader asks for, small
// reads rounded up to a minimum request. A server that refuses ranges is read once,
// whole, into memory or (above a size) an unlinked temporary file. A stream (CSV,
// JSON) is one GET, resumed with a range request when a connection breaks.
// There are no folders: listing, and every write, is an error.
#pragma once

#include <arrow/filesystem/filesystem.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "flowsql/options.h"

namespace flowsql::file {

struct HttpFsOptions {
  /// Sent with every request (Authorization, ...).
  http::Headers headers;
  /// Attempts at a transient failure, the first included.
  int max_attempts = 4;
  /// The longest wait for a connection, and for data while a transfer stalls.
  std::chrono::milliseconds timeout{30000};
  std::chrono::milliseconds initial_backoff{200};
  /// A random-access read of fewer bytes fetches this many around it; the last few
  /// such windows are kept for the next reads (Parquet reads many small pieces).
  int64_t min_request_bytes = 256 << 10;
  /// A file read whole is kept in memory up to this size, above it in a temporary file
  /// (in TMPDIR, unlinked at once, so nothing is left behind).
  int64_t memory_limit = 64 << 20;
};

/// Starts a request, as http::Client::Open does. Tests substitute canned answers.
using HttpOpener =
    std::function<Result<std::unique_ptr<http::ResponseStream>>(const http::Request&)>;

/// What a server says about a URL before its body is read.
struct HttpProbe {
  /// The status of the answer the probe rests on: 2xx when the URL is there (416 for
  /// an empty file asked for byte 0).
  int status = 0;
  /// The answer itself, for an error message (ErrorOf) when `status` is not usable.
  http::Response answer;
  /// The size in bytes; -1 when the server did not say.
  int64_t size = -1;
  /// True when the server answers range requests with 206 Partial Content.
  bool ranges = false;
  /// The methods tried, in order, for messages and tests: "HEAD", "GET bytes=0-0",
  /// "GET".
  std::vector<std::string> tried;
};

/// Asks about `base.url`: HEAD; when the server rejects HEAD (405, 403, 501: any answer
/// but a success, 404, 410 or a transient failure that outlived its retries), a GET of
/// byte 0, whose Content-Range gives the size; when that is rejected too, a plain GET.
/// Accept-Ranges: bytes (or a 206) means ranges work. When the answer used is a GET of
/// the whole body (200) and `body` is not null, its stream is handed over there, at the
/// body's start, to be read; otherwise it is abandoned. Transport failures (connection
/// refused, DNS) are errors naming the URL.
Result<HttpProbe> ProbeUrl(const http::Request& base, const HttpOpener& open,
                           std::unique_ptr<http::ResponseStream>* body = nullptr);

/// "bytes 0-0/1234" -> first 0, last 0, total 1234; "bytes */1234" -> total only.
/// Returns false when `value` is not a Content-Range of bytes. Unknown parts are -1.
bool ParseContentRange(const std::string& value, int64_t* first, int64_t* last,
                       int64_t* total);

/// The read-only filesystem of http(s) URLs. Thread-safe. What it learns about a URL
/// (its size, whether ranges work, its whole body when they do not) is kept for the
/// filesystem's life, so that opening a file twice (schema, then scan) asks once.
class HttpFileSystem : public arrow::fs::FileSystem {
 public:
  /// `opener`: how requests are sent; by default an http::Client of its own.
  explicit HttpFileSystem(HttpFsOptions options = {}, HttpOpener opener = nullptr);
  ~HttpFileSystem() override;

  std::string type_name() const override { return "http"; }
  bool Equals(const arrow::fs::FileSystem& other) const override {
    return this == &other;
  }
  using arrow::fs::FileSystem::Equals;
  Result<std::string> NormalizePath(std::string path) override { return path; }
  Result<std::string> PathFromUri(const std::string& uri) const override { return uri; }
  Result<std::string> MakeUri(std::string path) const override { return path; }

  /// A file, with its size when the server gives it; NotFound for 404 and 410. Other
  /// failures are errors naming the URL and the HTTP status.
  Result<arrow::fs::FileInfo> GetFileInfo(const std::string& path) override;
  /// Not possible over HTTP: an error.
  Result<arrow::fs::FileInfoVector> GetFileInfo(
      const arrow::fs::FileSelector& select) override;
  using arrow::fs::FileSystem::GetFileInfo;

  Status CreateDir(const std::string& path, bool recursive) override;
  Status DeleteDir(const std::string& path) override;
  Status DeleteDirContents(const std::string& path, bool missing_dir_ok) override;
  Status DeleteRootDirContents() override;
  Status DeleteFile(const std::string& path) override;
  Status Move(const std::string& src, const std::string& dest) override;
  Status CopyFile(const std::string& src, const std::string& dest) override;

  Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(
      const std::string& path) override;
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(
      const std::string& path) override;
  using arrow::fs::FileSystem::OpenInputFile;
  using arrow::fs::FileSystem::OpenInputStream;
  Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputStream(
      const std::string& path,
      const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override;
  Result<std::shared_ptr<arrow::io::OutputStream>> OpenAppendStream(
      const std::string& path,
      const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override;

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

/// The options of http(s) file sources: http_headers, bearer_token, http_retries,
/// http_timeout.
std::vector<OptionSpec> HttpOptionSpecs();

/// The filesystem for http(s) URLs with `options` (HttpOptionSpecs; unset ones take
/// their defaults). Registers the secrets of the headers.
Result<std::shared_ptr<arrow::fs::FileSystem>> MakeHttpFileSystem(const Options& options);

/// "http(s) URLs are read-only" naming `url` (redacted): the error of every write.
Status HttpReadOnly(const std::string& url);

}  // namespace flowsql::file
