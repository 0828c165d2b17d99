// Registry::ImportBundled (registry.h): the repository's version folders become registered
// versions at first start.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/version_number.h"
#include "json/writer.h"
#include "registry/artifact.h"
#include "registry/audit_chain.h"
#include "registry/names.h"
#include "registry/registry.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

constexpr char kImportKey[] = "bundled_import";

// The file's text, or "" when it does not exist.
std::string ReadIfPresent(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<ImportReport> Registry::ImportBundled(const std::string& actor) {
  ImportReport report;
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> done, store_->GetMeta(kImportKey));
  if (done.has_value()) {
    report.already_done = true;
    return report;
  }
  absl::MutexLock lock(&register_mu_);
  std::error_code ec;
  std::vector<fs::path> models;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.repository, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory(ec) && ValidateModelName(name).ok()) models.push_back(entry.path());
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("reading the model repository '", options_.repository, "': ", ec.message()));
  }
  std::sort(models.begin(), models.end());
  for (const fs::path& model_dir : models) {
    const std::string model = model_dir.filename().string();
    std::vector<int64_t> numbers;
    for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, ec)) {
      const int64_t v = ParseVersion(entry.path().filename().string());
      if (v > 0 && entry.is_directory(ec)) numbers.push_back(v);
    }
    std::sort(numbers.begin(), numbers.end());
    int64_t newest = 0;
    for (int64_t number : numbers) {
      const fs::path dir = model_dir / std::to_string(number);
      absl::StatusOr<ModelVersion> existing = store_->GetVersion(model, number);
      if (existing.ok()) {
        newest = number;
        continue;  // imported by an earlier, interrupted start
      }
      if (!absl::IsNotFound(existing.status())) return existing.status();
      FERRY_ASSIGN_OR_RETURN(std::vector<ArtifactFile> files, HashFolder(dir.string()));
      std::string calibration_sha;
      for (const ArtifactFile& f : files) {
        if (f.path == "calibration.json") calibration_sha = f.sha256;
      }
      absl::StatusOr<Lineage> lineage =
          LineageFromBundled(ReadIfPresent(dir / "lineage.json"),
                             ReadIfPresent(dir / "calibration.json"), calibration_sha);
      if (!lineage.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat((dir / "lineage.json").string(), ": ", lineage.status().message()));
      }
      ModelVersion version;
      version.model = model;
      version.version = number;
      version.files = std::move(files);
      version.lineage_json = LineageToJson(*lineage);
      version.parent_model = lineage->parent_model;
      version.parent_version = lineage->parent_version;
      version.source = "imported";
      version.created_ms = Now();
      version.created_by = ActorOr(actor);
      std::string after =
          absl::StrCat("{\"version\":", number, ",\"files\":", version.files.size(), "}");
      FERRY_RETURN_IF_ERROR(store_->AddVersion(
          version, Audit(actor, "model.register", model, "null", std::move(after),
                         "imported from the model repository at first start")));
      ++report.versions_imported;
      newest = number;
    }
    if (newest == 0) continue;
    absl::StatusOr<Alias> production = store_->GetAlias(model, "production");
    if (absl::IsNotFound(production.status())) {
      FERRY_RETURN_IF_ERROR(store_->SetAlias(
          model, "production", newest, kAliasAbsent,
          Audit(actor, "alias.set", model, "null", AliasAuditJson("production", newest),
                "imported: the newest version serves")));
      ++report.aliases_set;
    } else if (!production.ok()) {
      return production.status();
    }
  }
  FERRY_RETURN_IF_ERROR(
      store_->SetMeta(kImportKey, "done",
                      Audit(actor, "registry.import", "", "null",
                            absl::StrCat("{\"versions\":", report.versions_imported,
                                         ",\"aliases\":", report.aliases_set, "}"),
                            "first start")));
  return report;
}

}  // namespace ferry
