#include "scheduler/batch_rule.h"

#include <algorithm>

namespace ferry {

BatchDecision DecideBatch(const BatchRuleOptions& options, absl::Span<const int64_t> queued_rows,
                          int64_t oldest_enqueue_ns, int64_t now_ns, bool flush) {
  BatchDecision decision;
  if (queued_rows.empty()) return decision;
  if (queued_rows[0] >= options.max_batch_size) {
    decision.take = 1;
    return decision;
  }
  int64_t total = 0;
  size_t count = 0;
  size_t preferred_count = 0;
  bool full = false;
  for (int64_t rows : queued_rows) {
    if (total + rows > options.max_batch_size) {
      full = true;
      break;
    }
    total += rows;
    ++count;
    const auto& preferred = options.preferred_batch_sizes;
    if (std::find(preferred.begin(), preferred.end(), total) != preferred.end()) {
      preferred_count = count;
    }
  }
  if (full || total == options.max_batch_size) {
    decision.take = count;
  } else if (preferred_count > 0) {
    decision.take = preferred_count;
  } else if (flush || now_ns - oldest_enqueue_ns >= options.max_queue_delay_ns) {
    decision.take = count;
  } else {
    decision.wake_at_ns = oldest_enqueue_ns + options.max_queue_delay_ns;
  }
  return decision;
}

InlineStep NextInlineStep(bool arrived_while_busy, bool model_idle) {
  InlineStep step;
  if (model_idle) {
    // A new busy spell starts here; what arrives during it decides the next idle arrival.
    step.run_inline = !arrived_while_busy;
    step.arrived_while_busy = false;
  } else {
    step.arrived_while_busy = true;
  }
  return step;
}

}  // namespace ferry
