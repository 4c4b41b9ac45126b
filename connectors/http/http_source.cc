#include "connectors/http/http_source.h"

#include <cctype>
#include <charconv>
#include <deque>
#include <limits>

#include "common/conform.h"
#include "common/secrets.h"
#include "common/text.h"
#include "common/warnings.h"
#include "connectors/http/json_path.h"
#include "connectors/http/page_decoder.h"

namespace flowsql::httpapi {

namespace {

constexpr const char* kDone = "done";
constexpr const char* kEnd = "end";

/// Where a next URL found in the answer to `base` points: absolute as given,
/// "/path?q" on the same host, "?q" on the same path.
std::string ResolveUrl(const std::string& base, const std::string& next) {
  if (http::IsHttpUrl(next)) return next;
  const size_t scheme = base.find("://");
  if (!next.empty() && next[0] == '/') {
    const size_t path = base.find('/', scheme + 3);
    return base.substr(0, path) + next;
  }
  if (!next.empty() && next[0] == '?') return base.substr(0, base.find('?')) + next;
  const size_t slash = base.substr(0, base.find('?')).rfind('/');
  return base.substr(0, slash + 1) + next;
}

/// The target of the Link header's link with relation `rel` (RFC 8288), or "".
std::string LinkTarget(const std::string& header, std::string_view rel) {
  size_t pos = 0;
  while (pos < header.size()) {
    const size_t open = header.find('<', pos);
    if (open == std::string::npos) break;
    const size_t close = header.find('>', open);
    if (close == std::string::npos) break;
    size_t end = header.find('<', close);
    const std::string params = AsciiLower(
        header.substr(close + 1, end == std::string::npos ? end : end - close - 1));
    size_t at = params.find("rel=");
    if (at != std::string::npos) {
      std::string value = params.substr(at + 4);
      if (!value.empty() && value[0] == '"')
        value = value.substr(1, value.find('"', 1) - 1);
      value = value.substr(0, value.find_first_of(";,"));
      for (size_t start = 0; start <= value.size();) {
        size_t space = value.find(' ', start);
        if (space == std::string::npos) space = value.size();
        if (value.substr(start, space - start) == rel) {
          return header.substr(open + 1, close - open - 1);
        }
        start = space + 1;
      }
    }
    pos = end == std::string::npos ? header.size() : end;
  }
  return "";
}

/// The pages the Link header of the answer to `url` numbers, if it does.
std::optional<NumberedLinks> NumberLinks(const std::string& url,
                                         const std::string& header) {
  std::string next = LinkTarget(header, "next");
  std::string last = LinkTarget(header, "last");
  if (next.empty() || last.empty()) return std::nullopt;
  next = ResolveUrl(url, next);
  last = ResolveUrl(url, last);
  // The two differ in one number, the value of a query parameter.
  size_t prefix = 0;
  while (prefix < next.size() && prefix < last.size() && next[prefix] == last[prefix]) {
    ++prefix;
  }
  while (prefix > 0 && std::isdigit(static_cast<unsigned char>(next[prefix - 1]))) {
    --prefix;
  }
  size_t suffix = 0;
  while (suffix < next.size() - prefix && suffix < last.size() - prefix &&
         next[next.size() - 1 - suffix] == last[last.size() - 1 - suffix]) {
    ++suffix;
  }
  while (suffix > 0 &&
         std::isdigit(static_cast<unsigned char>(next[next.size() - suffix]))) {
    --suffix;
  }
  const std::string a = next.substr(prefix, next.size() - prefix - suffix);
  const std::string b = last.substr(prefix, last.size() - prefix - suffix);
  const size_t query = next.find('?');
  auto number = [](const std::string& text) -> std::optional<int64_t> {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return std::nullopt;
    }
    return n;
  };
  const auto first = number(a);
  const auto end = number(b);
  if (query == std::string::npos || prefix <= query || next[prefix - 1] != '=' ||
      !first || !end || *end < *first) {
    return std::nullopt;
  }
  return NumberedLinks{next.substr(0, prefix), next.substr(next.size() - suffix), *first,
                       *end};
}

std::string EncodeKey(const PageKey& key) {
  return std::to_string(key.index) + "\n" + key.token;
}

Result<PageKey> DecodeKey(const std::string& offset) {
  const size_t newline = offset.find('\n');
  PageKey key;
  char* end = nullptr;
  key.index = std::strtoll(offset.substr(0, newline).c_str(), &end, 10);
  if (newline == std::string::npos || *end != '\0' || key.index < 0) {
    return Status::Invalid("not an offset of an http chain: '", Redact(offset), "'");
  }
  key.token = offset.substr(newline + 1);
  return key;
}

Result<FetchedPage> Wait(const std::shared_future<Result<FetchedPage>>& page,
                         const arrow::StopToken& stop) {
  while (page.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    ARROW_RETURN_NOT_OK(stop.Poll());
  }
  return page.get();
}

/// The number at `path` in a JSON answer; `option` names the path in errors.
Result<int64_t> NumberAt(const FetchedPage& page, const std::string& path,
                         const char* option) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(page.response.body).get(doc) != simdjson::SUCCESS) {
    return Status::IOError(HttpSource::Where(page), ": malformed JSON, so no ", option);
  }
  ARROW_ASSIGN_OR_RAISE(auto steps, ParsePath(path));
  auto value = Find(doc, steps);
  std::optional<std::string> text;
  if (value) text = ScalarText(*value);
  char* end = nullptr;
  const int64_t n = text ? std::strtoll(text->c_str(), &end, 10) : -1;
  if (!text || text->empty() || *end != '\0' || n < 0) {
    return Status::IOError(HttpSource::Where(page), ": ", option, " '", path, "' is ",
                           text ? "'" + *text + "', not a count" : "missing");
  }
  return n;
}

/// Reads one page of a known page count.
class PageReader : public SplitReader {
 public:
  PageReader(HttpSource* source, int64_t index, bool done, ScanRequest request,
             std::shared_ptr<arrow::Schema> schema)
      : source_(source),
        index_(index),
        done_(done),
        request_(std::move(request)),
        schema_(std::move(schema)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Result<SourceBatch> Next() override {
    if (done_) return SourceBatch{};
    ARROW_ASSIGN_OR_RAISE(
        auto page, Wait(source_->TakePage({index_, ""}, request_.stop), request_.stop));
    ARROW_ASSIGN_OR_RAISE(auto batch, source_->Decode(page));
    ARROW_RETURN_NOT_OK(Check(page, batch->num_rows()));
    done_ = true;
    ARROW_ASSIGN_OR_RAISE(batch, ConformByName(batch, schema_, HttpSource::Where(page)));
    return SourceBatch{std::move(batch), kDone};
  }

 private:
  /// A page holds what the total promised: full pages but the last, the rest in the
  /// last, nothing after it.
  Status Check(const FetchedPage& page, int64_t rows) {
    const int64_t pages = source_->pages();
    const int64_t size = source_->page_size();
    const int64_t total = source_->total_records();
    // The last page of what the total says (not of a max_pages cap).
    const bool last = index_ == pages - 1 && !source_->capped();
    const std::string said =
        total >= 0 ? "the total said " + std::to_string(total) + " records"
        : source_->numbered()
            ? "the Link header's rel=\"last\" said " + std::to_string(pages) + " pages"
            : "the total said " + std::to_string(pages) + " pages";
    int64_t expected = -1;
    if (!last && size > 0) expected = size;
    if (last && total >= 0 && size > 0) expected = total - (pages - 1) * size;
    if (last && total >= 0 && size == 0) expected = total;
    if (expected >= 0 && rows != expected) {
      return Status::IOError(HttpSource::Where(page), ": ", rows, " records where ",
                             expected, " were expected (", said, ")");
    }
    if (last && source_->numbered() &&
        !LinkTarget(page.response.Header("link"), "next").empty()) {
      return Status::IOError(HttpSource::Where(page),
                             ": the Link header has a next page past the last (", said,
                             ")");
    }
    const int64_t cap = source_->settings().max_pages;
    const bool counted =
        source_->style() == Paginate::kPage || source_->style() == Paginate::kOffset;
    if (last && counted && (cap == 0 || pages < cap)) {
      // One request past the end: a total that says too little would lose rows.
      // A failure there (some APIs answer 404 past the end) counts as no records.
      auto after = source_->FetchPage({pages, ""}, request_.stop);
      if (after.ok()) {
        auto batch = source_->Decode(*after, /*delivered=*/false);
        if (batch.ok() && (*batch)->num_rows() > 0) {
          return Status::IOError(HttpSource::Where(*after), ": ", (*batch)->num_rows(),
                                 " records past the last page (", said, ")");
        }
      }
    }
    return Status::OK();
  }

  HttpSource* source_;
  int64_t index_;
  bool done_;
  ScanRequest request_;
  std::shared_ptr<arrow::Schema> schema_;
};

/// Reads a chain of pages, each answer saying what to ask next.
class ChainReader : public SplitReader {
 public:
  ChainReader(HttpSource* source, std::optional<PageKey> start, std::string end,
              ScanRequest request, std::shared_ptr<arrow::Schema> schema)
      : source_(source),
        next_(std::move(start)),
        end_(std::move(end)),
        request_(std::move(request)),
        schema_(std::move(schema)) {}

  ~ChainReader() override {
    stop_.RequestStop();
    in_flight_.clear();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  Result<SourceBatch> Next() override {
    if (!next_) return SourceBatch{};
    // Page and offset chains know the requests ahead: keep up to max_concurrency
    // in flight. Others know the next only from the answer.
    const Paginate style = source_->style();
    const bool ahead = style == Paginate::kPage || style == Paginate::kOffset;
    const size_t window = ahead ? source_->settings().max_concurrency : 1;
    while (in_flight_.size() < window) {
      PageKey key = in_flight_.empty() ? *next_ : PageKey{last_started_ + 1, ""};
      const int64_t cap = source_->settings().max_pages;
      if (cap > 0 && key.index >= cap) break;
      in_flight_.push_back(source_->TakePage(key, stop_.token()));
      last_started_ = key.index;
      if (!ahead) break;
    }
    Result<FetchedPage> fetched = Wait(in_flight_.front(), request_.stop);
    if (!fetched.ok()) {
      stop_.RequestStop();
      return fetched.status();
    }
    in_flight_.pop_front();
    const FetchedPage& page = *fetched;
    std::shared_ptr<arrow::RecordBatch> batch;
    std::optional<PageKey> next;
    if (ahead) {
      ARROW_ASSIGN_OR_RAISE(batch, source_->Decode(page));
      ARROW_ASSIGN_OR_RAISE(next, source_->NextKey(page, batch->num_rows()));
    } else {
      // The next request goes out before this page is decoded.
      ARROW_ASSIGN_OR_RAISE(next, source_->NextKey(page, -1));
      if (next) {
        in_flight_.push_back(source_->TakePage(*next, stop_.token()));
        last_started_ = next->index;
      }
      ARROW_ASSIGN_OR_RAISE(batch, source_->Decode(page));
    }
    std::string offset = next ? EncodeKey(*next) : kEnd;
    next_ = std::move(next);
    if (!next_ || offset == end_) {
      next_.reset();
      stop_.RequestStop();
      in_flight_.clear();
    }
    ARROW_ASSIGN_OR_RAISE(batch, ConformByName(batch, schema_, HttpSource::Where(page)));
    return SourceBatch{std::move(batch), std::move(offset)};
  }

 private:
  HttpSource* source_;
  std::optional<PageKey> next_;
  std::string end_;
  ScanRequest request_;
  std::shared_ptr<arrow::Schema> schema_;
  arrow::StopSource stop_;  // ends the requests in flight when the reader goes
  std::deque<std::shared_future<Result<FetchedPage>>> in_flight_;
  int64_t last_started_ = -1;
};

}  // namespace

HttpSource::HttpSource(Settings settings)
    : session_(std::make_shared<Session>(std::move(settings))) {
  const Settings& s = session_->settings();
  secret_params_ =
      http::RemoveParameters(WithParams(s.url, s.params), [this](
                                                              const std::string& name) {
        return IsSecret(name);
      }).removed;
}

bool HttpSource::IsSecret(const std::string& name) const {
  const Settings& s = settings();
  return http::IsSecretParameter(name) ||
         (s.auth == Auth::kApiKey && s.api_key_in_query && name == s.api_key_name);
}

HttpSource::~HttpSource() {
  stop_source_.RequestStop();
  ahead_.clear();
  if (bad_records_ > 0) {
    const bool skipped = settings().on_bad_record == json::OnBadRecord::kSkip;
    Warn(Describe() + ": " + std::to_string(bad_records_.load()) +
         (skipped ? " records skipped (on_bad_record = 'skip')"
                  : " records with values that did not fit read as NULL "
                    "(on_bad_record = 'null')"));
  }
}

std::string HttpSource::Where(const FetchedPage& page) {
  return "page " + std::to_string(page.key.index + 1) + " of " +
         Redact(http::RedactUrl(page.url));
}

std::shared_future<Result<FetchedPage>> HttpSource::StartFetch(
    const PageKey& key, const arrow::StopToken& stop) {
  const Settings& s = settings();
  std::string url = s.url;
  auto params = s.params;
  std::string body = s.body;
  auto fill = [&](const char* name, const std::string& value) {
    const std::string placeholder = std::string("{") + name + "}";
    for (size_t at = body.find(placeholder); at != std::string::npos;
         at = body.find(placeholder, at + value.size())) {
      body.replace(at, placeholder.size(), value);
    }
  };
  switch (style_) {
    case Paginate::kPage: {
      const std::string page = std::to_string(s.start_page + key.index);
      params.emplace_back(s.page_param, page);
      if (!s.page_size_param.empty() && s.page_size > 0) {
        params.emplace_back(s.page_size_param, std::to_string(s.page_size));
      }
      fill("page", page);
      fill("limit", std::to_string(s.page_size));
      break;
    }
    case Paginate::kOffset: {
      const std::string offset = std::to_string(key.index * s.page_size);
      params.emplace_back(s.offset_param, offset);
      params.emplace_back(s.limit_param, std::to_string(s.page_size));
      fill("offset", offset);
      fill("limit", std::to_string(s.page_size));
      break;
    }
    case Paginate::kCursor:
      if (!key.token.empty()) params.emplace_back(s.cursor_param, key.token);
      fill("cursor", key.token);
      break;
    case Paginate::kNextUrl:
    case Paginate::kLinkHeader:
      // The next URL carries the query the server wants, but for the secrets.
      if (!key.token.empty() || (key.index > 0 && numbered_)) {
        url = !key.token.empty()
                  ? key.token
                  : numbered_->before + std::to_string(numbered_->next + key.index - 1) +
                        numbered_->after;
        url = http::AppendParameters(
            http::RemoveParameters(
                url, [this](const std::string& name) { return IsSecret(name); })
                .url,
            secret_params_);
        params.clear();
      }
      break;
    case Paginate::kNone:
    case Paginate::kAuto:
      break;
  }
  url = WithParams(url, params);
  http::RegisterUrlSecrets(url);
  auto page = std::make_shared<std::promise<Result<FetchedPage>>>();
  std::shared_future<Result<FetchedPage>> out = page->get_future().share();
  auto request = session_->MakeRequest(url, body, stop);
  if (!request.ok()) {
    page->set_value(request.status());
    return out;
  }
  session_->FetchAsync(std::move(*request), [page, key, url = std::move(url)](
                                                Result<http::Response> response) {
    if (response.ok()) {
      page->set_value(FetchedPage{key, url, std::move(*response)});
    } else {
      page->set_value(response.status());
    }
  });
  return out;
}

Result<FetchedPage> HttpSource::FetchPage(const PageKey& key,
                                          const arrow::StopToken& stop) {
  return StartFetch(key, stop).get();
}

Result<std::shared_ptr<arrow::RecordBatch>> HttpSource::Decode(const FetchedPage& page,
                                                               bool delivered) {
  const Format format =
      ResolveFormat(settings().format, page.response.Header("content-type"));
  ARROW_ASSIGN_OR_RAISE(auto decoded, DecodePage(page.response.body, format, decode_,
                                                 schema_, Where(page)));
  if (delivered) {
    bad_records_ += decoded.bad_records;
    std::lock_guard<std::mutex> lock(answer_mutex_);
    if (page.key.index >= last_index_) {
      last_index_ = page.key.index;
      last_answer_ = page.response.body;
    }
  }
  return decoded.batch;
}

Result<std::optional<PageKey>> HttpSource::NextKey(const FetchedPage& page,
                                                   int64_t rows) {
  const Settings& s = settings();
  std::optional<PageKey> next;
  auto at_path = [&](const std::string& path) -> Result<std::optional<std::string>> {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(page.response.body).get(doc) != simdjson::SUCCESS) {
      return Status::IOError(Where(page), ": malformed JSON");
    }
    ARROW_ASSIGN_OR_RAISE(auto steps, ParsePath(path));
    auto value = Find(doc, steps);
    if (!value) return std::optional<std::string>();
    return ScalarText(*value);
  };
  switch (style_) {
    case Paginate::kNone:
    case Paginate::kAuto:
      break;
    case Paginate::kPage:
    case Paginate::kOffset:
      if (rows > 0 && (page_size_ == 0 || rows >= page_size_)) {
        next = PageKey{page.key.index + 1, ""};
      }
      break;
    case Paginate::kCursor: {
      ARROW_ASSIGN_OR_RAISE(auto cursor, at_path(cursor_path_));
      if (cursor && !cursor->empty()) {
        if (*cursor == page.key.token) {
          return Status::IOError(Where(page), ": cursor_path '", cursor_path_,
                                 "' gave the cursor this page was asked with ('",
                                 Redact(*cursor), "'): the pages would repeat");
        }
        next = PageKey{page.key.index + 1, *cursor};
      }
      break;
    }
    case Paginate::kNextUrl:
    case Paginate::kLinkHeader: {
      std::string target;
      if (style_ == Paginate::kLinkHeader) {
        target = LinkTarget(page.response.Header("link"), "next");
      } else {
        ARROW_ASSIGN_OR_RAISE(auto value, at_path(next_url_path_));
        if (value) target = *value;
      }
      if (!target.empty()) {
        auto secret = [this](const std::string& name) { return IsSecret(name); };
        target = http::RemoveParameters(ResolveUrl(page.url, target), secret).url;
        if (target == http::RemoveParameters(page.url, secret).url) {
          return Status::IOError(Where(page),
                                 ": the next page's URL is this page's: "
                                 "the pages would repeat");
        }
        next = PageKey{page.key.index + 1, target};
      }
      break;
    }
  }
  if (next && s.max_pages > 0 && next->index >= s.max_pages) next.reset();
  return next;
}

Status HttpSource::Probe() {
  // REQUIRES: mutex_ held.
  if (probed_) return probe_status_;
  probed_ = true;
  probe_status_ = [&]() -> Status {
    const Settings& s = settings();
    style_ = s.paginate == Paginate::kAuto ? Paginate::kNone : s.paginate;
    cursor_path_ = s.cursor_path;
    next_url_path_ = s.next_url_path;
    ARROW_ASSIGN_OR_RAISE(auto page, FetchPage({0, ""}, s.stop));
    if (s.paginate == Paginate::kAuto) Detect(page);
    const Format format = ResolveFormat(s.format, page.response.Header("content-type"));
    std::string records_path = s.records_path;
    if (records_path.empty()) {
      records_path =
          format == Format::kJson ? DefaultRecordsPath(page.response.body) : "$";
    }
    ARROW_ASSIGN_OR_RAISE(decode_.records_path, json::RecordsPath::Parse(records_path));
    decode_.flatten = s.flatten;
    decode_.on_bad_record = s.on_bad_record;
    // A key the schema lacks would be lost: an error, unless the user chose the
    // columns.
    decode_.unknown_keys = s.schema != nullptr && !s.strict_keys
                               ? json::UnknownKeys::kIgnore
                               : json::UnknownKeys::kError;
    schema_ = s.schema;
    std::optional<PageSchemaInferrer> inferrer;
    int64_t rows = 0;
    if (schema_ == nullptr) {
      inferrer.emplace(decode_);
      ARROW_ASSIGN_OR_RAISE(rows,
                            inferrer->Feed(page.response.body, format, Where(page)));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto batch, Decode(page, /*delivered=*/false));
      rows = batch->num_rows();
    }
    page_size_ = s.page_size > 0 ? s.page_size : rows;
    const bool counted = style_ == Paginate::kPage || style_ == Paginate::kOffset;
    if (counted && !s.total_pages_path.empty()) {
      ARROW_ASSIGN_OR_RAISE(pages_,
                            NumberAt(page, s.total_pages_path, "total_pages_path"));
    } else if (counted && !s.total_path.empty()) {
      ARROW_ASSIGN_OR_RAISE(total_records_, NumberAt(page, s.total_path, "total_path"));
      pages_ = page_size_ == 0 ? 1
                               : total_records_ / page_size_ +
                                     (total_records_ % page_size_ != 0 ? 1 : 0);
    } else if (style_ == Paginate::kLinkHeader) {
      numbered_ = NumberLinks(page.url, page.response.Header("link"));
      if (numbered_) pages_ = numbered_->last - numbered_->next + 2;
    } else if (style_ == Paginate::kNone) {
      pages_ = 1;
    }
    if (pages_ == 0) pages_ = 1;  // the first page, asked already
    // A total that would make more pages than any API serves is a lie, not a plan.
    constexpr int64_t kMaxPages = 10'000'000;
    if (pages_ > kMaxPages) {
      return Status::IOError(Where(page), ": the total says ", pages_,
                             " pages, more than the ", kMaxPages, " flowsql reads (",
                             numbered_              ? "the Link header's rel=\"last\""
                             : s.total_path.empty() ? "total_pages_path"
                                                    : "total_path",
                             ")");
    }
    if (pages_ > 0 && s.max_pages > 0 && s.max_pages < pages_) {
      pages_ = s.max_pages;
      capped_ = true;
    }
    // Kept for the readers; map entries stay put as Sample() adds more.
    const FetchedPage& first = sampled_.emplace(0, std::move(page)).first->second;
    if (inferrer) {
      ARROW_ASSIGN_OR_RAISE(int64_t sampled, Sample(first, rows, &*inferrer));
      ARROW_ASSIGN_OR_RAISE(schema_, inferrer->schema());
      if (schema_->num_fields() == 0) {
        return Status::IOError(Where(first),
                               ": no records to infer the columns from; declare them "
                               "with the schema option");
      }
      decode_.schema_hint = "; the columns were inferred from the first " +
                            std::to_string(sampled) +
                            (sampled == 1 ? " page" : " pages") +
                            ": set sample_pages = -1 to infer them from every page, or "
                            "declare them with the schema option";
    } else if (s.strict_keys) {
      decode_.schema_hint =
          "; declare the columns with the schema option (keys outside it are ignored)";
    }
    return Status::OK();
  }();
  return probe_status_;
}

Result<int64_t> HttpSource::Sample(const FetchedPage& first, int64_t rows,
                                   PageSchemaInferrer* inferrer) {
  // REQUIRES: mutex_ held.
  const Settings& s = settings();
  const int64_t want =
      s.sample_pages < 0 ? std::numeric_limits<int64_t>::max() : s.sample_pages;
  // The sampled pages the readers take rather than ask again: a default sample, or
  // as many as are in flight at once.
  const int64_t keep = std::max<int64_t>(8, s.max_concurrency);
  auto feed = [&](FetchedPage page) -> Result<int64_t> {
    const Format format = ResolveFormat(s.format, page.response.Header("content-type"));
    ARROW_ASSIGN_OR_RAISE(int64_t n,
                          inferrer->Feed(page.response.body, format, Where(page)));
    if (page.key.index < keep) sampled_.emplace(page.key.index, std::move(page));
    return n;
  };
  if (pages_ > 0) {
    // Known pages: asked max_concurrency at a time.
    const int64_t n = std::min(want, pages_);
    std::deque<std::shared_future<Result<FetchedPage>>> flying;
    for (int64_t next = 1; next < n || !flying.empty();) {
      while (next < n && static_cast<int64_t>(flying.size()) < s.max_concurrency) {
        flying.push_back(StartFetch({next++, ""}, s.stop));
      }
      ARROW_ASSIGN_OR_RAISE(auto page, Wait(flying.front(), s.stop));
      flying.pop_front();
      ARROW_RETURN_NOT_OK(feed(std::move(page)).status());
    }
    ahead_end_ = std::min(n, keep);
    return n;
  }
  // A chain: each answer says what to ask next.
  FetchedPage last = first;
  int64_t sampled = 1;
  for (; sampled < want; ++sampled) {
    ARROW_ASSIGN_OR_RAISE(auto key, NextKey(last, rows));
    if (!key) break;
    ARROW_ASSIGN_OR_RAISE(last, FetchPage(*key, s.stop));
    ARROW_ASSIGN_OR_RAISE(rows, feed(last));
  }
  return sampled;
}

void HttpSource::Detect(const FetchedPage& page) {
  if (!LinkTarget(page.response.Header("link"), "next").empty()) {
    style_ = Paginate::kLinkHeader;
    return;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(page.response.body).get(doc) != simdjson::SUCCESS) return;
  auto text_at = [&](const char* path) -> std::optional<std::string> {
    auto steps = ParsePath(path);
    auto value = Find(doc, *steps);
    if (!value) return std::nullopt;
    auto text = ScalarText(*value);
    if (!text || text->empty()) return std::nullopt;
    return text;
  };
  for (const char* path :
       {"next", "next_url", "nextUrl", "links.next", "_links.next.href", "paging.next",
        "pagination.next", "meta.next"}) {
    auto value = text_at(path);
    if (value && (http::IsHttpUrl(*value) || (*value)[0] == '/' || (*value)[0] == '?')) {
      style_ = Paginate::kNextUrl;
      next_url_path_ = path;
      return;
    }
  }
  for (const char* path : {"next_cursor", "nextCursor", "cursor", "meta.next_cursor",
                           "pagination.next_cursor", "response_metadata.next_cursor",
                           "paging.cursors.after"}) {
    if (text_at(path)) {
      style_ = Paginate::kCursor;
      cursor_path_ = path;
      return;
    }
  }
}

Result<std::shared_ptr<arrow::Schema>> HttpSource::GetSchema() {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Probe());
  return schema_;
}

Result<std::vector<Split>> HttpSource::PlanSplits(const ScanRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Probe());
  planned_ = true;
  std::vector<Split> splits;
  if (pages_ < 0) return std::vector<Split>{Split{"chain", ""}};
  for (int64_t i = 0; i < pages_; ++i) {
    splits.push_back(Split{"page-" + std::to_string(i), std::to_string(i)});
  }
  return splits;
}

std::shared_future<Result<FetchedPage>> HttpSource::TakePage(
    const PageKey& key, const arrow::StopToken& stop) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::shared_future<Result<FetchedPage>> out;
  auto sampled = sampled_.find(key.index);
  auto ahead = ahead_.find(key.index);
  if (sampled != sampled_.end() && sampled->second.key.token == key.token) {
    std::promise<Result<FetchedPage>> ready;
    ready.set_value(std::move(sampled->second));
    sampled_.erase(sampled);
    out = ready.get_future().share();
  } else if (ahead != ahead_.end()) {
    out = std::move(ahead->second);
    ahead_.erase(ahead);
  } else {
    out = StartFetch(key, stop);
    ahead_end_ = std::max(ahead_end_, key.index + 1);
  }
  // The pages after it, for the readers to come (only pages this source planned).
  if (planned_ && pages_ > 0) {
    const int64_t window = settings().max_concurrency;
    while (ahead_end_ < pages_ && ahead_end_ < key.index + window) {
      ahead_[ahead_end_] = StartFetch({ahead_end_, ""}, stop_source_.token());
      ++ahead_end_;
    }
  }
  return out;
}

Result<std::unique_ptr<SplitReader>> HttpSource::OpenSplit(const Split& split,
                                                           const SplitRange& range,
                                                           const ScanRequest& request) {
  ARROW_ASSIGN_OR_RAISE(auto schema, GetSchema());
  ARROW_ASSIGN_OR_RAISE(auto wanted, RequestedSchema(schema, request));
  if (split.id == "chain") {
    std::optional<PageKey> start = PageKey{0, ""};
    if (range.start == kEnd) {
      start.reset();
    } else if (!range.start.empty()) {
      ARROW_ASSIGN_OR_RAISE(start, DecodeKey(range.start));
    }
    return std::make_unique<ChainReader>(this, std::move(start), range.end, request,
                                         std::move(wanted));
  }
  char* end = nullptr;
  const int64_t index = std::strtoll(split.payload.c_str(), &end, 10);
  if (split.id.rfind("page-", 0) != 0 || *end != '\0' || index < 0 ||
      (pages_ >= 0 && index >= pages_)) {
    return Status::Invalid("not a split of this http source: '", split.id, "'");
  }
  return std::make_unique<PageReader>(this, index, range.start == kDone, request,
                                      std::move(wanted));
}

std::string HttpSource::LastAnswer() {
  std::lock_guard<std::mutex> lock(answer_mutex_);
  return last_answer_;
}

std::string HttpSource::Describe() const {
  const char* styles[] = {"none",   "auto",     "page",       "offset",
                          "cursor", "next_url", "link_header"};
  return Redact("http " + settings().method + " " + http::RedactUrl(settings().url) +
                " paginate=" + styles[static_cast<int>(settings().paginate)]);
}

}  // namespace flowsql::httpapi
