#include "registry/names.h"

#include "gtest/gtest.h"

namespace ferry {
namespace {

TEST(RegistryNamesTest, AliasNames) {
  for (const char* good : {"production", "canary", "shadow", "staging", "a", "exp-2_b",
                           "a23456789012345678901234567890123456789012345678901234567890123"}) {
    EXPECT_TRUE(ValidateAliasName(good).ok()) << good;
  }
  for (const char* bad :
       {"", "3", "12", "Production", "-x", "_x", "9lives", "a b", "a.b",
        "a234567890123456789012345678901234567890123456789012345678901234", "prod/uction"}) {
    absl::Status s = ValidateAliasName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().rfind("alias: ", 0), 0u) << s.message();
  }
}

TEST(RegistryNamesTest, ModelNamesAreFolderNames) {
  for (const char* good : {"fashion_cnn", "simple", "M-1.2", "3d"}) {
    EXPECT_TRUE(ValidateModelName(good).ok()) << good;
  }
  for (const char* bad : {"", ".", "..", ".hidden", "a/b", "a b", "-x"}) {
    EXPECT_EQ(ValidateModelName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RegistryNamesTest, Tags) {
  EXPECT_TRUE(ValidateTag("team/owner:x", "anything at all").ok());
  EXPECT_EQ(ValidateTag("", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateTag("a b", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateTag("k", std::string(4097, 'x')).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryNamesTest, LocalUserNameIsNeverEmpty) { EXPECT_FALSE(LocalUserName().empty()); }

}  // namespace
}  // namespace ferry
