#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace ferry::loadgen {
namespace {

constexpr size_t kNumBuckets =
    (LatencyHistogram::kMaxValueBits - LatencyHistogram::kSubBucketBits + 1) *
    LatencyHistogram::kSubBuckets;
constexpr uint64_t kMaxValue = (uint64_t{1} << LatencyHistogram::kMaxValueBits) - 1;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kNumBuckets, 0) {}

size_t LatencyHistogram::BucketIndex(uint64_t value) {
  value = std::min(value, kMaxValue);
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  const int top_bit = 63 - __builtin_clzll(value);
  const int shift = top_bit - kSubBucketBits;
  return static_cast<size_t>((shift + 1) * kSubBuckets + ((value >> shift) - kSubBuckets));
}

uint64_t LatencyHistogram::BucketUpperBound(size_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t lower = (kSubBuckets + index % kSubBuckets) << shift;
  return lower + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::Record(uint64_t value) {
  ++counts_[BucketIndex(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

uint64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The epsilon keeps binary rounding of p (99.9 is not exact) from bumping the rank by one.
  const double exact_rank = p * static_cast<double>(count_) / 100.0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact_rank - 1e-9));
  if (rank == 0) return min();
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketUpperBound(i), max_);
  }
  return max_;
}

}  // namespace ferry::loadgen
