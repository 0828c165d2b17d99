#include "loadgen/histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace ferry::loadgen {
namespace {

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

// Values below 2 * kSubBuckets (512) land in buckets of width 1, so these are exact.
TEST(LatencyHistogramTest, NearestRankOnOneToHundred) {
  LatencyHistogram h;
  for (uint64_t v = 100; v >= 1; --v) h.Record(v);  // order must not matter
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.Percentile(0), 1u);
  EXPECT_EQ(h.Percentile(1), 1u);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(90), 90u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(99.5), 100u);  // rank ceil(99.5) = 100
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, FourValues) {
  LatencyHistogram h;
  for (uint64_t v : {40, 10, 30, 20}) h.Record(v);
  EXPECT_EQ(h.Percentile(25), 10u);  // rank 1
  EXPECT_EQ(h.Percentile(26), 20u);  // rank ceil(1.04) = 2
  EXPECT_EQ(h.Percentile(50), 20u);  // rank 2
  EXPECT_EQ(h.Percentile(75), 30u);  // rank 3
  EXPECT_EQ(h.Percentile(76), 40u);  // rank 4
  EXPECT_EQ(h.Percentile(99), 40u);
}

// 99.9 is not exact in binary; the rank must still be ceil(0.999 * 1000) = 999, not 1000.
TEST(LatencyHistogramTest, FractionalPercentileRank) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  // Above 512 buckets are 2 wide: 999 sits in [998, 999], 1000 in [1000, 1001].
  EXPECT_EQ(h.Percentile(99.9), 999u);
  EXPECT_EQ(h.Percentile(100), 1000u);  // the bucket's upper end is clamped to max()
  LatencyHistogram g;
  for (uint64_t v = 1; v <= 400; ++v) g.Record(v);
  EXPECT_EQ(g.Percentile(99), 396u);
  EXPECT_EQ(g.Percentile(99.75), 399u);
}

TEST(LatencyHistogramTest, SkewedDistribution) {
  LatencyHistogram h;
  for (int i = 0; i < 98; ++i) h.Record(100);
  h.Record(300);
  h.Record(400);
  EXPECT_EQ(h.Percentile(50), 100u);
  EXPECT_EQ(h.Percentile(98), 100u);
  EXPECT_EQ(h.Percentile(99), 300u);
  EXPECT_EQ(h.Percentile(100), 400u);
  EXPECT_EQ(h.max(), 400u);
  EXPECT_EQ(h.min(), 100u);
}

TEST(LatencyHistogramTest, LargeValuesWithinResolutionAndNeverBelow) {
  for (uint64_t v : {uint64_t{513}, uint64_t{1000}, uint64_t{123457}, uint64_t{987654321},
                     uint64_t{5'000'000'000}}) {
    LatencyHistogram h;
    h.Record(v);
    h.Record(v * 2);  // so that max() does not clamp the answer for v
    const uint64_t p50 = h.Percentile(50);
    EXPECT_GE(p50, v);
    EXPECT_LE(static_cast<double>(p50 - v) / v, 1.0 / LatencyHistogram::kSubBuckets) << v;
  }
}

TEST(LatencyHistogramTest, BucketsAreMonotonicAndContainTheirValues) {
  size_t previous = 0;
  for (uint64_t v = 0; v < 200000; v += (v < 5000 ? 1 : 37)) {
    const size_t index = LatencyHistogram::BucketIndex(v);
    EXPECT_GE(index, previous) << v;
    previous = index;
    EXPECT_GE(LatencyHistogram::BucketUpperBound(index), v);
    if (index > 0) {
      EXPECT_LT(LatencyHistogram::BucketUpperBound(index - 1), v) << v;
    }
  }
}

TEST(LatencyHistogramTest, HugeValuesAreClampedNotLost) {
  LatencyHistogram h;
  h.Record(UINT64_MAX / 2);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_GT(h.Percentile(50), uint64_t{1} << 41);
}

TEST(LatencyHistogramTest, MergeAddsCountsAndExtremes) {
  LatencyHistogram a, b;
  for (uint64_t v = 1; v <= 50; ++v) a.Record(v);
  for (uint64_t v = 51; v <= 100; ++v) b.Record(v);
  a.Merge(b);
  EXPECT_EQ(a.count(), 100u);
  EXPECT_EQ(a.min(), 1u);
  EXPECT_EQ(a.max(), 100u);
  EXPECT_EQ(a.Percentile(90), 90u);
  a.Clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(50), 0u);
}

}  // namespace
}  // namespace ferry::loadgen
