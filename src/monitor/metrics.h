// Every metric Ferry exports, in one place, and their Prometheus text rendering.
//
// The hot path only touches atomics: a request looks up its ModelMetrics once (a stable
// pointer held by the model version) and then increments relaxed counters. Rendering
// takes a lock only to walk the list of models.
#ifndef FERRY_MONITOR_METRICS_H_
#define FERRY_MONITOR_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ferry {

// How a request ended, the `outcome` label.
enum class Outcome { kSuccess = 0, kInvalid, kRejected, kCancelled, kExpired, kError, kCount };
const char* OutcomeName(Outcome outcome);

// A cumulative histogram with fixed upper bounds; Observe is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  const std::vector<double>& bounds() const { return bounds_; }
  // Counts per bucket (not cumulative), the last being +Inf.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;
  uint64_t SumNanos() const { return sum_nanos_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};  // sums are kept in integer billionths to stay atomic
};

// Latency buckets in seconds, from 50 µs to 10 s.
std::vector<double> LatencyBuckets();
// Batch-size buckets: 1, 2, 4, ... 1024.
std::vector<double> BatchSizeBuckets();

struct ModelMetrics {
  ModelMetrics(std::string model, std::string version);

  const std::string model;
  const std::string version;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Outcome::kCount)> requests{};
  Histogram request_latency;  // seconds, from decoded request to encoded response
  Histogram queue_time;       // seconds waiting in the batcher
  Histogram compute_time;     // seconds of the batch the request rode in
  Histogram batch_size;       // rows per executed batch
  std::atomic<uint64_t> inference_count{0};  // rows computed
  std::atomic<uint64_t> execution_count{0};  // batches executed
  std::atomic<uint64_t> inline_count{0};     // of those, run on the receiving thread
  std::atomic<uint64_t> last_inference_ms{0};
  // Failed requests and the time they took, for the statistics extension.
  std::atomic<uint64_t> fail_count{0};
  std::atomic<uint64_t> fail_ns{0};
  // Executions and their compute time by batch size; sizes past the end share the last slot.
  static constexpr size_t kTrackedBatchSizes = 256;
  std::array<std::atomic<uint64_t>, kTrackedBatchSizes + 1> batches_by_size{};
  std::array<std::atomic<uint64_t>, kTrackedBatchSizes + 1> batch_ns_by_size{};

  void RecordBatch(int64_t rows, int64_t compute_ns, bool ran_inline);
  // A gauge the server refreshes from the batcher just before rendering.
  std::atomic<uint64_t> queue_depth{0};

  // Cascades only: rows each stage answered and rows it passed to the next stage.
  // Rendered for the first `cascade_stages` stages (0 for other models).
  static constexpr size_t kMaxCascadeStages = 8;
  std::atomic<size_t> cascade_stages{0};
  std::array<std::atomic<uint64_t>, kMaxCascadeStages> stage_answered{};
  std::array<std::atomic<uint64_t>, kMaxCascadeStages> stage_escalated{};
  void RecordStage(size_t stage, int64_t answered, int64_t escalated);

  void CountRequest(Outcome outcome) {
    requests[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t RequestCount(Outcome outcome) const {
    return requests[static_cast<size_t>(outcome)].load(std::memory_order_relaxed);
  }
};

class MetricsRegistry {
 public:
  // Returns the metrics for a model version, creating them on first use. The pointer
  // stays valid for the registry's lifetime.
  ModelMetrics* ForModel(const std::string& model, const std::string& version)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Counts an HTTP response by status code (for requests that never reach a model, too).
  void CountHttpResponse(int status);

  // The Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // ForModel appends under the writer lock; renderings only read the list (the counters in
  // it are atomics), so concurrent scrapes share it.
  mutable absl::Mutex mu_;
  std::deque<ModelMetrics> models_ ABSL_GUARDED_BY(mu_);
  // Index = status code - 100, for codes 100..599.
  std::array<std::atomic<uint64_t>, 500> http_responses_{};
};

}  // namespace ferry

#endif  // FERRY_MONITOR_METRICS_H_
