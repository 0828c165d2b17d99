#include "uncertainty/calibration_metrics.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "uncertainty/temperature.h"
#include "uncertainty/test_random.h"

namespace ferry {
namespace {

TEST(ReliabilityTest, FifteenEqualWidthBins) {
  const std::vector<ReliabilityBin> bins = ReliabilityDiagram({}, {});
  ASSERT_EQ(bins.size(), 15u);
  EXPECT_EQ(bins[0].lower, 0.0);
  EXPECT_DOUBLE_EQ(bins[0].upper, 1.0 / 15);
  EXPECT_EQ(bins[14].upper, 1.0);
  EXPECT_EQ(ExpectedCalibrationError(bins), 0.0);
}

TEST(ReliabilityTest, EdgesBelongToTheLowerBin) {
  // Bins are (lower, upper]; 0 goes to the first, 1 to the last.
  const std::vector<double> c = {0.0, 0.2, 0.2000001, 1.0, 1.0 / 15};
  const std::vector<uint8_t> ok = {1, 1, 1, 1, 1};
  const std::vector<ReliabilityBin> bins = ReliabilityDiagram(c, ok);
  EXPECT_EQ(bins[0].count, 2);  // 0 and 1/15
  EXPECT_EQ(bins[2].count, 1);  // 0.2 = 3/15, the top of bin 2
  EXPECT_EQ(bins[3].count, 1);
  EXPECT_EQ(bins[14].count, 1);
}

TEST(ReliabilityTest, EceByHand) {
  // Two rows at 0.95 (one right), two at 0.55 (both right):
  // ECE = 0.5 * |0.5 - 0.95| + 0.5 * |1.0 - 0.55| = 0.45.
  const std::vector<ReliabilityBin> bins =
      ReliabilityDiagram({0.95, 0.95, 0.55, 0.55}, std::vector<uint8_t>{1, 0, 1, 1});
  EXPECT_EQ(bins[14].count, 2);
  EXPECT_DOUBLE_EQ(bins[14].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(bins[14].mean_confidence, 0.95);
  EXPECT_EQ(bins[8].count, 2);
  EXPECT_NEAR(ExpectedCalibrationError(bins), 0.45, 1e-15);
  // A perfectly matched bin contributes nothing.
  EXPECT_NEAR(ExpectedCalibrationError(ReliabilityDiagram({0.5, 0.5}, std::vector<uint8_t>{1, 0})), 0.0,
              1e-15);
}

TEST(ProbabilityQualityTest, ByHand) {
  // Row 1: top 0.7, right. Row 2: top 0.5 (class 1), label 0: wrong.
  const std::vector<double> p = {0.7, 0.2, 0.1, 0.4, 0.5, 0.1};
  const std::vector<int64_t> labels = {0, 0};
  const ProbabilityQuality q = MeasureProbabilities(p, 3, labels);
  EXPECT_EQ(q.rows, 2);
  EXPECT_DOUBLE_EQ(q.accuracy, 0.5);
  EXPECT_NEAR(q.nll, -(std::log(0.7) + std::log(0.4)) / 2, 1e-15);
  // ECE: 0.5 * |1 - 0.7| + 0.5 * |0 - 0.5| = 0.4.
  EXPECT_NEAR(q.ece, 0.4, 1e-15);
  EXPECT_EQ(q.bins.size(), 15u);
}

TEST(ProbabilityQualityTest, TiesPickTheLowestIndexAndZeroProbabilityIsFloored) {
  const std::vector<double> p = {0.5, 0.5, 0.0, 1.0};
  const ProbabilityQuality q = MeasureProbabilities(p, 2, std::vector<int64_t>{0, 0});
  EXPECT_DOUBLE_EQ(q.accuracy, 0.5);  // row 1's tie goes to class 0
  EXPECT_NEAR(q.nll, (std::log(2.0) - std::log(kMinProbability)) / 2, 1e-9);
  EXPECT_TRUE(std::isfinite(q.nll));
  EXPECT_EQ(ArgMax(std::vector<double>{0.2, 0.4, 0.4}), 1);
}

TEST(ProbabilityQualityTest, CalibratedProbabilitiesHaveSmallEce) {
  // Labels drawn from the probabilities themselves: calibrated by construction.
  TestRandom rng(3);
  std::vector<double> p;
  std::vector<int64_t> labels;
  std::vector<double> z(4), row(4);
  for (int i = 0; i < 20000; ++i) {
    for (double& v : z) v = 1.5 * rng.Normal();
    Softmax(z, 1.0, absl::MakeSpan(row));
    labels.push_back(rng.Categorical(row));
    p.insert(p.end(), row.begin(), row.end());
  }
  EXPECT_LT(MeasureProbabilities(p, 4, labels).ece, 0.015);
  // The same rows made overconfident (logits doubled) are not.
  std::vector<double> sharp;
  for (size_t r = 0; r < labels.size(); ++r) {
    std::vector<double> logp(4);
    for (int c = 0; c < 4; ++c) logp[c] = std::log(p[r * 4 + c]);
    Softmax(logp, 0.5, absl::MakeSpan(row));
    sharp.insert(sharp.end(), row.begin(), row.end());
  }
  EXPECT_GT(MeasureProbabilities(sharp, 4, labels).ece, 0.05);
}

}  // namespace
}  // namespace ferry
