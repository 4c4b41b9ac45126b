// A small HTTP(S) client over libcurl, for the connectors that read over HTTP (files
// by URL, REST APIs): one request with its answer whole (SendAsync, Send) or streamed
// (Open, Stream), transient failures retried a bounded number of times, and URLs
// stripped of their secrets for messages (RedactUrl).
//
// Thread-safe: any thread may send requests through one Client concurrently.
#pragma once

#include <arrow/util/cancel.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flowsql/status.h"

namespace flowsql::http {

/// Header fields, in order. Names as given (requests) or lower-cased (responses).
using Headers = std::vector<std::pair<std::string, std::string>>;

/// Bytes [first, last] of a resource, both included; last < 0: to its end.
struct ByteRange {
  int64_t first = 0;
  int64_t last = -1;
};

/// An AWS Signature Version 4 for a request (libcurl's CURLOPT_AWS_SIGV4).
struct AwsSigV4 {
  std::string provider;  // "aws:amz:<region>:<service>", e.g. "aws:amz:us-east-1:s3"
  std::string access_key, secret_key;
};

struct Request {
  /// "GET", "HEAD", "POST", ...
  std::string method = "GET";
  /// http:// or https://; may carry user:password@ (sent as basic authentication).
  std::string url;
  Headers headers;
  /// Sent when not empty (POST, PUT, PATCH).
  std::string body;
  /// Sent as a Range header.
  std::optional<ByteRange> range;
  /// Signs the request (its x-amz-* headers included) when set.
  std::optional<AwsSigV4> aws_sigv4;
  std::chrono::milliseconds connect_timeout{10000};
  /// A transfer that receives nothing for this long fails (transiently).
  std::chrono::milliseconds stall_timeout{60000};
  /// At most this many attempts in all (>= 1): see IsTransientStatus and the transport
  /// errors that Send retries (a connection reset or timed out, nothing received).
  /// Every method is retried alike: set 1 for a request that must not be repeated (a
  /// POST that is not idempotent).
  int max_attempts = 4;
  /// The wait before the second attempt; it doubles for each later one (with jitter),
  /// up to 5 s. A Retry-After answer (in seconds) is honoured up to 10 s.
  std::chrono::milliseconds initial_backoff{200};
  /// When set, waits (for a turn, for data, before a retry) end within about 100 ms
  /// with Status::Cancelled.
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
  /// Checks the server's TLS certificate and name (https). Off only when the user
  /// asks for it explicitly.
  bool verify_tls = true;
  /// Asks for a compressed answer (Accept-Encoding: every coding libcurl decodes:
  /// gzip, deflate, br, zstd) and hands the body over decoded.
  bool decompress = false;
  /// Called before every attempt, on the thread that sends it: the time the attempt
  /// may start (a rate limit's turn, see RateLimit in connectors/http), which the
  /// client waits for (SendAsync without a thread). Must not block. May be empty.
  std::function<std::chrono::steady_clock::time_point()> turn;
};

struct Response {
  int status = 0;
  /// The standard reason phrase of the status ("Not Found"); for a status without one,
  /// what the server's status line said.
  std::string reason;
  /// Names lower-cased. Those of the last answer when redirects were followed.
  Headers headers;
  /// The body (Send). Open() and Stream() leave it empty, but for an unsuccessful
  /// status, whose body (its first 64 KiB) they read here.
  std::string body;
  /// The attempts the request took (> 1 after retries).
  int attempts = 1;

  /// The value of header `name` (case-insensitive); "" when absent.
  std::string Header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

/// A response whose body is read piece by piece. Not thread-safe: one reader.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  /// Status and headers; the body is read with Read().
  virtual const Response& head() const = 0;
  /// Copies up to `n` bytes of the body to `out`, fewer only at its end; returns how
  /// many (0: the end). Errors name the URL (redacted) and what failed.
  virtual Result<int64_t> Read(int64_t n, void* out) = 0;
};

/// Sends requests. Thread-safe.
///
/// Whole answers (SendAsync, Send) are carried by one thread of the client's, started
/// with the first of them: a libcurl multi handle drives every transfer at once, and
/// waits (a turn, a backoff before a retry, a free slot under max_in_flight) are
/// timers there, so a thousand requests in flight take that one thread. Its
/// connection cache keeps connections open for the requests after (keep-alive, TLS
/// sessions). Streams (Open, Stream) are driven by the thread that reads them, one
/// curl handle each, from a pool that keeps their connections open likewise.
class Client {
 public:
  /// `max_in_flight` > 0: at most that many SendAsync and Send requests are sent or
  /// retried at once; the others wait in the client, in the order they came, for one
  /// to end. Streams do not count. 0: no limit.
  explicit Client(int max_in_flight = 0);
  /// Ends the requests still pending with Status::Cancelled (their `done` is called)
  /// and stops the client's thread. REQUIRES: not called from a `done`.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  using Done = std::function<void(Result<Response>)>;

  /// Sends `request` without waiting for it: `done` is called once with what Send
  /// returns, on the client's thread (or on the caller's, when the request cannot be
  /// started: the client's thread cannot be). `done` must be quick and must not wait
  /// for another request of this client (it may send one).
  void SendAsync(Request request, Done done);

  /// Sends `request`, retrying transient failures (a connection reset or timed out,
  /// an answer cut short; HTTP 429, 500, 502, 503 and 504) up to
  /// request.max_attempts times in all, with backoff. Returns the answer whatever its
  /// status (check Response::ok(); ErrorOf() words a failed one; an unsuccessful
  /// answer's body is cut at 64 KiB). A failed transfer is an IOError naming the
  /// redacted URL, the cause and the attempts made ("http://127.0.0.1:9/x.csv: cannot
  /// connect: ..."). Waits for SendAsync. REQUIRES: not called from a `done`.
  Result<Response> Send(const Request& request);

  /// Starts `request` and returns once its status and headers are in, retrying as
  /// Send does until then. The body is read from the stream; destroying the stream
  /// before its end abandons the transfer (and its connection). A failure while the
  /// body is read is not retried (the caller may resume with a range).
  Result<std::unique_ptr<ResponseStream>> Open(const Request& request);

  /// Sends `request` and hands its body to `on_chunk` piece by piece as it arrives,
  /// when its status is a success. Returns the answer's status and headers (its body
  /// empty, but for an unsuccessful status). An error `on_chunk` returns ends the
  /// transfer and is returned.
  Result<Response> Stream(const Request& request,
                          const std::function<Status(std::string_view)>& on_chunk);

  struct Pool;

 private:
  struct Loop;
  /// The loop, started with the first SendAsync.
  Result<Loop*> StartLoop();

  std::shared_ptr<Pool> pool_;
  const int max_in_flight_;
  std::mutex loop_mutex_;
  std::unique_ptr<Loop> loop_;
};

/// The error for an unsuccessful `response` to a request for `url`:
/// "https://host/x.parquet: HTTP 404 Not Found", "... (after 4 attempts)", then the
/// start of the answer's body when it has one (": {\"error\": ...}"). An IOError;
/// the URL and the body are redacted.
Status ErrorOf(const std::string& url, const Response& response);

/// True for the statuses worth retrying: 429, 500, 502, 503, 504.
bool IsTransientStatus(int status);

/// The standard reason phrase of `status` ("Not Found"); "" for an unknown one.
std::string_view ReasonPhrase(int status);

/// `url` as messages may show it: user:password@ becomes ***@, and the values of query
/// parameters that look secret (token, key, sig, signature, password, secret,
/// credential, X-Amz-Signature, ...) become ***. Text that is not a URL is returned as
/// is.
std::string RedactUrl(std::string_view url);

/// True for a query parameter name whose value is a secret (case-insensitive): names
/// containing token, secret, passw, signature or credential; ending in key; sig, auth,
/// authorization, pwd.
bool IsSecretParameter(std::string_view name);

/// `url` split in two: the query parameters `remove` selects (by decoded name), as
/// written ("name=value", percent-encoded), and the URL without them.
struct SplitParameters {
  std::string url;
  std::vector<std::string> removed;
};
SplitParameters RemoveParameters(std::string_view url,
                                 const std::function<bool(const std::string&)>& remove);

/// `url` with the "name=value" pairs (percent-encoded) added to its query.
std::string AppendParameters(std::string_view url, const std::vector<std::string>& pairs);

/// Registers the secrets of `url` (its password, and the values RedactUrl hides) with
/// RegisterSecret, so that no message or EXPLAIN prints them.
void RegisterUrlSecrets(std::string_view url);

/// True when `uri` starts with http:// or https:// (case-insensitive).
bool IsHttpUrl(std::string_view uri);

}  // namespace flowsql::http
