#include "common/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <thread>

#include "common/secrets.h"
#include "common/text.h"

namespace flowsql::http {

namespace {

using Clock = std::chrono::steady_clock;

/// The most of an unsuccessful answer's body kept for the caller.
constexpr size_t kErrorBodyBytes = 64 << 10;
/// Idle handles a pool keeps (each with its open connections).
constexpr size_t kIdleHandles = 16;
/// The longest a transfer's driver sleeps: how soon it sees a stop.
constexpr std::chrono::milliseconds kPollInterval{100};

Status EnsureCurl() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return Status::IOError("cannot start libcurl: ", curl_easy_strerror(code));
  }
  return Status::OK();
}

std::string_view TrimView(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out +=
          static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i] == '+' ? ' ' : text[i];
    }
  }
  return out;
}

/// Calls `f(name, value_begin, value_end)` for each name=value of the query and the
/// fragment of `url`, offsets into `url`.
template <typename F>
void ForEachParameter(std::string_view url, F f) {
  size_t start = url.find_first_of("?#");
  while (start != std::string_view::npos && start < url.size()) {
    ++start;
    size_t end = url.find_first_of("&#;", start);
    if (end == std::string_view::npos) end = url.size();
    const std::string_view pair = url.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos) {
      f(PercentDecode(pair.substr(0, eq)), start + eq + 1, end);
    }
    start = end < url.size() ? end : std::string_view::npos;
  }
}

/// [begin, end) of the user:password of `url`; begin == end when none.
std::pair<size_t, size_t> UserInfo(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {0, 0};
  const size_t begin = scheme + 3;
  const size_t authority_end = url.find_first_of("/?#", begin);
  const std::string_view authority =
      url.substr(begin, authority_end == std::string_view::npos ? std::string_view::npos
                                                                : authority_end - begin);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return {begin, begin};
  return {begin, begin + at};
}

std::chrono::milliseconds Backoff(const Request& request, int attempt,
                                  const Response* answer) {
  static thread_local std::mt19937 random(std::random_device{}());
  const double base = static_cast<double>(request.initial_backoff.count()) *
                      static_cast<double>(1LL << std::min(attempt - 1, 10));
  const double capped = std::min(base, 5000.0);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  auto wait = std::chrono::milliseconds(static_cast<int64_t>(capped * jitter(random)));
  if (answer != nullptr) {
    // Retry-After: seconds (an HTTP date is not honoured).
    const std::string after = answer->Header("retry-after");
    if (!after.empty() &&
        std::all_of(after.begin(), after.end(), [](char c) { return std::isdigit(c); })) {
      const int64_t seconds = std::min<int64_t>(std::stoll(after.substr(0, 6)), 10);
      wait = std::max(wait, std::chrono::milliseconds(seconds * 1000));
    }
  }
  return wait;
}

/// Sleeps until `end`, or less when `stop` is requested (then Cancelled).
Status SleepUntil(Clock::time_point end, const arrow::StopToken& stop) {
  while (true) {
    ARROW_RETURN_NOT_OK(stop.Poll());
    const auto now = Clock::now();
    if (now >= end) return Status::OK();
    std::this_thread::sleep_for(
        std::min<Clock::duration>(end - now, std::chrono::milliseconds(50)));
  }
}

std::string Attempts(int attempts) {
  return attempts > 1 ? " (after " + std::to_string(attempts) + " attempts)" : "";
}

bool TransientCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

const char* CurlWhat(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "cannot resolve host";
    case CURLE_COULDNT_CONNECT:
      return "cannot connect";
    case CURLE_OPERATION_TIMEDOUT:
      return "timed out";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return "not a valid http(s) URL";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return "TLS failed";
    default:
      return "transfer failed";
  }
}

}  // namespace

// --- pool of curl handles ---------------------------------------------------------

/// An easy handle in its own multi handle: the multi handle owns the connections its
/// transfers leave open, so a handle taken from the pool reuses them.
struct CurlHandle {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  ~CurlHandle() {
    if (multi != nullptr) curl_multi_cleanup(multi);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

struct Client::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<CurlHandle>> idle;
  /// DNS answers and TLS sessions, shared by the pool's handles.
  CURLSH* share = nullptr;
  std::mutex share_mutex[CURL_LOCK_DATA_LAST];

  Pool() {
    share = curl_share_init();
    if (share != nullptr) {
      curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Lock);
      curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Unlock);
      curl_share_setopt(share, CURLSHOPT_USERDATA, this);
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }
  ~Pool() {
    idle.clear();
    if (share != nullptr) curl_share_cleanup(share);
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Pool*>(self)->share_mutex[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Pool*>(self)->share_mutex[data].unlock();
  }

  Result<std::unique_ptr<CurlHandle>> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!idle.empty()) {
        auto handle = std::move(idle.back());
        idle.pop_back();
        return handle;
      }
    }
    auto handle = std::make_unique<CurlHandle>();
    handle->easy = curl_easy_init();
    handle->multi = curl_multi_init();
    if (handle->easy == nullptr || handle->multi == nullptr) {
      return Status::OutOfMemory("cannot make a curl handle");
    }
    return handle;
  }

  void Release(std::unique_ptr<CurlHandle> handle) {
    std::lock_guard<std::mutex> lock(mutex);
    if (idle.size() < kIdleHandles) idle.push_back(std::move(handle));
  }
};

// --- one transfer -------------------------------------------------------------

namespace {

/// One attempt at a request. A stream (Open) drives it through its handle's own multi
/// handle as its reader asks for body bytes, so the body waits in the socket, not in
/// memory; the client's loop (SendAsync) drives it with all the others and keeps the
/// body whole.
class CurlStream : public ResponseStream {
 public:
  CurlStream(std::shared_ptr<Client::Pool> pool, const Request& request)
      : pool_(std::move(pool)), request_(request) {}
  ~CurlStream() override { Finish(); }

  /// Takes a handle from the pool and sets the request on it; `tag` is its
  /// CURLOPT_PRIVATE.
  Status Prepare(void* tag);
  /// Adds the prepared transfer to `multi`.
  Status Attach(CURLM* multi);
  /// Prepares the transfer, attaches it to its handle's own multi handle and drives it
  /// until its head is in (a body byte arrived or the transfer ended). An error means
  /// no usable answer; transient() says whether trying again may help.
  Status Start();
  const Response& head() const override { return head_; }
  Response& mutable_head() { return head_; }
  Result<int64_t> Read(int64_t n, void* out) override;
  /// Whether the last failure may pass when the request is sent again.
  bool transient() const { return transient_; }
  /// Reads what is left of the body into `out`, at most `limit` bytes (-1: all).
  Status ReadRest(std::string* out, int64_t limit);

  // --- driven by the client's loop ---

  /// Header and body bytes received so far.
  int64_t progress() const { return progress_; }
  /// The transfer ended with `result`, or received nothing for the stall timeout.
  void End(CURLcode result, bool stalled = false);
  /// Whether the ended transfer brought an answer (the rest is Failure()).
  bool answered() const { return result_ == CURLE_OK || cut_; }
  /// The ended transfer's answer, its whole body kept (the first 64 KiB of an
  /// unsuccessful one); the handle goes back to the pool.
  Response TakeAnswer();
  /// The error for the failed transfer; the handle goes back to the pool.
  Status Failure();

 private:
  static size_t OnHeader(char* data, size_t size, size_t count, void* self);
  static size_t OnBody(char* data, size_t size, size_t count, void* self);
  /// Drives the transfer until body bytes wait in buffer_ or it has ended.
  Status Pump();
  /// Takes the final status from curl (HTTP/2 and redirects included) and its
  /// standard phrase where there is one: servers word theirs freely.
  void HeadIn();
  /// Detaches the handle and gives it back to the pool.
  void Finish();
  size_t buffered() const { return buffer_.size() - buffer_pos_; }

  std::shared_ptr<Client::Pool> pool_;
  Request request_;
  std::unique_ptr<CurlHandle> handle_;
  CURLM* multi_ = nullptr;  // the one the handle is attached to
  curl_slist* header_list_ = nullptr;
  std::string range_;
  Response head_;
  std::string buffer_;
  size_t buffer_pos_ = 0;
  int64_t progress_ = 0;  // header and body bytes received
  int64_t body_bytes_ = 0;
  bool done_ = false;
  bool stalled_ = false;
  bool transient_ = false;
  bool cut_ = false;  // the loop stopped an unsuccessful answer's body at 64 KiB
  CURLcode result_ = CURLE_OK;
  char error_[CURL_ERROR_SIZE] = {0};
};

size_t CurlStream::OnHeader(char* data, size_t size, size_t count, void* self) {
  auto* s = static_cast<CurlStream*>(self);
  const size_t n = size * count;
  s->progress_ += static_cast<int64_t>(n);
  std::string_view line = TrimView(std::string_view(data, n));
  if (line.rfind("HTTP/", 0) == 0) {
    // A new answer (after a redirect or a 100 Continue): its headers replace the last.
    s->head_.headers.clear();
    s->head_.reason.clear();
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      std::string_view rest = line.substr(sp + 1);
      const size_t sp2 = rest.find(' ');
      s->head_.status = std::atoi(std::string(rest.substr(0, sp2)).c_str());
      if (sp2 != std::string_view::npos) s->head_.reason = TrimView(rest.substr(sp2 + 1));
    }
    return n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    s->head_.headers.emplace_back(AsciiLower(std::string(line.substr(0, colon))),
                                  std::string(TrimView(line.substr(colon + 1))));
  }
  return n;
}

size_t CurlStream::OnBody(char* data, size_t size, size_t count, void* self) {
  auto* s = static_cast<CurlStream*>(self);
  const size_t n = size * count;
  const bool whole = s->multi_ != s->handle_->multi;  // driven by the client's loop
  if (whole && s->buffer_.size() + n > kErrorBodyBytes) {
    // The loop keeps the body whole, but of an unsuccessful answer only its start.
    long status = 0;
    curl_easy_getinfo(s->handle_->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
      s->buffer_.append(data, std::min(n, kErrorBodyBytes - s->buffer_.size()));
      s->cut_ = true;
      return 0;  // ends the transfer (CURLE_WRITE_ERROR)
    }
  }
  if (s->buffer_pos_ == s->buffer_.size()) {
    s->buffer_.clear();
    s->buffer_pos_ = 0;
  }
  s->buffer_.append(data, n);
  s->progress_ += static_cast<int64_t>(n);
  s->body_bytes_ += static_cast<int64_t>(n);
  return n;
}

Status CurlStream::Prepare(void* tag) {
  ARROW_ASSIGN_OR_RAISE(handle_, pool_->Acquire());
  CURL* easy = handle_->easy;
  curl_easy_reset(easy);
  auto set = [&](CURLoption option, auto value) {
    const CURLcode code = curl_easy_setopt(easy, option, value);
    return code == CURLE_OK
               ? Status::OK()
               : Status::IOError(RedactUrl(request_.url), ": cannot set up the request: ",
                                 curl_easy_strerror(code));
  };
  ARROW_RETURN_NOT_OK(set(CURLOPT_URL, request_.url.c_str()));
  ARROW_RETURN_NOT_OK(set(CURLOPT_PRIVATE, tag));
  ARROW_RETURN_NOT_OK(set(CURLOPT_PROTOCOLS_STR, "http,https"));
  ARROW_RETURN_NOT_OK(set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  ARROW_RETURN_NOT_OK(set(CURLOPT_NOSIGNAL, 1L));
  ARROW_RETURN_NOT_OK(set(CURLOPT_FOLLOWLOCATION, 1L));
  ARROW_RETURN_NOT_OK(set(CURLOPT_MAXREDIRS, 10L));
  ARROW_RETURN_NOT_OK(set(CURLOPT_TCP_KEEPALIVE, 1L));
  ARROW_RETURN_NOT_OK(set(CURLOPT_USERAGENT, "flowsql"));
  ARROW_RETURN_NOT_OK(set(CURLOPT_ERRORBUFFER, error_));
  ARROW_RETURN_NOT_OK(set(CURLOPT_CONNECTTIMEOUT_MS,
                          static_cast<long>(request_.connect_timeout.count())));
  ARROW_RETURN_NOT_OK(set(CURLOPT_HEADERFUNCTION, &CurlStream::OnHeader));
  ARROW_RETURN_NOT_OK(set(CURLOPT_HEADERDATA, this));
  ARROW_RETURN_NOT_OK(set(CURLOPT_WRITEFUNCTION, &CurlStream::OnBody));
  ARROW_RETURN_NOT_OK(set(CURLOPT_WRITEDATA, this));
  if (pool_->share != nullptr) ARROW_RETURN_NOT_OK(set(CURLOPT_SHARE, pool_->share));
  if (!request_.verify_tls) {
    ARROW_RETURN_NOT_OK(set(CURLOPT_SSL_VERIFYPEER, 0L));
    ARROW_RETURN_NOT_OK(set(CURLOPT_SSL_VERIFYHOST, 0L));
  }
  if (request_.decompress) ARROW_RETURN_NOT_OK(set(CURLOPT_ACCEPT_ENCODING, ""));
  if (request_.aws_sigv4) {
    ARROW_RETURN_NOT_OK(set(CURLOPT_AWS_SIGV4, request_.aws_sigv4->provider.c_str()));
    ARROW_RETURN_NOT_OK(set(CURLOPT_USERNAME, request_.aws_sigv4->access_key.c_str()));
    ARROW_RETURN_NOT_OK(set(CURLOPT_PASSWORD, request_.aws_sigv4->secret_key.c_str()));
  }
  const std::string method = AsciiUpper(request_.method);
  if (method == "HEAD") {
    ARROW_RETURN_NOT_OK(set(CURLOPT_NOBODY, 1L));
  } else if (method == "GET" && request_.body.empty()) {
    ARROW_RETURN_NOT_OK(set(CURLOPT_HTTPGET, 1L));
  } else {
    if (method != "POST") ARROW_RETURN_NOT_OK(set(CURLOPT_CUSTOMREQUEST, method.c_str()));
    ARROW_RETURN_NOT_OK(
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_.body.size())));
    ARROW_RETURN_NOT_OK(set(CURLOPT_POSTFIELDS, request_.body.data()));
  }
  if (request_.range) {
    range_ = std::to_string(request_.range->first) + "-" +
             (request_.range->last >= 0 ? std::to_string(request_.range->last) : "");
    ARROW_RETURN_NOT_OK(set(CURLOPT_RANGE, range_.c_str()));
  }
  for (const auto& [name, value] : request_.headers) {
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* list = curl_slist_append(header_list_, line.c_str());
    if (list == nullptr) return Status::OutOfMemory("cannot make a header list");
    header_list_ = list;
  }
  if (header_list_ != nullptr) ARROW_RETURN_NOT_OK(set(CURLOPT_HTTPHEADER, header_list_));
  return Status::OK();
}

Status CurlStream::Attach(CURLM* multi) {
  const CURLMcode added = curl_multi_add_handle(multi, handle_->easy);
  if (added != CURLM_OK) {
    return Status::IOError(RedactUrl(request_.url),
                           ": cannot start the request: ", curl_multi_strerror(added));
  }
  multi_ = multi;
  return Status::OK();
}

Status CurlStream::Start() {
  ARROW_RETURN_NOT_OK(Prepare(nullptr));
  ARROW_RETURN_NOT_OK(Attach(handle_->multi));
  ARROW_RETURN_NOT_OK(Pump());
  if (done_ && result_ != CURLE_OK && buffered() == 0) return Failure();
  return Status::OK();
}

void CurlStream::HeadIn() {
  long status = 0;
  if (curl_easy_getinfo(handle_->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
      status != 0) {
    head_.status = static_cast<int>(status);
  }
  const std::string_view standard = ReasonPhrase(head_.status);
  if (!standard.empty()) head_.reason = std::string(standard);
}

Status CurlStream::Pump() {
  auto last_progress = Clock::now();
  int64_t seen = progress_;
  while (!done_ && buffered() == 0) {
    int running = 0;
    const CURLMcode code = curl_multi_perform(multi_, &running);
    if (code != CURLM_OK) {
      return Status::IOError(RedactUrl(request_.url),
                             ": transfer failed: ", curl_multi_strerror(code));
    }
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
      if (message->msg == CURLMSG_DONE) {
        done_ = true;
        result_ = message->data.result;
      }
    }
    ARROW_RETURN_NOT_OK(request_.stop.Poll());
    if (done_ || buffered() > 0) {
      HeadIn();
      break;
    }
    if (progress_ != seen) {
      seen = progress_;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > request_.stall_timeout) {
      stalled_ = true;
      done_ = true;
      result_ = CURLE_OPERATION_TIMEDOUT;
      break;
    }
    curl_multi_poll(multi_, nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr);
  }
  if (done_ && result_ == CURLE_OK && buffered() == 0) Finish();
  return Status::OK();
}

void CurlStream::End(CURLcode result, bool stalled) {
  done_ = true;
  stalled_ = stalled;
  result_ = stalled ? CURLE_OPERATION_TIMEDOUT : result;
  HeadIn();
}

Response CurlStream::TakeAnswer() {
  Response answer = std::move(head_);
  answer.body = std::move(buffer_);
  Finish();
  return answer;
}

Status CurlStream::Failure() {
  transient_ = TransientCurlCode(result_);
  std::string detail;
  if (stalled_) {
    const int64_t ms = request_.stall_timeout.count();
    detail = "no data for " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                                              : std::to_string(ms) + " ms");
  } else {
    detail = error_[0] != '\0' ? std::string(error_) : curl_easy_strerror(result_);
  }
  std::string after;
  if (body_bytes_ > 0) after = " after " + std::to_string(body_bytes_) + " bytes";
  Finish();
  return Status::IOError(RedactUrl(request_.url), ": ", CurlWhat(result_), after, ": ",
                         Redact(detail));
}

Result<int64_t> CurlStream::Read(int64_t n, void* out) {
  auto* dest = static_cast<uint8_t*>(out);
  int64_t copied = 0;
  while (copied < n) {
    if (buffered() == 0) {
      if (done_) break;
      ARROW_RETURN_NOT_OK(Pump());
      continue;
    }
    const int64_t take = std::min<int64_t>(n - copied, static_cast<int64_t>(buffered()));
    std::memcpy(dest + copied, buffer_.data() + buffer_pos_, static_cast<size_t>(take));
    buffer_pos_ += static_cast<size_t>(take);
    copied += take;
  }
  if (buffered() == 0 && done_) {
    if (result_ != CURLE_OK) {
      // The bytes before the failure go out first; the next call reports it.
      if (copied > 0) return copied;
      return Failure();
    }
    Finish();
  }
  return copied;
}

Status CurlStream::ReadRest(std::string* out, int64_t limit) {
  char chunk[64 << 10];
  while (limit < 0 || static_cast<int64_t>(out->size()) < limit) {
    int64_t want = sizeof(chunk);
    if (limit >= 0) want = std::min<int64_t>(want, limit - out->size());
    ARROW_ASSIGN_OR_RAISE(const int64_t got, Read(want, chunk));
    if (got == 0) break;
    out->append(chunk, static_cast<size_t>(got));
  }
  return Status::OK();
}

void CurlStream::Finish() {
  if (handle_ == nullptr) return;
  if (multi_ != nullptr) curl_multi_remove_handle(multi_, handle_->easy);
  multi_ = nullptr;
  if (header_list_ != nullptr) {
    curl_easy_setopt(handle_->easy, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(header_list_);
    header_list_ = nullptr;
  }
  pool_->Release(std::move(handle_));
}

/// Tries `request` until an answer that is not a transient failure, or the attempts
/// are spent. The stream is at its body.
Result<std::unique_ptr<CurlStream>> OpenWithRetries(
    const std::shared_ptr<Client::Pool>& pool, const Request& request) {
  ARROW_RETURN_NOT_OK(EnsureCurl());
  const int attempts = std::max(request.max_attempts, 1);
  for (int attempt = 1;; ++attempt) {
    if (request.turn) ARROW_RETURN_NOT_OK(SleepUntil(request.turn(), request.stop));
    auto stream = std::make_unique<CurlStream>(pool, request);
    Status st = stream->Start();
    const bool last = attempt >= attempts;
    if (!st.ok()) {
      if (stream->transient() && !last) {
        ARROW_RETURN_NOT_OK(
            SleepUntil(Clock::now() + Backoff(request, attempt, nullptr), request.stop));
        continue;
      }
      return st.WithMessage(st.message(), Attempts(attempt));
    }
    stream->mutable_head().attempts = attempt;
    const int status = stream->head().status;
    if (IsTransientStatus(status) && !last) {
      const Response answer = stream->head();
      stream.reset();
      ARROW_RETURN_NOT_OK(
          SleepUntil(Clock::now() + Backoff(request, attempt, &answer), request.stop));
      continue;
    }
    if (!stream->head().ok()) {
      // The error page, for the caller to show; a failure reading it does not matter.
      std::string body;
      (void)stream->ReadRest(&body, kErrorBodyBytes);
      stream->mutable_head().body = std::move(body);
    }
    return stream;
  }
}

/// A request sent with SendAsync, as the client's loop carries it.
struct Transfer {
  Request request;
  Client::Done done;
  bool counted = false;                   // holds one of the client's max_in_flight
  int attempts = 0;                       // started
  Clock::time_point due{};                // no attempt before (a backoff)
  std::optional<Clock::time_point> turn;  // the next attempt's, once asked for
  std::unique_ptr<CurlStream> stream;     // the attempt under way
  int64_t seen = 0;                       // its progress when last looked at
  Clock::time_point last_progress{};
  /// Set when the request is over: handed to `done`, then the transfer is dropped.
  std::optional<Result<Response>> outcome;
};

}  // namespace

// --- the client's loop ------------------------------------------------------------

/// One thread driving every SendAsync transfer of a client through one multi handle.
/// Everything but `mutex` and what it guards belongs to that thread.
struct Client::Loop {
  std::shared_ptr<Pool> pool;
  const int max_in_flight;
  CURLM* multi = nullptr;
  std::thread thread;

  std::mutex mutex;
  std::vector<std::unique_ptr<Transfer>> incoming;  // guarded by mutex
  bool closing = false;                             // guarded by mutex

  std::list<std::unique_ptr<Transfer>> transfers;  // in the order they came
  int in_flight = 0;
  Clock::time_point wake;  // when a waiting transfer can go on, the earliest

  Loop(std::shared_ptr<Pool> pool, int max_in_flight)
      : pool(std::move(pool)), max_in_flight(max_in_flight), multi(curl_multi_init()) {}

  ~Loop() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      closing = true;
    }
    if (thread.joinable()) {
      curl_multi_wakeup(multi);
      thread.join();
    }
    if (multi != nullptr) curl_multi_cleanup(multi);
  }

  void Add(std::unique_ptr<Transfer> transfer) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      incoming.push_back(std::move(transfer));
    }
    curl_multi_wakeup(multi);
  }

  void Run() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (closing) break;
        for (auto& t : incoming) transfers.push_back(std::move(t));
        incoming.clear();
      }
      wake = Clock::now() + std::chrono::hours(1);
      for (auto& t : transfers) Step(*t);
      int running = 0;
      const CURLMcode code = curl_multi_perform(multi, &running);
      if (code != CURLM_OK) {
        for (auto& t : transfers) {
          if (t->stream == nullptr) continue;
          t->stream.reset();
          t->outcome = Status::IOError(RedactUrl(t->request.url),
                                       ": transfer failed: ", curl_multi_strerror(code));
        }
      }
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        const CURLcode result = message->data.result;
        char* tag = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &tag);
        Ended(*reinterpret_cast<Transfer*>(tag), result, /*stalled=*/false);
      }
      const bool freed = Sweep();
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          wake - Clock::now() + std::chrono::milliseconds(1));
      if (!transfers.empty()) wait = std::min(wait, kPollInterval);
      if (freed) wait = std::chrono::milliseconds(0);
      curl_multi_poll(multi, nullptr, 0,
                      static_cast<int>(std::max<int64_t>(wait.count(), 0)), nullptr);
    }
    // Closing: every request ends, those the `done`s send meanwhile too.
    while (!transfers.empty()) {
      for (auto& t : transfers) {
        t->stream.reset();
        t->outcome = Status::Cancelled("the http client was closed");
      }
      Sweep();
      std::lock_guard<std::mutex> lock(mutex);
      for (auto& t : incoming) transfers.push_back(std::move(t));
      incoming.clear();
    }
  }

  /// Moves `t` on as far as it can go now; lowers `wake` to when it can go further.
  void Step(Transfer& t) {
    const auto now = Clock::now();
    if (t.outcome) return;
    Status stop = t.request.stop.Poll();
    if (!stop.ok()) {
      t.stream.reset();
      t.outcome = std::move(stop);
      return;
    }
    if (t.stream != nullptr) {
      if (t.stream->progress() != t.seen) {
        t.seen = t.stream->progress();
        t.last_progress = now;
      } else if (now - t.last_progress > t.request.stall_timeout) {
        Ended(t, CURLE_OPERATION_TIMEDOUT, /*stalled=*/true);
        return;
      }
      wake = std::min(wake, t.last_progress + t.request.stall_timeout);
      return;
    }
    if (!t.counted) {
      if (max_in_flight > 0 && in_flight >= max_in_flight) return;
      ++in_flight;
      t.counted = true;
    }
    if (now < t.due) {
      wake = std::min(wake, t.due);
      return;
    }
    if (!t.turn) t.turn = t.request.turn ? t.request.turn() : now;
    if (Clock::now() < *t.turn) {
      wake = std::min(wake, *t.turn);
      return;
    }
    t.turn.reset();
    ++t.attempts;
    auto stream = std::make_unique<CurlStream>(pool, t.request);
    Status st = stream->Prepare(&t);
    if (st.ok()) st = stream->Attach(multi);
    if (!st.ok()) {
      t.outcome = st.WithMessage(st.message(), Attempts(t.attempts));
      return;
    }
    t.stream = std::move(stream);
    t.seen = 0;
    t.last_progress = now;
  }

  /// The attempt under way ended: an answer, a retry due later (lowers `wake`), or a
  /// failure.
  void Ended(Transfer& t, CURLcode result, bool stalled) {
    CurlStream& stream = *t.stream;
    stream.End(result, stalled);
    const bool last = t.attempts >= std::max(t.request.max_attempts, 1);
    if (!stream.answered()) {
      Status st = stream.Failure();
      if (stream.transient() && !last) {
        t.due = Clock::now() + Backoff(t.request, t.attempts, nullptr);
        wake = std::min(wake, t.due);
      } else {
        t.outcome = st.WithMessage(st.message(), Attempts(t.attempts));
      }
      t.stream.reset();
      return;
    }
    Response answer = stream.TakeAnswer();
    t.stream.reset();
    answer.attempts = t.attempts;
    if (IsTransientStatus(answer.status) && !last) {
      t.due = Clock::now() + Backoff(t.request, t.attempts, &answer);
      wake = std::min(wake, t.due);
      return;
    }
    if (!answer.ok()) answer.body.resize(std::min(answer.body.size(), kErrorBodyBytes));
    t.outcome = std::move(answer);
  }

  /// Hands the requests that are over to their `done`; true when one left a slot of
  /// max_in_flight free.
  bool Sweep() {
    bool freed = false;
    for (auto it = transfers.begin(); it != transfers.end();) {
      if (!(*it)->outcome) {
        ++it;
        continue;
      }
      std::unique_ptr<Transfer> t = std::move(*it);
      it = transfers.erase(it);
      if (t->counted) {
        --in_flight;
        freed = true;
      }
      t->done(std::move(*t->outcome));
    }
    return freed;
  }
};

// --- Client --------------------------------------------------------------------

Client::Client(int max_in_flight)
    : pool_(std::make_shared<Pool>()), max_in_flight_(max_in_flight) {}

Client::~Client() = default;

Result<Client::Loop*> Client::StartLoop() {
  ARROW_RETURN_NOT_OK(EnsureCurl());
  std::lock_guard<std::mutex> lock(loop_mutex_);
  if (loop_ != nullptr) return loop_.get();
  auto loop = std::make_unique<Loop>(pool_, max_in_flight_);
  if (loop->multi == nullptr)
    return Status::OutOfMemory("cannot make a curl multi handle");
  try {
    loop->thread = std::thread([raw = loop.get()] { raw->Run(); });
  } catch (const std::system_error& e) {
    return Status::IOError("cannot start the http client's thread: ", e.what());
  }
  loop_ = std::move(loop);
  return loop_.get();
}

void Client::SendAsync(Request request, Done done) {
  auto loop = StartLoop();
  if (!loop.ok()) {
    done(loop.status());
    return;
  }
  auto transfer = std::make_unique<Transfer>();
  transfer->request = std::move(request);
  transfer->done = std::move(done);
  (*loop)->Add(std::move(transfer));
}

Result<Response> Client::Send(const Request& request) {
  // Shared with `done`, which may still be returning from set_value when get() does.
  auto answer = std::make_shared<std::promise<Result<Response>>>();
  auto future = answer->get_future();
  SendAsync(request, [answer](Result<Response> r) { answer->set_value(std::move(r)); });
  return future.get();
}

Result<std::unique_ptr<ResponseStream>> Client::Open(const Request& request) {
  ARROW_ASSIGN_OR_RAISE(auto stream, OpenWithRetries(pool_, request));
  return std::unique_ptr<ResponseStream>(std::move(stream));
}

Result<Response> Client::Stream(const Request& request,
                                const std::function<Status(std::string_view)>& on_chunk) {
  ARROW_ASSIGN_OR_RAISE(auto stream, OpenWithRetries(pool_, request));
  Response head = stream->head();
  if (!head.ok()) return head;
  std::vector<char> chunk(64 << 10);
  while (true) {
    ARROW_ASSIGN_OR_RAISE(const int64_t got,
                          stream->Read(static_cast<int64_t>(chunk.size()), chunk.data()));
    if (got == 0) break;
    ARROW_RETURN_NOT_OK(on_chunk(std::string_view(chunk.data(), got)));
  }
  return head;
}

// --- helpers ---------------------------------------------------------------------

std::string Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

Status ErrorOf(const std::string& url, const Response& response) {
  constexpr size_t kExcerpt = 200;
  std::string reason = response.reason;
  if (reason.empty()) reason = std::string(ReasonPhrase(response.status));
  std::string excerpt;
  for (char c : std::string_view(response.body).substr(0, kExcerpt)) {
    excerpt += std::iscntrl(static_cast<unsigned char>(c)) ? ' ' : c;
  }
  excerpt = TrimBlanks(excerpt);
  if (response.body.size() > kExcerpt) excerpt += "...";
  return Status::IOError(RedactUrl(url), ": HTTP ", response.status,
                         reason.empty() ? "" : " ", reason, Attempts(response.attempts),
                         excerpt.empty() ? "" : ": ", Redact(excerpt));
}

bool IsTransientStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 412:
      return "Precondition Failed";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

bool IsSecretParameter(std::string_view name) {
  const std::string n = AsciiLower(std::string(name));
  for (const char* part : {"token", "secret", "passw", "signature", "credential"}) {
    if (n.find(part) != std::string::npos) return true;
  }
  if (n.size() >= 3 && n.compare(n.size() - 3, 3, "key") == 0) return true;
  return n == "sig" || n == "auth" || n == "authorization" || n == "pwd";
}

std::string RedactUrl(std::string_view url) {
  if (url.find("://") == std::string_view::npos) return std::string(url);
  std::string out;
  size_t copied = 0;
  const auto [user_begin, user_end] = UserInfo(url);
  if (user_end > user_begin) {
    out.append(url.substr(0, user_begin));
    out.append("***");
    copied = user_end;
  }
  ForEachParameter(url, [&](const std::string& name, size_t begin, size_t end) {
    if (!IsSecretParameter(name) || end == begin) return;
    out.append(url.substr(copied, begin - copied));
    out.append("***");
    copied = end;
  });
  out.append(url.substr(copied));
  return out;
}

SplitParameters RemoveParameters(std::string_view url,
                                 const std::function<bool(const std::string&)>& remove) {
  const size_t query = url.find('?');
  if (query == std::string_view::npos) return {std::string(url), {}};
  size_t fragment = url.find('#', query);
  if (fragment == std::string_view::npos) fragment = url.size();
  SplitParameters out;
  std::vector<std::string_view> kept;
  for (size_t start = query + 1; start < fragment;) {
    size_t end = url.find('&', start);
    if (end == std::string_view::npos || end > fragment) end = fragment;
    const std::string_view pair = url.substr(start, end - start);
    if (!pair.empty()) {
      if (remove(PercentDecode(pair.substr(0, pair.find('='))))) {
        out.removed.emplace_back(pair);
      } else {
        kept.push_back(pair);
      }
    }
    start = end + 1;
  }
  out.url = std::string(url.substr(0, query));
  for (size_t i = 0; i < kept.size(); ++i) {
    out.url += (i == 0 ? '?' : '&');
    out.url += kept[i];
  }
  out.url += url.substr(fragment);
  return out;
}

std::string AppendParameters(std::string_view url,
                             const std::vector<std::string>& pairs) {
  size_t fragment = url.find('#');
  if (fragment == std::string_view::npos) fragment = url.size();
  std::string out(url.substr(0, fragment));
  for (const auto& pair : pairs) {
    out += out.find('?') == std::string::npos ? '?' : '&';
    out += pair;
  }
  return out + std::string(url.substr(fragment));
}

void RegisterUrlSecrets(std::string_view url) {
  if (url.find("://") == std::string_view::npos) return;
  const auto [user_begin, user_end] = UserInfo(url);
  if (user_end > user_begin) {
    const std::string_view userinfo = url.substr(user_begin, user_end - user_begin);
    RegisterSecret(userinfo);
    const size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      RegisterSecret(userinfo.substr(colon + 1));
      RegisterSecret(PercentDecode(userinfo.substr(colon + 1)));
    }
  }
  ForEachParameter(url, [&](const std::string& name, size_t begin, size_t end) {
    if (!IsSecretParameter(name)) return;
    RegisterSecret(url.substr(begin, end - begin));
    RegisterSecret(PercentDecode(url.substr(begin, end - begin)));
  });
}

bool IsHttpUrl(std::string_view uri) {
  auto starts = [&](std::string_view prefix) {
    return uri.size() >= prefix.size() &&
           EqualsIgnoreCase(uri.substr(0, prefix.size()), prefix);
  };
  return starts("http://") || starts("https://");
}

}  // namespace flowsql::http
