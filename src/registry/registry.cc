#include "registry/registry.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "core/version_number.h"
#include "json/writer.h"
#include "registry/artifact.h"
#include "registry/audit_chain.h"
#include "registry/names.h"
#include "registry/sqlite/sqlite_store.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

std::string VersionStatusJson(int64_t version, VersionStatus state) {
  return absl::StrCat("{\"version\":", version, ",\"state\":\"", VersionStatusName(state), "\"}");
}

std::string FilesJson(const std::vector<ArtifactFile>& files) {
  std::string out = "[";
  for (size_t i = 0; i < files.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("path", files[i].path);
    o.String("sha256", files[i].sha256);
    json_writer::AppendInt(o.Key("bytes"), files[i].bytes);
    o.Close();
  }
  out.push_back(']');
  return out;
}

// The change itself ("after" of a metadata row; "before" is null): the version (for a
// version's metadata), the new description, the tags set and removed.
std::string MetadataJson(int64_t version, const MetadataUpdate& update) {
  std::string out;
  json_writer::Object o(out);
  if (version != 0) json_writer::AppendInt(o.Key("version"), version);
  if (update.description.has_value()) o.String("description", *update.description);
  if (!update.set_tags.empty()) {
    json_writer::Object tags(o.Key("set_tags"));
    for (const auto& [k, v] : update.set_tags) tags.String(k, v);
    tags.Close();
  }
  if (!update.remove_tags.empty())
    json_writer::AppendStringArray(o.Key("remove_tags"), update.remove_tags);
  o.Close();
  return out;
}

absl::Status ValidateTags(const Tags& tags) {
  for (const auto& [key, value] : tags) FERRY_RETURN_IF_ERROR(ValidateTag(key, value));
  return absl::OkStatus();
}

// Staging folders are named .register-<pid>-XXXXXX, so an abandoned one (its process was
// killed mid-copy) can be told from one another process is filling right now.
constexpr char kStagingPrefix[] = ".register-";

void RemoveAbandonedStaging(const std::string& model_dir) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kStagingPrefix, 0) != 0) continue;
    const std::string rest = name.substr(sizeof(kStagingPrefix) - 1);
    const pid_t pid = static_cast<pid_t>(std::atol(rest.substr(0, rest.find('-')).c_str()));
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      std::error_code ignored;
      fs::remove_all(entry.path(), ignored);
    }
  }
}

}  // namespace

std::string DefaultDatabasePath(const std::string& repository) {
  fs::path repo = fs::path(repository).lexically_normal();
  if (repo.has_filename() == false) repo = repo.parent_path();  // "models/" -> "models"
  if (repo.empty() || repo == ".") repo = fs::current_path();
  return (repo.parent_path() / (repo.filename().string() + ".registry.db")).string();
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Open(RegistryOptions options) {
  if (options.repository.empty()) {
    return absl::InvalidArgumentError("registry: the model repository path is empty");
  }
  SqliteStoreOptions store_options;
  store_options.path = options.database_path.empty() ? DefaultDatabasePath(options.repository)
                                                     : options.database_path;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<RegistryStore> store, OpenSqliteStore(store_options));
  return Create(std::move(options), std::move(store));
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(RegistryOptions options,
                                                           std::unique_ptr<RegistryStore> store) {
  if (options.repository.empty()) {
    return absl::InvalidArgumentError("registry: the model repository path is empty");
  }
  if (store == nullptr) return absl::InvalidArgumentError("registry: no store");
  if (!options.wall_clock_ms) options.wall_clock_ms = &WallClockMillis;
  return std::unique_ptr<Registry>(new Registry(std::move(options), std::move(store)));
}

Registry::Registry(RegistryOptions options, std::unique_ptr<RegistryStore> store)
    : options_(std::move(options)), store_(std::move(store)), local_user_(LocalUserName()) {}

AuditEntry Registry::Audit(const std::string& actor, const char* action, const std::string& model,
                           std::string before, std::string after, const std::string& reason) const {
  AuditEntry row;
  row.time_ms = Now();
  row.actor = ActorOr(actor);
  row.action = action;
  row.model = model;
  row.before = std::move(before);
  row.after = std::move(after);
  row.reason = reason;
  return row;
}

// ---- reads --------------------------------------------------------------------------

absl::StatusOr<std::vector<RegisteredModel>> Registry::ListModels() { return store_->ListModels(); }

absl::StatusOr<RegisteredModel> Registry::GetModel(const std::string& model) {
  return store_->GetModel(model);
}

absl::StatusOr<std::vector<ModelVersion>> Registry::ListVersions(const std::string& model) {
  return store_->ListVersions(model);
}

absl::StatusOr<ModelVersion> Registry::GetVersion(const std::string& model, int64_t version) {
  return store_->GetVersion(model, version);
}

absl::StatusOr<std::vector<Alias>> Registry::ListAliases(const std::string& model) {
  return store_->ListAliases(model);
}

absl::StatusOr<int64_t> Registry::ResolveAlias(const std::string& model, const std::string& alias) {
  FERRY_RETURN_IF_ERROR(ValidateAliasName(alias));
  FERRY_ASSIGN_OR_RETURN(Alias found, store_->GetAlias(model, alias));
  return found.version;
}

absl::StatusOr<int64_t> Registry::ResolveVersion(const std::string& model,
                                                 const std::string& segment) {
  if (!segment.empty() && segment[0] >= '0' && segment[0] <= '9') {
    const int64_t version = ParseVersion(segment);
    if (version == 0) {
      return absl::InvalidArgumentError(absl::StrCat("version: ", JsonString(segment),
                                                     " is neither a version number nor an alias"));
    }
    FERRY_RETURN_IF_ERROR(store_->GetVersion(model, version).status());
    return version;
  }
  return ResolveAlias(model, segment);
}

absl::Status Registry::VerifyArtifact(const std::string& model, int64_t version) {
  FERRY_ASSIGN_OR_RETURN(ModelVersion v, store_->GetVersion(model, version));
  const fs::path dir = fs::path(options_.repository) / model / std::to_string(version);
  return VerifyFiles(dir.string(), v.files);
}

absl::StatusOr<std::vector<ModelVersion>> Registry::LineageChain(const std::string& model,
                                                                 int64_t version) {
  std::vector<ModelVersion> chain;
  std::set<std::pair<std::string, int64_t>> seen;
  std::string m = model;
  int64_t v = version;
  while (v > 0 && seen.insert({m, v}).second) {
    absl::StatusOr<ModelVersion> found = store_->GetVersion(m, v);
    if (!found.ok()) {
      if (chain.empty() || !absl::IsNotFound(found.status())) return found.status();
      break;  // an unregistered parent ends the chain
    }
    const std::string next_model = found->parent_model.empty() ? m : found->parent_model;
    v = found->parent_version;
    m = next_model;
    chain.push_back(std::move(*found));
  }
  return chain;
}

std::vector<int64_t> Registry::UnregisteredFolders(const std::string& model) {
  std::vector<int64_t> unknown;
  std::error_code ec;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(fs::path(options_.repository) / model, ec)) {
    const int64_t v = ParseVersion(entry.path().filename().string());
    if (v > 0 && entry.is_directory(ec) &&
        absl::IsNotFound(store_->GetVersion(model, v).status())) {
      unknown.push_back(v);
    }
  }
  std::sort(unknown.begin(), unknown.end());
  return unknown;
}

absl::StatusOr<std::vector<AuditEntry>> Registry::ReadAudit(const AuditFilter& filter) {
  return store_->ReadAudit(filter);
}

absl::StatusOr<AuditVerification> Registry::VerifyAudit() { return store_->VerifyAudit(); }

// ---- registration -------------------------------------------------------------------

int64_t Registry::MaxVersionOnDisk(const std::string& model) const {
  int64_t max = 0;
  std::error_code ec;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(fs::path(options_.repository) / model, ec)) {
    max = std::max(max, ParseVersion(entry.path().filename().string()));
  }
  return max;
}

absl::StatusOr<ModelVersion> Registry::RegisterVersion(const RegisterRequest& request,
                                                       const std::string& actor) {
  FERRY_RETURN_IF_ERROR(ValidateModelName(request.model));
  if (request.artifact_path.empty()) {
    return absl::InvalidArgumentError("artifact: a file or folder to register is required");
  }
  FERRY_RETURN_IF_ERROR(ValidateTags(request.tags));
  FERRY_ASSIGN_OR_RETURN(Lineage lineage, ParseLineage(request.lineage_json));
  if (lineage.parent_version > 0) {
    const std::string parent = lineage.parent_model.empty() ? request.model : lineage.parent_model;
    absl::Status found = store_->GetVersion(parent, lineage.parent_version).status();
    if (absl::IsNotFound(found)) {
      return absl::InvalidArgumentError(absl::StrCat("lineage.parent: ", found.message()));
    }
    FERRY_RETURN_IF_ERROR(found);
  }
  absl::MutexLock lock(&register_mu_);
  return RegisterLocked(request, lineage, actor);
}

absl::StatusOr<ModelVersion> Registry::RegisterLocked(const RegisterRequest& request,
                                                      const Lineage& lineage,
                                                      const std::string& actor) {
  const fs::path model_dir = fs::path(options_.repository) / request.model;
  std::error_code ec;
  if (!fs::is_directory(options_.repository, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the model repository '", options_.repository, "' is not a directory"));
  }
  FERRY_RETURN_IF_ERROR(CreateDurableFolder(model_dir.string()));
  FERRY_ASSIGN_OR_RETURN(int64_t max_registered, store_->MaxVersion(request.model));
  int64_t number = std::max(max_registered, MaxVersionOnDisk(request.model)) + 1;

  // Copy into a hidden folder beside the version folders (the repository scan skips hidden
  // entries), so the rename that publishes it stays within one file system.
  RemoveAbandonedStaging(model_dir.string());
  std::string staging = (model_dir / absl::StrCat(kStagingPrefix, ::getpid(), "-XXXXXX")).string();
  if (mkdtemp(staging.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("creating a staging folder in '", model_dir.string(), "'"));
  }
  auto discard = [&staging] {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
  };
  absl::StatusOr<std::vector<ArtifactFile>> files = CopyArtifact(request.artifact_path, staging);
  if (!files.ok()) {
    discard();
    return files.status();
  }
  if (files->empty()) {
    discard();
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: '", request.artifact_path, "' holds no files"));
  }
  // Another writer (a copy by hand) may take the number meanwhile: take the next one.
  absl::Status published;
  for (int attempt = 0; attempt < 16; ++attempt, ++number) {
    published = PublishFolder(staging, (model_dir / std::to_string(number)).string());
    if (!absl::IsAlreadyExists(published)) break;
  }
  if (!published.ok()) {
    discard();
    return published;
  }
  const fs::path version_dir = model_dir / std::to_string(number);

  ModelVersion version;
  version.model = request.model;
  version.version = number;
  version.description = request.description;
  version.tags = request.tags;
  version.files = *files;
  version.lineage_json = LineageToJson(lineage);
  version.parent_model = lineage.parent_model;
  version.parent_version = lineage.parent_version;
  version.source = "registered";
  version.created_ms = Now();
  version.created_by = ActorOr(actor);
  const std::string after =
      absl::StrCat("{\"version\":", number, ",\"files\":", FilesJson(version.files), "}");
  absl::Status added = store_->AddVersion(
      version, Audit(actor, "model.register", request.model, "null", after, request.reason));
  if (!added.ok()) {
    // Unrecorded, so nobody can name it: take the folder back.
    fs::remove_all(version_dir, ec);
    return added;
  }
  return version;
}

// ---- aliases, archive, metadata -------------------------------------------------------

absl::StatusOr<Alias> Registry::SetAlias(const std::string& model, const std::string& alias,
                                         int64_t version, std::optional<int64_t> expected,
                                         const std::string& actor, const std::string& reason) {
  FERRY_RETURN_IF_ERROR(ValidateAliasName(alias));
  if (version < 1) {
    return absl::InvalidArgumentError(absl::StrCat("version must be >= 1; was ", version));
  }
  // Without an expectation, read the current value and use it as one, so the audit row's
  // "before" is exactly what was replaced; retry if another writer moves it meanwhile.
  for (int attempt = 0;; ++attempt) {
    std::optional<int64_t> check = expected;
    if (!check.has_value()) {
      absl::StatusOr<Alias> current = store_->GetAlias(model, alias);
      if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
      if (!current.ok()) FERRY_RETURN_IF_ERROR(store_->GetModel(model).status());
      check = current.ok() ? current->version : kAliasAbsent;
    }
    absl::Status set =
        store_->SetAlias(model, alias, version, check,
                         Audit(actor, "alias.set", model, AliasAuditJson(alias, *check),
                               AliasAuditJson(alias, version), reason));
    if (set.ok()) return store_->GetAlias(model, alias);
    if (!absl::IsAborted(set) || expected.has_value() || attempt >= 8) return set;
  }
}

absl::Status Registry::DeleteAlias(const std::string& model, const std::string& alias,
                                   std::optional<int64_t> expected, const std::string& actor,
                                   const std::string& reason) {
  FERRY_RETURN_IF_ERROR(ValidateAliasName(alias));
  for (int attempt = 0;; ++attempt) {
    std::optional<int64_t> check = expected;
    if (!check.has_value()) {
      FERRY_ASSIGN_OR_RETURN(Alias current, store_->GetAlias(model, alias));
      check = current.version;
    }
    absl::Status deleted = store_->DeleteAlias(
        model, alias, check,
        Audit(actor, "alias.delete", model, AliasAuditJson(alias, *check), "null", reason));
    if (deleted.ok() || !absl::IsAborted(deleted) || expected.has_value() || attempt >= 8) {
      return deleted;
    }
  }
}

absl::StatusOr<ModelVersion> Registry::ArchiveVersion(const std::string& model, int64_t version,
                                                      const std::string& actor,
                                                      const std::string& reason) {
  FERRY_ASSIGN_OR_RETURN(ModelVersion current, store_->GetVersion(model, version));
  if (current.state == VersionStatus::kArchived) return current;  // already: no audit row
  FERRY_RETURN_IF_ERROR(store_->SetVersionState(
      model, version, VersionStatus::kArchived,
      Audit(actor, "version.archive", model, VersionStatusJson(version, current.state),
            VersionStatusJson(version, VersionStatus::kArchived), reason)));
  return store_->GetVersion(model, version);
}

absl::Status Registry::UpdateMetadata(const std::string& model, int64_t version,
                                      const MetadataUpdate& update, const std::string& actor) {
  FERRY_RETURN_IF_ERROR(ValidateTags(update.set_tags));
  for (const std::string& key : update.remove_tags) FERRY_RETURN_IF_ERROR(ValidateTag(key, ""));
  if (update.description.has_value() && update.description->size() > 65536) {
    return absl::InvalidArgumentError("description: at most 65536 bytes");
  }
  return store_->UpdateMetadata(model, version, update,
                                Audit(actor, version == 0 ? "model.metadata" : "version.metadata",
                                      model, "null", MetadataJson(version, update), ""));
}

// ---- lineage text ---------------------------------------------------------------------

std::string FormatLineageChain(const std::vector<ModelVersion>& chain) {
  std::string out;
  for (size_t i = 0; i < chain.size(); ++i) {
    const ModelVersion& v = chain[i];
    absl::StrAppend(&out, i == 0 ? "" : "  derived from\n", v.model, " version ", v.version, " (",
                    VersionStatusName(v.state), ", ", v.source, " by ", v.created_by, ")\n");
    for (const ArtifactFile& f : v.files) {
      absl::StrAppend(&out, "    file        ", f.path, "  sha256 ", f.sha256, "\n");
    }
    absl::StatusOr<Lineage> lineage = ParseLineage(v.lineage_json);
    if (!lineage.ok()) {
      absl::StrAppend(&out, "    lineage     unreadable: ", lineage.status().message(), "\n");
      continue;
    }
    for (const DataRef& d : lineage->training_data) {
      absl::StrAppend(&out, "    data        ", d.uri, d.sha256.empty() ? "" : "  sha256 ",
                      d.sha256, "\n");
    }
    if (!lineage->code_revision.empty()) {
      absl::StrAppend(&out, "    code        ", lineage->code_revision, "\n");
    }
    if (lineage->parameters_json != "{}") {
      absl::StrAppend(&out, "    parameters  ", lineage->parameters_json, "\n");
    }
    if (lineage->metrics_json != "{}") {
      absl::StrAppend(&out, "    metrics     ", lineage->metrics_json, "\n");
    }
    for (const DataRef& c : lineage->calibration) {
      absl::StrAppend(&out, "    calibration ", c.uri, c.sha256.empty() ? "" : "  sha256 ",
                      c.sha256, "\n");
    }
    if (i + 1 == chain.size() && v.parent_version > 0) {
      absl::StrAppend(&out, "  derived from ", v.parent_model.empty() ? v.model : v.parent_model,
                      " version ", v.parent_version, " (not registered)\n");
    }
  }
  return out;
}

}  // namespace ferry
