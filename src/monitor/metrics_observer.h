// MetricsObserver: the Prometheus counters and histograms of metrics.h, fed from finished
// requests through the observer seam. Lock-free: it touches only the version's atomics.
#ifndef FERRY_MONITOR_METRICS_OBSERVER_H_
#define FERRY_MONITOR_METRICS_OBSERVER_H_

#include "absl/status/status.h"
#include "monitor/metrics.h"
#include "monitor/observer.h"

namespace ferry {

// The `outcome` label of a request that ended with `status`: OK success, InvalidArgument
// invalid, ResourceExhausted and Unavailable rejected (load shed, not ready), Cancelled
// cancelled, DeadlineExceeded expired, anything else error.
Outcome OutcomeOf(const absl::Status& status);

// Counts every request a version took by outcome; for successes, observes its queue
// time, its batch's compute time and its latency in the server; for failures, adds to
// the statistics extension's fail count and time. Requests that never reached a version
// are counted only by the transports (by HTTP status).
class MetricsObserver final : public RequestObserver {
 public:
  void OnComplete(const CompletedRequest& request) override;
};

}  // namespace ferry

#endif  // FERRY_MONITOR_METRICS_OBSERVER_H_
