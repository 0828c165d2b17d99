#include "rollout/version_policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

constexpr VersionState kReady = VersionState::kReady;
constexpr VersionState kAll[] = {VersionState::kLoading, VersionState::kReady,
                                 VersionState::kFailed, VersionState::kDraining,
                                 VersionState::kUnloaded};

TEST(SelectDefaultVersionTest, NoVersionsMeansNone) { EXPECT_EQ(SelectDefaultVersion({}), 0); }

TEST(SelectDefaultVersionTest, PicksHighestReady) {
  std::vector<VersionView> v = {{1, kReady}, {3, kReady}, {2, kReady}};
  EXPECT_EQ(SelectDefaultVersion(v), 3);
}

// Every assignment of the five states to versions 1..3, listed in scrambled order: the
// default is the highest ready version, and routing to each version by number answers
// with it exactly when it is ready.
TEST(RouteVersionTest, EveryAssignmentOfStatesAgreesWithBruteForce) {
  const int64_t order[] = {3, 1, 2};
  for (int a = 0; a < 5; ++a) {
    for (int b = 0; b < 5; ++b) {
      for (int c = 0; c < 5; ++c) {
        const VersionState states[] = {kAll[a], kAll[b], kAll[c]};
        std::vector<VersionView> v;
        int64_t expected = 0;
        for (int i = 0; i < 3; ++i) {
          v.push_back({order[i], states[i], "why"});
          if (states[i] == kReady && order[i] > expected) expected = order[i];
        }
        SCOPED_TRACE(testing::Message() << a << b << c);
        EXPECT_EQ(SelectDefaultVersion(v), expected);
        absl::StatusOr<int64_t> routed = RouteVersion("m", v, "");
        if (expected != 0) {
          EXPECT_EQ(*routed, expected);
        } else {
          EXPECT_EQ(routed.status().code(), absl::StatusCode::kUnavailable);
          // The newest version (3, listed first) explains why.
          EXPECT_THAT(std::string(routed.status().message()),
                      HasSubstr(std::string("version 3 is ") + VersionStateName(states[0]) + ": why"));
        }
        for (int i = 0; i < 3; ++i) {
          absl::StatusOr<int64_t> named = RouteVersion("m", v, std::to_string(order[i]));
          if (states[i] == kReady) {
            EXPECT_EQ(*named, order[i]);
          } else {
            EXPECT_EQ(named.status().code(), absl::StatusCode::kUnavailable);
            EXPECT_THAT(std::string(named.status().message()),
                        HasSubstr(std::string("it is ") + VersionStateName(states[i])));
          }
        }
        EXPECT_EQ(RouteVersion("m", v, "4").status().code(), absl::StatusCode::kNotFound);
      }
    }
  }
}

TEST(RouteVersionTest, ANameThatIsNotAPositiveIntegerIsInvalid) {
  std::vector<VersionView> v = {{1, kReady}};
  for (const char* bad : {"0", "01", "-1", "+1", "1.0", "one", " 1", "1 ", "9999999999999999999"}) {
    absl::StatusOr<int64_t> r = RouteVersion("m", v, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("not a positive integer")) << bad;
  }
  EXPECT_EQ(*RouteVersion("m", v, "1"), 1);
}

TEST(RouteVersionTest, AModelWithNoVersionsHasNoDefault) {
  absl::StatusOr<int64_t> r = RouteVersion("m", {}, "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "Request for unknown model: 'm' has no available versions");
}

TEST(VersionStateTest, IndexNamesFollowTheProtocol) {
  EXPECT_STREQ(VersionStateIndexName(VersionState::kLoading), "LOADING");
  EXPECT_STREQ(VersionStateIndexName(VersionState::kReady), "READY");
  for (VersionState s : {VersionState::kFailed, VersionState::kDraining, VersionState::kUnloaded}) {
    EXPECT_STREQ(VersionStateIndexName(s), "UNAVAILABLE");
  }
}

}  // namespace
}  // namespace ferry
