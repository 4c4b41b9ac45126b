#include "flowsql/options.h"

#include <gtest/gtest.h>

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

TEST(Options, MapValuesKeepTypeCommas) {
  Options o;
  o.Set("types", "a=DECIMAL(10,2),b=VARCHAR");
  auto m = o.GetMap("types");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].second, "DECIMAL(10,2)");
  EXPECT_EQ(m[1].first, "b");
}

}  // namespace flowsql
