#include "connectors/file/partitions.h"

#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include "connectors/file/format.h"
#include "connectors/file/test_util.h"

namespace flowsql::file {
namespace {

namespace cp = arrow::compute;
using testing::TempDir;

TEST(Glob, DoubleStarBracesAndClasses) {
  TempDir dir;
  for (const char* name : {"a/x1.csv", "a/b/x2.csv", "a/b/c/x3.tsv", "a/_tmp/x4.csv",
                           "a/.hidden.csv", "top.csv", "a/y.json"}) {
    dir.Write(name, "k\n1\n");
  }
  auto rel = [&](std::vector<std::string> paths) {
    for (auto& p : paths) p = p.substr(dir.path().size() + 1);
    return paths;
  };
  ASSERT_OK_AND_ASSIGN(auto deep, ResolvePaths(dir.Join("a/**/*.csv"), std::nullopt));
  EXPECT_EQ(rel(deep), (std::vector<std::string>{"a/b/x2.csv", "a/x1.csv"}));
  ASSERT_OK_AND_ASSIGN(auto braces,
                       ResolvePaths(dir.Join("a/**/*.{csv,tsv}"), std::nullopt));
  EXPECT_EQ(rel(braces),
            (std::vector<std::string>{"a/b/c/x3.tsv", "a/b/x2.csv", "a/x1.csv"}));
  ASSERT_OK_AND_ASSIGN(auto one, ResolvePaths(dir.Join("a/x[0-9].csv"), std::nullopt));
  EXPECT_EQ(rel(one), (std::vector<std::string>{"a/x1.csv"}));
  ASSERT_OK_AND_ASSIGN(auto alternatives,
                       ResolvePaths(dir.Join("{top,a/x1}.csv"), std::nullopt));
  EXPECT_EQ(rel(alternatives), (std::vector<std::string>{"a/x1.csv", "top.csv"}));
  // A folder lists every file below it of one format (.tsv is CSV), skipping _ and .
  // names.
  ASSERT_OK_AND_ASSIGN(auto folder, ResolvePaths(dir.Join("a"), FileFormat::kCsv));
  EXPECT_EQ(rel(folder),
            (std::vector<std::string>{"a/b/c/x3.tsv", "a/b/x2.csv", "a/x1.csv"}));
  auto none = ResolvePaths(dir.Join("a/**/*.parquet"), std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "no files match '" + dir.Join("a/**/*.parquet") + "'");
}

TEST(HivePartitions, TypedDecodedAndNull) {
  ASSERT_OK_AND_ASSIGN(
      auto hive,
      ReadHivePartitions({"lake/year=2024/day=2024-01-02/city=New%20York/p.parquet",
                          "lake/year=2023/day=2023-12-31/city=Oslo/p.parquet",
                          "lake/year=__HIVE_DEFAULT_PARTITION__/day=2023-01-01/"
                          "city=/p.parquet"}));
  ASSERT_TRUE(hive.has_value());
  ASSERT_EQ(hive->fields.size(), 3u);
  EXPECT_EQ(hive->fields[0]->ToString(), "year: int64");
  EXPECT_EQ(hive->fields[1]->ToString(), "day: date32[day]");
  EXPECT_EQ(hive->fields[2]->ToString(), "city: string");
  EXPECT_EQ(hive->values[0][2]->ToString(), "New York");
  EXPECT_FALSE(hive->values[2][0]->is_valid);
  EXPECT_FALSE(hive->values[2][2]->is_valid);
  ASSERT_OK_AND_ASSIGN(auto plain, ReadHivePartitions({"a/b.csv", "c/d.csv"}));
  EXPECT_FALSE(plain.has_value());
}

TEST(HivePartitions, DifferentKeysNameBothFiles) {
  auto r = ReadHivePartitions({"l/year=1/a.parquet", "l/month=2/b.parquet"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.status().message(),
      "hive partitions differ: l/year=1/a.parquet has year, l/month=2/b.parquet has "
      "month; set hive_partitioning = false to read them without");
}

TEST(HivePartitions, FilterSkipsFiles) {
  ASSERT_OK_AND_ASSIGN(
      auto hive, ReadHivePartitions({"l/year=2023/a.parquet", "l/year=2024/b.parquet"}));
  auto schema = arrow::schema({arrow::field("v", arrow::int64()), hive->fields[0]});
  auto filter = cp::and_(cp::equal(cp::field_ref("year"), cp::literal(int64_t{2024})),
                         cp::greater(cp::field_ref("v"), cp::literal(int64_t{3})));
  cp::Expression simplified;
  ASSERT_OK_AND_ASSIGN(bool first,
                       PartitionMayMatch(filter, *schema, *hive, 0, &simplified));
  EXPECT_FALSE(first);
  ASSERT_OK_AND_ASSIGN(bool second,
                       PartitionMayMatch(filter, *schema, *hive, 1, &simplified));
  EXPECT_TRUE(second);
  // What is left for the file's reader: its own column only.
  EXPECT_EQ(simplified.ToString(), "(v > 3)");
}

}  // namespace
}  // namespace flowsql::file
