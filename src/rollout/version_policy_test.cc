#include "rollout/version_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace ferry {
namespace {

TEST(SelectDefaultVersionTest, NoVersionsMeansNone) {
  EXPECT_EQ(SelectDefaultVersion({}), 0);
}

TEST(SelectDefaultVersionTest, PicksHighestReady) {
  std::vector<VersionView> v = {{1, true}, {3, true}, {2, true}};
  EXPECT_EQ(SelectDefaultVersion(v), 3);
}

TEST(SelectDefaultVersionTest, SkipsVersionsThatAreNotReady) {
  std::vector<VersionView> v = {{1, true}, {3, false}, {2, true}};
  EXPECT_EQ(SelectDefaultVersion(v), 2);
}

TEST(SelectDefaultVersionTest, NoneReadyMeansNone) {
  std::vector<VersionView> v = {{1, false}, {2, false}};
  EXPECT_EQ(SelectDefaultVersion(v), 0);
}

TEST(SelectDefaultVersionTest, EveryPrefixOfStatesAgreesWithBruteForce) {
  // All 2^4 ready/not-ready combinations of versions 1..4 in scrambled order.
  const int64_t order[] = {3, 1, 4, 2};
  for (int mask = 0; mask < 16; ++mask) {
    std::vector<VersionView> v;
    int64_t expected = 0;
    for (int i = 0; i < 4; ++i) {
      const bool ready = (mask >> i) & 1;
      v.push_back({order[i], ready});
      if (ready && order[i] > expected) expected = order[i];
    }
    EXPECT_EQ(SelectDefaultVersion(v), expected) << "mask " << mask;
  }
}

}  // namespace
}  // namespace ferry
