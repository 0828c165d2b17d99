#include "rollout/traffic_split.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

// FNV-1a over (salt length, salt, key), then SplitMix64's finalizer, computed independently.
constexpr uint64_t kEmptyHash = 9313164154874788883ull;
constexpr uint64_t kUser42Hash = 3052089135122736233ull;

TEST(TrafficSplitTest, ArmForUniformCutsConsecutiveRanges) {
  const std::vector<double> w = {0.25, 0.75};
  EXPECT_EQ(ArmForUniform(w, 0.0), 0u);
  EXPECT_EQ(ArmForUniform(w, 0.2499), 0u);
  EXPECT_EQ(ArmForUniform(w, 0.25), 1u);
  EXPECT_EQ(ArmForUniform(w, 0.9999), 1u);
  // Out of range: clamped.
  EXPECT_EQ(ArmForUniform(w, -3), 0u);
  EXPECT_EQ(ArmForUniform(w, 1.0), 1u);
  EXPECT_EQ(ArmForUniform(w, 7), 1u);
  // Weights need not sum to 1.
  EXPECT_EQ(ArmForUniform({1, 1, 2}, 0.49), 1u);
  EXPECT_EQ(ArmForUniform({1, 1, 2}, 0.5), 2u);
}

TEST(TrafficSplitTest, ZeroWeightArmsAreNeverChosen) {
  for (int i = 0; i <= 1000; ++i) {
    const double u = i / 1000.0;
    EXPECT_EQ(ArmForUniform({0, 1, 0}, u), 1u) << u;
    EXPECT_NE(ArmForUniform({0.5, 0, 0.5}, u), 1u) << u;
    EXPECT_EQ(ArmForUniform({0, 1}, u), 1u) << u;
    EXPECT_EQ(ArmForUniform({1, 0}, u), 0u) << u;
  }
}

// Over an even grid of u, each arm gets its weight's share (to the grid's resolution).
TEST(TrafficSplitTest, SharesMatchWeightsExhaustively) {
  const std::vector<std::vector<double>> weight_sets = {
      {0.01, 0.99}, {0.05, 0.95}, {0.5, 0.5}, {1, 2, 3, 4}, {0.3, 0, 0.7}};
  const int steps = 100'000;
  for (const auto& w : weight_sets) {
    std::vector<int> counts(w.size());
    for (int i = 0; i < steps; ++i) ++counts[ArmForUniform(w, (i + 0.5) / steps)];
    double total = 0;
    for (double x : w) total += x;
    for (size_t a = 0; a < w.size(); ++a) {
      EXPECT_NEAR(counts[a] / static_cast<double>(steps), w[a] / total, 2.0 / steps);
    }
  }
}

TEST(TrafficSplitTest, RoutingHashIsPinned) {
  // The routing contract: a new Ferry version must not move users between arms.
  EXPECT_EQ(RoutingHash("release-1", "user-42"), RoutingHash("release-1", "user-42"));
  EXPECT_EQ(RoutingHash("", ""), kEmptyHash);
  EXPECT_EQ(RoutingHash("release-1", "user-42"), kUser42Hash);
}

TEST(TrafficSplitTest, SaltAndKeyBoundaryMatter) {
  EXPECT_NE(RoutingHash("ab", "c"), RoutingHash("a", "bc"));
  EXPECT_NE(RoutingHash("release-1", "user-42"), RoutingHash("release-2", "user-42"));
  EXPECT_NE(RoutingHash("release-1", "user-42"), RoutingHash("release-1", "user-43"));
  const double u = RoutingUniform("s", "k");
  EXPECT_GE(u, 0);
  EXPECT_LT(u, 1);
}

TEST(TrafficSplitTest, SameKeySameArmAlways) {
  for (int key = 0; key < 1000; ++key) {
    const std::string k = absl::StrCat("user-", key);
    const size_t arm = ArmForKey({0.3, 0.7}, "release-7", k);
    for (int again = 0; again < 3; ++again) EXPECT_EQ(ArmForKey({0.3, 0.7}, "release-7", k), arm);
  }
}

// Ramping a canary (arm 0) up never moves a key out of it.
TEST(TrafficSplitTest, RampingKeepsCanaryKeysInTheCanary) {
  const std::vector<double> ramp = {0.01, 0.05, 0.25, 0.5, 1.0};
  for (int key = 0; key < 10'000; ++key) {
    const std::string k = absl::StrCat("user-", key);
    bool was_canary = false;
    for (double w : ramp) {
      const bool canary = ArmForKey({w, 1 - w}, "release-3", k) == 0;
      if (was_canary) {
        EXPECT_TRUE(canary) << k << " left the canary at " << w;
      }
      was_canary = canary;
    }
    EXPECT_TRUE(was_canary);  // at 100% every key is in the canary
  }
}

TEST(TrafficSplitTest, StickySplitOverTenThousandKeysIsWithinOnePoint) {
  for (double weight : {0.05, 0.3, 0.5}) {
    int in_arm0 = 0;
    for (int key = 0; key < 10'000; ++key) {
      in_arm0 += ArmForKey({weight, 1 - weight}, "release-0", absl::StrCat("user-", key)) == 0;
    }
    EXPECT_NEAR(in_arm0 / 10'000.0, weight, 0.01) << weight;
  }
}

// Different releases reshuffle: the canaries of two releases overlap about as much as
// independent draws would (5% of 5%), not completely.
TEST(TrafficSplitTest, DifferentSaltsReshuffle) {
  int both = 0;
  for (int key = 0; key < 20'000; ++key) {
    const std::string k = absl::StrCat("user-", key);
    both += ArmForKey({0.05, 0.95}, "release-a", k) == 0 && ArmForKey({0.05, 0.95}, "release-b", k) == 0;
  }
  EXPECT_NEAR(both, 20'000 * 0.0025, 25);
}

}  // namespace
}  // namespace ferry
