// AliasTable: the registry's aliases as the request path sees them ("production" -> 3),
// an immutable in-memory snapshot that the registry side replaces whole after every change,
// so that routing never reads the database. ResolveVersionAlias is the one place where a
// request's version string (an HTTP path segment or gRPC's model_version) is turned into a
// number before RouteVersion (rollout/version_policy.h) picks the version.
#ifndef FERRY_SERVER_ALIAS_TABLE_H_
#define FERRY_SERVER_ALIAS_TABLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace ferry {

class AliasTable {
 public:
  using Aliases = std::map<std::string, std::map<std::string, int64_t, std::less<>>, std::less<>>;

  // Publishes `aliases` (model -> alias -> version); readers see the old or the new whole.
  void Replace(Aliases aliases);
  // The version `alias` of `model` names, or nullopt.
  std::optional<int64_t> Lookup(std::string_view model, std::string_view alias) const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Aliases> aliases_ ABSL_GUARDED_BY(mu_) = std::make_shared<Aliases>();
};

// True when `requested` has an alias's shape: it starts with a lowercase letter (a version
// number never does).
bool LooksLikeAlias(std::string_view requested);

// The version a request names, as RouteVersion takes it: "" (the default) and anything
// that is not alias-shaped unchanged (RouteVersion judges it), an alias replaced by the
// decimal number it names. NotFound naming the alias when `model` has no such alias
// (always when `aliases` is null).
absl::StatusOr<std::string> ResolveVersionAlias(const AliasTable* aliases, std::string_view model,
                                                const std::string& requested);

}  // namespace ferry

#endif  // FERRY_SERVER_ALIAS_TABLE_H_
