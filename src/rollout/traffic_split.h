// Which arm of a release answers a request, as pure functions.
//
// A request with a routing key (a user, a session) always lands in the same arm for a given
// release: the key and the release's salt hash to a number in [0, 1), and the arms' weights
// cut [0, 1) into consecutive ranges. Arm 0 takes the range starting at 0, so when a canary
// (arm 0) ramps from 1% to 5%, every key that was in the canary stays there. A different
// salt per release reshuffles keys, so one user is not the canary of every release.
// A request without a key takes a weighted choice from a uniform number the caller draws.
#ifndef FERRY_ROLLOUT_TRAFFIC_SPLIT_H_
#define FERRY_ROLLOUT_TRAFFIC_SPLIT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/types/span.h"

namespace ferry {

// A 64-bit hash of (salt, key) that is the same on every machine and in every Ferry version
// (FNV-1a over both, then a SplitMix64 finalizer to spread FNV's weak low bits). Part of the
// routing contract: changing it moves users between arms.
uint64_t RoutingHash(std::string_view salt, std::string_view key);

// The hash mapped to [0, 1) with 53 bits.
double RoutingUniform(std::string_view salt, std::string_view key);

// The arm whose range holds u: the first i with u < (w_0 + ... + w_i) / (w_0 + ... + w_n).
// Weights are >= 0 and need not sum to 1; an arm of weight 0 is never chosen. u is clamped
// to [0, 1). REQUIRES: weights non-empty with a positive sum.
size_t ArmForUniform(absl::Span<const double> weights, double u);

// ArmForUniform(weights, RoutingUniform(salt, key)): the same key, the same arm, always.
size_t ArmForKey(absl::Span<const double> weights, std::string_view salt, std::string_view key);

}  // namespace ferry

#endif  // FERRY_ROLLOUT_TRAFFIC_SPLIT_H_
