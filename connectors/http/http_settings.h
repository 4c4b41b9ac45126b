// The http connector's options, read once into plain values, and what every request
// of one source shares: authentication (an OAuth2 token fetched once and refreshed
// before it expires) and the rate limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/http_client.h"
#include "common/json_decoder.h"
#include "flowsql/connector.h"

namespace flowsql::httpapi {

enum class Paginate { kNone, kAuto, kPage, kOffset, kCursor, kNextUrl, kLinkHeader };
enum class Format { kAuto, kJson, kNdjson, kCsv };
enum class Auth { kNone, kBearer, kBasic, kApiKey, kOAuth2 };
/// How a polling stream's next offset follows from a round (poll_source.h).
enum class OffsetType { kMaxField, kTimestamp, kIncremental, kCursor };

/// The source options, validated.
struct Settings {
  std::string url;
  std::string method = "GET";
  http::Headers headers;
  /// Query parameters added to every request, in order.
  std::vector<std::pair<std::string, std::string>> params;
  /// The POST body; {page}, {offset}, {limit} and {cursor} are filled per request.
  std::string body;
  Auth auth = Auth::kNone;
  std::string token, username, password, api_key, api_key_name;
  bool api_key_in_query = false;
  std::string token_url, client_id, client_secret, scopes;
  bool verify_tls = true;

  Format format = Format::kAuto;
  /// A JSONPath starting with '$' ("data.items" is read as "$.data.items"); empty:
  /// DefaultRecordsPath() of the first page.
  std::string records_path;
  bool flatten = false;
  json::OnBadRecord on_bad_record = json::OnBadRecord::kError;
  /// Declared columns (the `schema` option); nullptr: inferred from the first
  /// `sample_pages` pages (-1: every page).
  std::shared_ptr<arrow::Schema> schema;
  int64_t sample_pages = 8;
  /// A key outside `schema` is an error, as with an inferred one (set by a polling
  /// stream, whose later polls keep the columns its first poll inferred).
  bool strict_keys = false;

  Paginate paginate = Paginate::kAuto;
  std::string page_param, page_size_param, offset_param, limit_param, cursor_param;
  int64_t page_size = 0;  // 0: not set
  int64_t start_page = 1;
  std::string total_path, total_pages_path, cursor_path, next_url_path;
  int64_t max_pages = 0;  // 0: no cap
  int max_concurrency = 8;

  int retries = 5;
  std::chrono::milliseconds timeout{30000};
  double requests_per_second = 0;

  // A polling stream (streaming = true, poll_source.h).
  bool streaming = false;
  std::chrono::milliseconds interval{10000};
  std::string offset_field;
  OffsetType offset_type = OffsetType::kMaxField;
  std::string initial_offset;
  std::chrono::milliseconds lag{0};

  /// The statement's stop token (ConnectorArgs::stop), for the requests made before
  /// the readers run (the first pages, read for the schema).
  arrow::StopToken stop = arrow::StopToken::Unstoppable();
};

/// `s` with every "{name}" in its URL (percent-encoded), parameters and body
/// replaced by `value`.
Settings FillPlaceholder(Settings s, const std::string& name, const std::string& value);

/// Reads `args` (the URL and validated options). Errors name the option.
Result<Settings> ParseSettings(const ConnectorArgs& args);

/// One request per 1/rate seconds at most, across every thread that shares it.
/// Thread-safe.
class RateLimit {
 public:
  explicit RateLimit(double per_second) : per_second_(per_second) {}
  /// The time this request may start (http::Request::turn): 1/rate after the turn
  /// given before, or now when that has passed. The caller waits until then; a turn
  /// not used is lost.
  std::chrono::steady_clock::time_point Reserve();

 private:
  double per_second_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point next_{};
};

/// The rate limit of requests to `url`'s host at `per_second`: one for the whole
/// process, so that every source reading that host under that limit (each call of a
/// LATERAL read_http) shares it.
std::shared_ptr<RateLimit> HostRateLimit(const std::string& url, double per_second);

/// What every request of a source shares: the client (at most max_concurrency
/// requests in flight), the rate limit and the credentials. Thread-safe.
class Session {
 public:
  explicit Session(Settings settings);

  const Settings& settings() const { return settings_; }
  /// The request for `url` (query parameters already in it) with `body`: method,
  /// headers, authentication, retries, timeouts, TLS checks and the rate limit.
  Result<http::Request> MakeRequest(std::string url, std::string body,
                                    const arrow::StopToken& stop);
  /// Sends `request`; an unsuccessful answer (after retries) is an error naming the
  /// URL (secrets removed), the status and the start of the body.
  Result<http::Response> Fetch(const http::Request& request);
  /// Sends `request` without waiting: `done` gets what Fetch returns, on the client's
  /// thread (see http::Client::SendAsync: it must be quick and must not wait).
  void FetchAsync(http::Request request,
                  std::function<void(Result<http::Response>)> done);

 private:
  /// The OAuth2 access token, fetched when there is none or it is about to expire.
  Result<std::string> AccessToken(const arrow::StopToken& stop);

  Settings settings_;
  http::Client client_;
  std::shared_ptr<RateLimit> rate_;
  std::mutex token_mutex_;
  std::string access_token_;
  std::chrono::steady_clock::time_point refresh_at_{};
};

/// `url` with `params` appended to its query, names and values percent-encoded.
std::string WithParams(const std::string& url,
                       const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace flowsql::httpapi
