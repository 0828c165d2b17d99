// Arrival times for the open loop. A Poisson process (exponential gaps) is what many
// independent clients look like to a server, and it is the honest way to test a latency
// target: evenly spaced arrivals never queue behind each other and flatter the server.
#ifndef FERRY_LOADGEN_ARRIVAL_H_
#define FERRY_LOADGEN_ARRIVAL_H_

#include <cstdint>
#include <random>

namespace ferry::loadgen {

// Exponentially distributed gaps with mean 1 / rate, from a seeded generator. The draw is
// written out (inverse CDF over a 53-bit uniform) instead of std::exponential_distribution
// so a seed gives the same schedule with every standard library.
class PoissonArrivals {
 public:
  // REQUIRES: rate_per_second > 0.
  PoissonArrivals(double rate_per_second, uint64_t seed);

  // The gap to the next arrival, in nanoseconds (may be 0 at very high rates).
  int64_t NextGapNanos();
  // The same draw in seconds, unrounded (for tests of the distribution).
  double NextGapSeconds();

 private:
  double mean_seconds_;
  std::mt19937_64 rng_;
};

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_ARRIVAL_H_
