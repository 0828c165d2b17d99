#include "loadgen/arrival.h"

#include <cmath>

namespace ferry::loadgen {

PoissonArrivals::PoissonArrivals(double rate_per_second, uint64_t seed)
    : mean_seconds_(1.0 / rate_per_second), rng_(seed) {}

double PoissonArrivals::NextGapSeconds() {
  // u in [0, 1) with 53 random bits; 1 - u is in (0, 1], so the log is finite.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return -std::log1p(-u) * mean_seconds_;
}

int64_t PoissonArrivals::NextGapNanos() {
  return static_cast<int64_t>(std::llround(NextGapSeconds() * 1e9));
}

}  // namespace ferry::loadgen
