#include "loadgen/arrival.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ferry::loadgen {
namespace {

TEST(PoissonArrivalsTest, MeanAndSpreadOfGapsMatchTheRate) {
  constexpr int kDraws = 100000;
  constexpr double kRate = 1000;  // mean gap 1 ms
  PoissonArrivals arrivals(kRate, /*seed=*/42);
  double sum = 0, sum_squares = 0;
  int above_mean = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double gap = arrivals.NextGapSeconds();
    ASSERT_GE(gap, 0);
    sum += gap;
    sum_squares += gap * gap;
    if (gap > 1 / kRate) ++above_mean;
  }
  const double mean = sum / kDraws;
  const double stddev = std::sqrt(sum_squares / kDraws - mean * mean);
  EXPECT_NEAR(mean, 1 / kRate, 0.02 / kRate);
  // Exponential: the standard deviation equals the mean, P(gap > mean) = 1/e.
  EXPECT_NEAR(stddev, 1 / kRate, 0.03 / kRate);
  EXPECT_NEAR(static_cast<double>(above_mean) / kDraws, std::exp(-1.0), 0.01);
}

TEST(PoissonArrivalsTest, NanosecondGapsAddUpToTheSchedule) {
  PoissonArrivals arrivals(500, 7);
  int64_t total = 0;
  for (int i = 0; i < 100000; ++i) total += arrivals.NextGapNanos();
  // 100k arrivals at 500/s take 200 s.
  EXPECT_NEAR(static_cast<double>(total) / 1e9, 200.0, 200.0 * 0.02);
}

TEST(PoissonArrivalsTest, SameSeedSameSchedule) {
  PoissonArrivals a(100, 3), b(100, 3), c(100, 4);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const int64_t x = a.NextGapNanos();
    EXPECT_EQ(x, b.NextGapNanos());
    differs |= x != c.NextGapNanos();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace ferry::loadgen
