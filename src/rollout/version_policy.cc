#include "rollout/version_policy.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/error_text.h"
#include "core/version_number.h"

namespace ferry {
namespace {

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

const char* VersionStateIndexName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "LOADING";
    case VersionState::kReady: return "READY";
    default: return "UNAVAILABLE";
  }
}

const char* VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "loading";
    case VersionState::kReady: return "ready";
    case VersionState::kFailed: return "failed";
    case VersionState::kDraining: return "draining";
    case VersionState::kUnloaded: return "unloaded";
  }
  return "unknown";
}

int64_t SelectDefaultVersion(absl::Span<const VersionView> versions) {
  int64_t best = 0;
  for (const VersionView& v : versions) {
    if (v.state == VersionState::kReady && v.version > best) best = v.version;
  }
  return best;
}

absl::StatusOr<int64_t> RouteVersion(std::string_view model, absl::Span<const VersionView> versions,
                                     std::string_view requested) {
  if (requested.empty()) {
    const int64_t chosen = SelectDefaultVersion(versions);
    if (chosen != 0) return chosen;
    // Say why with the newest version's reason: it is the one an operator just shipped.
    const VersionView* newest = nullptr;
    for (const VersionView& v : versions) {
      if (newest == nullptr || v.version > newest->version) newest = &v;
    }
    std::string why;
    if (newest != nullptr) {
      why = absl::StrCat(": version ", newest->version, " is ", VersionStateName(newest->state),
                         newest->reason.empty() ? "" : ": ", View(newest->reason));
    }
    return absl::UnavailableError(absl::StrCat(error_text::NoAvailableVersions(View(model)), why));
  }
  const int64_t wanted = ParseVersion(requested);
  if (wanted == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version '", View(requested), "' is not a positive integer"));
  }
  for (const VersionView& v : versions) {
    if (v.version != wanted) continue;
    if (v.state == VersionState::kReady) return wanted;
    return absl::UnavailableError(absl::StrCat("model '", View(model), "' version ", wanted,
                                               " is not ready: it is ", VersionStateName(v.state),
                                               v.reason.empty() ? "" : ": ", View(v.reason)));
  }
  return absl::NotFoundError(error_text::UnknownVersion(View(model), wanted));
}

}  // namespace ferry
