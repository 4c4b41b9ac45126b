#include "flowsql/options.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/test_macros.h"

namespace flowsql {

std::vector<OptionSpec> Specs() {
  return {{"delimiter", OptionType::kString, ",", "field separator", {"delim", "sep"}},
          {"header", OptionType::kBool, "true", "first row is a header"},
          {"flush_interval", OptionType::kDuration, "", "commit at least this often"},
          {"mode",
           OptionType::kEnum,
           "error_if_exists",
           "write mode",
           {},
           {"error_if_exists", "overwrite", "append"}}};
}

TEST(Options, AliasesAndDefaults) {
  auto opts = Options::Validate(Specs(), {{"SEP", ";", ""}}, "csv").ValueOrDie();
  EXPECT_EQ(opts.GetString("delimiter"), ";");
  EXPECT_TRUE(opts.GetBool("header"));
  EXPECT_TRUE(opts.IsSet("delimiter"));
  EXPECT_FALSE(opts.IsSet("header"));
}

TEST(Options, UnknownOptionNamesIt) {
  auto st = Options::Validate(Specs(), {{"delimeter", ";", "line 1:30"}}, "csv").status();
  ASSERT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("unknown option 'delimeter' at line 1:30"),
            std::string::npos)
      << st.message();
}

TEST(Options, TheCatchAllSpecTakesOtherOptionsUnderTheirNames) {
  auto specs = Specs();
  specs.push_back({kAnyOption, OptionType::kString, "", "anything else"});
  ASSERT_OK_AND_ASSIGN(auto opts, Options::Validate(specs,
                                                    {{"sep", ";", ""},
                                                     {"Endpoint", "https://h/x", ""},
                                                     {"batches", "3", ""}},
                                                    "python"));
  EXPECT_EQ(opts.GetString("delimiter"), ";");  // a declared one still by its alias
  EXPECT_EQ(opts.GetString("Endpoint"), "https://h/x");
  EXPECT_EQ(opts.GetString("batches"), "3");
  EXPECT_FALSE(opts.Has(kAnyOption));
  auto twice =
      Options::Validate(specs, {{"x", "1", ""}, {"x", "2", "line 1:9"}}, "python");
  EXPECT_EQ(twice.status().message(), "option 'x' given twice at line 1:9");
}

TEST(Options, IllTyped) {
  auto st = Options::Validate(Specs(), {{"header", "maybe", ""}}, "csv").status();
  EXPECT_NE(st.message().find("option 'header'"), std::string::npos);
  st = Options::Validate(Specs(), {{"mode", "upsert", ""}}, "csv").status();
  EXPECT_NE(st.message().find("expected one of"), std::string::npos);
  st =
      Options::Validate(Specs(), {{"flush_interval", "1 fortnight", ""}}, "csv").status();
  EXPECT_FALSE(st.ok());
}

TEST(Options, Durations) {
  EXPECT_EQ(ParseDurationMillis("1s").ValueOrDie(), 1000);
  EXPECT_EQ(ParseDurationMillis("250ms").ValueOrDie(), 250);
  EXPECT_EQ(ParseDurationMillis("2m").ValueOrDie(), 120000);
  EXPECT_EQ(ParseDurationMillis("0.5").ValueOrDie(), 500);
  EXPECT_EQ(ParseSizeBytes("64MB").ValueOrDie(), 64000000);
}

using Entries = std::vector<std::pair<std::string, std::string>>;

std::vector<OptionSpec> MapSpecs() {
  return {{"types", OptionType::kMap, "", "column types"},
          {"headers", OptionType::kMap, "", "request headers"},
          {"token", OptionType::kString, "", "a token", {}, {}, true},
          {"limit", OptionType::kInt, "", "a number"}};
}

TEST(Options, MapTextKeepsTypeCommas) {
  ASSERT_OK_AND_ASSIGN(
      auto o,
      Options::Validate(MapSpecs(), {{"types", "a=DECIMAL(10,2),b=VARCHAR", ""}}, "csv"));
  EXPECT_EQ(o.GetMap("types"), (Entries{{"a", "DECIMAL(10,2)"}, {"b", "VARCHAR"}}));
}

TEST(Options, MapLiteralsKeepEveryCharacter) {
  const Entries entries = {{"Authorization", "Basic a2V5OnNlY3JldA=="},
                           {"X-Filter", "a=1,b=2"},
                           {"X-Quote", "\"q\" 'q' \\ end\\"},
                           {"k,=", ""}};
  RawOption raw{"headers", EncodeMap(entries), "line 1:5", /*map=*/true};
  ASSERT_OK_AND_ASSIGN(auto o, Options::Validate(MapSpecs(), {raw}, "http"));
  EXPECT_EQ(o.GetMap("headers"), entries);
  // Stored values survive a copy through Set(), as a scan task carries them.
  Options copy;
  copy.Set("headers", o.GetString("headers"));
  EXPECT_EQ(copy.GetMap("headers"), entries);
}

TEST(Options, EnvironmentVariablesInValues) {
  ASSERT_EQ(::setenv("FLOWSQL_TEST_TOKEN", "tok,en=1", 1), 0);
  ASSERT_EQ(::setenv("FLOWSQL_TEST_LIMIT", "42", 1), 0);
  ASSERT_OK_AND_ASSIGN(
      auto o,
      Options::Validate(MapSpecs(),
                        {{"token", "Bearer ${FLOWSQL_TEST_TOKEN}", ""},
                         {"limit", "${FLOWSQL_TEST_LIMIT}", ""},
                         {"headers", "X-Token=${FLOWSQL_TEST_TOKEN},X-Lit=$${x}", ""}},
                        "http"));
  EXPECT_EQ(o.GetString("token"), "Bearer tok,en=1");
  EXPECT_EQ(o.GetInt("limit"), 42);
  EXPECT_EQ(o.GetMap("headers"), (Entries{{"X-Token", "tok,en=1"}, {"X-Lit", "${x}"}}));

  ::unsetenv("FLOWSQL_TEST_UNSET");
  auto st =
      Options::Validate(MapSpecs(), {{"token", "${FLOWSQL_TEST_UNSET}", "line 2:7"}},
                        "http source")
          .status();
  EXPECT_EQ(st.message(),
            "option 'token' at line 2:7 for http source: environment variable "
            "'FLOWSQL_TEST_UNSET' is not set");
  st = Options::Validate(MapSpecs(), {{"limit", "${FLOWSQL_TEST_LIMIT", ""}}, "http")
           .status();
  EXPECT_EQ(st.message(), "option 'limit' for http: '${' without a closing '}'");
}

}  // namespace flowsql
