#include "connectors/http/json_path.h"

#include <gtest/gtest.h>

#include "common/test_macros.h"
#include "connectors/http/http_settings.h"

namespace flowsql::httpapi {
namespace {

std::optional<std::string> At(const std::string& json, const std::string& path) {
  static simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS);
  auto steps = ParsePath(path);
  EXPECT_TRUE(steps.ok()) << steps.status().ToString();
  auto value = Find(doc, *steps);
  if (!value) return std::nullopt;
  return ScalarText(*value);
}

TEST(JsonPath, FindsScalarsAtPaths) {
  const std::string doc =
      R"({"meta": {"next_cursor": "abc", "total": 250, "done": false, "none": null},
          "links": [{"href": "/p2"}], "odd key": 1.5})";
  EXPECT_EQ(At(doc, "$.meta.next_cursor"), "abc");
  EXPECT_EQ(At(doc, "meta.total"), "250");
  EXPECT_EQ(At(doc, "$.meta.done"), "false");
  EXPECT_EQ(At(doc, "$.links[0].href"), "/p2");
  EXPECT_EQ(At(doc, "$['odd key']"), "1.5");
  EXPECT_EQ(At(doc, "$.meta.none"), std::nullopt);     // null: no value
  EXPECT_EQ(At(doc, "$.meta.missing"), std::nullopt);  // absent
  EXPECT_EQ(At(doc, "$.links[3].href"), std::nullopt);
  EXPECT_EQ(At(doc, "$.meta"), std::nullopt);  // an object is no scalar
}

TEST(JsonPath, BadPathsSayWhy) {
  EXPECT_EQ(ParsePath("$.a[").status().message(),
            "not a JSON path: '$.a[' ('[' without ']')");
  EXPECT_EQ(ParsePath("$.a..b").status().message(),
            "not a JSON path: '$.a..b' (an empty name)");
  EXPECT_EQ(ParsePath("$[x]").status().message(),
            "not a JSON path: '$[x]' (expected [n] or ['name'])");
}

TEST(HttpSettings, ParamsArePercentEncodedAfterTheQuery) {
  EXPECT_EQ(WithParams("https://h/x", {{"q", "a=1,b 2"}, {"s", "\"it's\""}}),
            "https://h/x?q=a%3D1%2Cb%202&s=%22it%27s%22");
  EXPECT_EQ(WithParams("https://h/x?a=1#frag", {{"page", "2"}}),
            "https://h/x?a=1&page=2#frag");
  EXPECT_EQ(WithParams("https://h/x", {}), "https://h/x");
}

}  // namespace
}  // namespace flowsql::httpapi
