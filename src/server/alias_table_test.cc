#include "server/alias_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

TEST(AliasTableTest, ResolvesAliasesAndPassesTheRestThrough) {
  AliasTable table;
  table.Replace({{"m", {{"production", 3}, {"canary", 4}}}});
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", "production"), "3");
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", "canary"), "4");
  // The default, numbers and what is not alias-shaped are RouteVersion's to judge.
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", ""), "");
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", "7"), "7");
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", "Prod"), "Prod");
  EXPECT_EQ(*ResolveVersionAlias(&table, "m", "-1"), "-1");
  absl::StatusOr<std::string> unknown = ResolveVersionAlias(&table, "m", "shadow");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("model 'm' has no version alias 'shadow'"));
  // Another model's aliases are not this one's.
  EXPECT_EQ(ResolveVersionAlias(&table, "other", "production").status().code(),
            absl::StatusCode::kNotFound);
  // Without a table no alias resolves.
  EXPECT_EQ(ResolveVersionAlias(nullptr, "m", "production").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*ResolveVersionAlias(nullptr, "m", "2"), "2");
}

TEST(AliasTableTest, ReplaceIsWhole) {
  AliasTable table;
  table.Replace({{"m", {{"production", 1}}}});
  table.Replace({{"m", {{"canary", 2}}}});
  EXPECT_FALSE(table.Lookup("m", "production").has_value());
  EXPECT_EQ(table.Lookup("m", "canary"), 2);
}

}  // namespace
}  // namespace ferry
