#include "server/registry_service.h"

#include <utility>

#include "common/status_macros.h"

namespace ferry {

absl::StatusOr<std::unique_ptr<RegistryService>> RegistryService::Create(
    std::unique_ptr<Registry> registry, std::shared_ptr<AliasTable> aliases) {
  if (registry == nullptr || aliases == nullptr) {
    return absl::InvalidArgumentError("RegistryService needs a registry and an alias table");
  }
  std::unique_ptr<RegistryService> service(
      new RegistryService(std::move(registry), std::move(aliases)));
  FERRY_RETURN_IF_ERROR(service->RefreshAliases());
  return service;
}

absl::Status RegistryService::RefreshAliases() {
  absl::MutexLock lock(&refresh_mu_);
  FERRY_ASSIGN_OR_RETURN(std::vector<RegisteredModel> models, registry_->ListModels());
  AliasTable::Aliases table;
  for (const RegisteredModel& m : models) {
    FERRY_ASSIGN_OR_RETURN(std::vector<Alias> aliases, registry_->ListAliases(m.name));
    for (const Alias& a : aliases) table[m.name][a.name] = a.version;
  }
  aliases_->Replace(std::move(table));
  return absl::OkStatus();
}

absl::StatusOr<Alias> RegistryService::SetAlias(const std::string& model, const std::string& alias,
                                                int64_t version, std::optional<int64_t> expected,
                                                const std::string& actor,
                                                const std::string& reason) {
  absl::StatusOr<Alias> set = registry_->SetAlias(model, alias, version, expected, actor, reason);
  if (set.ok()) FERRY_RETURN_IF_ERROR(RefreshAliases());
  return set;
}

absl::Status RegistryService::DeleteAlias(const std::string& model, const std::string& alias,
                                          std::optional<int64_t> expected,
                                          const std::string& actor, const std::string& reason) {
  absl::Status deleted = registry_->DeleteAlias(model, alias, expected, actor, reason);
  if (deleted.ok()) FERRY_RETURN_IF_ERROR(RefreshAliases());
  return deleted;
}

}  // namespace ferry
