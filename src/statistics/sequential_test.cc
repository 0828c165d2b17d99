#include "statistics/sequential.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ferry {
namespace statistics {
namespace {

TEST(StatisticsRunningMomentsTest, KnownValuesAndMerge) {
  RunningMoments m;
  EXPECT_EQ(m.Variance(), 0);
  for (double x : {1.0, 2.0, 3.0, 4.0}) m.Add(x);
  EXPECT_EQ(m.count, 4);
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.Variance(), 5.0 / 3.0, 1e-12);

  RunningMoments a, b, all;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(3, 2);
  for (int i = 0; i < 1000; ++i) {
    const double x = normal(rng);
    (i < 300 ? a : b).Add(x);
    all.Add(x);
  }
  a.Merge(b);
  EXPECT_EQ(a.count, all.count);
  EXPECT_NEAR(a.mean, all.mean, 1e-12);
  EXPECT_NEAR(a.m2, all.m2, 1e-8);
  RunningMoments empty;
  empty.Merge(all);
  EXPECT_EQ(empty.count, all.count);
  all.Merge(RunningMoments());
  EXPECT_EQ(all.count, 1000);
}

// Hand-computed: s2 = 0.01 (V = 1, n = 100), tau = 0.1:
// sqrt(0.01 / 0.02) * exp(0.01 * d^2 / (2 * 0.01 * 0.02)) = 0.70711 * exp(25 d^2).
TEST(StatisticsNormalMixtureTest, LikelihoodRatioAtHandComputedPoints) {
  EXPECT_NEAR(NormalMixtureLikelihoodRatio(0.1, 0.01, 0, 0.1), 0.70710678 * std::exp(0.25), 1e-7);
  EXPECT_NEAR(NormalMixtureLikelihoodRatio(0.3, 0.01, 0, 0.1), 0.70710678 * std::exp(2.25), 1e-6);
  // Only the distance from theta0 matters, on either side.
  EXPECT_NEAR(NormalMixtureLikelihoodRatio(0.5, 0.01, 0.2, 0.1),
              NormalMixtureLikelihoodRatio(-0.1, 0.01, 0.2, 0.1), 1e-12);
  // Johari et al.'s form with V and n gives the same number.
  const double V = 4, n = 400, xbar = 0.25, tau = 0.2;
  const double johari = std::sqrt(V / (V + n * tau * tau)) *
                        std::exp(n * n * tau * tau * xbar * xbar / (2 * V * (V + n * tau * tau)));
  EXPECT_NEAR(NormalMixtureLikelihoodRatio(xbar, V / n, 0, tau), johari, 1e-9 * johari);
  // At the estimate itself the ratio is below 1: no evidence against theta0.
  EXPECT_LT(NormalMixtureLikelihoodRatio(0.2, 0.01, 0.2, 0.1), 1);
}

TEST(StatisticsNormalMixtureTest, IntervalEndpointsAreWhereLambdaReachesOneOverAlpha) {
  for (double s2 : {1e-4, 0.01, 1.0}) {
    for (double tau : {0.05, 0.5}) {
      const Interval ci = NormalMixtureConfidenceInterval(0.3, s2, tau, 0.01);
      EXPECT_NEAR(ci.upper - 0.3, 0.3 - ci.lower, 1e-12);
      EXPECT_NEAR(NormalMixtureLikelihoodRatio(0.3, s2, ci.lower, tau), 100, 1e-6);
      EXPECT_NEAR(NormalMixtureLikelihoodRatio(0.3, s2, ci.upper, tau), 100, 1e-6);
    }
  }
  // A smaller alpha gives a wider interval.
  EXPECT_GT(NormalMixtureConfidenceInterval(0, 0.01, 0.1, 0.001).upper,
            NormalMixtureConfidenceInterval(0, 0.01, 0.1, 0.01).upper);
}

TEST(StatisticsAlwaysValidPTest, NeverIncreases) {
  AlwaysValidP p;
  EXPECT_EQ(p.value(), 1);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> lr(0.01, 50);
  double previous = 1;
  for (int i = 0; i < 1000; ++i) {
    const double now = p.Update(lr(rng));
    EXPECT_LE(now, previous);
    previous = now;
  }
  EXPECT_NEAR(p.value(), 1 / 50.0, 1e-3);
  p.Update(0);  // not a likelihood ratio: ignored
  EXPECT_NEAR(p.value(), 1 / 50.0, 1e-3);
  p.Restore(0.5);
  EXPECT_EQ(p.Update(1.5), 0.5);
}

// The mSPRT on a normal mean looked at after every observation: the false-alarm rate stays
// below alpha (a z-test at the same level peeked at would not).
TEST(StatisticsNormalMixtureTest, PeekingAfterEveryBatchKeepsAlpha) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0, 1);
  int alarms = 0, z_alarms = 0;
  const int runs = 1000;
  for (int r = 0; r < runs; ++r) {
    RunningMoments m;
    bool alarm = false, z_alarm = false;
    for (int batch = 0; batch < 100; ++batch) {
      for (int i = 0; i < 20; ++i) m.Add(normal(rng));
      const double s2 = 1.0 / m.count;
      alarm |= NormalMixtureLikelihoodRatio(m.mean, s2, 0, 0.1) >= 1 / 0.05;
      z_alarm |= std::abs(m.mean) / std::sqrt(s2) > 1.96;
    }
    alarms += alarm;
    z_alarms += z_alarm;
  }
  EXPECT_LE(alarms, runs * 0.05);
  EXPECT_GT(z_alarms, runs * 0.2);  // the fixed-horizon test, peeked at: far above 5%
}

TEST(StatisticsRateRatioTest, OneBatchHandComputed) {
  RateRatioSequence t;
  // q = 1/2, one event, in the canary: Lambda(r) = r / (1 + (r - 1) / 2) = 2r / (1 + r).
  t.AddBatch(10, 1, 10, 0);
  for (int k = 0; k < RateRatioSequence::kGridSize; ++k) {
    const double r = RateRatioSequence::GridRatio(k);
    EXPECT_NEAR(std::exp(t.log_lambda()[k]), 2 * r / (1 + r), 1e-12) << k;
  }
  EXPECT_NEAR(RateRatioSequence::GridRatio(RateRatioSequence::kGridHalf), 1, 1e-15);
  EXPECT_NEAR(RateRatioSequence::GridRatio(RateRatioSequence::kGridSize - 1), 32, 1e-9);
  EXPECT_EQ(t.canary_events(), 1);
  EXPECT_EQ(t.total_events(), 1);
  EXPECT_EQ(t.canary_exposure(), 10);
  EXPECT_EQ(t.baseline_exposure(), 10);
}

TEST(StatisticsRateRatioTest, BatchesWithoutInformationChangeNothing) {
  RateRatioSequence t;
  t.AddBatch(100, 0, 100, 0);  // no events
  t.AddBatch(0, 0, 100, 3);    // no canary exposure
  t.AddBatch(100, 2, 0, 0);    // no baseline exposure (a 100% stage)
  for (double l : t.log_lambda()) EXPECT_EQ(l, 0);
  EXPECT_EQ(t.RegressionPValue(1.5), 1);
  EXPECT_EQ(t.TwoSidedPValue(1.5), 1);
  EXPECT_EQ(t.total_events(), 5);
}

TEST(StatisticsRateRatioTest, SwappingArmsMirrorsTheGrid) {
  RateRatioSequence a, b;
  a.AddBatch(50, 4, 50, 1);
  b.AddBatch(50, 1, 50, 4);
  for (int k = 0; k < RateRatioSequence::kGridSize; ++k) {
    EXPECT_NEAR(a.log_lambda()[k], b.log_lambda()[RateRatioSequence::kGridSize - 1 - k], 1e-9);
  }
  EXPECT_LT(a.RegressionPValue(1.5), b.RegressionPValue(1.5));
  EXPECT_NEAR(a.TwoSidedPValue(1.5), b.TwoSidedPValue(1.5), 1e-12);
}

// A baseline without a single error does not make the test degenerate: each canary error
// counts, and a few are enough at a 5% canary share.
TEST(StatisticsRateRatioTest, ZeroBaselineEventsStillDetected) {
  RateRatioSequence t;
  double previous = 1;
  int batches = 0;
  while (t.RegressionPValue(1.5) > 0.005) {
    t.AddBatch(5, 1, 95, 0);
    const double p = t.RegressionPValue(1.5);
    EXPECT_LT(p, previous);
    previous = p;
    ASSERT_LT(++batches, 10);
  }
  EXPECT_GE(batches, 2);
  const Interval ci = t.RatioInterval(1.5, 0.005);
  EXPECT_GT(ci.lower, 1);
  EXPECT_TRUE(std::isinf(ci.upper));
}

TEST(StatisticsRateRatioTest, RestoreGivesTheSameState) {
  RateRatioSequence t;
  t.AddBatch(30, 2, 70, 1);
  t.AddBatch(30, 0, 70, 3);
  const RateRatioSequence r = RateRatioSequence::Restore(
      t.canary_exposure(), t.canary_events(), t.baseline_exposure(), t.total_events(),
      t.log_lambda());
  EXPECT_EQ(r.log_lambda(), t.log_lambda());
  EXPECT_EQ(r.RegressionPValue(1.5), t.RegressionPValue(1.5));
  EXPECT_EQ(r.canary_events(), 2);
  EXPECT_EQ(r.total_events(), 6);
}

struct Simulated {
  int regression_alarms = 0;
  int two_sided_alarms = 0;
  int misses_of_true_ratio = 0;
};

// Bernoulli requests in batches of 100, the canary's share ramping 5% -> 25% -> 50%, the
// test consulted after every batch.
Simulated SimulateCounts(double baseline_rate, double ratio, int runs, double alpha, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  Simulated s;
  for (int r = 0; r < runs; ++r) {
    RateRatioSequence t;
    bool regression = false, two_sided = false, miss = false;
    for (int batch = 0; batch < 200; ++batch) {
      const double share = batch < 40 ? 0.05 : batch < 100 ? 0.25 : 0.5;
      int64_t nc = 0, xc = 0, nb = 0, xb = 0;
      for (int i = 0; i < 100; ++i) {
        if (uniform(rng) < share) {
          ++nc;
          xc += uniform(rng) < baseline_rate * ratio;
        } else {
          ++nb;
          xb += uniform(rng) < baseline_rate;
        }
      }
      t.AddBatch(nc, xc, nb, xb);
      regression |= t.RegressionPValue(1.5) <= alpha;
      two_sided |= t.TwoSidedPValue(1.5) <= alpha;
      const Interval ci = t.RatioInterval(1.5, alpha);
      miss |= ratio < ci.lower || ratio > ci.upper;
    }
    s.regression_alarms += regression;
    s.two_sided_alarms += two_sided;
    s.misses_of_true_ratio += miss;
  }
  return s;
}

TEST(StatisticsRateRatioTest, FalseAlarmsStayBelowAlphaUnderPeeking) {
  // Rare errors, and frequent events (wrong answers) where the Poisson model is furthest
  // from Bernoulli requests.
  for (double rate : {0.01, 0.3}) {
    const Simulated s = SimulateCounts(rate, 1.0, 400, 0.05, 3);
    EXPECT_LE(s.regression_alarms, 400 * 0.05) << rate;
    EXPECT_LE(s.two_sided_alarms, 400 * 0.05) << rate;
    EXPECT_LE(s.misses_of_true_ratio, 400 * 0.05) << rate;
  }
  // A canary with fewer errors is no regression either.
  EXPECT_LE(SimulateCounts(0.02, 0.5, 300, 0.05, 4).regression_alarms, 300 * 0.05);
}

TEST(StatisticsRateRatioTest, IntervalCoversATrueRatioOnTheGrid) {
  // r = 2 is a grid point (32^(8/40)); rare events, where the Poisson model holds.
  const Simulated s = SimulateCounts(0.005, 2.0, 300, 0.05, 5);
  EXPECT_LE(s.misses_of_true_ratio, 300 * 0.05 + 5);
}

TEST(StatisticsRateRatioTest, DetectsATripledErrorRate) {
  const Simulated s = SimulateCounts(0.01, 3.0, 100, 0.005, 6);
  EXPECT_GE(s.regression_alarms, 95);
}

// (1 / 101) / (1 - p)^100 = 20  =>  p = 1 - 2020^(-1/100).
TEST(StatisticsBinomialBoundTest, HandComputedZeroEvents) {
  EXPECT_NEAR(BinomialUpperBound(0, 100, 0.05), 1 - std::pow(2020.0, -0.01), 1e-9);
  EXPECT_NEAR(BinomialLowerBound(100, 100, 0.05), std::pow(2020.0, -0.01), 1e-9);
  EXPECT_EQ(BinomialUpperBound(0, 0, 0.05), 1);
  EXPECT_EQ(BinomialLowerBound(0, 0, 0.05), 0);
  EXPECT_EQ(BinomialUpperBound(5, 5, 0.05), 1);
  EXPECT_NEAR(BinomialLowerBound(0, 50, 0.05), 0, 1e-12);
}

TEST(StatisticsBinomialBoundTest, BoundsContainTheEstimateAndShrink) {
  double previous_width = 1;
  for (int64_t n : {100, 1000, 10000, 100000}) {
    const int64_t x = n / 50;
    const double up = BinomialUpperBound(x, n, 0.01);
    const double lo = BinomialLowerBound(x, n, 0.01);
    EXPECT_LT(lo, 0.02);
    EXPECT_GT(up, 0.02);
    EXPECT_LT(up - lo, previous_width);
    previous_width = up - lo;
  }
  EXPECT_GT(BinomialUpperBound(10, 1000, 0.001), BinomialUpperBound(10, 1000, 0.01));
}

TEST(StatisticsBinomialBoundTest, CoversTheTrueRateAtEveryLook) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> uniform(0, 1);
  int misses = 0;
  const int runs = 400;
  for (int r = 0; r < runs; ++r) {
    int64_t x = 0;
    bool miss = false;
    for (int64_t n = 1; n <= 3000; ++n) {
      x += uniform(rng) < 0.02;
      if (n % 50 == 0) {
        miss |= BinomialUpperBound(x, n, 0.05) < 0.02 || BinomialLowerBound(x, n, 0.05) > 0.02;
      }
    }
    misses += miss;
  }
  EXPECT_LE(misses, runs * 0.05);
}

}  // namespace
}  // namespace statistics
}  // namespace ferry
