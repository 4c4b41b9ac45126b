#include "common/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/secrets.h"
#include "common/test_macros.h"

namespace flowsql::http {
namespace {

TEST(RedactUrl, HidesUserInfoAndSecretParameters) {
  EXPECT_EQ(RedactUrl("https://user:pa55@host:8443/x.parquet"),
            "https://***@host:8443/x.parquet");
  EXPECT_EQ(RedactUrl("https://host/x.parquet?sig=abc&page=2&token=t0k3n"),
            "https://host/x.parquet?sig=***&page=2&token=***");
  EXPECT_EQ(RedactUrl("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                      "&X-Amz-Credential=AKIA%2F20240101&X-Amz-Signature=f00d"
                      "&X-Amz-Security-Token=abc"),
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***");
  EXPECT_EQ(RedactUrl("http://h/a?api_key=1&APIKEY=2&Password=3&client_secret=4&key=5"),
            "http://h/a?api_key=***&APIKEY=***&Password=***&client_secret=***&key=***");
  // Fragments carry tokens too (OAuth's implicit flow).
  EXPECT_EQ(RedactUrl("https://h/cb#access_token=xyz&state=1"),
            "https://h/cb#access_token=***&state=1");
  // An '@' in the path or the query is no user info.
  EXPECT_EQ(RedactUrl("https://h/a@b?x=c@d"), "https://h/a@b?x=c@d");
  EXPECT_EQ(RedactUrl("https://h/x?token="), "https://h/x?token=");
}

TEST(RemoveParameters, SplitsOffTheChosenPairsAsWritten) {
  auto parts =
      RemoveParameters("https://h/a?page=2&api%5Fkey=k%20y&x=1&token=t#f",
                       [](const std::string& name) { return IsSecretParameter(name); });
  EXPECT_EQ(parts.url, "https://h/a?page=2&x=1#f");
  EXPECT_EQ(parts.removed, (std::vector<std::string>{"api%5Fkey=k%20y", "token=t"}));
  EXPECT_EQ(AppendParameters(parts.url, parts.removed),
            "https://h/a?page=2&x=1&api%5Fkey=k%20y&token=t#f");
  auto all = RemoveParameters("https://h/a?token=t", IsSecretParameter);
  EXPECT_EQ(all.url, "https://h/a");
  EXPECT_EQ(AppendParameters(all.url, all.removed), "https://h/a?token=t");
  EXPECT_EQ(RemoveParameters("https://h/a", IsSecretParameter).url, "https://h/a");
}

TEST(RedactUrl, LeavesOtherTextAlone) {
  EXPECT_EQ(RedactUrl("data/x.csv?token=abc"), "data/x.csv?token=abc");
  EXPECT_EQ(RedactUrl("https://host/x.parquet"), "https://host/x.parquet");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(RedactUrl, SecretParameterNames) {
  for (const char* name :
       {"token", "access_token", "key", "api_key", "apikey", "secret", "signature", "sig",
        "password", "X-Amz-Signature", "X-Amz-Credential", "x-goog-signature", "passwd",
        "auth", "Authorization", "subscription-key", "SAS_TOKEN"}) {
    EXPECT_TRUE(IsSecretParameter(name)) << name;
  }
  for (const char* name : {"page", "limit", "format", "v", "signed", "keys", "id"}) {
    EXPECT_FALSE(IsSecretParameter(name)) << name;
  }
}

TEST(RegisterUrlSecrets, RedactsThemEverywhere) {
  RegisterUrlSecrets("https://me:Pa55word%21@h/x?sig=s1gn4ture&page=2");
  EXPECT_EQ(Redact("saw Pa55word! and Pa55word%21 and s1gn4ture, page 2"),
            "saw *** and *** and ***, page 2");
}

TEST(Http, ErrorOfNamesTheRedactedUrlStatusAndAttempts) {
  Response r;
  r.status = 404;
  r.reason = "Not Found";
  EXPECT_EQ(ErrorOf("https://h/x.parquet?token=abc", r).message(),
            "https://h/x.parquet?token=***: HTTP 404 Not Found");
  r.status = 503;
  r.reason = "";
  r.attempts = 4;
  const Status st = ErrorOf("https://h/x", r);
  EXPECT_TRUE(st.IsIOError());
  EXPECT_EQ(st.message(), "https://h/x: HTTP 503 Service Unavailable (after 4 attempts)");
  // The start of the body, on one line, its secrets hidden.
  RegisterSecret("tok-SECRET-123");
  r.body = "{\"error\": \"bad token tok-SECRET-123\",\n \"detail\": \"" +
           std::string(300, 'x') + "\"}";
  EXPECT_EQ(ErrorOf("https://h/x", r).message(),
            "https://h/x: HTTP 503 Service Unavailable (after 4 attempts): {\"error\": "
            "\"bad token ***\",  \"detail\": \"" +
                std::string(150, 'x') + "...");
}

TEST(Http, TransientStatuses) {
  for (int s : {429, 500, 502, 503, 504}) EXPECT_TRUE(IsTransientStatus(s)) << s;
  for (int s : {200, 206, 400, 401, 403, 404, 405, 416, 501}) {
    EXPECT_FALSE(IsTransientStatus(s)) << s;
  }
}

TEST(Http, IsHttpUrl) {
  EXPECT_TRUE(IsHttpUrl("http://h/x"));
  EXPECT_TRUE(IsHttpUrl("HTTPS://h/x"));
  EXPECT_FALSE(IsHttpUrl("s3://b/k"));
  EXPECT_FALSE(IsHttpUrl("http.csv"));
  EXPECT_FALSE(IsHttpUrl("https:/h"));
}

TEST(Http, HeaderLookupIgnoresCase) {
  Response r;
  r.headers = {{"content-length", "12"}, {"accept-ranges", "bytes"}};
  EXPECT_EQ(r.Header("Content-Length"), "12");
  EXPECT_EQ(r.Header("etag"), "");
}

TEST(Http, ConnectionRefusedIsNotRetriedAndNamesTheUrl) {
  Client client;
  Request request;
  // Port 1 on loopback: nothing listens there (tcpmux is long gone).
  request.url = "http://127.0.0.1:1/x.csv?token=s3cr3tvalue";
  request.initial_backoff = std::chrono::milliseconds(1);
  auto r = client.Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsIOError());
  EXPECT_EQ(
      r.status().message().rfind("http://127.0.0.1:1/x.csv?token=***: cannot connect", 0),
      0u)
      << r.status().message();
  EXPECT_EQ(r.status().message().find("attempts"), std::string::npos);
}

TEST(Http, AnInvalidUrlIsAnError) {
  Client client;
  Request request;
  request.url = "ftp://h/x";
  auto r = client.Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ftp://h/x"), std::string::npos);
}

/// A server on a free loopback port: it answers its i-th connection with answers[i]
/// (after reading the request's head) and closes it; later connections it keeps open
/// and never answers.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::vector<std::string> answers = {})
      : answers_(std::move(answers)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_, 256) != 0 ||
        getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }

  ~LoopbackServer() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    CloseSilent(silent_.size());
    if (listener_ >= 0) close(listener_);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  /// Waits until `n` connections came in all, for up to `wait`; returns how many did.
  int WaitForConnections(int n, std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, wait, [&] { return connections_ >= n; });
    return connections_;
  }

  /// Closes the first `n` connections kept open, unanswered.
  void CloseSilent(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < n && i < silent_.size(); ++i) close(silent_[i]);
    silent_.erase(silent_.begin(), silent_.begin() + std::min(n, silent_.size()));
  }

 private:
  void Serve() {
    while (!done_) {
      pollfd ready{listener_, POLLIN, 0};
      if (poll(&ready, 1, 20) <= 0) continue;
      const int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        index = static_cast<size_t>(connections_++);
        if (index >= answers_.size()) silent_.push_back(fd);
      }
      changed_.notify_all();
      if (index >= answers_.size()) continue;
      std::string head;
      char buffer[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
        if (got <= 0) break;
        head.append(buffer, static_cast<size_t>(got));
      }
      (void)send(fd, answers_[index].data(), answers_[index].size(), MSG_NOSIGNAL);
      close(fd);
    }
  }

  std::vector<std::string> answers_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int connections_ = 0;      // guarded by mutex_
  std::vector<int> silent_;  // guarded by mutex_
};

/// The threads of this process (/proc/self/status).
int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

/// The outcomes of SendAsync requests, as their `done`s hand them over.
class Outcomes {
 public:
  Client::Done Collect() {
    return [this](Result<Response> r) {
      std::lock_guard<std::mutex> lock(mutex_);
      outcomes_.push_back(std::move(r));
      changed_.notify_all();
    };
  }
  /// Waits until `n` came, for up to `wait`; returns them all.
  std::vector<Result<Response>> WaitFor(size_t n, std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, wait, [&] { return outcomes_.size() >= n; });
    return outcomes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Result<Response>> outcomes_;
};

TEST(Http, ManyRequestsInFlightTakeOneThreadAndAStopEndsThemPromptly) {
  LoopbackServer server;
  Client client;
  Outcomes outcomes;
  arrow::StopSource source;
  const int before = ThreadCount();
  constexpr int kRequests = 64;
  for (int i = 0; i < kRequests; ++i) {
    Request request;
    request.url = server.url("/page/" + std::to_string(i));
    request.stop = source.token();
    client.SendAsync(request, outcomes.Collect());
  }
  // Every request is on the wire at once, driven by the client's one thread.
  ASSERT_EQ(server.WaitForConnections(kRequests, std::chrono::seconds(10)), kRequests);
  EXPECT_LE(ThreadCount(), before + 1);
  const auto stopped = std::chrono::steady_clock::now();
  source.RequestStop();
  const auto got = outcomes.WaitFor(kRequests, std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, std::chrono::milliseconds(1000));
  ASSERT_EQ(got.size(), static_cast<size_t>(kRequests));
  for (const auto& r : got) {
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCancelled()) << r.status().ToString();
  }
}

TEST(Http, MaxInFlightQueuesTheRequestsBeyondIt) {
  LoopbackServer server;
  Client client(/*max_in_flight=*/4);
  Outcomes outcomes;
  arrow::StopSource source;
  for (int i = 0; i < 12; ++i) {
    Request request;
    request.url = server.url("/page/" + std::to_string(i));
    request.stop = source.token();
    request.max_attempts = 1;
    client.SendAsync(request, outcomes.Collect());
  }
  ASSERT_EQ(server.WaitForConnections(4, std::chrono::seconds(10)), 4);
  // No fifth while the four are unanswered.
  EXPECT_EQ(server.WaitForConnections(5, std::chrono::milliseconds(300)), 4);
  // Two end (the server hangs up): two more go out.
  server.CloseSilent(2);
  EXPECT_EQ(server.WaitForConnections(6, std::chrono::seconds(10)), 6);
  EXPECT_EQ(server.WaitForConnections(7, std::chrono::milliseconds(300)), 6);
  // The first two sent were the first two asked for (the server hung up with the
  // request unread: a reset).
  auto got = outcomes.WaitFor(2, std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    ASSERT_FALSE(got[i].ok());
    EXPECT_EQ(got[i].status().message(), server.url("/page/" + std::to_string(i)) +
                                             ": transfer failed: Recv failure: "
                                             "Connection reset by peer");
  }
  source.RequestStop();
  got = outcomes.WaitFor(12, std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 12u);
  for (size_t i = 2; i < got.size(); ++i) EXPECT_TRUE(got[i].status().IsCancelled());
}

TEST(Http, RetryAfterIsAWaitThatHoldsUpNoOtherRequest) {
  LoopbackServer server({
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nother",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfirst",
  });
  Client client;
  Outcomes first, other;
  const auto start = std::chrono::steady_clock::now();
  Request request;
  request.url = server.url("/first");
  request.initial_backoff = std::chrono::milliseconds(1);
  client.SendAsync(request, first.Collect());
  ASSERT_EQ(server.WaitForConnections(1, std::chrono::seconds(10)), 1);
  // The first waits its Retry-After; meanwhile the client answers another request.
  request.url = server.url("/other");
  client.SendAsync(request, other.Collect());
  auto answered = other.WaitFor(1, std::chrono::seconds(10));
  ASSERT_EQ(answered.size(), 1u);
  ASSERT_OK(answered[0].status());
  EXPECT_EQ(answered[0]->body, "other");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  answered = first.WaitFor(1, std::chrono::seconds(10));
  ASSERT_EQ(answered.size(), 1u);
  ASSERT_OK(answered[0].status());
  EXPECT_EQ(answered[0]->status, 200);
  EXPECT_EQ(answered[0]->body, "first");
  EXPECT_EQ(answered[0]->attempts, 2);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
}

TEST(Http, DestroyingTheClientCancelsItsRequests) {
  LoopbackServer server;
  Outcomes outcomes;
  auto client = std::make_unique<Client>();
  for (int i = 0; i < 3; ++i) {
    Request request;
    request.url = server.url("/x");
    client->SendAsync(request, outcomes.Collect());
  }
  ASSERT_EQ(server.WaitForConnections(3, std::chrono::seconds(10)), 3);
  client.reset();
  const auto got = outcomes.WaitFor(3, std::chrono::milliseconds(0));
  ASSERT_EQ(got.size(), 3u);
  for (const auto& r : got) {
    EXPECT_TRUE(r.status().IsCancelled()) << r.status().ToString();
    EXPECT_EQ(r.status().message(), "the http client was closed");
  }
}

TEST(Http, AStopEndsAWaitForAnAnswer) {
  // A server that takes the connection and never answers.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  arrow::StopSource source;
  source.RequestStop();
  Client client;
  Request request;
  request.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";
  request.stop = source.token();
  auto r = client.Send(request);
  close(listener);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCancelled()) << r.status().ToString();
}

}  // namespace
}  // namespace flowsql::http
