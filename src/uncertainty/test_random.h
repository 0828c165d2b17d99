// A seeded generator for the uncertainty tests whose draws do not depend on the standard
// library's distribution implementations (which differ between libstdc++ and libc++).
#ifndef FERRY_UNCERTAINTY_TEST_RANDOM_H_
#define FERRY_UNCERTAINTY_TEST_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ferry {

class TestRandom {
 public:
  explicit TestRandom(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller).
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // An index drawn with probability p[i] (p sums to 1).
  int64_t Categorical(const std::vector<double>& p) {
    const double u = Uniform();
    double acc = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
      acc += p[i];
      if (u < acc) return static_cast<int64_t>(i);
    }
    return static_cast<int64_t>(p.size()) - 1;
  }

 private:
  std::mt19937_64 engine_;  // its output sequence is fixed by the standard
};

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_TEST_RANDOM_H_
