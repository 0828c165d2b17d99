// Which version of a model answers a request that names no version. Kept as one pure
// function so that the registry's aliases (production, canary, shadow) can replace the
// rule in one place later.
#ifndef FERRY_ROLLOUT_VERSION_POLICY_H_
#define FERRY_ROLLOUT_VERSION_POLICY_H_

#include <cstdint>

#include "absl/types/span.h"

namespace ferry {

struct VersionView {
  int64_t version = 0;
  bool ready = false;
};

// The highest ready version; 0 when none is ready. The input need not be sorted.
int64_t SelectDefaultVersion(absl::Span<const VersionView> versions);

}  // namespace ferry

#endif  // FERRY_ROLLOUT_VERSION_POLICY_H_
