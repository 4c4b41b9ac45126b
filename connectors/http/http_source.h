// A REST API as a table: the pages of one endpoint, fetched with its pagination
// style, each page decoded into one batch.
//
// Splits. When the first page tells how many pages there are (page or offset
// pagination with total_path or total_pages_path; a Link header whose rel="last"
// numbers the pages as rel="next" does, as GitHub's and json-server's do), every
// page is a split ("page-3")
// and the source fetches up to max_concurrency of them ahead of the readers. Else the
// pages form one chain, a single split ("chain"): each answer says what to ask next
// (a cursor, a next URL, a Link header, or the page after a full one); the next
// request is sent before the current page is decoded, and for page and offset chains
// up to max_concurrency pages are requested ahead.
//
// Schema. Declared (the schema option), or inferred from the first sample_pages
// pages (8; -1: every page, which are then asked twice), widened across them. The
// pages read for it are kept for the readers (up to max(8, max_concurrency)), so
// a default sample costs no request more. A later page that does not fit the inferred
// columns is an error that says so and how to widen them.
//
// Offsets. A page split's offset is "done" after its page. A chain's offset is the
// request that comes next (its page index and cursor or URL), so a chain resumes by
// asking exactly that, or "end" after the last page. Secrets stay out of offsets
// (they are written to the state directory): a next URL is kept without its secret
// query parameters (IsSecretParameter, and an api_key sent in the query), and the
// secret ones of the source's URL and params are added back when it is asked.
#pragma once

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "connectors/http/http_settings.h"
#include "connectors/http/page_decoder.h"
#include "flowsql/connector.h"

namespace flowsql::httpapi {

/// Where a chain or a page split stands: the index of the next page (0 the first)
/// and what the last answer said to ask next (a cursor or a URL).
struct PageKey {
  int64_t index = 0;
  std::string token;
};

/// The pages of a Link header whose rel="next" and rel="last" differ only in the
/// number a query parameter holds: page k (0 the first, answered already) is at
/// before + (next + k - 1) + after, up to last.
struct NumberedLinks {
  std::string before, after;
  int64_t next = 0;
  int64_t last = 0;
};

/// One answer, as fetched.
struct FetchedPage {
  PageKey key;
  std::string url;
  http::Response response;
};

class HttpSource : public Source {
 public:
  explicit HttpSource(Settings settings);
  ~HttpSource() override;

  Result<std::shared_ptr<arrow::Schema>> GetSchema() override;
  Result<std::vector<Split>> PlanSplits(const ScanRequest& request) override;
  Result<std::unique_ptr<SplitReader>> OpenSplit(const Split& split,
                                                 const SplitRange& range,
                                                 const ScanRequest& request) override;
  std::string Describe() const override;

  // --- used by the readers ---

  /// Sends the request for the page at `key` and returns at once: the session's
  /// client sends it, without a thread of its own, once fewer than max_concurrency of
  /// this source's requests are in flight. `stop` ends it (Cancelled). Thread-safe.
  std::shared_future<Result<FetchedPage>> StartFetch(const PageKey& key,
                                                     const arrow::StopToken& stop);
  /// StartFetch, waiting for the answer.
  Result<FetchedPage> FetchPage(const PageKey& key, const arrow::StopToken& stop);
  /// Decodes a fetched page into a batch of the source's schema; the bad records of
  /// a `delivered` one count towards the warning the source gives when it goes.
  Result<std::shared_ptr<arrow::RecordBatch>> Decode(const FetchedPage& page,
                                                     bool delivered = true);
  /// What the answer says to ask after it: the next key, or nullopt at the end of
  /// the chain. `rows` is the page's record count.
  Result<std::optional<PageKey>> NextKey(const FetchedPage& page, int64_t rows);
  /// The body of the last page decoded and delivered ("" before any).
  std::string LastAnswer();
  /// "page 3 of https://h/x?page=3" (redacted), for messages.
  static std::string Where(const FetchedPage& page);

  const Settings& settings() const { return session_->settings(); }
  Paginate style() const { return style_; }
  int64_t pages() const { return pages_; }
  /// True when the page count came from a Link header's rel="last".
  bool numbered() const { return numbered_.has_value(); }
  /// True when max_pages cut the pages the total tells of.
  bool capped() const { return capped_; }
  /// The records every page but the last holds (0: unknown).
  int64_t page_size() const { return page_size_; }
  int64_t total_records() const { return total_records_; }
  /// The page at `key`: the one read for the schema or fetched ahead, or a new
  /// request. For a known page count, also starts the pages after it, up to
  /// max_concurrency in flight.
  std::shared_future<Result<FetchedPage>> TakePage(const PageKey& key,
                                                   const arrow::StopToken& stop);

 private:
  /// Fetches the first page once: the style when auto, the page count, and the
  /// schema (from the first sample_pages pages, unless declared).
  /// REQUIRES: mutex_ held.
  Status Probe();
  /// Feeds the pages after `first` (which holds `rows` records) to `inferrer`, up to
  /// sample_pages in all: known pages concurrently, a chain one after another. Keeps
  /// the first max(8, max_concurrency) of them for the readers. Returns the pages fed,
  /// `first` included. REQUIRES: mutex_ held; the page count known.
  Result<int64_t> Sample(const FetchedPage& first, int64_t rows,
                         PageSchemaInferrer* inferrer);
  /// paginate = 'auto': the style the first page shows (a Link header with
  /// rel="next", a next URL or a cursor at a usual place), else none.
  void Detect(const FetchedPage& page);

  /// True for a query parameter kept out of next URLs (and so out of offsets).
  bool IsSecret(const std::string& name) const;

  std::shared_ptr<Session> session_;
  /// The secret query parameters of the URL and params, "name=value" as sent: added
  /// to every next URL asked.
  std::vector<std::string> secret_params_;
  std::atomic<int64_t> bad_records_{0};  // skipped or nulled, told when it goes
  std::mutex answer_mutex_;
  int64_t last_index_ = -1;  // of the page last_answer_ holds
  std::string last_answer_;
  arrow::StopSource stop_source_;  // ends the fetches ahead when the source goes

  std::mutex mutex_;
  bool probed_ = false;
  Status probe_status_;
  std::shared_ptr<arrow::Schema> schema_;
  Paginate style_ = Paginate::kNone;
  std::string cursor_path_, next_url_path_;  // as set, or as Detect() found them
  std::optional<NumberedLinks> numbered_;    // set by Probe()
  json::DecodeOptions decode_;               // set by Probe()
  int64_t pages_ = -1;                       // -1: a chain
  bool capped_ = false;
  int64_t page_size_ = 0;
  int64_t total_records_ = -1;
  /// Pages read for the schema and kept for the readers, by index.
  std::map<int64_t, FetchedPage> sampled_;
  /// Pages fetched ahead of their readers, by index; `ahead_end_` is one past the
  /// highest started.
  std::map<int64_t, std::shared_future<Result<FetchedPage>>> ahead_;
  int64_t ahead_end_ = 1;
  bool planned_ = false;
};

}  // namespace flowsql::httpapi
