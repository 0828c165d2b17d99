// A latency histogram with fixed memory and bounded relative error, in the spirit of
// HdrHistogram: values below 2 * kSubBuckets are exact; above, each power of two is cut
// into kSubBuckets equal buckets, so a reported value is never more than 1/kSubBuckets
// (0.4%) above the true one. Recording is one array increment: no allocation, no sort,
// which matters because the generator shares the machine with the server it measures.
#ifndef FERRY_LOADGEN_HISTOGRAM_H_
#define FERRY_LOADGEN_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry::loadgen {

class LatencyHistogram {
 public:
  // 2^8 sub-buckets per power of two: 0.4% resolution.
  static constexpr int kSubBucketBits = 8;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Values at or above 2^42 (about 73 minutes in nanoseconds) are clamped to it.
  static constexpr int kMaxValueBits = 42;

  LatencyHistogram();

  // Adds one value (any unit; the loadgen uses nanoseconds).
  void Record(uint64_t value);
  // Adds every value recorded in `other`.
  void Merge(const LatencyHistogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The nearest-rank percentile: the smallest recorded value v such that at least
  // ceil(p / 100 * count) values are <= v. p is clamped to [0, 100]; p = 0 gives min().
  // The answer is the upper end of v's bucket, clamped to max(), so it never under-reports.
  // Returns 0 when empty.
  uint64_t Percentile(double p) const;

  // Bucket arithmetic, public for tests.
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketUpperBound(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_HISTOGRAM_H_
