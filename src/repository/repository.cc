#include "repository/repository.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {

absl::StatusOr<ModelDir> ScanModel(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model folder '", path, "' does not exist"));
  }
  ModelDir model;
  model.name = fs::path(path).filename().string();
  model.path = path;
  for (const fs::directory_entry& sub : fs::directory_iterator(path, ec)) {
    if (!sub.is_directory(ec)) continue;
    const std::string name = sub.path().filename().string();
    if (name[0] == '.') continue;
    const int64_t version = ParseVersion(name);
    if (version == 0) {
      model.warnings.push_back(absl::StrCat("skipping folder '", sub.path().string(),
                                            "': a version folder must be a positive integer"));
      continue;
    }
    model.versions.push_back({version, sub.path().string()});
  }
  if (ec) return absl::InternalError(absl::StrCat("reading '", path, "': ", ec.message()));
  std::sort(model.versions.begin(), model.versions.end(),
            [](const VersionDir& a, const VersionDir& b) { return a.version < b.version; });
  return model;
}

absl::StatusOr<std::vector<ModelDir>> ScanRepository(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository '", root, "' is not a directory"));
  }
  std::vector<ModelDir> models;
  for (const fs::directory_entry& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory(ec)) continue;
    absl::StatusOr<ModelDir> model = ScanModel(entry.path().string());
    if (!model.ok()) return model.status();
    models.push_back(std::move(*model));
  }
  if (ec) return absl::InternalError(absl::StrCat("reading '", root, "': ", ec.message()));
  std::sort(models.begin(), models.end(),
            [](const ModelDir& a, const ModelDir& b) { return a.name < b.name; });
  return models;
}

}  // namespace ferry
