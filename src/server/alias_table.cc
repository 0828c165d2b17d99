#include "server/alias_table.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ferry {

void AliasTable::Replace(Aliases aliases) {
  auto next = std::make_shared<const Aliases>(std::move(aliases));
  absl::MutexLock lock(&mu_);
  aliases_.swap(next);
}

std::optional<int64_t> AliasTable::Lookup(std::string_view model, std::string_view alias) const {
  std::shared_ptr<const Aliases> now;
  {
    absl::ReaderMutexLock lock(&mu_);
    now = aliases_;
  }
  const auto m = now->find(model);
  if (m == now->end()) return std::nullopt;
  const auto a = m->second.find(alias);
  if (a == m->second.end()) return std::nullopt;
  return a->second;
}

bool LooksLikeAlias(std::string_view requested) {
  return !requested.empty() && requested[0] >= 'a' && requested[0] <= 'z';
}

absl::StatusOr<std::string> ResolveVersionAlias(const AliasTable* aliases, std::string_view model,
                                                const std::string& requested) {
  if (!LooksLikeAlias(requested)) return requested;
  const std::optional<int64_t> version =
      aliases == nullptr ? std::nullopt : aliases->Lookup(model, requested);
  if (!version) {
    return absl::NotFoundError(absl::StrCat("model '", absl::string_view(model.data(), model.size()), "' has no version alias '",
                                            requested, "'; versions are numbers or aliases"));
  }
  return std::to_string(*version);
}

}  // namespace ferry
