// RegistryService: the model registry (registry/registry.h) as the running server uses it.
// It owns the Registry and keeps the alias snapshot the request path resolves aliases with
// (server/alias_table.h) in step with it: every alias change made through here republishes
// the snapshot before it returns, so a client told "moved" is routed by the new alias on
// its next request. AdminService holds it (AdminOptions::registry), so both transports
// reach the registry through the one admin service.
//
// Thread-safety: every method may be called from any thread; snapshot refreshes are
// serialized so an older read never overwrites a newer one.
#ifndef FERRY_SERVER_REGISTRY_SERVICE_H_
#define FERRY_SERVER_REGISTRY_SERVICE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/registry.h"
#include "server/alias_table.h"

namespace ferry {

class RegistryService {
 public:
  // Publishes the registry's aliases into `aliases` (which the server routes with).
  static absl::StatusOr<std::unique_ptr<RegistryService>> Create(
      std::unique_ptr<Registry> registry, std::shared_ptr<AliasTable> aliases);

  // Reads and the mutations that change no alias go to the registry directly.
  Registry& registry() { return *registry_; }

  // Registry::SetAlias / DeleteAlias, then the snapshot is republished.
  absl::StatusOr<Alias> SetAlias(const std::string& model, const std::string& alias,
                                 int64_t version, std::optional<int64_t> expected,
                                 const std::string& actor, const std::string& reason);
  absl::Status DeleteAlias(const std::string& model, const std::string& alias,
                           std::optional<int64_t> expected, const std::string& actor,
                           const std::string& reason);

  // Re-reads every model's aliases into the snapshot.
  absl::Status RefreshAliases();

 private:
  RegistryService(std::unique_ptr<Registry> registry, std::shared_ptr<AliasTable> aliases)
      : registry_(std::move(registry)), aliases_(std::move(aliases)) {}

  const std::unique_ptr<Registry> registry_;
  const std::shared_ptr<AliasTable> aliases_;
  absl::Mutex refresh_mu_;
};

}  // namespace ferry

#endif  // FERRY_SERVER_REGISTRY_SERVICE_H_
