#include "uncertainty/conformal.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "uncertainty/temperature.h"
#include "uncertainty/test_random.h"

namespace ferry {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<uint8_t> Set(ConformalScore score, const std::vector<double>& p, double threshold,
                         int64_t* size = nullptr) {
  std::vector<uint8_t> in(p.size(), 7);
  const int64_t n = PredictionSet(score, p, threshold, absl::MakeSpan(in));
  if (size != nullptr) *size = n;
  return in;
}

std::vector<double> Scores(ConformalScore score, const std::vector<double>& p) {
  std::vector<double> out(p.size());
  ConformalScores(score, p, absl::MakeSpan(out));
  return out;
}

TEST(ConformalTest, ScoreNames) {
  EXPECT_EQ(ConformalScoreName(ConformalScore::kLac), "lac");
  EXPECT_EQ(ConformalScoreName(ConformalScore::kAps), "aps");
  EXPECT_EQ(ParseConformalScore("lac"), ConformalScore::kLac);
  EXPECT_EQ(ParseConformalScore("aps"), ConformalScore::kAps);
  EXPECT_FALSE(ParseConformalScore("LAC").has_value());
  EXPECT_FALSE(ParseConformalScore("raps").has_value());
}

TEST(ConformalTest, RankIsTheFiniteSampleCorrection) {
  EXPECT_EQ(ConformalRank(100, 0.1), 91);  // ceil(101 * 0.9 = 90.9)
  EXPECT_EQ(ConformalRank(5000, 0.1), 4501);  // ceil(4500.9)
  EXPECT_EQ(ConformalRank(5000, 0.05), 4751);  // ceil(4750.95)
  EXPECT_EQ(ConformalRank(5000, 0.2), 4001);  // ceil(4000.8)
  // Products that are integers in exact arithmetic stay integers.
  EXPECT_EQ(ConformalRank(9, 0.1), 9);     // 10 * 0.9
  EXPECT_EQ(ConformalRank(99, 0.07), 93);  // 100 * 0.93 = 93.00000000000001 in doubles
  EXPECT_EQ(ConformalRank(19, 0.05), 19);  // 20 * 0.95
  EXPECT_EQ(ConformalRank(4, 0.2), 4);     // 5 * 0.8
  // Small n: the rank passes n.
  EXPECT_EQ(ConformalRank(3, 0.1), 4);  // ceil(3.6)
  EXPECT_EQ(ConformalRank(0, 0.5), 1);
}

TEST(ConformalTest, QuantileTakesTheKthSmallest) {
  const std::vector<double> s = {0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6};  // n = 9
  EXPECT_EQ(ConformalQuantile(s, 0.1), 0.9);  // k = 9
  EXPECT_EQ(ConformalQuantile(s, 0.2), 0.8);  // k = ceil(8) = 8
  EXPECT_EQ(ConformalQuantile(s, 0.5), 0.5);  // k = 5
  EXPECT_EQ(ConformalQuantile(s, 0.75), 0.3);  // k = ceil(2.5) = 3
  EXPECT_EQ(ConformalQuantile(s, 0.95), 0.1);  // k = ceil(0.5) = 1
}

TEST(ConformalTest, QuantileIsInfiniteWhenTheLevelExceedsOne) {
  // n = 3 at alpha 0.1 needs the 4th smallest of 3: (n+1)(1-alpha)/n > 1.
  EXPECT_EQ(ConformalQuantile({0.1, 0.2, 0.3}, 0.1), kInf);
  EXPECT_EQ(ConformalQuantile({}, 0.1), kInf);
  // n = 19 at alpha 0.05 is the smallest n that is finite (k = 19 = n).
  std::vector<double> s(19);
  for (int i = 0; i < 19; ++i) s[i] = i / 100.0;
  EXPECT_EQ(ConformalQuantile(s, 0.05), 0.18);
  s.pop_back();
  EXPECT_EQ(ConformalQuantile(s, 0.05), kInf);
  // An infinite threshold gives every class.
  int64_t size = 0;
  EXPECT_EQ(Set(ConformalScore::kLac, {0.9, 0.1, 0.0}, kInf, &size), (std::vector<uint8_t>{1, 1, 1}));
  EXPECT_EQ(size, 3);
  EXPECT_EQ(Set(ConformalScore::kAps, {0.9, 0.1, 0.0}, kInf), (std::vector<uint8_t>{1, 1, 1}));
}

TEST(ConformalTest, QuantileWithTies) {
  EXPECT_EQ(ConformalQuantile({0.2, 0.2, 0.2, 0.5}, 0.25), 0.5);  // k = ceil(3.75) = 4
  EXPECT_EQ(ConformalQuantile({0.2, 0.5, 0.2, 0.2}, 0.5), 0.2);   // k = ceil(2.5) = 3
  EXPECT_EQ(ConformalQuantile({0.3, 0.3, 0.3, 0.3}, 0.2), 0.3);   // k = 4
}

TEST(ConformalTest, LacSetsByHand) {
  const std::vector<double> p = {0.6, 0.3, 0.1};
  EXPECT_EQ(Scores(ConformalScore::kLac, p), (std::vector<double>{1 - 0.6, 1 - 0.3, 1 - 0.1}));
  int64_t size = -1;
  // Threshold 0.75: classes with p >= 0.25.
  EXPECT_EQ(Set(ConformalScore::kLac, p, 0.75, &size), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(size, 2);
  EXPECT_EQ(Set(ConformalScore::kLac, p, 0.5, &size), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(size, 1);
  // No class reaches p >= 0.7: the empty set.
  EXPECT_EQ(Set(ConformalScore::kLac, p, 0.3, &size), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(size, 0);
}

TEST(ConformalTest, LacTiesAreInOrOutTogether) {
  const std::vector<double> p = {0.4, 0.4, 0.2};
  EXPECT_EQ(Set(ConformalScore::kLac, p, 0.65), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(Set(ConformalScore::kLac, p, 0.55), (std::vector<uint8_t>{0, 0, 0}));
  // A threshold equal to a score includes that class.
  EXPECT_EQ(Set(ConformalScore::kLac, p, 1.0 - 0.4), (std::vector<uint8_t>{1, 1, 0}));
}

TEST(ConformalTest, ApsScoresByHand) {
  // Mass of every class at least as likely as the class itself.
  EXPECT_EQ(Scores(ConformalScore::kAps, {0.5, 0.3, 0.2}), (std::vector<double>{0.5, 0.8, 1.0}));
  EXPECT_EQ(Scores(ConformalScore::kAps, {0.2, 0.5, 0.3}), (std::vector<double>{1.0, 0.5, 0.8}));
  // Ties share the mass of the whole tie group.
  EXPECT_EQ(Scores(ConformalScore::kAps, {0.4, 0.3, 0.3}), (std::vector<double>{0.4, 1.0, 1.0}));
  EXPECT_EQ(Scores(ConformalScore::kAps, {0.25, 0.25, 0.25, 0.25}),
            (std::vector<double>{1.0, 1.0, 1.0, 1.0}));
  EXPECT_EQ(Scores(ConformalScore::kAps, {0.1, 0.45, 0.45}), (std::vector<double>{1.0, 0.9, 0.9}));
}

TEST(ConformalTest, ApsSetsByHand) {
  const std::vector<double> p = {0.5, 0.3, 0.2};
  int64_t size = -1;
  EXPECT_EQ(Set(ConformalScore::kAps, p, 0.85, &size), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(size, 2);
  EXPECT_EQ(Set(ConformalScore::kAps, p, 0.5, &size), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(size, 1);
  // The top class alone carries more mass than the threshold: the empty set.
  EXPECT_EQ(Set(ConformalScore::kAps, p, 0.45, &size), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(size, 0);
  // Tied classes join together or not at all.
  EXPECT_EQ(Set(ConformalScore::kAps, {0.4, 0.3, 0.3}, 0.9), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(Set(ConformalScore::kAps, {0.4, 0.3, 0.3}, 1.0), (std::vector<uint8_t>{1, 1, 1}));
}

TEST(ConformalTest, NanProbabilitiesDoNotHang) {
  const std::vector<double> p = {std::nan(""), 0.5, 0.5};
  const std::vector<double> s = Scores(ConformalScore::kAps, p);
  EXPECT_EQ(s[1], 1.0);
  EXPECT_EQ(s[2], 1.0);
  EXPECT_TRUE(std::isnan(s[0]));
}

TEST(ConformalTest, ScoreOfMatchesTheSetScoresBitForBit) {
  TestRandom rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<double> logits(10);
    for (double& z : logits) z = 3 * rng.Normal();
    if (trial % 5 == 0) logits[3] = logits[7];  // ties
    std::vector<double> p(10);
    Softmax(logits, 1.3, absl::MakeSpan(p));
    for (ConformalScore score : {ConformalScore::kLac, ConformalScore::kAps}) {
      const std::vector<double> all = Scores(score, p);
      for (int c = 0; c < 10; ++c) ASSERT_EQ(ConformalScoreOf(score, p, c), all[c]);
    }
  }
}

// Draws rows whose labels follow their own probabilities, so the model is calibrated
// and rows are exchangeable.
struct Draw {
  std::vector<std::vector<double>> p;
  std::vector<int64_t> labels;
};

Draw DrawRows(TestRandom& rng, int n, int classes) {
  Draw d;
  for (int i = 0; i < n; ++i) {
    std::vector<double> z(classes), p(classes);
    for (double& v : z) v = 2.5 * rng.Normal();
    Softmax(z, 1.0, absl::MakeSpan(p));
    d.labels.push_back(rng.Categorical(p));
    d.p.push_back(std::move(p));
  }
  return d;
}

TEST(ConformalTest, CalibrationRowsAtTheThresholdAreCovered) {
  TestRandom rng(5);
  const Draw cal = DrawRows(rng, 500, 6);
  for (ConformalScore score : {ConformalScore::kLac, ConformalScore::kAps}) {
    for (double alpha : {0.05, 0.1, 0.2}) {
      std::vector<double> s;
      for (size_t i = 0; i < cal.p.size(); ++i) s.push_back(ConformalScoreOf(score, cal.p[i], cal.labels[i]));
      const double q = ConformalQuantile(s, alpha);
      int covered = 0;
      for (size_t i = 0; i < cal.p.size(); ++i) covered += Set(score, cal.p[i], q)[cal.labels[i]];
      // At least k of the n calibration rows, including the one that set the threshold.
      EXPECT_GE(covered, ConformalRank(500, alpha)) << ConformalScoreName(score) << " " << alpha;
    }
  }
}

TEST(ConformalTest, CoverageOnFreshRowsIsOneMinusAlpha) {
  TestRandom rng(2024);
  const Draw cal = DrawRows(rng, 2000, 10);
  const Draw test = DrawRows(rng, 20000, 10);
  for (ConformalScore score : {ConformalScore::kLac, ConformalScore::kAps}) {
    std::vector<double> s;
    for (size_t i = 0; i < cal.p.size(); ++i) s.push_back(ConformalScoreOf(score, cal.p[i], cal.labels[i]));
    for (double alpha : {0.05, 0.1, 0.2}) {
      const double q = ConformalQuantile(s, alpha);
      int covered = 0;
      double size = 0;
      for (size_t i = 0; i < test.p.size(); ++i) {
        int64_t n = 0;
        covered += Set(score, test.p[i], q, &n)[test.labels[i]];
        size += n;
      }
      const double coverage = covered / 20000.0;
      EXPECT_NEAR(coverage, 1 - alpha, 0.015) << ConformalScoreName(score) << " alpha " << alpha;
      EXPECT_LT(size / 20000.0, 10.0);
    }
  }
}

}  // namespace
}  // namespace ferry
