#include "connectors/http/http_connector.h"

#include "connectors/http/http_settings.h"
#include "connectors/http/http_source.h"
#include "connectors/http/poll_source.h"

namespace flowsql {

namespace {

std::vector<OptionSpec> SourceOptions() {
  using T = OptionType;
  return {
      // Requests.
      {"method", T::kEnum, "GET", "The request's method", {}, {"GET", "POST"}},
      {"headers",
       T::kMap,
       "",
       "Request headers, {'Accept': 'application/json', ...}; values may hold any "
       "character. Values of credential headers (Authorization, Cookie, *-Key, "
       "*token*) are secrets",
       {"http_headers"}},
      {"params",
       T::kMap,
       "",
       "Query parameters added to the URL, {'status': 'open', ...}, percent-encoded",
       {"query", "query_params"}},
      {"body",
       T::kString,
       "",
       "The POST body (JSON unless a Content-Type header says otherwise); {page}, "
       "{offset}, {limit} and {cursor} are replaced by the page's values",
       {"json_body"}},
      // Authentication.
      {"auth",
       T::kEnum,
       "none",
       "How requests authenticate: bearer (token), basic (username, password), api_key "
       "(api_key, api_key_name, api_key_in), oauth2 (client credentials: token_url, "
       "client_id, client_secret, scopes; the token is fetched once and again before "
       "it expires)",
       {"authType", "auth_type"},
       {"none", "bearer", "basic", "api_key", "oauth2"}},
      {"token",
       T::kString,
       "",
       "auth = 'bearer': the token (a secret: never shown)",
       {"oauthToken", "bearer_token"},
       {},
       true},
      {"username", T::kString, "", "auth = 'basic': the user", {"userId", "user"}},
      {"password",
       T::kString,
       "",
       "auth = 'basic': the password (a secret: never shown)",
       {"userPassword"},
       {},
       true},
      {"api_key",
       T::kString,
       "",
       "auth = 'api_key': the key (a secret: never shown)",
       {"apiKey"},
       {},
       true},
      {"api_key_name",
       T::kString,
       "X-API-Key",
       "auth = 'api_key': the header or query parameter that carries the key",
       {"api_key_header"}},
      {"api_key_in",
       T::kEnum,
       "header",
       "auth = 'api_key': where the key goes",
       {"api_key_location"},
       {"header", "query"}},
      {"token_url", T::kString, "", "auth = 'oauth2': the token endpoint"},
      {"client_id", T::kString, "", "auth = 'oauth2': the client id"},
      {"client_secret",
       T::kString,
       "",
       "auth = 'oauth2': the client secret (a secret: never shown)",
       {},
       {},
       true},
      {"scopes",
       T::kString,
       "",
       "auth = 'oauth2': the scopes asked for, space-separated",
       {"scope"}},
      {"verify_tls",
       T::kBool,
       "true",
       "Check the server's TLS certificate and host name; false only for a server you "
       "trust on a network you trust",
       {"ssl_verify", "tls_verify"}},
      // Responses.
      {"format",
       T::kEnum,
       "auto",
       "The answers' format; auto: NDJSON or CSV when the Content-Type says so, else "
       "JSON. gzip, deflate, br and zstd encodings are decoded",
       {},
       {"auto", "json", "ndjson", "csv"}},
      {"records_path",
       T::kString,
       "",
       "JSON: where the records are, e.g. '$.data.items' or '$.pages[*].items'; unset: "
       "the document when it is an array, else its data, items, results, records, rows "
       "or entries array, else the document as one record",
       {"data_selector", "data_path"}},
      {"flatten", T::kBool, "false",
       "Nested objects become flat columns named parent__child (dlt's naming) instead "
       "of structs"},
      {"on_bad_record",
       T::kEnum,
       "error",
       "A record whose value does not fit its column: error (naming the page, the "
       "record and the key), skip the record, or null the value",
       {},
       {"error", "skip", "null"}},
      {"schema",
       T::kMap,
       "",
       "The columns, {'id': 'BIGINT', 'name': 'VARCHAR'}; unset: inferred from the "
       "first pages (sample_pages)",
       {"columns"}},
      {"sample_pages",
       T::kInt,
       "8",
       "The pages the columns are inferred from when schema is unset: the first this "
       "many, the columns widened across them (a new key adds a column; an integer "
       "then a decimal number is DOUBLE; mixed kinds are VARCHAR); -1: every page, "
       "read once more for it. A later page that does not fit is an error",
       {"sample_size"}},
      // Pagination.
      {"paginate",
       T::kEnum,
       "auto",
       "How pages follow each other: none (one request), page, offset, cursor, "
       "next_url, link_header (RFC 8288 rel=\"next\"); auto: a Link header, a next URL "
       "or a cursor in the first answer, else none",
       {"paginator", "pagination"},
       {"none", "auto", "page", "offset", "cursor", "next_url", "link_header"}},
      {"page_param", T::kString, "page",
       "paginate = 'page': the page number's parameter"},
      {"page_size_param",
       T::kString,
       "",
       "paginate = 'page': the page size's parameter (sent when page_size is set)",
       {"per_page_param"}},
      {"page_size",
       T::kInt,
       "",
       "Records per page: sent with page_size_param (page) or limit_param (offset, "
       "default 100). A shorter page is the last; unset with page: the first page's "
       "count",
       {"per_page"}},
      {"start_page",
       T::kInt,
       "1",
       "paginate = 'page': the first page's number",
       {"base_page"}},
      {"total_path", T::kString, "",
       "page, offset: where the first answer says how many records there are; the pages "
       "are then fetched concurrently"},
      {"total_pages_path", T::kString, "",
       "page: where the first answer says how many pages there are; the pages are then "
       "fetched concurrently"},
      {"offset_param", T::kString, "offset",
       "paginate = 'offset': the offset's parameter"},
      {"limit_param", T::kString, "limit",
       "paginate = 'offset': the page size's parameter"},
      {"cursor_param", T::kString, "cursor",
       "paginate = 'cursor': the parameter the cursor is sent in"},
      {"cursor_path",
       T::kString,
       "",
       "paginate = 'cursor': where an answer holds the next cursor (absent, null or "
       "empty: the last page)",
       {"next_cursor_path"}},
      {"next_url_path",
       T::kString,
       "",
       "paginate = 'next_url': where an answer holds the next page's URL (absolute or "
       "relative; absent or null: the last page)",
       {"next_path"}},
      {"max_pages", T::kInt, "0", "Read at most this many pages; 0: all"},
      {"max_concurrency", T::kInt, "8",
       "Requests of one source in flight at once, at most: known pages (a total) are "
       "fetched this many at a time, page and offset chains ask this many pages ahead"},
      // Resilience.
      {"retries",
       T::kInt,
       "5",
       "Retries of a failed request (connection error, timeout, HTTP 429 or 5xx), with "
       "exponential backoff and jitter from 200 ms, honouring Retry-After",
       {"max_retries"}},
      {"timeout",
       T::kDuration,
       "30s",
       "The longest wait for a connection, and for data while an answer stalls",
       {"request_timeout"}},
      {"requests_per_second",
       T::kDouble,
       "0",
       "At most this many requests a second to the API's host, all concurrent "
       "requests of the statement together (every call of a LATERAL read_http too); "
       "0: no limit",
       {"rate_limit"}},
      // Polling streams.
      {"streaming", T::kBool, "false",
       "Poll the API for ever: an unbounded source whose offset goes through the "
       "runtime's offset log (exactly-once into a transactional sink)"},
      {"interval",
       T::kDuration,
       "10s",
       "streaming: the wait between two polls",
       {"streamingInterval", "streaming_interval"}},
      {"offset_field",
       T::kString,
       "",
       "streaming: the offset's name: {name} in the URL, params or body is replaced by "
       "the offset at each poll; max_field, timestamp: the records' field it follows; "
       "cursor: where in the answer the next offset is (a JSONPath)",
       {"offsetField"}},
      {"offset_type",
       T::kEnum,
       "max_field",
       "streaming: the next offset is the largest offset_field of the records read "
       "(max_field; timestamp: the same, less lag), the offset plus the records read "
       "(incremental), or the answer's offset_field (cursor); a poll with no records "
       "keeps the offset",
       {"offsetType"},
       {"max_field", "timestamp", "incremental", "cursor"}},
      {"initial_offset",
       T::kString,
       "",
       "streaming: the offset of the first poll",
       {"initialOffset"}},
      {"lag", T::kDuration, "0s",
       "streaming, offset_type = 'timestamp': ask again for this much before the "
       "largest timestamp read, for records that commit late (repeats them)"},
  };
}

}  // namespace

Status RegisterHttpConnector(Registry* registry) {
  ConnectorSpec spec;
  spec.name = "http";
  spec.doc =
      "REST APIs: the pages of an endpoint as one table, JSON, NDJSON or CSV; paginated "
      "(page, offset, cursor, next URL, Link header), authenticated (bearer, basic, API "
      "key, OAuth2 client credentials), concurrent and retried. FROM 'https://...' "
      "takes an http(s) URL whose path does not end in a file extension (those are "
      "files, read by the file connector); read_http(url) always reads an API.";
  spec.schemes = {"http", "https"};
  spec.functions = {{"read_http", {}}};
  spec.positional_names = {"url"};
  spec.functions_take_uri = true;
  spec.source_options = SourceOptions();
  spec.make_source = [](const ConnectorArgs& args) -> Result<std::unique_ptr<Source>> {
    ARROW_ASSIGN_OR_RAISE(auto settings, httpapi::ParseSettings(args));
    if (settings.streaming) {
      return std::make_unique<httpapi::PollSource>(std::move(settings));
    }
    return std::make_unique<httpapi::HttpSource>(std::move(settings));
  };
  return registry->Register(std::move(spec));
}

}  // namespace flowsql
