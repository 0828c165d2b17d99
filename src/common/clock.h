// Time, injected. Everything that waits or measures (batching windows, timeouts, latency
// histograms) asks a Clock, so tests drive time with FakeClock instead of sleeping.
#ifndef FERRY_COMMON_CLOCK_H_
#define FERRY_COMMON_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace ferry {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary epoch.
  virtual int64_t NowNanos() const = 0;

  // The process-wide steady clock. Never null, never destroyed.
  static Clock* Real();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_nanos = 1'000'000'000) : now_(start_nanos) {}
  int64_t NowNanos() const override { return now_.load(std::memory_order_acquire); }
  void AdvanceNanos(int64_t delta) { now_.fetch_add(delta, std::memory_order_acq_rel); }
  void AdvanceMicros(int64_t delta) { AdvanceNanos(delta * 1000); }

 private:
  std::atomic<int64_t> now_;
};

// Wall-clock milliseconds since the Unix epoch, for fields the protocol defines that way.
int64_t WallClockMillis();

}  // namespace ferry

#endif  // FERRY_COMMON_CLOCK_H_
