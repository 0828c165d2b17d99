#include "registry/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "json/writer.h"
#include "registry/audit_chain.h"
#include "registry/sqlite/schema.h"
#include "registry/sqlite/sqlite_db.h"

namespace ferry {
namespace {

using sqlite::Db;
using sqlite::Statement;
using sqlite::Transaction;

absl::Status NoModel(const std::string& model) {
  return absl::NotFoundError(absl::StrCat("model '", model, "' is not registered"));
}
absl::Status NoVersion(const std::string& model, int64_t version) {
  return absl::NotFoundError(absl::StrCat("model '", model, "' has no version ", version));
}

class SqliteStore final : public RegistryStore {
 public:
  explicit SqliteStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  absl::StatusOr<std::vector<RegisteredModel>> ListModels() override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT name FROM models ORDER BY name"));
    std::vector<std::string> names;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      names.push_back(stmt.Text(0));
    }
    std::vector<RegisteredModel> models;
    for (const std::string& name : names) {
      FERRY_ASSIGN_OR_RETURN(RegisteredModel model, ReadModel(name));
      models.push_back(std::move(model));
    }
    return models;
  }

  absl::StatusOr<RegisteredModel> GetModel(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    return ReadModel(model);
  }

  absl::StatusOr<std::vector<ModelVersion>> ListVersions(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT version FROM versions WHERE model = ?1 ORDER BY version"));
    stmt.Bind(1, model);
    std::vector<int64_t> numbers;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      numbers.push_back(stmt.Int(0));
    }
    std::vector<ModelVersion> versions;
    for (int64_t v : numbers) {
      FERRY_ASSIGN_OR_RETURN(ModelVersion version, ReadVersion(model, v));
      versions.push_back(std::move(version));
    }
    return versions;
  }

  absl::StatusOr<ModelVersion> GetVersion(const std::string& model, int64_t version) override {
    absl::MutexLock lock(&mu_);
    return ReadVersion(model, version);
  }

  absl::StatusOr<int64_t> MaxVersion(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT COALESCE(MAX(version), 0) FROM versions WHERE model = ?1"));
    stmt.Bind(1, model);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row ? stmt.Int(0) : 0;
  }

  absl::StatusOr<std::vector<Alias>> ListAliases(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("SELECT name, version, updated_ms FROM aliases "
                                        "WHERE model = ?1 ORDER BY name"));
    stmt.Bind(1, model);
    std::vector<Alias> aliases;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      aliases.push_back({model, stmt.Text(0), stmt.Int(1), stmt.Int(2)});
    }
    return aliases;
  }

  absl::StatusOr<Alias> GetAlias(const std::string& model, const std::string& alias) override {
    absl::MutexLock lock(&mu_);
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(std::optional<Alias> found, ReadAlias(model, alias));
    if (!found.has_value()) {
      return absl::NotFoundError(absl::StrCat("model '", model, "' has no alias '", alias, "'"));
    }
    return *found;
  }

  absl::StatusOr<Release> GetRelease(int64_t id) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(std::vector<Release> found, ReadReleases(id, ""));
    if (found.empty()) return absl::NotFoundError(absl::StrCat("no release ", id));
    return found.front();
  }

  absl::StatusOr<std::vector<Release>> ListReleases(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    return ReadReleases(0, model);
  }

  absl::StatusOr<std::vector<AuditEntry>> ReadAudit(const AuditFilter& filter) override {
    if (filter.limit < 1 || filter.limit > 10000) {
      return absl::InvalidArgumentError(absl::StrCat("limit must be 1..10000; was ", filter.limit));
    }
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT id, time_ms, actor, action, model, before, after, reason, "
                     "prev_hash, hash FROM audit WHERE id > ?1 "
                     "AND (?2 = '' OR model = ?2) AND (?3 = '' OR action = ?3) "
                     "AND time_ms >= ?4 AND (?5 = 0 OR time_ms < ?5) ORDER BY id LIMIT ?6"));
    stmt.Bind(1, filter.after_id)
        .Bind(2, filter.model)
        .Bind(3, filter.action)
        .Bind(4, filter.from_ms)
        .Bind(5, filter.to_ms)
        .Bind(6, static_cast<int64_t>(filter.limit));
    std::vector<AuditEntry> rows;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      rows.push_back(AuditFromRow(stmt));
    }
    return rows;
  }

  absl::StatusOr<AuditVerification> VerifyAudit() override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("SELECT id, time_ms, actor, action, model, before, after, "
                                        "reason, prev_hash, hash FROM audit ORDER BY id"));
    AuditVerification result;
    std::optional<AuditEntry> previous;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AuditEntry entry = AuditFromRow(stmt);
      std::string problem = CheckAuditRow(previous ? &*previous : nullptr, entry);
      if (!problem.empty()) {
        result.ok = false;
        result.first_bad_id = entry.id;
        result.problem = std::move(problem);
        return result;
      }
      ++result.rows;
      result.head_id = entry.id;
      result.head_hash = entry.hash;
      previous = std::move(entry);
    }
    return result;
  }

  absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare("SELECT value FROM meta WHERE key = ?1"));
    stmt.Bind(1, key);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(stmt.Text(0));
  }

  absl::Status AddVersion(const ModelVersion& version, const AuditEntry& audit) override {
    if (version.version < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("version must be >= 1; was ", version.version));
    }
    if (version.model.empty()) return absl::InvalidArgumentError("model must not be empty");
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_ASSIGN_OR_RETURN(Statement model_insert,
                           db_->Prepare("INSERT INTO models (name, created_ms, updated_ms) "
                                        "VALUES (?1, ?2, ?2) ON CONFLICT (name) DO NOTHING"));
    FERRY_RETURN_IF_ERROR(model_insert.Bind(1, version.model).Bind(2, version.created_ms).Run());
    FERRY_ASSIGN_OR_RETURN(std::optional<int64_t> taken,
                           Scalar("SELECT 1 FROM versions WHERE model = ?1 AND version = ?2",
                                  version.model, version.version));
    if (taken.has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat("model '", version.model, "' already has version ", version.version));
    }
    FERRY_ASSIGN_OR_RETURN(
        Statement insert,
        db_->Prepare("INSERT INTO versions (model, version, state, description, lineage, "
                     "parent_model, parent_version, source, created_ms, created_by) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    insert.Bind(1, version.model)
        .Bind(2, version.version)
        .Bind(3, VersionStatusName(version.state))
        .Bind(4, version.description)
        .Bind(5, version.lineage_json.empty() ? std::string("{}") : version.lineage_json)
        .Bind(6, version.parent_model)
        .Bind(7, version.parent_version)
        .Bind(8, version.source)
        .Bind(9, version.created_ms)
        .Bind(10, version.created_by);
    FERRY_RETURN_IF_ERROR(insert.Run());
    for (const ArtifactFile& file : version.files) {
      FERRY_ASSIGN_OR_RETURN(Statement f,
                             db_->Prepare("INSERT INTO version_files (model, version, path, "
                                          "sha256, bytes) VALUES (?1, ?2, ?3, ?4, ?5)"));
      FERRY_RETURN_IF_ERROR(f.Bind(1, version.model)
                                .Bind(2, version.version)
                                .Bind(3, file.path)
                                .Bind(4, file.sha256)
                                .Bind(5, file.bytes)
                                .Run());
    }
    FERRY_RETURN_IF_ERROR(WriteTags(version.model, version.version, version.tags, {}));
    FERRY_RETURN_IF_ERROR(Touch(version.model, version.created_ms));
    FERRY_RETURN_IF_ERROR(Append(audit));
    return tx.Commit();
  }

  absl::Status SetVersionState(const std::string& model, int64_t version, VersionStatus state,
                               const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_RETURN_IF_ERROR(RequireVersion(model, version));
    if (state == VersionStatus::kArchived) FERRY_RETURN_IF_ERROR(RequireUnused(model, version));
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("UPDATE versions SET state = ?3 WHERE model = ?1 AND version = ?2"));
    FERRY_RETURN_IF_ERROR(
        stmt.Bind(1, model).Bind(2, version).Bind(3, VersionStatusName(state)).Run());
    FERRY_RETURN_IF_ERROR(Touch(model, audit.time_ms));
    FERRY_RETURN_IF_ERROR(Append(audit));
    return tx.Commit();
  }

  absl::Status UpdateMetadata(const std::string& model, int64_t version,
                              const MetadataUpdate& update, const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    if (version == 0) {
      FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    } else {
      FERRY_RETURN_IF_ERROR(RequireVersion(model, version));
    }
    if (update.description.has_value()) {
      FERRY_ASSIGN_OR_RETURN(
          Statement stmt,
          db_->Prepare(version == 0
                           ? "UPDATE models SET description = ?3 WHERE name = ?1 AND ?2 = 0"
                           : "UPDATE versions SET description = ?3 WHERE model = ?1 AND "
                             "version = ?2"));
      FERRY_RETURN_IF_ERROR(
          stmt.Bind(1, model).Bind(2, version).Bind(3, *update.description).Run());
    }
    FERRY_RETURN_IF_ERROR(WriteTags(model, version, update.set_tags, update.remove_tags));
    FERRY_RETURN_IF_ERROR(Touch(model, audit.time_ms));
    FERRY_RETURN_IF_ERROR(Append(audit));
    return tx.Commit();
  }

  absl::Status SetAlias(const std::string& model, const std::string& alias, int64_t version,
                        std::optional<int64_t> expected, const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_RETURN_IF_ERROR(SetAliasInTx(model, {alias, version, expected, audit}));
    return tx.Commit();
  }

  absl::Status DeleteAlias(const std::string& model, const std::string& alias,
                           std::optional<int64_t> expected, const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_RETURN_IF_ERROR(DeleteAliasInTx(model, {alias, 0, expected, audit}));
    return tx.Commit();
  }

  absl::StatusOr<int64_t> CreateRelease(const Release& release, const AuditEntry& audit) override {
    if (!IsActive(release.state)) {
      return absl::InvalidArgumentError("state: a new release must be running or paused");
    }
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_RETURN_IF_ERROR(ReadVersion(release.model, release.candidate).status());
    FERRY_RETURN_IF_ERROR(RequireNoActiveRelease(release.model, 0));
    FERRY_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                           Scalar("SELECT MAX(id) FROM releases", "", 0));
    const int64_t id = last.value_or(0) + 1;
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("INSERT INTO releases (id, model, candidate, baseline, mode, plan, state, "
                     "stage, evidence, created_ms, updated_ms) VALUES "
                     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
    stmt.Bind(1, id)
        .Bind(2, release.model)
        .Bind(3, release.candidate)
        .Bind(4, release.baseline)
        .Bind(5, release.mode)
        .Bind(6, release.plan_json)
        .Bind(7, ReleaseStateName(release.state))
        .Bind(8, release.stage)
        .Bind(9, release.evidence_json)
        .Bind(10, release.created_ms)
        .Bind(11, release.updated_ms);
    FERRY_RETURN_IF_ERROR(stmt.Run());
    AuditEntry row = audit;
    if (row.after.empty() || row.after == "null") {
      Release recorded = release;
      recorded.id = id;
      row.after = ReleaseAuditJson(recorded);
    }
    FERRY_RETURN_IF_ERROR(Append(row));
    FERRY_RETURN_IF_ERROR(tx.Commit());
    return id;
  }

  absl::Status UpdateRelease(const Release& release, ReleaseState expected_state,
                             const AuditEntry& audit,
                             const std::vector<AliasChange>& aliases) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_ASSIGN_OR_RETURN(std::vector<Release> found, ReadReleases(release.id, ""));
    if (found.empty()) return absl::NotFoundError(absl::StrCat("no release ", release.id));
    const Release& current = found.front();
    if (current.state != expected_state) {
      return absl::AbortedError(absl::StrCat("release ", release.id, " is ",
                                             ReleaseStateName(current.state), ", not ",
                                             ReleaseStateName(expected_state)));
    }
    if (IsActive(release.state) && !IsActive(current.state)) {
      FERRY_RETURN_IF_ERROR(RequireNoActiveRelease(current.model, release.id));
    }
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("UPDATE releases SET state = ?2, stage = ?3, "
                                        "evidence = ?4, updated_ms = ?5 WHERE id = ?1"));
    FERRY_RETURN_IF_ERROR(stmt.Bind(1, release.id)
                              .Bind(2, ReleaseStateName(release.state))
                              .Bind(3, release.stage)
                              .Bind(4, release.evidence_json)
                              .Bind(5, release.updated_ms)
                              .Run());
    FERRY_RETURN_IF_ERROR(Append(audit));
    for (const AliasChange& change : aliases) {
      FERRY_RETURN_IF_ERROR(change.version == 0 ? DeleteAliasInTx(current.model, change)
                                                : SetAliasInTx(current.model, change));
    }
    return tx.Commit();
  }

  absl::Status AppendAudit(const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_RETURN_IF_ERROR(Append(audit));
    return tx.Commit();
  }

  absl::Status SetMeta(const std::string& key, const std::string& value,
                       const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    FERRY_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("INSERT INTO meta (key, value) VALUES (?1, ?2) ON "
                                        "CONFLICT (key) DO UPDATE SET value = excluded.value"));
    FERRY_RETURN_IF_ERROR(stmt.Bind(1, key).Bind(2, value).Run());
    FERRY_RETURN_IF_ERROR(Append(audit));
    return tx.Commit();
  }

 private:
  // One integer from a query with parameters ?1 (text) and ?2 (int); nullopt without a row
  // or for NULL.
  absl::StatusOr<std::optional<int64_t>> Scalar(const char* sql, const std::string& text,
                                                int64_t number) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(Statement stmt, db_->Prepare(sql));
    if (stmt.parameters() >= 1) stmt.Bind(1, text);
    if (stmt.parameters() >= 2) stmt.Bind(2, number);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row || stmt.IsNull(0)) return std::optional<int64_t>();
    return std::optional<int64_t>(stmt.Int(0));
  }

  absl::StatusOr<RegisteredModel> ReadModel(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT description, created_ms, updated_ms FROM models WHERE name = ?1"));
    stmt.Bind(1, name);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NoModel(name);
    RegisteredModel model;
    model.name = name;
    model.description = stmt.Text(0);
    model.created_ms = stmt.Int(1);
    model.updated_ms = stmt.Int(2);
    FERRY_ASSIGN_OR_RETURN(model.tags, ReadTags(name, 0));
    return model;
  }

  absl::StatusOr<Tags> ReadTags(const std::string& model, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare(version == 0 ? "SELECT key, value FROM model_tags WHERE model = ?1 AND ?2 = 0"
                                  : "SELECT key, value FROM version_tags WHERE model = ?1 AND "
                                    "version = ?2"));
    stmt.Bind(1, model).Bind(2, version);
    Tags tags;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      tags[stmt.Text(0)] = stmt.Text(1);
    }
    return tags;
  }

  absl::Status WriteTags(const std::string& model, int64_t version, const Tags& set,
                         const std::vector<std::string>& remove)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [key, value] : set) {
      FERRY_ASSIGN_OR_RETURN(
          Statement stmt,
          db_->Prepare(version == 0
                           ? "INSERT INTO model_tags (model, key, value) SELECT ?1, ?3, ?4 "
                             "WHERE ?2 = 0 ON CONFLICT (model, key) DO UPDATE SET value = "
                             "excluded.value"
                           : "INSERT INTO version_tags (model, version, key, value) VALUES "
                             "(?1, ?2, ?3, ?4) ON CONFLICT (model, version, key) DO UPDATE "
                             "SET value = excluded.value"));
      FERRY_RETURN_IF_ERROR(stmt.Bind(1, model).Bind(2, version).Bind(3, key).Bind(4, value).Run());
    }
    for (const std::string& key : remove) {
      FERRY_ASSIGN_OR_RETURN(
          Statement stmt,
          db_->Prepare(version == 0
                           ? "DELETE FROM model_tags WHERE model = ?1 AND ?2 = 0 AND key = ?3"
                           : "DELETE FROM version_tags WHERE model = ?1 AND version = ?2 AND "
                             "key = ?3"));
      FERRY_RETURN_IF_ERROR(stmt.Bind(1, model).Bind(2, version).Bind(3, key).Run());
    }
    return absl::OkStatus();
  }

  absl::Status Touch(const std::string& model, int64_t time_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("UPDATE models SET updated_ms = MAX(updated_ms, ?2) WHERE name = ?1"));
    return stmt.Bind(1, model).Bind(2, time_ms).Run();
  }

  absl::Status RequireVersion(const std::string& model, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(
        std::optional<int64_t> found,
        Scalar("SELECT 1 FROM versions WHERE model = ?1 AND version = ?2", model, version));
    if (!found.has_value()) return NoVersion(model, version);
    return absl::OkStatus();
  }

  absl::StatusOr<ModelVersion> ReadVersion(const std::string& model, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("SELECT state, description, lineage, parent_model, parent_version, "
                     "source, created_ms, created_by FROM versions "
                     "WHERE model = ?1 AND version = ?2"));
    stmt.Bind(1, model).Bind(2, version);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NoVersion(model, version);
    ModelVersion v;
    v.model = model;
    v.version = version;
    v.state = stmt.Text(0) == "archived" ? VersionStatus::kArchived : VersionStatus::kActive;
    v.description = stmt.Text(1);
    v.lineage_json = stmt.Text(2);
    v.parent_model = stmt.Text(3);
    v.parent_version = stmt.Int(4);
    v.source = stmt.Text(5);
    v.created_ms = stmt.Int(6);
    v.created_by = stmt.Text(7);
    FERRY_ASSIGN_OR_RETURN(v.tags, ReadTags(model, version));
    FERRY_ASSIGN_OR_RETURN(Statement files,
                           db_->Prepare("SELECT path, sha256, bytes FROM version_files WHERE "
                                        "model = ?1 AND version = ?2 ORDER BY path"));
    files.Bind(1, model).Bind(2, version);
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool more, files.Step());
      if (!more) break;
      v.files.push_back({files.Text(0), files.Text(1), files.Int(2)});
    }
    return v;
  }

  absl::StatusOr<std::optional<Alias>> ReadAlias(const std::string& model, const std::string& alias)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("SELECT version, updated_ms FROM aliases WHERE "
                                        "model = ?1 AND name = ?2"));
    stmt.Bind(1, model).Bind(2, alias);
    FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return std::optional<Alias>();
    return std::optional<Alias>(Alias{model, alias, stmt.Int(0), stmt.Int(1)});
  }

  static absl::Status CheckExpected(const std::string& model, const std::string& alias,
                                    const std::optional<Alias>& current,
                                    std::optional<int64_t> expected) {
    if (!expected.has_value()) return absl::OkStatus();
    const int64_t now = current.has_value() ? current->version : kAliasAbsent;
    if (now == *expected) return absl::OkStatus();
    auto describe = [](int64_t v) {
      return v == kAliasAbsent ? std::string("absent") : absl::StrCat("at version ", v);
    };
    return absl::AbortedError(absl::StrCat("alias '", alias, "' of model '", model, "' is ",
                                           describe(now), ", not ", describe(*expected),
                                           " as expected"));
  }

  // Releases with id `id` (0: any) of `model` ("": any), ascending by id.
  absl::StatusOr<std::vector<Release>> ReadReleases(int64_t id, const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare(absl::StrCat("SELECT id, model, candidate, baseline, mode, plan, state, "
                                  "stage, evidence, created_ms, updated_ms FROM releases "
                                  "WHERE (?1 = 0 OR id = ?1) AND (?2 = '' OR model = ?2) "
                                  "ORDER BY id")));
    stmt.Bind(1, id).Bind(2, model);
    std::vector<Release> releases;
    while (true) {
      FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      Release r;
      r.id = stmt.Int(0);
      r.model = stmt.Text(1);
      r.candidate = stmt.Int(2);
      r.baseline = stmt.Int(3);
      r.mode = stmt.Text(4);
      r.plan_json = stmt.Text(5);
      r.state = ParseReleaseState(stmt.Text(6)).value_or(ReleaseState::kRunning);
      r.stage = stmt.Text(7);
      r.evidence_json = stmt.Text(8);
      r.created_ms = stmt.Int(9);
      r.updated_ms = stmt.Int(10);
      releases.push_back(std::move(r));
    }
    return releases;
  }

  // SetAlias's work inside the caller's transaction.
  absl::Status SetAliasInTx(const std::string& model, const AliasChange& change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(ModelVersion target, ReadVersion(model, change.version));
    FERRY_ASSIGN_OR_RETURN(std::optional<Alias> current, ReadAlias(model, change.alias));
    FERRY_RETURN_IF_ERROR(CheckExpected(model, change.alias, current, change.expected));
    if (target.state == VersionStatus::kArchived) {
      return absl::FailedPreconditionError(absl::StrCat("version ", change.version, " of model '",
                                                        model,
                                                        "' is archived: an alias cannot name it"));
    }
    FERRY_ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("INSERT INTO aliases (model, name, version, updated_ms) VALUES "
                     "(?1, ?2, ?3, ?4) ON CONFLICT (model, name) DO UPDATE SET "
                     "version = excluded.version, updated_ms = excluded.updated_ms"));
    FERRY_RETURN_IF_ERROR(stmt.Bind(1, model)
                              .Bind(2, change.alias)
                              .Bind(3, change.version)
                              .Bind(4, change.audit.time_ms)
                              .Run());
    FERRY_RETURN_IF_ERROR(Touch(model, change.audit.time_ms));
    return Append(change.audit);
  }

  // DeleteAlias's work inside the caller's transaction.
  absl::Status DeleteAliasInTx(const std::string& model, const AliasChange& change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_RETURN_IF_ERROR(ReadModel(model).status());
    FERRY_ASSIGN_OR_RETURN(std::optional<Alias> current, ReadAlias(model, change.alias));
    if (!current.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("model '", model, "' has no alias '", change.alias, "'"));
    }
    FERRY_RETURN_IF_ERROR(CheckExpected(model, change.alias, current, change.expected));
    FERRY_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare("DELETE FROM aliases WHERE model = ?1 AND name = ?2"));
    FERRY_RETURN_IF_ERROR(stmt.Bind(1, model).Bind(2, change.alias).Run());
    FERRY_RETURN_IF_ERROR(Touch(model, change.audit.time_ms));
    return Append(change.audit);
  }

  // FailedPrecondition while an alias or an active release names the version.
  absl::Status RequireUnused(const std::string& model, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(Statement alias,
                           db_->Prepare("SELECT name FROM aliases WHERE model = ?1 AND "
                                        "version = ?2 ORDER BY name LIMIT 1"));
    alias.Bind(1, model).Bind(2, version);
    FERRY_ASSIGN_OR_RETURN(bool aliased, alias.Step());
    if (aliased) {
      return absl::FailedPreconditionError(absl::StrCat("version ", version, " of model '", model,
                                                        "' is aliased as '", alias.Text(0),
                                                        "': move or delete the alias first"));
    }
    FERRY_ASSIGN_OR_RETURN(
        std::optional<int64_t> release,
        Scalar("SELECT id FROM releases WHERE model = ?1 AND (candidate = ?2 OR baseline = ?2) "
               "AND state IN ('running', 'paused')",
               model, version));
    if (release.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("version ", version, " of model '", model,
                                                        "' is in active release ", *release,
                                                        ": finish it first"));
    }
    return absl::OkStatus();
  }

  // FailedPrecondition when `model` has an active release other than `except_id`.
  absl::Status RequireNoActiveRelease(const std::string& model, int64_t except_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    FERRY_ASSIGN_OR_RETURN(
        std::optional<int64_t> active,
        Scalar("SELECT id FROM releases WHERE model = ?1 AND id != ?2 AND state IN "
               "('running', 'paused')",
               model, except_id));
    if (active.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model, "' already has an active release (", *active, ")"));
    }
    return absl::OkStatus();
  }

  static AuditEntry AuditFromRow(const Statement& stmt) {
    AuditEntry e;
    e.id = stmt.Int(0);
    e.time_ms = stmt.Int(1);
    e.actor = stmt.Text(2);
    e.action = stmt.Text(3);
    e.model = stmt.Text(4);
    e.before = stmt.Text(5);
    e.after = stmt.Text(6);
    e.reason = stmt.Text(7);
    e.prev_hash = stmt.Text(8);
    e.hash = stmt.Text(9);
    return e;
  }

  // Appends `audit` to the chain inside the caller's transaction.
  absl::Status Append(const AuditEntry& audit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (audit.actor.empty()) return absl::InvalidArgumentError("audit actor must not be empty");
    if (audit.action.empty()) return absl::InvalidArgumentError("audit action must not be empty");
    FERRY_ASSIGN_OR_RETURN(Statement last,
                           db_->Prepare("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1"));
    FERRY_ASSIGN_OR_RETURN(bool has_last, last.Step());
    AuditEntry row = audit;
    row.id = has_last ? last.Int(0) + 1 : 1;
    row.prev_hash = has_last ? last.Text(1) : std::string(kAuditGenesisHash);
    if (row.before.empty()) row.before = "null";
    if (row.after.empty()) row.after = "null";
    FERRY_ASSIGN_OR_RETURN(row.hash, AuditRowHash(row));
    FERRY_ASSIGN_OR_RETURN(
        Statement insert,
        db_->Prepare("INSERT INTO audit (id, time_ms, actor, action, model, before, after, "
                     "reason, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    return insert.Bind(1, row.id)
        .Bind(2, row.time_ms)
        .Bind(3, row.actor)
        .Bind(4, row.action)
        .Bind(5, row.model)
        .Bind(6, row.before)
        .Bind(7, row.after)
        .Bind(8, row.reason)
        .Bind(9, row.prev_hash)
        .Bind(10, row.hash)
        .Run();
  }

  absl::Mutex mu_;
  const std::unique_ptr<Db> db_ ABSL_PT_GUARDED_BY(mu_);
};

// A pragma that answers with one value; returns it as text.
absl::StatusOr<std::string> Pragma(Db& db, const std::string& sql) {
  FERRY_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  FERRY_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Text(0) : std::string();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RegistryStore>> OpenSqliteStore(const SqliteStoreOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("registry database path is empty");
  if (options.busy_timeout_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("busy_timeout_ms must be >= 0; was ", options.busy_timeout_ms));
  }
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(options.path));
  sqlite3_busy_timeout(db->handle(), options.busy_timeout_ms);
  FERRY_ASSIGN_OR_RETURN(std::string mode, Pragma(*db, "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(absl::StrCat("the registry database '", options.path,
                                                      "' cannot use WAL mode (got '", mode,
                                                      "'): is it on a network file system?"));
  }
  // FULL: a commit fsyncs the WAL before it returns, so an answered write survives kill -9
  // and power loss (NORMAL would survive the first only).
  FERRY_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  FERRY_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  FERRY_RETURN_IF_ERROR(sqlite::Migrate(*db));
  return std::unique_ptr<RegistryStore>(new SqliteStore(std::move(db)));
}

}  // namespace ferry
