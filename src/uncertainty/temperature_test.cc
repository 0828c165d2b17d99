#include "uncertainty/temperature.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "uncertainty/test_random.h"

namespace ferry {
namespace {

using testing::HasSubstr;

std::vector<double> SoftmaxOf(const std::vector<double>& z, double t = 1.0) {
  std::vector<double> p(z.size());
  Softmax(z, t, absl::MakeSpan(p));
  return p;
}

TEST(SoftmaxTest, SmallLogitsByHand) {
  EXPECT_EQ(SoftmaxOf({0, 0}), (std::vector<double>{0.5, 0.5}));
  const std::vector<double> p = SoftmaxOf({0, std::log(3.0)});
  EXPECT_NEAR(p[0], 0.25, 1e-15);
  EXPECT_NEAR(p[1], 0.75, 1e-15);
  const std::vector<double> q = SoftmaxOf({1, 2, 3});
  const double sum = std::exp(1) + std::exp(2) + std::exp(3);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(q[c], std::exp(c + 1) / sum, 1e-15);
}

TEST(SoftmaxTest, TemperatureDividesTheLogits) {
  const std::vector<double> a = SoftmaxOf({4, 0, -2}, 2.0);
  const std::vector<double> b = SoftmaxOf({2, 0, -1}, 1.0);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(a[c], b[c], 1e-15);
  // A large T flattens toward uniform; a small one sharpens toward one-hot.
  EXPECT_NEAR(SoftmaxOf({4, 0, -2}, 1e6)[0], 1.0 / 3, 1e-5);
  EXPECT_NEAR(SoftmaxOf({4, 0, -2}, 0.01)[0], 1.0, 1e-12);
}

TEST(SoftmaxTest, LargeLogitsStayFinite) {
  const std::vector<double> p = SoftmaxOf({1000, 1001});
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(1.0)), 1e-15);
  EXPECT_NEAR(p[1], std::exp(1.0) / (1 + std::exp(1.0)), 1e-15);
  const std::vector<double> q = SoftmaxOf({-1e308, 0, 1e308});
  EXPECT_EQ(q, (std::vector<double>{0, 0, 1}));
  const std::vector<double> r = SoftmaxOf({-2000, -2000});
  EXPECT_EQ(r, (std::vector<double>{0.5, 0.5}));
}

TEST(SoftmaxTest, MinusInfinityIsProbabilityZero) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(SoftmaxOf({-inf, 0, 0}), (std::vector<double>{0, 0.5, 0.5}));
}

TEST(SoftmaxTest, LogSoftmaxDoesNotUnderflow) {
  EXPECT_NEAR(LogSoftmaxAt(std::vector<double>{0, 0}, 1.0, 0), std::log(0.5), 1e-15);
  // p = e^-2000 underflows to 0, but its log is exact.
  EXPECT_NEAR(LogSoftmaxAt(std::vector<double>{0, 2000}, 1.0, 0), -2000.0, 1e-9);
  EXPECT_NEAR(LogSoftmaxAt(std::vector<double>{0, 2000}, 2.0, 0), -1000.0, 1e-9);
  EXPECT_NEAR(LogSoftmaxAt(std::vector<double>{0, 2000}, 1.0, 1), 0.0, 1e-12);
}

TEST(SoftmaxTest, SoftmaxRowsCoversEveryRow) {
  const std::vector<double> p = SoftmaxRows({0, 0, 0, std::log(3.0)}, 2, 1.0);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_NEAR(p[0], 0.5, 1e-15);
  EXPECT_NEAR(p[3], 0.75, 1e-15);
}

TEST(NllTest, ByHand) {
  // Row 1: p(label 0) = 1/2. Row 2: p(label 0) = 3/4.
  const std::vector<double> logits = {0, 0, std::log(3.0), 0};
  const std::vector<int64_t> labels = {0, 0};
  EXPECT_NEAR(MeanNegativeLogLikelihood(logits, 2, labels, 1.0),
              (std::log(2.0) - std::log(0.75)) / 2, 1e-15);
  // T = 2 halves the logits: row 2 becomes p = sqrt(3) / (sqrt(3) + 1).
  EXPECT_NEAR(MeanNegativeLogLikelihood(logits, 2, labels, 2.0),
              (std::log(2.0) - std::log(std::sqrt(3.0) / (std::sqrt(3.0) + 1))) / 2, 1e-15);
  // Large logits give a finite NLL.
  EXPECT_NEAR(MeanNegativeLogLikelihood(std::vector<double>{0, 3000}, 2, std::vector<int64_t>{0}, 1.0),
              3000.0, 1e-9);
}

// Rows whose labels are drawn from softmax(z); the model reports z * true_t, so the
// NLL-optimal temperature is true_t.
struct Synthetic {
  std::vector<double> logits;
  std::vector<int64_t> labels;
};

Synthetic MakeSynthetic(uint64_t seed, int n, int classes, double true_t) {
  TestRandom rng(seed);
  Synthetic s;
  std::vector<double> z(classes), p(classes);
  for (int i = 0; i < n; ++i) {
    for (double& v : z) v = 2.0 * rng.Normal();
    Softmax(z, 1.0, absl::MakeSpan(p));
    s.labels.push_back(rng.Categorical(p));
    for (double v : z) s.logits.push_back(v * true_t);
  }
  return s;
}

TEST(FitTemperatureTest, RecoversAKnownTemperatureWithinTwoPercent) {
  for (double true_t : {0.5, 1.0, 1.8, 3.0}) {
    const Synthetic s = MakeSynthetic(/*seed=*/42, 20000, 10, true_t);
    absl::StatusOr<TemperatureFit> fit = FitTemperature(s.logits, 10, s.labels);
    ASSERT_TRUE(fit.ok()) << fit.status();
    EXPECT_NEAR(fit->temperature, true_t, 0.02 * true_t) << "true T " << true_t;
    EXPECT_FALSE(fit->at_bound);
    EXPECT_LE(fit->nll_after, fit->nll_before + 1e-12);
    EXPECT_NEAR(fit->nll_before, MeanNegativeLogLikelihood(s.logits, 10, s.labels, 1.0), 1e-12);
  }
}

TEST(FitTemperatureTest, TheFitIsTheMinimum) {
  const Synthetic s = MakeSynthetic(7, 3000, 5, 2.2);
  absl::StatusOr<TemperatureFit> fit = FitTemperature(s.logits, 5, s.labels);
  ASSERT_TRUE(fit.ok()) << fit.status();
  const double at = MeanNegativeLogLikelihood(s.logits, 5, s.labels, fit->temperature);
  EXPECT_NEAR(at, fit->nll_after, 1e-15);
  for (double f : {0.999, 1.001, 0.9, 1.1}) {
    EXPECT_GT(MeanNegativeLogLikelihood(s.logits, 5, s.labels, fit->temperature * f), at) << f;
  }
  EXPECT_LT(fit->iterations, 50);
}

TEST(FitTemperatureTest, SeparableDataEndsOnTheLowerBound) {
  // The true class always leads by a margin: lower T only ever helps.
  const std::vector<double> logits = {5, 0, 0, 5, 5, 0};
  const std::vector<int64_t> labels = {0, 1, 0};
  TemperatureOptions options;
  options.min_temperature = 0.05;
  absl::StatusOr<TemperatureFit> fit = FitTemperature(logits, 2, labels, options);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_TRUE(fit->at_bound);
  EXPECT_DOUBLE_EQ(fit->temperature, 0.05);
  // Labels that disagree with the logits push T to the upper bound.
  const std::vector<int64_t> wrong = {1, 0, 1};
  fit = FitTemperature(logits, 2, wrong, options);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_TRUE(fit->at_bound);
  EXPECT_DOUBLE_EQ(fit->temperature, options.max_temperature);
}

TEST(FitTemperatureTest, RejectsBadInput) {
  const std::vector<double> logits = {1, 0, 0, 1};
  EXPECT_THAT(FitTemperature(logits, 2, std::vector<int64_t>{0, 2}).status().message(),
              HasSubstr("label 2 is not in [0, 2)"));
  EXPECT_THAT(FitTemperature(logits, 2, std::vector<int64_t>{0}).status().message(),
              HasSubstr("not 1 rows x 2 classes"));
  EXPECT_THAT(FitTemperature({}, 2, {}).status().message(), HasSubstr("no rows"));
  EXPECT_THAT(FitTemperature(std::vector<double>{1, 2}, 1, std::vector<int64_t>{0, 0}).status().message(),
              HasSubstr("at least 2 classes"));
  EXPECT_THAT(FitTemperature(std::vector<double>{1, std::nan("")}, 2, std::vector<int64_t>{0})
                  .status()
                  .message(),
              HasSubstr("not finite"));
  TemperatureOptions bad;
  bad.min_temperature = 0;
  EXPECT_FALSE(FitTemperature(logits, 2, std::vector<int64_t>{0, 1}, bad).ok());
}

}  // namespace
}  // namespace ferry
