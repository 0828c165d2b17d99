// RequestObserver: the one place where finished requests are watched. The server calls
// every registered observer exactly once per request that reached InferenceServer::Infer,
// on the thread that finishes it (a batch worker, an I/O thread for errors found before
// queueing, or the caller of an inline batch), just before the transport is answered.
//
// Because it runs on the request path, OnComplete must copy what it needs and return: no
// blocking, no I/O, no lock that a slow thread may hold. An observer that writes files or
// talks to a database hands its copy to a thread of its own.
//
// The Prometheus metrics (MetricsObserver, monitor/metrics_observer.h) are the first
// observer; a prediction log, drift windows and release judges are meant to be more.
#ifndef FERRY_MONITOR_OBSERVER_H_
#define FERRY_MONITOR_OBSERVER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/request_context.h"
#include "core/tensor.h"

namespace ferry {

struct ModelMetrics;

// The version that took a request. Views into the server's own record of the version,
// valid for the call only: an observer that keeps them copies them.
struct ObservedVersion {
  std::string_view model;
  std::string_view version;  // "1"
  // The version's own block of counters in the MetricsRegistry (never null for a served
  // version); observers other than the metrics one ignore it.
  ModelMetrics* metrics = nullptr;
};

// Where a request's time went, on the server's clock (nanoseconds). A stage the request
// never reached is 0.
struct RequestTiming {
  int64_t received_ns = 0;       // InferenceServer::Infer was called
  int64_t enqueued_ns = 0;       // it entered the version's batcher queue
  int64_t compute_start_ns = 0;  // the batch it rode in started executing
  int64_t compute_end_ns = 0;    // ... and finished
  int64_t finished_ns = 0;       // the response (or error) was ready
  int64_t batch_rows = 0;        // rows in that batch
};

struct CompletedRequest {
  const RequestContext& context;
  // Null when the request failed before a version was chosen (unknown model, no ready
  // version, a bad version string).
  const ObservedVersion* version;
  // The request's decoded inputs, only when some observer asked for them
  // (RequestObserver::wants_inputs); empty otherwise.
  absl::Span<const Tensor> inputs;
  // The outputs sent back (after post-processing); empty on failure.
  absl::Span<const Tensor> outputs;
  const absl::Status& status;
  const RequestTiming& timing;
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // Must not block or do I/O (see the top of this file). Called concurrently from many
  // threads.
  virtual void OnComplete(const CompletedRequest& request) = 0;
  // True when this observer reads CompletedRequest::inputs. Keeping the inputs costs a
  // copy per request, so the server keeps them only when some observer says true here.
  virtual bool wants_inputs() const { return false; }
};

}  // namespace ferry

#endif  // FERRY_MONITOR_OBSERVER_H_
