#include "rollout/version_policy.h"

namespace ferry {

int64_t SelectDefaultVersion(absl::Span<const VersionView> versions) {
  int64_t best = 0;
  for (const VersionView& v : versions) {
    if (v.ready && v.version > best) best = v.version;
  }
  return best;
}

}  // namespace ferry
