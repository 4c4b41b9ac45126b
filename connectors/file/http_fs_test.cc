#include "connectors/file/http_fs.h"

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "common/test_macros.h"
#include "connectors/file/format.h"
#include "connectors/file/storage.h"

namespace flowsql::file {
namespace {

/// A canned answer, read from a string.
class FakeStream : public http::ResponseStream {
 public:
  FakeStream(http::Response head, std::string body)
      : head_(std::move(head)), body_(std::move(body)) {}
  const http::Response& head() const override { return head_; }
  Result<int64_t> Read(int64_t n, void* out) override {
    const int64_t take = std::min<int64_t>(n, body_.size() - position_);
    std::memcpy(out, body_.data() + position_, take);
    position_ += take;
    return take;
  }

 private:
  http::Response head_;
  std::string body_;
  int64_t position_ = 0;
};

/// A server of one file, as the knobs say; it logs what it was asked.
struct FakeServer {
  std::string content;
  int head_status = 200;         // what HEAD answers (405: refused)
  bool advertise_ranges = true;  // Accept-Ranges: bytes
  bool ranges = true;            // a Range is honoured (else 200, the whole body)
  int range_status = 0;          // when set, what a GET with a Range answers
  int get_status = 200;          // what a plain GET answers
  bool head_length = true;       // HEAD has a Content-Length
  std::mutex mutex;
  std::vector<std::string> log;

  HttpOpener opener() {
    return [this](
               const http::Request& r) -> Result<std::unique_ptr<http::ResponseStream>> {
      http::Response head;
      std::string body;
      std::string entry = r.method;
      const int64_t size = static_cast<int64_t>(content.size());
      if (r.range) {
        entry += " " + std::to_string(r.range->first) + "-" +
                 (r.range->last >= 0 ? std::to_string(r.range->last) : "");
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        log.push_back(entry);
      }
      if (advertise_ranges) head.headers.emplace_back("accept-ranges", "bytes");
      if (r.method == "HEAD") {
        head.status = head_status;
        if (head_length)
          head.headers.emplace_back("content-length", std::to_string(size));
      } else if (r.range && range_status != 0) {
        head.status = range_status;
      } else if (r.range && ranges) {
        const int64_t first = r.range->first;
        if (first >= size) {
          head.status = 416;
          head.headers.emplace_back("content-range", "bytes */" + std::to_string(size));
        } else {
          const int64_t last =
              r.range->last < 0 ? size - 1 : std::min(r.range->last, size - 1);
          head.status = 206;
          body = content.substr(first, last - first + 1);
          head.headers.emplace_back("content-range", "bytes " + std::to_string(first) +
                                                         "-" + std::to_string(last) +
                                                         "/" + std::to_string(size));
        }
      } else {
        head.status = get_status;
        if (head.ok()) body = content;
      }
      if (head.status == 206 || head.ok()) {
        head.headers.emplace_back("content-length", std::to_string(body.size()));
      }
      return std::make_unique<FakeStream>(std::move(head), std::move(body));
    };
  }
  std::vector<std::string> Log() {
    std::lock_guard<std::mutex> lock(mutex);
    return log;
  }
};

http::Request Base() {
  http::Request r;
  r.url = "https://h/x.parquet";
  return r;
}

std::string Content(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(ProbeUrl, HeadGivesSizeAndRanges) {
  FakeServer server;
  server.content = Content(1000);
  ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener()));
  EXPECT_EQ(probe.tried, std::vector<std::string>{"HEAD"});
  EXPECT_EQ(probe.size, 1000);
  EXPECT_TRUE(probe.ranges);
}

TEST(ProbeUrl, HeadRefusedThenByteZero) {
  for (int refusal : {405, 403, 501, 400}) {
    FakeServer server;
    server.content = Content(1000);
    server.head_status = refusal;
    ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener()));
    EXPECT_EQ(probe.tried, (std::vector<std::string>{"HEAD", "GET bytes=0-0"}))
        << refusal;
    EXPECT_EQ(server.Log(), (std::vector<std::string>{"HEAD", "GET 0-0"}));
    EXPECT_EQ(probe.size, 1000);
    EXPECT_TRUE(probe.ranges);
    EXPECT_EQ(probe.status, 206);
  }
}

TEST(ProbeUrl, HeadRefusedAndRangeIgnoredHandsTheWholeBodyOver) {
  FakeServer server;
  server.content = Content(1000);
  server.head_status = 405;
  server.ranges = false;
  std::unique_ptr<http::ResponseStream> body;
  ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener(), &body));
  EXPECT_EQ(probe.tried, (std::vector<std::string>{"HEAD", "GET bytes=0-0"}));
  EXPECT_FALSE(probe.ranges);
  EXPECT_EQ(probe.size, 1000);
  ASSERT_NE(body, nullptr);
  std::string got(2000, '\0');
  ASSERT_OK_AND_ASSIGN(int64_t n, body->Read(2000, got.data()));
  EXPECT_EQ(got.substr(0, n), server.content);
}

TEST(ProbeUrl, HeadAndRangesRefusedThenAPlainGet) {
  FakeServer server;
  server.content = Content(10);
  server.head_status = 403;
  server.range_status = 403;
  std::unique_ptr<http::ResponseStream> body;
  ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener(), &body));
  EXPECT_EQ(probe.tried, (std::vector<std::string>{"HEAD", "GET bytes=0-0", "GET"}));
  EXPECT_EQ(probe.status, 200);
  EXPECT_FALSE(probe.ranges);
  EXPECT_EQ(probe.size, 10);
  EXPECT_NE(body, nullptr);
}

TEST(ProbeUrl, MissingOrFailingStopsAtOnce) {
  for (int status : {404, 410, 503}) {
    FakeServer server;
    server.head_status = status;
    ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener()));
    EXPECT_EQ(probe.tried, std::vector<std::string>{"HEAD"}) << status;
    EXPECT_EQ(probe.status, status);
  }
  FakeServer server;
  server.head_status = 405;
  server.range_status = 404;
  ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), server.opener()));
  EXPECT_EQ(probe.tried, (std::vector<std::string>{"HEAD", "GET bytes=0-0"}));
  EXPECT_EQ(probe.status, 404);
}

TEST(ProbeUrl, AnEmptyFileOrAHeadWithoutSize) {
  FakeServer empty;  // HEAD says 0 bytes: byte 0 checks (416, "bytes */0")
  ASSERT_OK_AND_ASSIGN(auto probe, ProbeUrl(Base(), empty.opener()));
  EXPECT_EQ(probe.tried, (std::vector<std::string>{"HEAD", "GET bytes=0-0"}));
  EXPECT_EQ(probe.size, 0);
  EXPECT_EQ(probe.status, 416);
  FakeServer sizeless;
  sizeless.content = Content(77);
  sizeless.head_length = false;
  ASSERT_OK_AND_ASSIGN(probe, ProbeUrl(Base(), sizeless.opener()));
  EXPECT_EQ(probe.size, 77);
  EXPECT_TRUE(probe.ranges);
}

TEST(ParseContentRange, Forms) {
  int64_t first, last, total;
  ASSERT_TRUE(ParseContentRange("bytes 0-0/1234", &first, &last, &total));
  EXPECT_EQ(first, 0);
  EXPECT_EQ(last, 0);
  EXPECT_EQ(total, 1234);
  ASSERT_TRUE(ParseContentRange("Bytes 10-19/*", &first, &last, &total));
  EXPECT_EQ(total, -1);
  ASSERT_TRUE(ParseContentRange("bytes */0", &first, &last, &total));
  EXPECT_EQ(first, -1);
  EXPECT_EQ(total, 0);
  EXPECT_FALSE(ParseContentRange("", &first, &last, &total));
  EXPECT_FALSE(ParseContentRange("items 0-1/2", &first, &last, &total));
  EXPECT_FALSE(ParseContentRange("bytes 5-1/10", &first, &last, &total));
  EXPECT_FALSE(ParseContentRange("bytes 0-1", &first, &last, &total));
}

HttpFsOptions SmallWindows() {
  HttpFsOptions o;
  o.min_request_bytes = 100;
  o.initial_backoff = std::chrono::milliseconds(1);
  return o;
}

std::string ReadAt(arrow::io::RandomAccessFile* file, int64_t position, int64_t n) {
  auto buffer = file->ReadAt(position, n);
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  return buffer.ok() ? (*buffer)->ToString() : "";
}

TEST(HttpFileSystem, SmallReadsShareAWindowLargeOnesGoAlone) {
  FakeServer server;
  server.content = Content(1000);
  HttpFileSystem fs(SmallWindows(), server.opener());
  ASSERT_OK_AND_ASSIGN(auto file, fs.OpenInputFile("https://h/x.parquet"));
  ASSERT_OK_AND_ASSIGN(int64_t size, file->GetSize());
  EXPECT_EQ(size, 1000);
  // A footer read: the window ends at the end of the file.
  EXPECT_EQ(ReadAt(file.get(), 992, 8), server.content.substr(992, 8));
  EXPECT_EQ(ReadAt(file.get(), 950, 10), server.content.substr(950, 10));
  EXPECT_EQ(ReadAt(file.get(), 10, 5), server.content.substr(10, 5));
  EXPECT_EQ(ReadAt(file.get(), 20, 50), server.content.substr(20, 50));
  EXPECT_EQ(ReadAt(file.get(), 300, 400), server.content.substr(300, 400));
  // Past the end: short, then empty.
  EXPECT_EQ(ReadAt(file.get(), 990, 100), server.content.substr(990));
  EXPECT_EQ(ReadAt(file.get(), 1000, 10), "");
  EXPECT_EQ(server.Log(), (std::vector<std::string>{"HEAD", "GET 900-999", "GET 10-109",
                                                    "GET 300-699"}));
  // A second open of the URL asks nothing new.
  ASSERT_OK_AND_ASSIGN(auto again, fs.OpenInputFile("https://h/x.parquet"));
  EXPECT_EQ(ReadAt(again.get(), 15, 3), server.content.substr(15, 3));
  EXPECT_EQ(server.Log().size(), 4u);
}

TEST(HttpFileSystem, WithoutRangesTheFileIsReadOnceWhole) {
  FakeServer server;
  server.content = Content(1000);
  server.advertise_ranges = false;
  server.ranges = false;
  HttpFileSystem fs(SmallWindows(), server.opener());
  ASSERT_OK_AND_ASSIGN(auto file, fs.OpenInputFile("https://h/x.parquet"));
  EXPECT_EQ(ReadAt(file.get(), 500, 20), server.content.substr(500, 20));
  ASSERT_OK_AND_ASSIGN(auto again, fs.OpenInputFile("https://h/x.parquet"));
  EXPECT_EQ(ReadAt(again.get(), 0, 1000), server.content);
  ASSERT_OK_AND_ASSIGN(auto stream, fs.OpenInputStream("https://h/x.parquet"));
  ASSERT_OK_AND_ASSIGN(auto all, stream->Read(2000));
  EXPECT_EQ(all->ToString(), server.content);
  EXPECT_EQ(server.Log(), (std::vector<std::string>{"HEAD", "GET"}));
}

TEST(HttpFileSystem, ARangeAnsweredWholeSwitchesToTheWholeBody) {
  FakeServer server;
  server.content = Content(1000);
  server.ranges = false;  // says it takes ranges, but does not
  HttpFileSystem fs(SmallWindows(), server.opener());
  ASSERT_OK_AND_ASSIGN(auto file, fs.OpenInputFile("https://h/x.parquet"));
  EXPECT_EQ(ReadAt(file.get(), 100, 10), server.content.substr(100, 10));
  EXPECT_EQ(ReadAt(file.get(), 700, 200), server.content.substr(700, 200));
  EXPECT_EQ(server.Log(), (std::vector<std::string>{"HEAD", "GET 100-199"}));
}

TEST(HttpFileSystem, LargeBodiesGoToATemporaryFile) {
  FakeServer server;
  server.content = Content(5000);
  server.advertise_ranges = false;
  server.ranges = false;
  HttpFsOptions options = SmallWindows();
  options.memory_limit = 1000;
  HttpFileSystem fs(options, server.opener());
  ASSERT_OK_AND_ASSIGN(auto file, fs.OpenInputFile("https://h/x.parquet"));
  EXPECT_EQ(ReadAt(file.get(), 4000, 1000), server.content.substr(4000));
  EXPECT_EQ(ReadAt(file.get(), 0, 10), server.content.substr(0, 10));
}

TEST(HttpFileSystem, InfoErrorsAndWrites) {
  FakeServer server;
  server.head_status = 404;
  HttpFileSystem fs(SmallWindows(), server.opener());
  ASSERT_OK_AND_ASSIGN(auto info, fs.GetFileInfo("https://h/x?sig=abc"));
  EXPECT_EQ(info.type(), arrow::fs::FileType::NotFound);
  auto file = fs.OpenInputFile("https://h/x?sig=abc");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(), "https://h/x?sig=***: HTTP 404 Not Found");
  auto out = fs.OpenOutputStream("https://h/y?sig=abc", nullptr);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsInvalid());
  EXPECT_NE(
      out.status().message().find("https://h/y?sig=***: http(s) URLs are read-only"),
      std::string::npos);
  arrow::fs::FileSelector select;
  select.base_dir = "https://h/dir/";
  EXPECT_FALSE(fs.GetFileInfo(select).ok());
}

TEST(HttpStorage, AnUrlIsOneFileWithItsQuery) {
  const std::string url = "https://h/data/x[1]?.csv.gz?sig=abc&page=*";
  ASSERT_OK_AND_ASSIGN(auto storage, Storage::Open(url, Options()));
  EXPECT_EQ(storage->scheme(), "https");
  EXPECT_EQ(storage->UriOf(storage->PathOf(url)), url);
  EXPECT_EQ(storage->PathOf("https://h/dir/"), "https://h/dir/");
  // No request is made: globs and folders do not exist over HTTP.
  ASSERT_OK_AND_ASSIGN(auto files, ResolvePaths(url, std::nullopt, *storage));
  EXPECT_EQ(files, std::vector<std::string>{url});
  auto pf = FormatFromPath("https://h/x.csv.gz?sig=a.parquet#frag");
  ASSERT_TRUE(pf.has_value());
  EXPECT_EQ(pf->format, FileFormat::kCsv);
  EXPECT_EQ(pf->compression, arrow::Compression::GZIP);
  EXPECT_EQ(CompressionFromPath("http://h/x.json?x=.zst"),
            arrow::Compression::UNCOMPRESSED);
  EXPECT_FALSE(FormatFromPath("https://h/api/v1/orders?format=.csv").has_value());
}

}  // namespace
}  // namespace flowsql::file
