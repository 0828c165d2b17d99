#include "core/sequence_parameters.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

TEST(SequenceParametersTest, TakesEachWireKindItAllows) {
  SequenceControl c;
  EXPECT_FALSE(c.any());
  ASSERT_TRUE(ApplySequenceParameter("sequence_id", int64_t{42}, c).ok());
  EXPECT_EQ(c.id, 42u);
  ASSERT_TRUE(ApplySequenceParameter("sequence_id", uint64_t{18446744073709551615u}, c).ok());
  EXPECT_EQ(c.id, 18446744073709551615u);
  ASSERT_TRUE(ApplySequenceParameter("sequence_id", std::string("abc"), c).ok());
  EXPECT_EQ(c.string_id, "abc");
  ASSERT_TRUE(ApplySequenceParameter("sequence_start", true, c).ok());
  ASSERT_TRUE(ApplySequenceParameter("sequence_end", true, c).ok());
  EXPECT_TRUE(c.start && c.end && c.has_id());
  SequenceControl zero;
  ASSERT_TRUE(ApplySequenceParameter("sequence_id", int64_t{0}, zero).ok());
  EXPECT_FALSE(zero.has_id());  // 0 means none
  EXPECT_TRUE(IsSequenceParameter("sequence_end"));
  EXPECT_FALSE(IsSequenceParameter("sequence"));
}

TEST(SequenceParametersTest, BadKindsAreInvalidArgumentNamingTheParameter) {
  SequenceControl c;
  absl::Status s = ApplySequenceParameter("sequence_id", int64_t{-3}, c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("parameter 'sequence_id'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("-3"));
  EXPECT_THAT(std::string(ApplySequenceParameter("sequence_id", true, c).message()),
              HasSubstr("was true"));
  EXPECT_THAT(std::string(ApplySequenceParameter("sequence_id", 1.5, c).message()),
              HasSubstr("was 1.5"));
  s = ApplySequenceParameter("sequence_start", int64_t{1}, c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("parameter 'sequence_start' must be true or false; was 1"));
  EXPECT_THAT(std::string(ApplySequenceParameter("sequence_end", std::string("yes"), c).message()),
              HasSubstr("'sequence_end' must be true or false; was the string \"yes\""));
  EXPECT_FALSE(c.any());
}

}  // namespace
}  // namespace ferry
