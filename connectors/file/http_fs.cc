#include "connectors/file/http_fs.h"

#include <arrow/buffer.h>
#include <arrow/buffer_builder.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/secrets.h"
#include "common/text.h"

namespace flowsql::file {

namespace {

/// Windows of small reads kept per URL.
constexpr size_t kWindows = 4;
/// Bytes read per call when a body is read whole.
constexpr int64_t kChunk = 1 << 20;

/// A decimal length; -1 when `text` is not one.
int64_t ParseLength(const std::string& text) {
  if (text.empty() || text.size() > 18) return -1;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool AcceptsRanges(const http::Response& r) {
  return AsciiLower(r.Header("accept-ranges")).find("bytes") != std::string::npos;
}

std::string Attempts(int attempts) {
  return attempts > 1 ? " (after " + std::to_string(attempts) + " attempts)" : "";
}

void Backoff(const HttpFsOptions& options, int attempt) {
  const int64_t ms = options.initial_backoff.count() << std::min(attempt - 1, 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 5000)));
}

/// A file descriptor closed when it goes out of scope, unless released.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int out = fd;
    fd = -1;
    return out;
  }
};

Status WriteAll(int fd, const uint8_t* data, int64_t n, const std::string& where) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, static_cast<size_t>(n));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("cannot write a temporary file in ", where, ": ",
                             std::strerror(errno));
    }
    data += w;
    n -= w;
  }
  return Status::OK();
}

/// An unlinked temporary file: nothing is left behind, whatever happens.
Result<int> TemporaryFile(std::string* dir) {
  const char* tmp = std::getenv("TMPDIR");
  *dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string name = *dir + "/flowsql-http-XXXXXX";
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return Status::IOError("cannot make a temporary file in ", *dir, ": ",
                           std::strerror(errno));
  }
  ::unlink(name.c_str());
  return fd;
}

}  // namespace

bool ParseContentRange(const std::string& value, int64_t* first, int64_t* last,
                       int64_t* total) {
  *first = *last = *total = -1;
  std::string v = TrimBlanks(value);
  if (v.size() < 6 || AsciiLower(v.substr(0, 6)) != "bytes ") return false;
  v = TrimBlanks(v.substr(6));
  const size_t slash = v.find('/');
  if (slash == std::string::npos) return false;
  const std::string range = v.substr(0, slash);
  const std::string size = v.substr(slash + 1);
  if (size != "*") {
    *total = ParseLength(size);
    if (*total < 0) return false;
  }
  if (range == "*") return true;
  const size_t dash = range.find('-');
  if (dash == std::string::npos) return false;
  *first = ParseLength(range.substr(0, dash));
  *last = ParseLength(range.substr(dash + 1));
  return *first >= 0 && *last >= *first;
}

Result<HttpProbe> ProbeUrl(const http::Request& base, const HttpOpener& open,
                           std::unique_ptr<http::ResponseStream>* body) {
  HttpProbe probe;
  http::Request head = base;
  head.method = "HEAD";
  head.range.reset();
  probe.tried.push_back("HEAD");
  ARROW_ASSIGN_OR_RAISE(auto stream, open(head));
  probe.answer = stream->head();
  probe.status = probe.answer.status;
  if (probe.answer.ok()) {
    probe.size = ParseLength(probe.answer.Header("content-length"));
    probe.ranges = AcceptsRanges(probe.answer);
    // Ranges but no size (or 0, which some servers answer HEAD with): the
    // Content-Range of byte 0 says it.
    if (!probe.ranges || probe.size > 0) return probe;
  } else if (probe.status == 404 || probe.status == 410 ||
             http::IsTransientStatus(probe.status)) {
    // Missing, or failing still after the retries: another method will not help.
    return probe;
  }
  // HEAD rejected (405, 403 for a URL signed for GET, 501, ...): ask for byte 0.
  http::Request first = base;
  first.method = "GET";
  first.range = http::ByteRange{0, 0};
  probe.tried.push_back("GET bytes=0-0");
  ARROW_ASSIGN_OR_RAISE(stream, open(first));
  const http::Response& answer = stream->head();
  int64_t begin, end, total;
  if ((answer.status == 206 || answer.status == 416) &&
      ParseContentRange(answer.Header("content-range"), &begin, &end, &total) &&
      total >= 0) {
    // 416 with "bytes */0": an empty file.
    probe.answer = answer;
    probe.status = answer.status;
    probe.size = total;
    probe.ranges = true;
    // Read the byte, so that the connection is kept.
    uint8_t byte[2];
    (void)stream->Read(sizeof(byte), byte);
    return probe;
  }
  if (answer.ok() && answer.status != 206) {
    // The Range header ignored: this is the whole body.
    probe.answer = answer;
    probe.status = answer.status;
    probe.size = ParseLength(answer.Header("content-length"));
    probe.ranges = false;
    if (body != nullptr) *body = std::move(stream);
    return probe;
  }
  if (answer.status == 404 || answer.status == 410 ||
      http::IsTransientStatus(answer.status)) {
    probe.answer = answer;
    probe.status = answer.status;
    return probe;
  }
  // Ranges rejected too: a plain GET.
  http::Request plain = base;
  plain.method = "GET";
  plain.range.reset();
  probe.tried.push_back("GET");
  ARROW_ASSIGN_OR_RAISE(stream, open(plain));
  probe.answer = stream->head();
  probe.status = probe.answer.status;
  probe.ranges = false;
  probe.size = -1;
  if (probe.answer.ok()) {
    probe.size = ParseLength(probe.answer.Header("content-length"));
    if (body != nullptr) *body = std::move(stream);
  }
  return probe;
}

// --- the filesystem's state ----------------------------------------------------

namespace {

/// What is known about one URL. Guarded as its fields say.
struct Resource {
  explicit Resource(std::string u) : url(std::move(u)) {}
  const std::string url;
  /// Held while probing and downloading, so that both happen once.
  std::mutex open_mutex;
  bool probed = false;  // under open_mutex; then probe no longer changes
  HttpProbe probe;
  /// The recent windows of small reads, most recent first; and the whole body when
  /// the server refused ranges (then every read is served from it).
  struct Window {
    int64_t offset;
    std::shared_ptr<arrow::Buffer> data;
  };
  std::mutex cache_mutex;
  std::deque<Window> windows;
  std::shared_ptr<arrow::io::RandomAccessFile> whole;
  int64_t size = -1;  // under cache_mutex: the size reads go by
};

}  // namespace

struct HttpFileSystem::Core {
  HttpFsOptions options;
  HttpOpener open;
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<Resource>> resources;

  http::Request MakeRequest(const std::string& url) const {
    http::Request r;
    r.url = url;
    r.headers = options.headers;
    r.connect_timeout = options.timeout;
    r.stall_timeout = options.timeout;
    r.max_attempts = options.max_attempts;
    r.initial_backoff = options.initial_backoff;
    return r;
  }

  std::shared_ptr<Resource> ResourceOf(const std::string& url) {
    std::lock_guard<std::mutex> lock(mutex);
    auto& r = resources[url];
    if (r == nullptr) {
      http::RegisterUrlSecrets(url);
      r = std::make_shared<Resource>(url);
    }
    return r;
  }

  /// Probes `r` once; downloads it whole when ranges cannot be used. REQUIRES:
  /// r->open_mutex held.
  Status Prepare(Resource* r) {
    if (r->probed) return Status::OK();
    std::unique_ptr<http::ResponseStream> body;
    ARROW_ASSIGN_OR_RAISE(auto probe, ProbeUrl(MakeRequest(r->url), open, &body));
    if (!probe.answer.ok() && probe.status != 416) {
      return http::ErrorOf(r->url, probe.answer);
    }
    std::shared_ptr<arrow::io::RandomAccessFile> whole;
    int64_t size = probe.size;
    if (!probe.ranges || probe.size < 0) {
      ARROW_ASSIGN_OR_RAISE(whole, Download(r->url, std::move(body), probe.size));
      ARROW_ASSIGN_OR_RAISE(size, whole->GetSize());
    }
    std::lock_guard<std::mutex> lock(r->cache_mutex);
    r->probe = std::move(probe);
    r->whole = std::move(whole);
    r->size = size;
    r->probed = true;
    return Status::OK();
  }

  /// The whole body of `url`, read from `stream` when given (at the body's start),
  /// else from a new GET; again from the start when a transfer breaks, while
  /// attempts remain. `size`: the expected length, -1 when unknown.
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> Download(
      const std::string& url, std::unique_ptr<http::ResponseStream> stream,
      int64_t size) {
    const int attempts = std::max(options.max_attempts, 1);
    for (int attempt = 1;; ++attempt) {
      if (stream == nullptr) {
        ARROW_ASSIGN_OR_RAISE(stream, open(MakeRequest(url)));
        if (!stream->head().ok()) return http::ErrorOf(url, stream->head());
        if (stream->head().status == 206) {
          return Status::IOError(http::RedactUrl(url),
                                 ": a GET without a range was answered with a part");
        }
        // This answer's length, not what an earlier HEAD said.
        size = ParseLength(stream->head().Header("content-length"));
      }
      auto whole = ReadWhole(url, stream.get(), size);
      stream.reset();
      if (whole.ok() || attempt >= attempts) {
        if (!whole.ok()) {
          return whole.status().WithMessage(whole.status().message(), Attempts(attempt));
        }
        return whole;
      }
      Backoff(options, attempt);
    }
  }

  /// Reads `stream` to its end: into memory up to options.memory_limit, the rest into
  /// an unlinked temporary file.
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> ReadWhole(
      const std::string& url, http::ResponseStream* stream, int64_t size) {
    arrow::BufferBuilder memory;
    Fd file;
    std::string dir;
    int64_t total = 0;
    if (size > options.memory_limit) {
      ARROW_ASSIGN_OR_RAISE(file.fd, TemporaryFile(&dir));
    } else if (size > 0) {
      ARROW_RETURN_NOT_OK(memory.Reserve(size));
    }
    std::vector<uint8_t> chunk;
    while (true) {
      int64_t got;
      if (file.fd < 0) {
        ARROW_RETURN_NOT_OK(memory.Reserve(kChunk));
        ARROW_ASSIGN_OR_RAISE(
            got, stream->Read(kChunk, memory.mutable_data() + memory.length()));
        memory.UnsafeAdvance(got);
        if (memory.length() > options.memory_limit) {
          ARROW_ASSIGN_OR_RAISE(file.fd, TemporaryFile(&dir));
          ARROW_RETURN_NOT_OK(WriteAll(file.fd, memory.data(), memory.length(), dir));
          memory.Reset();
        }
      } else {
        chunk.resize(kChunk);
        ARROW_ASSIGN_OR_RAISE(got, stream->Read(kChunk, chunk.data()));
        ARROW_RETURN_NOT_OK(WriteAll(file.fd, chunk.data(), got, dir));
      }
      if (got == 0) break;
      total += got;
    }
    if (size >= 0 && total != size) {
      return Status::IOError(http::RedactUrl(url), ": the body has ", total,
                             " bytes, Content-Length said ", size);
    }
    if (file.fd >= 0) {
      ARROW_ASSIGN_OR_RAISE(auto readable, arrow::io::ReadableFile::Open(file.release()));
      return std::static_pointer_cast<arrow::io::RandomAccessFile>(readable);
    }
    ARROW_ASSIGN_OR_RAISE(auto buffer, memory.Finish());
    return std::static_pointer_cast<arrow::io::RandomAccessFile>(
        std::make_shared<arrow::io::BufferReader>(std::move(buffer)));
  }

  /// Bytes [position, position + n) of `r`, clipped to its size. Small reads fetch a
  /// window of options.min_request_bytes around them, kept for the next reads.
  /// REQUIRES: r prepared.
  Result<std::shared_ptr<arrow::Buffer>> Fetch(Resource* r, int64_t position, int64_t n) {
    if (position < 0 || n < 0) {
      return Status::Invalid(http::RedactUrl(r->url), ": read of ", n, " bytes at ",
                             position);
    }
    int64_t size;
    {
      std::unique_lock<std::mutex> lock(r->cache_mutex);
      if (r->whole != nullptr) {
        auto whole = r->whole;
        lock.unlock();
        return whole->ReadAt(position, n);
      }
      size = r->size;
      if (position >= size) return std::make_shared<arrow::Buffer>(nullptr, 0);
      n = std::min(n, size - position);
      for (auto it = r->windows.begin(); it != r->windows.end(); ++it) {
        if (it->offset <= position && position + n <= it->offset + it->data->size()) {
          auto hit = arrow::SliceBuffer(it->data, position - it->offset, n);
          if (it != r->windows.begin()) {
            Resource::Window w = *it;
            r->windows.erase(it);
            r->windows.push_front(std::move(w));
          }
          return hit;
        }
      }
    }
    const bool small = n < options.min_request_bytes;
    int64_t begin = position, end = position + n;
    if (small) {
      end = std::min(size, position + options.min_request_bytes);
      begin = std::max<int64_t>(0, std::min(position, end - options.min_request_bytes));
    }
    ARROW_ASSIGN_OR_RAISE(auto data, FetchRange(r, begin, end));
    if (data == nullptr) {
      // The server sent the whole body instead: it serves every read now.
      std::shared_ptr<arrow::io::RandomAccessFile> whole;
      {
        std::lock_guard<std::mutex> lock(r->cache_mutex);
        whole = r->whole;
      }
      return whole->ReadAt(position, n);
    }
    if (small) {
      std::lock_guard<std::mutex> lock(r->cache_mutex);
      r->windows.push_front({begin, data});
      if (r->windows.size() > kWindows) r->windows.pop_back();
    }
    return arrow::SliceBuffer(data, position - begin, n);
  }

  /// Bytes [begin, end) of `r` by a range request; nullptr when the server answered
  /// with the whole body (then kept as r->whole).
  Result<std::shared_ptr<arrow::Buffer>> FetchRange(Resource* r, int64_t begin,
                                                    int64_t end) {
    http::Request request = MakeRequest(r->url);
    request.range = http::ByteRange{begin, end - 1};
    const int attempts = std::max(options.max_attempts, 1);
    for (int attempt = 1;; ++attempt) {
      ARROW_ASSIGN_OR_RAISE(auto stream, open(request));
      const http::Response& head = stream->head();
      if (head.status == 200) {
        const int64_t length = ParseLength(head.Header("content-length"));
        ARROW_ASSIGN_OR_RAISE(auto whole, Download(r->url, std::move(stream), length));
        std::lock_guard<std::mutex> lock(r->cache_mutex);
        if (r->whole == nullptr) r->whole = std::move(whole);
        r->windows.clear();
        return nullptr;
      }
      if (head.status != 206) return http::ErrorOf(r->url, head);
      int64_t first, last, total;
      if (!ParseContentRange(head.Header("content-range"), &first, &last, &total) ||
          first != begin) {
        return Status::IOError(http::RedactUrl(r->url), ": asked for bytes ", begin, "-",
                               end - 1, ", the server sent Content-Range '",
                               head.Header("content-range"), "'");
      }
      if (total >= 0 && total != r->size) {
        return Status::IOError(http::RedactUrl(r->url),
                               ": the file changed while it was read (its size was ",
                               r->size, " bytes, is now ", total, ")");
      }
      const int64_t want = end - begin;
      ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateResizableBuffer(want));
      int64_t got = 0;
      Status st;
      while (got < want) {
        auto n = stream->Read(want - got, buffer->mutable_data() + got);
        if (!n.ok()) {
          st = n.status();
          break;
        }
        if (*n == 0) {
          st = Status::IOError(http::RedactUrl(r->url), ": bytes ", begin, "-", end - 1,
                               ": the answer ended after ", got, " bytes");
          break;
        }
        got += *n;
      }
      if (st.ok()) return std::shared_ptr<arrow::Buffer>(std::move(buffer));
      if (attempt >= attempts) return st.WithMessage(st.message(), Attempts(attempt));
      Backoff(options, attempt);
    }
  }
};

// --- files and streams ------------------------------------------------------------

namespace {

Status Closed(const std::string& url) {
  return Status::Invalid(http::RedactUrl(url), ": read after close");
}

/// A URL read by ranges (or from its whole body, when ranges are refused). Thread-safe:
/// ReadAt from any thread; Read, Seek and Tell share one position.
class HttpFile : public arrow::io::RandomAccessFile {
 public:
  HttpFile(std::shared_ptr<HttpFileSystem::Core> core, std::shared_ptr<Resource> r)
      : core_(std::move(core)), r_(std::move(r)) {}

  Status Close() override {
    closed_ = true;
    return Status::OK();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override {
    if (closed_) return Closed(r_->url);
    std::lock_guard<std::mutex> lock(mutex_);
    return position_;
  }
  Status Seek(int64_t position) override {
    if (closed_) return Closed(r_->url);
    if (position < 0) return Status::Invalid("negative seek: ", position);
    std::lock_guard<std::mutex> lock(mutex_);
    position_ = position;
    return Status::OK();
  }
  Result<int64_t> GetSize() override {
    std::lock_guard<std::mutex> lock(r_->cache_mutex);
    return r_->size;
  }
  Result<int64_t> Read(int64_t n, void* out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ARROW_ASSIGN_OR_RAISE(const int64_t got, ReadAt(position_, n, out));
    position_ += got;
    return got;
  }
  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(position_, n));
    position_ += buffer->size();
    return buffer;
  }
  Result<int64_t> ReadAt(int64_t position, int64_t n, void* out) override {
    ARROW_ASSIGN_OR_RAISE(auto buffer, ReadAt(position, n));
    std::memcpy(out, buffer->data(), static_cast<size_t>(buffer->size()));
    return buffer->size();
  }
  Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t position, int64_t n) override {
    if (closed_) return Closed(r_->url);
    return core_->Fetch(r_.get(), position, n);
  }

 private:
  std::shared_ptr<HttpFileSystem::Core> core_;
  std::shared_ptr<Resource> r_;
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
  int64_t position_ = 0;
};

/// One GET read from start to end. When the connection breaks and the server takes
/// ranges, the rest is asked for from where it broke, while attempts remain.
class HttpInputStream : public arrow::io::InputStream {
 public:
  HttpInputStream(std::shared_ptr<HttpFileSystem::Core> core, std::string url,
                  std::unique_ptr<http::ResponseStream> stream)
      : core_(std::move(core)), url_(std::move(url)), stream_(std::move(stream)) {
    ranges_ = AcceptsRanges(stream_->head());
    size_ = ParseLength(stream_->head().Header("content-length"));
  }

  Status Close() override {
    stream_.reset();
    closed_ = true;
    return Status::OK();
  }
  bool closed() const override { return closed_; }
  Result<int64_t> Tell() const override { return position_; }

  Result<int64_t> Read(int64_t n, void* out) override {
    if (closed_) return Closed(url_);
    auto* dest = static_cast<uint8_t*>(out);
    int64_t got = 0;
    while (got < n && stream_ != nullptr) {
      auto r = stream_->Read(n - got, dest + got);
      if (r.ok()) {
        if (*r == 0) {
          stream_.reset();
          break;
        }
        got += *r;
        position_ += *r;
        continue;
      }
      if (size_ >= 0 && position_ >= size_) {
        stream_.reset();
        break;
      }
      if (!ranges_ || resumes_ + 1 >= core_->options.max_attempts) {
        return r.status().WithMessage(r.status().message(), Attempts(resumes_ + 1));
      }
      ++resumes_;
      Backoff(core_->options, resumes_);
      ARROW_RETURN_NOT_OK(Resume());
    }
    return got;
  }

  Result<std::shared_ptr<arrow::Buffer>> Read(int64_t n) override {
    ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateResizableBuffer(n));
    ARROW_ASSIGN_OR_RAISE(const int64_t got, Read(n, buffer->mutable_data()));
    ARROW_RETURN_NOT_OK(buffer->Resize(got, /*shrink_to_fit=*/false));
    return std::shared_ptr<arrow::Buffer>(std::move(buffer));
  }

 private:
  /// Asks for the body from position_ on.
  Status Resume() {
    http::Request request = core_->MakeRequest(url_);
    request.range = http::ByteRange{position_, -1};
    ARROW_ASSIGN_OR_RAISE(auto stream, core_->open(request));
    const http::Response& head = stream->head();
    int64_t first, last, total;
    if (head.status != 206 ||
        !ParseContentRange(head.Header("content-range"), &first, &last, &total) ||
        first != position_) {
      return Status::IOError(http::RedactUrl(url_), ": the connection broke after ",
                             position_, " bytes, and the rest could not be asked for: ",
                             head.status == 206 ? "a wrong Content-Range"
                                                : http::ErrorOf(url_, head).message());
    }
    stream_ = std::move(stream);
    return Status::OK();
  }

  std::shared_ptr<HttpFileSystem::Core> core_;
  std::string url_;
  std::unique_ptr<http::ResponseStream> stream_;
  bool ranges_ = false;
  int64_t size_ = -1;
  int64_t position_ = 0;
  int resumes_ = 0;
  bool closed_ = false;
};

}  // namespace

// --- HttpFileSystem ---------------------------------------------------------------

HttpFileSystem::HttpFileSystem(HttpFsOptions options, HttpOpener opener)
    : core_(std::make_shared<Core>()) {
  core_->options = std::move(options);
  if (opener == nullptr) {
    auto client = std::make_shared<http::Client>();
    opener = [client](const http::Request& r) { return client->Open(r); };
  }
  core_->open = std::move(opener);
}

HttpFileSystem::~HttpFileSystem() = default;

Result<arrow::fs::FileInfo> HttpFileSystem::GetFileInfo(const std::string& path) {
  auto r = core_->ResourceOf(path);
  {
    std::lock_guard<std::mutex> lock(r->cache_mutex);
    if (r->probed) {
      arrow::fs::FileInfo info(path, arrow::fs::FileType::File);
      info.set_size(r->size);
      return info;
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto probe, ProbeUrl(core_->MakeRequest(path), core_->open));
  if (probe.status == 404 || probe.status == 410) {
    return arrow::fs::FileInfo(path, arrow::fs::FileType::NotFound);
  }
  if (!probe.answer.ok() && probe.status != 416) {
    return http::ErrorOf(path, probe.answer);
  }
  arrow::fs::FileInfo info(path, arrow::fs::FileType::File);
  info.set_size(probe.size >= 0 ? probe.size : arrow::fs::kNoSize);
  return info;
}

Result<arrow::fs::FileInfoVector> HttpFileSystem::GetFileInfo(
    const arrow::fs::FileSelector& select) {
  return Status::NotImplemented(http::RedactUrl(select.base_dir),
                                ": an http(s) URL cannot be listed; name each file");
}

Status HttpReadOnly(const std::string& url) {
  return Status::Invalid(http::RedactUrl(url),
                         ": http(s) URLs are read-only; write to a local path or an "
                         "object store (s3://, gs://, az://)");
}

Status HttpFileSystem::CreateDir(const std::string& path, bool) {
  return HttpReadOnly(path);
}
Status HttpFileSystem::DeleteDir(const std::string& path) { return HttpReadOnly(path); }
Status HttpFileSystem::DeleteDirContents(const std::string& path, bool) {
  return HttpReadOnly(path);
}
Status HttpFileSystem::DeleteRootDirContents() { return HttpReadOnly("http(s)://"); }
Status HttpFileSystem::DeleteFile(const std::string& path) { return HttpReadOnly(path); }
Status HttpFileSystem::Move(const std::string&, const std::string& dest) {
  return HttpReadOnly(dest);
}
Status HttpFileSystem::CopyFile(const std::string&, const std::string& dest) {
  return HttpReadOnly(dest);
}
Result<std::shared_ptr<arrow::io::OutputStream>> HttpFileSystem::OpenOutputStream(
    const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>&) {
  return HttpReadOnly(path);
}
Result<std::shared_ptr<arrow::io::OutputStream>> HttpFileSystem::OpenAppendStream(
    const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>&) {
  return HttpReadOnly(path);
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> HttpFileSystem::OpenInputFile(
    const std::string& path) {
  auto r = core_->ResourceOf(path);
  {
    std::lock_guard<std::mutex> lock(r->open_mutex);
    ARROW_RETURN_NOT_OK(core_->Prepare(r.get()));
  }
  return std::make_shared<HttpFile>(core_, std::move(r));
}

Result<std::shared_ptr<arrow::io::InputStream>> HttpFileSystem::OpenInputStream(
    const std::string& path) {
  auto r = core_->ResourceOf(path);
  {
    std::lock_guard<std::mutex> lock(r->cache_mutex);
    if (r->whole != nullptr) {
      // Downloaded already: read from here.
      ARROW_ASSIGN_OR_RAISE(const int64_t size, r->whole->GetSize());
      return arrow::io::RandomAccessFile::GetStream(r->whole, 0, size);
    }
  }
  http::Request request = core_->MakeRequest(path);
  ARROW_ASSIGN_OR_RAISE(auto stream, core_->open(request));
  if (!stream->head().ok()) return http::ErrorOf(path, stream->head());
  return std::make_shared<HttpInputStream>(core_, path, std::move(stream));
}

// --- options ---------------------------------------------------------------------

std::vector<OptionSpec> HttpOptionSpecs() {
  using T = OptionType;
  return {
      {"http_headers",
       T::kMap,
       "",
       "HTTP(S) URLs: request headers sent with every request, e.g. "
       "{'Authorization': 'Basic ...'}. Secret: never shown.",
       {"extra_http_headers"},
       {},
       true},
      {"bearer_token",
       T::kString,
       "",
       "HTTP(S) URLs: sent as 'Authorization: Bearer <token>'. Secret: never shown.",
       {"http_bearer_token"},
       {},
       true},
      {"http_retries",
       T::kInt,
       "3",
       "HTTP(S) URLs: retries of a transient failure (a connection reset or timed out; "
       "HTTP 429, 500, 502, 503, 504), with backoff from 200 ms, doubling up to 5 s.",
       {}},
      {"http_timeout",
       T::kDuration,
       "30s",
       "HTTP(S) URLs: the longest wait for a connection, and for data while a transfer "
       "stalls.",
       {}},
  };
}

Result<std::shared_ptr<arrow::fs::FileSystem>> MakeHttpFileSystem(
    const Options& options) {
  HttpFsOptions o;
  for (auto& [name, value] : options.GetMap("http_headers")) {
    std::string v = TrimBlanks(value);
    RegisterSecret(v);
    o.headers.emplace_back(TrimBlanks(name), std::move(v));
  }
  const std::string token = options.GetString("bearer_token", "");
  if (!token.empty()) {
    RegisterSecret(token);
    o.headers.emplace_back("Authorization", "Bearer " + token);
  }
  const int64_t retries = options.GetInt("http_retries", 3);
  if (retries < 0 || retries > 100) {
    return Status::Invalid("option 'http_retries': expected 0 to 100, got ", retries);
  }
  o.max_attempts = static_cast<int>(retries) + 1;
  const int64_t timeout = options.GetMillis("http_timeout", 30000);
  if (timeout <= 0) {
    return Status::Invalid("option 'http_timeout': expected a positive duration");
  }
  o.timeout = std::chrono::milliseconds(timeout);
  return std::make_shared<HttpFileSystem>(std::move(o));
}

}  // namespace flowsql::file
