#include "common/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
