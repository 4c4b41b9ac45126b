#include "connectors/http/http_settings.h"

#include <arrow/util/base64.h>

#include <cctype>
#include <map>

#include "common/secrets.h"
#include "common/sql_types.h"
#include "common/text.h"
#include "connectors/http/json_path.h"

namespace flowsql::httpapi {

namespace {

using Clock = std::chrono::steady_clock;

std::string PercentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

/// True for a header whose value is a credential.
bool IsSecretHeader(const std::string& name) {
  const std::string n = AsciiLower(name);
  return n == "cookie" || n == "proxy-authorization" || http::IsSecretParameter(n) ||
         (n.size() > 4 && n.compare(n.size() - 4, 4, "-key") == 0);
}

Status CheckPath(const Options& o, const char* option) {
  auto path = ParsePath(o.GetString(option));
  if (!path.ok())
    return Status::Invalid("option '", option, "': ", path.status().message());
  return Status::OK();
}

}  // namespace

std::string WithParams(const std::string& url,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  if (params.empty()) return url;
  std::string out = url;
  const size_t hash = out.find('#');
  std::string fragment;
  if (hash != std::string::npos) {
    fragment = out.substr(hash);
    out.resize(hash);
  }
  char sep = out.find('?') == std::string::npos ? '?' : '&';
  if (!out.empty() && (out.back() == '?' || out.back() == '&')) sep = '\0';
  for (const auto& [name, value] : params) {
    if (sep != '\0') out += sep;
    out += PercentEncode(name) + "=" + PercentEncode(value);
    sep = '&';
  }
  return out + fragment;
}

Result<Settings> ParseSettings(const ConnectorArgs& args) {
  const Options& o = args.options;
  Settings s;
  s.url = args.uri;
  if (!http::IsHttpUrl(s.url)) {
    return Status::Invalid("read_http needs an http:// or https:// URL, got '",
                           http::RedactUrl(s.url), "'");
  }
  http::RegisterUrlSecrets(s.url);
  s.method = AsciiUpper(o.GetString("method", "get"));
  for (auto& [name, value] : o.GetMap("headers")) {
    if (IsSecretHeader(name)) RegisterSecret(value);
    s.headers.emplace_back(TrimBlanks(name), value);
  }
  for (auto& [name, value] : o.GetMap("params")) {
    if (http::IsSecretParameter(name)) RegisterSecret(value);
    s.params.emplace_back(name, value);
  }
  s.body = o.GetString("body");
  if (!s.body.empty() && s.method == "GET") {
    return Status::Invalid("option 'body' is sent with method = 'POST' only");
  }
  const std::string auth = o.GetString("auth", "none");
  s.auth = auth == "bearer"    ? Auth::kBearer
           : auth == "basic"   ? Auth::kBasic
           : auth == "api_key" ? Auth::kApiKey
           : auth == "oauth2"  ? Auth::kOAuth2
                               : Auth::kNone;
  s.token = o.GetString("token");
  s.username = o.GetString("username");
  s.password = o.GetString("password");
  s.api_key = o.GetString("api_key");
  s.api_key_name = o.GetString("api_key_name", "X-API-Key");
  s.api_key_in_query = o.GetString("api_key_in", "header") == "query";
  s.token_url = o.GetString("token_url");
  s.client_id = o.GetString("client_id");
  s.client_secret = o.GetString("client_secret");
  s.scopes = o.GetString("scopes");
  auto need = [&](bool present, const char* option) {
    return present ? Status::OK()
                   : Status::Invalid("auth = '", auth, "' needs option '", option, "'");
  };
  switch (s.auth) {
    case Auth::kBearer:
      ARROW_RETURN_NOT_OK(need(!s.token.empty(), "token"));
      break;
    case Auth::kBasic:
      ARROW_RETURN_NOT_OK(need(!s.username.empty(), "username"));
      break;
    case Auth::kApiKey:
      ARROW_RETURN_NOT_OK(need(!s.api_key.empty(), "api_key"));
      break;
    case Auth::kOAuth2:
      ARROW_RETURN_NOT_OK(need(!s.token_url.empty(), "token_url"));
      ARROW_RETURN_NOT_OK(need(!s.client_id.empty(), "client_id"));
      ARROW_RETURN_NOT_OK(need(!s.client_secret.empty(), "client_secret"));
      break;
    case Auth::kNone:
      break;
  }
  s.verify_tls = o.GetBool("verify_tls", true);

  const std::string format = o.GetString("format", "auto");
  s.format = format == "json"     ? Format::kJson
             : format == "ndjson" ? Format::kNdjson
             : format == "csv"    ? Format::kCsv
                                  : Format::kAuto;
  s.records_path = TrimBlanks(o.GetString("records_path"));
  if (!s.records_path.empty() && s.records_path[0] != '$') {
    s.records_path = "$." + s.records_path;
  }
  if (!s.records_path.empty()) {
    auto path = json::RecordsPath::Parse(s.records_path);
    if (!path.ok()) return Status::Invalid("option ", path.status().message());
  }
  s.flatten = o.GetBool("flatten", false);
  const std::string bad = o.GetString("on_bad_record", "error");
  s.on_bad_record = bad == "skip"   ? json::OnBadRecord::kSkip
                    : bad == "null" ? json::OnBadRecord::kNull
                                    : json::OnBadRecord::kError;
  auto columns = o.GetMap("schema");
  if (!columns.empty()) {
    arrow::FieldVector fields;
    for (const auto& [name, type_name] : columns) {
      auto type = SqlTypeToArrow(type_name);
      if (!type.ok()) {
        return Status::Invalid("option 'schema': column '", name,
                               "': ", type.status().message());
      }
      fields.push_back(arrow::field(name, *type));
    }
    s.schema = arrow::schema(std::move(fields));
  }

  const std::string paginate = o.GetString("paginate", "auto");
  s.paginate = paginate == "none"          ? Paginate::kNone
               : paginate == "page"        ? Paginate::kPage
               : paginate == "offset"      ? Paginate::kOffset
               : paginate == "cursor"      ? Paginate::kCursor
               : paginate == "next_url"    ? Paginate::kNextUrl
               : paginate == "link_header" ? Paginate::kLinkHeader
                                           : Paginate::kAuto;
  s.page_param = o.GetString("page_param", "page");
  s.page_size_param = o.GetString("page_size_param");
  s.offset_param = o.GetString("offset_param", "offset");
  s.limit_param = o.GetString("limit_param", "limit");
  s.cursor_param = o.GetString("cursor_param", "cursor");
  s.page_size = o.GetInt("page_size", 0);
  s.start_page = o.GetInt("start_page", 1);
  s.total_path = o.GetString("total_path");
  s.total_pages_path = o.GetString("total_pages_path");
  s.cursor_path = o.GetString("cursor_path");
  s.next_url_path = o.GetString("next_url_path");
  for (const char* path :
       {"total_path", "total_pages_path", "cursor_path", "next_url_path"}) {
    ARROW_RETURN_NOT_OK(CheckPath(o, path));
  }
  s.max_pages = o.GetInt("max_pages", 0);
  s.sample_pages = o.GetInt("sample_pages", 8);
  if (s.sample_pages == 0 || s.sample_pages < -1) {
    return Status::Invalid("option 'sample_pages': expected >= 1, or -1 for every page");
  }
  s.stop = args.stop;
  s.max_concurrency = static_cast<int>(o.GetInt("max_concurrency", 8));
  if (s.page_size < 0 || (o.IsSet("page_size") && s.page_size == 0)) {
    return Status::Invalid("option 'page_size': expected >= 1, got ", s.page_size);
  }
  if (s.max_pages < 0) return Status::Invalid("option 'max_pages': expected >= 0");
  if (s.max_concurrency < 1 || s.max_concurrency > 256) {
    return Status::Invalid("option 'max_concurrency': expected 1 to 256, got ",
                           s.max_concurrency);
  }
  if (s.paginate == Paginate::kOffset && s.page_size == 0) s.page_size = 100;
  if (s.paginate == Paginate::kCursor && s.cursor_path.empty()) {
    return Status::Invalid("paginate = 'cursor' needs option 'cursor_path'");
  }
  if (s.paginate == Paginate::kNextUrl && s.next_url_path.empty()) {
    return Status::Invalid("paginate = 'next_url' needs option 'next_url_path'");
  }

  const int64_t retries = o.GetInt("retries", 5);
  if (retries < 0 || retries > 100) {
    return Status::Invalid("option 'retries': expected 0 to 100, got ", retries);
  }
  s.retries = static_cast<int>(retries);
  s.timeout = std::chrono::milliseconds(o.GetMillis("timeout", 30000));
  if (s.timeout.count() <= 0) return Status::Invalid("option 'timeout': expected > 0");
  s.requests_per_second = o.GetDouble("requests_per_second", 0);
  if (s.requests_per_second < 0) {
    return Status::Invalid("option 'requests_per_second': expected >= 0");
  }

  s.streaming = o.GetBool("streaming", false);
  s.interval = std::chrono::milliseconds(o.GetMillis("interval", 10000));
  s.offset_field = o.GetString("offset_field");
  const std::string type = AsciiLower(o.GetString("offset_type", "max_field"));
  s.offset_type = type == "timestamp"     ? OffsetType::kTimestamp
                  : type == "incremental" ? OffsetType::kIncremental
                  : type == "cursor"      ? OffsetType::kCursor
                                          : OffsetType::kMaxField;
  s.initial_offset = o.GetString("initial_offset");
  s.lag = std::chrono::milliseconds(o.GetMillis("lag", 0));
  if (!s.streaming) {
    for (const char* name :
         {"interval", "offset_field", "offset_type", "initial_offset", "lag"}) {
      if (o.IsSet(name)) {
        return Status::Invalid("option '", name, "' needs streaming = true");
      }
    }
    return s;
  }
  if (s.offset_field.empty()) {
    return Status::Invalid("streaming = true needs option 'offset_field'");
  }
  const std::string placeholder = "{" + s.offset_field + "}";
  bool placed = s.url.find(placeholder) != std::string::npos ||
                s.body.find(placeholder) != std::string::npos;
  for (const auto& [name, value] : s.params) {
    placed = placed || value.find(placeholder) != std::string::npos;
  }
  if (!placed) {
    return Status::Invalid("streaming = true: put ", placeholder,
                           " in the URL, params or body, where each poll sends the "
                           "offset");
  }
  if (s.lag.count() > 0 && s.offset_type != OffsetType::kTimestamp) {
    return Status::Invalid("option 'lag' needs offset_type = 'timestamp'");
  }
  return s;
}

Settings FillPlaceholder(Settings s, const std::string& name, const std::string& value) {
  const std::string placeholder = "{" + name + "}";
  auto fill = [&](std::string* text, const std::string& with) {
    for (size_t at; (at = text->find(placeholder)) != std::string::npos;) {
      text->replace(at, placeholder.size(), with);
    }
  };
  fill(&s.url, PercentEncode(value));
  fill(&s.body, value);
  for (auto& [param, text] : s.params) fill(&text, value);
  return s;
}

Clock::time_point RateLimit::Reserve() {
  const auto now = Clock::now();
  if (per_second_ <= 0) return now;
  std::lock_guard<std::mutex> lock(mutex_);
  const Clock::time_point turn = std::max(next_, now);
  next_ = turn + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(1.0 / per_second_));
  return turn;
}

std::shared_ptr<RateLimit> HostRateLimit(const std::string& url, double per_second) {
  // scheme://host[:port], the rest of the URL cut off.
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const std::string host = url.substr(0, url.find_first_of("/?#", start));
  // Kept for the process (one small entry per host and limit): a source made and
  // dropped (the schema of a LATERAL call) still counts against the next.
  static std::mutex mutex;
  static std::map<std::pair<std::string, double>, std::shared_ptr<RateLimit>> limits;
  std::lock_guard<std::mutex> lock(mutex);
  auto& limit = limits[{host, per_second}];
  if (limit == nullptr) limit = std::make_shared<RateLimit>(per_second);
  return limit;
}

Session::Session(Settings settings)
    : settings_(std::move(settings)),
      client_(settings_.max_concurrency),
      rate_(HostRateLimit(settings_.url, settings_.requests_per_second)) {}

Result<http::Request> Session::MakeRequest(std::string url, std::string body,
                                           const arrow::StopToken& stop) {
  const Settings& s = settings_;
  http::Request r;
  r.method = s.method;
  r.headers = s.headers;
  r.body = std::move(body);
  r.stop = stop;
  r.verify_tls = s.verify_tls;
  r.decompress = true;
  r.max_attempts = s.retries + 1;
  r.connect_timeout = s.timeout;
  r.stall_timeout = s.timeout;
  r.turn = [rate = rate_] { return rate->Reserve(); };
  switch (s.auth) {
    case Auth::kBearer:
      r.headers.emplace_back("Authorization", "Bearer " + s.token);
      break;
    case Auth::kBasic: {
      const std::string encoded =
          arrow::util::base64_encode(s.username + ":" + s.password);
      RegisterSecret(encoded);
      r.headers.emplace_back("Authorization", "Basic " + encoded);
      break;
    }
    case Auth::kApiKey:
      if (s.api_key_in_query) {
        url = WithParams(url, {{s.api_key_name, s.api_key}});
      } else {
        r.headers.emplace_back(s.api_key_name, s.api_key);
      }
      break;
    case Auth::kOAuth2: {
      ARROW_ASSIGN_OR_RAISE(auto token, AccessToken(stop));
      r.headers.emplace_back("Authorization", "Bearer " + token);
      break;
    }
    case Auth::kNone:
      break;
  }
  if (!r.body.empty()) {
    bool typed = false;
    for (const auto& [name, value] : r.headers)
      typed |= EqualsIgnoreCase(name, "content-type");
    if (!typed) r.headers.emplace_back("Content-Type", "application/json");
  }
  r.url = std::move(url);
  return r;
}

namespace {

/// `response` to a request for `url`, an unsuccessful answer made an error; messages
/// redacted.
Result<http::Response> Checked(const std::string& url, Result<http::Response> response) {
  if (!response.ok()) {
    return response.status().WithMessage(Redact(response.status().message()));
  }
  if (!response->ok()) {
    const Status st = http::ErrorOf(url, *response);
    return st.WithMessage(Redact(st.message()));
  }
  return response;
}

}  // namespace

Result<http::Response> Session::Fetch(const http::Request& request) {
  return Checked(request.url, client_.Send(request));
}

void Session::FetchAsync(http::Request request,
                         std::function<void(Result<http::Response>)> done) {
  std::string url = request.url;
  client_.SendAsync(std::move(request), [url = std::move(url), done = std::move(done)](
                                            Result<http::Response> response) {
    done(Checked(url, std::move(response)));
  });
}

Result<std::string> Session::AccessToken(const arrow::StopToken& stop) {
  std::lock_guard<std::mutex> lock(token_mutex_);
  if (!access_token_.empty() && Clock::now() < refresh_at_) return access_token_;
  const Settings& s = settings_;
  http::Request r;
  r.method = "POST";
  r.url = s.token_url;
  r.stop = stop;
  r.verify_tls = s.verify_tls;
  r.max_attempts = s.retries + 1;
  r.connect_timeout = s.timeout;
  r.stall_timeout = s.timeout;
  r.turn = [rate = rate_] { return rate->Reserve(); };
  r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  r.headers.emplace_back("Accept", "application/json");
  r.body = "grant_type=client_credentials&client_id=" + PercentEncode(s.client_id) +
           "&client_secret=" + PercentEncode(s.client_secret);
  RegisterSecret(PercentEncode(s.client_secret));
  if (!s.scopes.empty()) r.body += "&scope=" + PercentEncode(s.scopes);
  ARROW_ASSIGN_OR_RAISE(auto answer, Fetch(r));
  const std::string where = http::RedactUrl(s.token_url) + ": the OAuth2 token answer ";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(answer.body).get(doc) != simdjson::SUCCESS) {
    return Status::IOError(where, "is not JSON");
  }
  auto token = Find(doc, {PathStep{"access_token", -1}});
  std::optional<std::string> text;
  if (token) text = ScalarText(*token);
  if (!text || text->empty()) return Status::IOError(where, "has no access_token");
  RegisterSecret(*text);
  // Refreshed when 80 % of its life has passed (an hour when the server is silent).
  double lifetime = 3600;
  if (auto expires = Find(doc, {PathStep{"expires_in", -1}})) {
    double seconds = 0;
    if (expires->get_double().get(seconds) == simdjson::SUCCESS && seconds > 0) {
      lifetime = seconds;
    } else if (auto t = ScalarText(*expires)) {
      lifetime = std::max(1.0, std::atof(t->c_str()));
    }
  }
  access_token_ = *text;
  refresh_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(lifetime * 0.8));
  return access_token_;
}

}  // namespace flowsql::httpapi
