// FakeClock: a Clock (common/clock.h) that moves only when a test tells it to, so tests
// of batching windows, timeouts and latencies drive time instead of sleeping.
#ifndef FERRY_TESTING_FAKE_CLOCK_H_
#define FERRY_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace ferry {

// Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_nanos = 1'000'000'000) : now_(start_nanos) {}
  int64_t NowNanos() const override { return now_.load(std::memory_order_acquire); }
  void AdvanceNanos(int64_t delta) { now_.fetch_add(delta, std::memory_order_acq_rel); }
  void AdvanceMicros(int64_t delta) { AdvanceNanos(delta * 1000); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace ferry

#endif  // FERRY_TESTING_FAKE_CLOCK_H_
