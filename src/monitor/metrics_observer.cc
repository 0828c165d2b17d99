#include "monitor/metrics_observer.h"

namespace ferry {

Outcome OutcomeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return Outcome::kSuccess;
    case absl::StatusCode::kInvalidArgument: return Outcome::kInvalid;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable: return Outcome::kRejected;
    case absl::StatusCode::kCancelled: return Outcome::kCancelled;
    case absl::StatusCode::kDeadlineExceeded: return Outcome::kExpired;
    default: return Outcome::kError;
  }
}

void MetricsObserver::OnComplete(const CompletedRequest& request) {
  if (request.version == nullptr || request.version->metrics == nullptr) return;
  ModelMetrics& m = *request.version->metrics;
  const RequestTiming& t = request.timing;
  const int64_t latency_ns = t.finished_ns - t.received_ns;
  m.CountRequest(OutcomeOf(request.status));
  if (request.status.ok()) {
    m.queue_time.Observe((t.compute_start_ns - t.enqueued_ns) / 1e9);
    m.compute_time.Observe((t.compute_end_ns - t.compute_start_ns) / 1e9);
    m.request_latency.Observe(latency_ns / 1e9);
    return;
  }
  m.fail_count.fetch_add(1, std::memory_order_relaxed);
  if (latency_ns > 0) m.fail_ns.fetch_add(static_cast<uint64_t>(latency_ns), std::memory_order_relaxed);
}

}  // namespace ferry
