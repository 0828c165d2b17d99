// Time, injected. Everything that waits or measures (batching windows, timeouts, latency
// histograms) asks a Clock, so tests drive time with FakeClock (testing/fake_clock.h)
// instead of sleeping.
#ifndef FERRY_COMMON_CLOCK_H_
#define FERRY_COMMON_CLOCK_H_

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

// Wall-clock milliseconds since the Unix epoch, for fields the protocol defines that way.
int64_t WallClockMillis();

}  // namespace ferry

#endif  // FERRY_COMMON_CLOCK_H_
