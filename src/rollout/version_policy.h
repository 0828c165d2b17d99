// Which version of a model answers a request: one pure function over an immutable view of
// the model's versions (RouteVersion), so that the registry's aliases (production, canary,
// shadow) and traffic splits can be added here, in one place, and tested exhaustively.
#ifndef FERRY_ROLLOUT_VERSION_POLICY_H_
#define FERRY_ROLLOUT_VERSION_POLICY_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ferry {

// A version's life: loading -> ready | failed; ready -> draining -> unloaded. Only a
// ready version takes traffic.
enum class VersionState { kLoading, kReady, kFailed, kDraining, kUnloaded };
// "LOADING", "READY", "UNAVAILABLE" (failed, draining or unloaded), as the repository
// index of the V2 protocol names them.
const char* VersionStateIndexName(VersionState state);
// "loading", "ready", "failed", "draining", "unloaded": for messages.
const char* VersionStateName(VersionState state);

struct VersionView {
  int64_t version = 0;
  VersionState state = VersionState::kLoading;
  std::string_view reason;  // why it is not ready; may be empty
};

// The highest ready version; 0 when none is ready. The input need not be sorted.
int64_t SelectDefaultVersion(absl::Span<const VersionView> versions);

// The version that answers a request to `model` naming `requested` ("" = the default:
// the highest ready version). InvalidArgument: `requested` is not a positive integer.
// NotFound: no such version. Unavailable: the version (or, for the default, every
// version) is not ready; the message says its state and why.
absl::StatusOr<int64_t> RouteVersion(std::string_view model, absl::Span<const VersionView> versions,
                                     std::string_view requested);

}  // namespace ferry

#endif  // FERRY_ROLLOUT_VERSION_POLICY_H_
