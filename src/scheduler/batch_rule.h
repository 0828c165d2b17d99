// The dynamic batcher's decision, as a pure function of the queue and the time.
//
// Walk the queue from the oldest request without taking anything, adding rows while they
// fit in max_batch_size. Then:
//   1. if the walk stopped because the next request does not fit, or it reached
//      max_batch_size exactly, the batch cannot grow: run it now;
//   2. else if some prefix of the walk adds up to a preferred batch size, run the longest
//      such prefix now;
//   3. else if the oldest request has waited max_queue_delay, or the batcher is flushing
//      (shutting down), run everything the walk took;
//   4. else wait until the oldest request's deadline.
// So a request never waits for a batch longer than max_queue_delay, given a free worker.
#ifndef FERRY_SCHEDULER_BATCH_RULE_H_
#define FERRY_SCHEDULER_BATCH_RULE_H_

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/types/span.h"

namespace ferry {

struct BatchRuleOptions {
  int64_t max_batch_size = 1;
  int64_t max_queue_delay_ns = 0;
  std::vector<int64_t> preferred_batch_sizes;
};

struct BatchDecision {
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  // How many requests, from the front of the queue, to run now; 0 means wait.
  size_t take = 0;
  // When take == 0: the time at which the decision may change without new arrivals.
  int64_t wake_at_ns = kNever;
};

// `queued_rows[i]` is the number of rows of the i-th oldest request. `oldest_enqueue_ns` is
// when the front request arrived. A request larger than max_batch_size (which validation
// prevents) is still taken alone so that it cannot block the queue.
BatchDecision DecideBatch(const BatchRuleOptions& options, absl::Span<const int64_t> queued_rows,
                          int64_t oldest_enqueue_ns, int64_t now_ns, bool flush);

// Whether a request that arrives at an idle model (an empty queue, no batch running) may
// run inline on the thread that received it, instead of waking a worker. Only if the
// model's last busy spell was a lone request: when others arrived while it computed, the
// model is under load, and a batch run inline would stall the receiving thread's other
// connections behind a batch of one, so the request queues and batches form.
// `arrived_while_busy` is the batcher's state: did any request arrive while the model was
// busy since the last arrival at an idle model? Called on every arrival.
struct InlineStep {
  bool run_inline = false;
  bool arrived_while_busy = false;  // the state for the next arrival
};
InlineStep NextInlineStep(bool arrived_while_busy, bool model_idle);

}  // namespace ferry

#endif  // FERRY_SCHEDULER_BATCH_RULE_H_
