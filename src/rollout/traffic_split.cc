#include "rollout/traffic_split.h"

#include <algorithm>
#include <cmath>

namespace ferry {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t Fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

uint64_t SplitMix64Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t RoutingHash(std::string_view salt, std::string_view key) {
  // The salt's length goes in first, so ("ab", "c") and ("a", "bc") hash apart.
  // Little-endian whatever the machine's byte order.
  char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<char>((salt.size() >> (8 * i)) & 0xff);
  uint64_t h = Fnv1a(kFnvOffset, std::string_view(length_bytes, sizeof(length_bytes)));
  h = Fnv1a(h, salt);
  h = Fnv1a(h, key);
  return SplitMix64Finalize(h);
}

double RoutingUniform(std::string_view salt, std::string_view key) {
  return static_cast<double>(RoutingHash(salt, key) >> 11) * 0x1.0p-53;
}

size_t ArmForUniform(absl::Span<const double> weights, double u) {
  double total = 0;
  for (double w : weights) total += std::max(0.0, w);
  u = std::clamp(u, 0.0, std::nextafter(1.0, 0.0));
  const double target = u * total;
  double cumulative = 0;
  size_t last_positive = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    cumulative += weights[i];
    last_positive = i;
    if (target < cumulative) return i;
  }
  // Rounding left u * total at or past the sum: the last arm that takes traffic.
  return last_positive;
}

size_t ArmForKey(absl::Span<const double> weights, std::string_view salt, std::string_view key) {
  return ArmForUniform(weights, RoutingUniform(salt, key));
}

}  // namespace ferry
