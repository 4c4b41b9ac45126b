#include "connectors/file/file_connector.h"

#include <gtest/gtest.h>

#include "connectors/file/test_util.h"

namespace flowsql {
namespace {

using file::testing::TempDir;

TEST(FileConnector, RegistersSchemesAndFunctions) {
  Registry registry;
  ASSERT_OK(RegisterFileConnector(&registry));
  ASSERT_NE(registry.FindByUri("data/orders.csv"), nullptr);
  ASSERT_NE(registry.FindByUri("file:///tmp/x.parquet"), nullptr);
  const ConnectorSpec* spec = registry.FindByFunction("read_json_auto");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->name, "file");
  EXPECT_TRUE(spec->functions_take_uri);
  for (const char* f : {"read_csv", "read_json", "read_ndjson", "read_parquet",
                        "read_ipc", "read_arrow", "read_orc", "read_avro"}) {
    EXPECT_NE(registry.FindByFunction(f), nullptr) << f;
  }
  EXPECT_EQ(spec->functions.at("read_ndjson").at("format"), "ndjson");
  // Every option is documented.
  for (const auto* options : {&spec->source_options, &spec->sink_options}) {
    for (const auto& o : *options) EXPECT_FALSE(o.doc.empty()) << o.name;
  }
}

TEST(FileConnector, AliasesAndBadOptions) {
  ASSERT_OK_AND_ASSIGN(
      auto opts,
      file::testing::SourceOptions(
          {{"sep", ";"}, {"nullstr", "NA"}, {"dtypes", "a=INTEGER"}, {"skip", "1"}}));
  EXPECT_EQ(opts.GetString("delimiter"), ";");
  EXPECT_EQ(opts.GetString("null_string"), "NA");
  EXPECT_EQ(opts.GetInt("skip_rows"), 1);
  auto bad = file::testing::SourceOptions({{"delimitr", ";"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("delimitr"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto sink, file::testing::SinkOptions({{"mode", "ErrorIfExists"},
                                                              {"ROW_GROUP_SIZE", "10"}}));
  EXPECT_EQ(sink.GetString("mode"), "errorifexists");
  EXPECT_EQ(sink.GetInt("row_group_size"), 10);
}

TEST(FileConnector, MakeSourceThroughSpec) {
  TempDir dir;
  auto path = dir.Write("x.data", "a|b\n1|2\n");
  Registry registry;
  ASSERT_OK(RegisterFileConnector(&registry));
  const ConnectorSpec* spec = registry.FindByFunction("read_csv");
  ConnectorArgs args;
  args.uri = path;
  ASSERT_OK_AND_ASSIGN(args.options, Options::Validate(spec->source_options,
                                                       {{"delim", "|", ""}}, "file"));
  for (const auto& [k, v] : spec->functions.at("read_csv")) args.options.Set(k, v);
  ASSERT_OK_AND_ASSIGN(auto source, spec->make_source(args));
  ASSERT_OK_AND_ASSIGN(auto schema, source->GetSchema());
  EXPECT_EQ(schema->ToString(), "a: int64\nb: int64");
  // Without the preset, the extension says nothing: a clear error.
  args.options = Options();
  ASSERT_OK_AND_ASSIGN(auto unknown, spec->make_source(args));
  auto st = unknown->GetSchema().status();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("set option format"), std::string::npos) << st.message();
  // A bad SQL type in columns names the option and the column.
  ASSERT_OK_AND_ASSIGN(
      args.options,
      Options::Validate(spec->source_options, {{"columns", "a=FANCY", ""}}, "file"));
  args.options.Set("format", "csv");
  ASSERT_OK_AND_ASSIGN(auto typed, spec->make_source(args));
  st = typed->GetSchema().status();
  EXPECT_NE(st.message().find("unknown type 'FANCY'"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace flowsql
