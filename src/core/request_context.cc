#include "core/request_context.h"

#include <algorithm>
#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

// splitmix64: a fast, well-mixed 64-bit generator; seeded per thread from the OS, so ids
// are unpredictable across threads and processes without a lock or a syscall per id.
uint64_t NextRandom() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool HeaderSafe(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<RequestContext> RequestContext::ForBatch(
    std::vector<std::shared_ptr<const RequestContext>> parents) {
  auto context = std::make_shared<RequestContext>();
  if (parents.size() == 1 && parents[0] != nullptr) {
    context->id = parents[0]->id;
    context->principal = parents[0]->principal;
    context->routing_key = parents[0]->routing_key;
  } else {
    context->id = NewRequestId();
  }
  int64_t latest = parents.empty() ? kNoDeadline : std::numeric_limits<int64_t>::min();
  bool cancellable = !parents.empty();
  for (const auto& parent : parents) {
    if (parent == nullptr) {
      latest = kNoDeadline;
      cancellable = false;
    } else {
      latest = std::max(latest, parent->deadline_ns);
    }
  }
  context->deadline_ns = latest;
  // A null parent never cancels, so neither does the whole: keep no parents to check.
  if (cancellable) context->parents_ = std::move(parents);
  return context;
}

bool RequestContext::AllParentsCancelled() const {
  for (const auto& parent : parents_) {
    if (!parent->cancelled()) return false;
  }
  return true;
}

std::string NewRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = NextRandom();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
  return id;
}

absl::Status CheckClientRequestId(std::string_view id, std::string_view source_view) {
  if (HeaderSafe(id)) return absl::OkStatus();
  const absl::string_view source(source_view.data(), source_view.size());
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat("the ", source, " is empty"));
  if (id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the ", source, " is ", id.size(),
                                                   " bytes long; at most ", kMaxRequestIdBytes,
                                                   " are allowed"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the ", source, " may hold only printable ASCII characters"));
}

absl::StatusOr<std::string> ChooseRequestId(std::optional<std::string_view> header_id,
                                            std::string_view header_source,
                                            std::string_view body_id) {
  if (header_id.has_value()) {
    if (absl::Status s = CheckClientRequestId(*header_id, header_source); !s.ok()) return s;
    return std::string(*header_id);
  }
  if (HeaderSafe(body_id)) return std::string(body_id);
  return NewRequestId();
}

}  // namespace ferry
