// RegistryStore: where the registry's records live durably. The embedded store is one
// SQLite file (registry/sqlite/sqlite_store.h); a PostgreSQL store for several replicas is
// meant to be another folder implementing this same interface.
//
// Every mutation takes the audit row that describes it and commits both in one
// transaction: either the change and its audit row are durable, or neither is. A
// mutation that returns OK has been committed durably (it survives a kill -9 or a power
// cut right after). The store appends the row to the hash chain (registry/audit_chain.h);
// nothing in the interface updates or deletes audit rows.
//
// Errors, the same in every store:
//   NotFound            unknown model, version, alias or release
//   Aborted             a compare-and-set lost: the expected current value is stale
//                       (re-read and retry; the API answers 409)
//   FailedPrecondition  the change is refused in the current state: aliasing an archived
//                       version, a second active release for a model (409)
//   AlreadyExists       the version number is taken (the registry picks another)
//   InvalidArgument     a malformed record, naming the field
//   Internal/DataLoss   the database failed or is corrupt
//
// Thread-safety: every method may be called from any thread.
#ifndef FERRY_REGISTRY_STORE_H_
#define FERRY_REGISTRY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/types.h"

namespace ferry {

// Alias compare-and-set: the expected current version, where kAliasAbsent means "the alias
// must not exist yet". std::nullopt (no expectation) sets unconditionally.
inline constexpr int64_t kAliasAbsent = 0;

// A change to a model's or a version's description and tags.
struct MetadataUpdate {
  std::optional<std::string> description;  // unset: keep
  Tags set_tags;                           // added or replaced
  std::vector<std::string> remove_tags;    // removed (absent keys are ignored)
};

// An alias change made in the same transaction as a release update (promote moving
// `production` to the candidate), with its own audit row.
struct AliasChange {
  std::string alias;
  int64_t version = 0;  // 0: delete the alias
  std::optional<int64_t> expected;
  AuditEntry audit;
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  // ---- reads ----
  virtual absl::StatusOr<std::vector<RegisteredModel>> ListModels() = 0;
  virtual absl::StatusOr<RegisteredModel> GetModel(const std::string& model) = 0;
  // Ascending by version. NotFound for an unknown model.
  virtual absl::StatusOr<std::vector<ModelVersion>> ListVersions(const std::string& model) = 0;
  virtual absl::StatusOr<ModelVersion> GetVersion(const std::string& model, int64_t version) = 0;
  // The highest version number ever registered for `model`, 0 when none (or no model).
  virtual absl::StatusOr<int64_t> MaxVersion(const std::string& model) = 0;
  // Sorted by alias name. NotFound for an unknown model.
  virtual absl::StatusOr<std::vector<Alias>> ListAliases(const std::string& model) = 0;
  virtual absl::StatusOr<Alias> GetAlias(const std::string& model, const std::string& alias) = 0;
  virtual absl::StatusOr<Release> GetRelease(int64_t id) = 0;
  // Ascending by id; `model` empty: every model's.
  virtual absl::StatusOr<std::vector<Release>> ListReleases(const std::string& model) = 0;
  virtual absl::StatusOr<std::vector<AuditEntry>> ReadAudit(const AuditFilter& filter) = 0;
  // Walks the whole chain from the first row (registry/audit_chain.h).
  virtual absl::StatusOr<AuditVerification> VerifyAudit() = 0;
  // A small key/value table for the registry's own bookkeeping ("bundled_import").
  virtual absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key) = 0;

  // ---- mutations, each atomic with `audit` ----

  // Adds `version` (version.version >= 1, files and lineage as given), creating the
  // registered model when it is new. AlreadyExists when that number is registered.
  virtual absl::Status AddVersion(const ModelVersion& version, const AuditEntry& audit) = 0;
  // Sets a version's state. NotFound for an unknown version. Archiving is
  // FailedPrecondition while an alias or an active release names the version.
  virtual absl::Status SetVersionState(const std::string& model, int64_t version,
                                       VersionStatus state, const AuditEntry& audit) = 0;
  // Description and tags of the model (version 0) or of one of its versions.
  virtual absl::Status UpdateMetadata(const std::string& model, int64_t version,
                                      const MetadataUpdate& update, const AuditEntry& audit) = 0;
  // Points `alias` at `version` if the alias is now at `expected` (see kAliasAbsent).
  // NotFound: unknown model or version. Aborted: stale `expected`. FailedPrecondition:
  // `version` is archived.
  virtual absl::Status SetAlias(const std::string& model, const std::string& alias, int64_t version,
                                std::optional<int64_t> expected, const AuditEntry& audit) = 0;
  // Removes `alias` if it is now at `expected` (nullopt: whatever it is at). NotFound when
  // the alias does not exist; Aborted for a stale `expected`.
  virtual absl::Status DeleteAlias(const std::string& model, const std::string& alias,
                                   std::optional<int64_t> expected, const AuditEntry& audit) = 0;
  // Records a new active release (its id is assigned and returned; created_ms/updated_ms
  // as given). An empty or "null" audit.after becomes ReleaseAuditJson of the record, id
  // included (the caller cannot know the id beforehand). FailedPrecondition when the model already
  // has an active release; NotFound for an unknown model or candidate version.
  virtual absl::StatusOr<int64_t> CreateRelease(const Release& release,
                                                const AuditEntry& audit) = 0;
  // Replaces release `release.id`'s state, stage, evidence and updated_ms if its state is
  // now `expected_state`, and applies `aliases` (of the release's model, in order, each as
  // SetAlias / DeleteAlias would, each with its audit row) in the same transaction: all of
  // it commits or none. NotFound: unknown id. Aborted: the state moved on meanwhile, or an
  // alias is not at its expected version. FailedPrecondition: making it active while the
  // model has another active release.
  virtual absl::Status UpdateRelease(const Release& release, ReleaseState expected_state,
                                     const AuditEntry& audit,
                                     const std::vector<AliasChange>& aliases) = 0;
  // An audit row on its own, for actions that change nothing the store keeps.
  virtual absl::Status AppendAudit(const AuditEntry& audit) = 0;
  // Sets a bookkeeping value, with its audit row.
  virtual absl::Status SetMeta(const std::string& key, const std::string& value,
                               const AuditEntry& audit) = 0;
};

}  // namespace ferry

#endif  // FERRY_REGISTRY_STORE_H_
