// Registry: Ferry's model registry as a service, the layer the /api/v1 handlers and the
// `ferry models|release|audit` commands call. A registered model has
// versions (immutable once registered: the artifact is copied into the repository and the
// SHA-256 of each file recorded), aliases (production, canary, shadow, staging or any
// name; one version each), tags and a description; each version has a lineage. Releases
// record a candidate's rollout against a baseline. Every change appends a row to the
// hash-chained audit log in the same transaction (registry/audit_chain.h).
//
// How the API maps onto it (docs/registry.md has the whole table):
//   GET  /api/v1/models                              ListModels
//   GET  /api/v1/models/{m}                          GetModel (+ ListAliases)
//   GET  /api/v1/models/{m}/versions/{v|alias}       GetVersion(m, ResolveVersion(m, v))
//   POST /api/v1/models/{m}/versions                 RegisterVersion -> 201
//   PUT|DELETE /api/v1/models/{m}/aliases/{a}        SetAlias / DeleteAlias
//   POST /api/v1/models/{m}/versions/{v}/archive     ArchiveVersion
//   /api/v1/releases...                              StartRelease, GetRelease, ListReleases,
//                                                    Promote/Rollback/Pause/ResumeRelease
//   GET  /api/v1/audit                               ReadAudit
// Status codes: NotFound -> 404; InvalidArgument -> 400; Aborted (a stale expected version
// or release state: re-read and retry) -> 409; FailedPrecondition (refused in this state:
// archived version, a release already running) -> 409; AlreadyExists -> 409;
// DataLoss (an artifact changed on disk) -> 500; Unavailable (database busy) -> 503.
//
// `actor` arguments name who acts: the authenticated principal once there is one; empty
// means the local user (LocalUserName()).
//
// Thread-safety: every method may be called from any thread. Registrations are serialized
// by a mutex (version numbers are allocated under it); the rest is the store's. Another
// process registering into the same repository (a `ferry` command beside the server) is
// kept apart by the rename: a number whose folder exists is never taken, and a folder
// another process has published but not yet recorded counts as taken.
#ifndef FERRY_REGISTRY_REGISTRY_H_
#define FERRY_REGISTRY_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/lineage.h"
#include "registry/store.h"
#include "registry/types.h"

namespace ferry {

struct RegistryOptions {
  // The model repository: <repository>/<model>/<version>/. Required.
  std::string repository;
  // The SQLite file Open() uses; empty: DefaultDatabasePath(repository).
  std::string database_path;
  // Wall-clock milliseconds since the Unix epoch for records and audit rows; empty: the
  // system clock. Tests inject a fake.
  std::function<int64_t()> wall_clock_ms;
};

// "<parent>/<name>.registry.db" for the repository folder "<parent>/<name>": one file next
// to the repository (SQLite adds -wal and -shm beside it).
std::string DefaultDatabasePath(const std::string& repository);

struct RegisterRequest {
  std::string model;
  // A file (copied into the version folder under its own name) or a folder (its tree is
  // copied). An upload is written to a temporary file first and registered from there.
  std::string artifact_path;
  std::string lineage_json;  // registry/lineage.h; "" for none
  Tags tags;
  std::string description;
  std::string reason;  // for the audit row
};

// What to release: the candidate against the baseline in `mode`.
struct ReleaseSpec {
  std::string model;
  int64_t candidate = 0;
  int64_t baseline = 0;  // 0: none
  std::string mode;      // "shadow", "canary", "ab", ...: the rollout controller's word
  std::string plan_json = "{}";
  std::string stage;  // the first stage's name
};

struct ImportReport {
  int versions_imported = 0;
  int aliases_set = 0;
  bool already_done = false;  // an earlier start imported; nothing was done
};

class Registry {
 public:
  // Opens the SQLite store (database_path or the default) and the registry over it.
  static absl::StatusOr<std::unique_ptr<Registry>> Open(RegistryOptions options);
  // Over any store (a PostgreSQL one later).
  static absl::StatusOr<std::unique_ptr<Registry>> Create(RegistryOptions options,
                                                          std::unique_ptr<RegistryStore> store);

  // ---- reads ----
  absl::StatusOr<std::vector<RegisteredModel>> ListModels();
  absl::StatusOr<RegisteredModel> GetModel(const std::string& model);
  absl::StatusOr<std::vector<ModelVersion>> ListVersions(const std::string& model);
  absl::StatusOr<ModelVersion> GetVersion(const std::string& model, int64_t version);
  absl::StatusOr<std::vector<Alias>> ListAliases(const std::string& model);
  // The version `alias` names. NotFound for an unknown model or alias; InvalidArgument for
  // a malformed alias name.
  absl::StatusOr<int64_t> ResolveAlias(const std::string& model, const std::string& alias);
  // A path segment as the API gets it: "3" is version 3, "production" is what that alias
  // names. The version must exist (NotFound otherwise).
  absl::StatusOr<int64_t> ResolveVersion(const std::string& model, const std::string& segment);
  // Recomputes the SHA-256 of each registered file of the version (the load-time check).
  // NotFound: unknown version or a missing file; DataLoss: a file changed.
  absl::Status VerifyArtifact(const std::string& model, int64_t version);
  // The version and its ancestors, following lineage parents (possibly across models),
  // child first. The chain stops at a parent that is not registered (the last entry's
  // parent names it) or at a cycle.
  absl::StatusOr<std::vector<ModelVersion>> LineageChain(const std::string& model, int64_t version);
  // Version folders of `model` on disk that the registry does not know, ascending: left by
  // a registration killed between its rename and its record, or copied in by hand after the
  // first-start import. The server decides what to do with them (they are not verified).
  std::vector<int64_t> UnregisteredFolders(const std::string& model);
  absl::StatusOr<std::vector<AuditEntry>> ReadAudit(const AuditFilter& filter);
  absl::StatusOr<AuditVerification> VerifyAudit();

  // ---- mutations ----

  // Registers the next version of `request.model` (creating the model when new): N is one
  // more than both the highest registered version and the highest version folder on disk.
  // The artifact is copied into a hidden temporary folder in the model folder, fsynced,
  // renamed to <repository>/<model>/<N>, and then recorded with its digests; a crash before
  // the record leaves an unregistered folder, never a record without its files. Staging
  // folders left by a process that died are removed here.
  // InvalidArgument naming the field (model, artifact, lineage.*, tags); NotFound for a
  // missing artifact path.
  absl::StatusOr<ModelVersion> RegisterVersion(const RegisterRequest& request,
                                               const std::string& actor);
  // Points `alias` at `version`. `expected`: the version the caller believes the alias is
  // at now (kAliasAbsent: not set); nullopt: no check. Aborted when it is stale;
  // FailedPrecondition for an archived version; InvalidArgument for a bad alias name.
  absl::StatusOr<Alias> SetAlias(const std::string& model, const std::string& alias,
                                 int64_t version, std::optional<int64_t> expected,
                                 const std::string& actor, const std::string& reason);
  absl::Status DeleteAlias(const std::string& model, const std::string& alias,
                           std::optional<int64_t> expected, const std::string& actor,
                           const std::string& reason);
  // Archives a version: it stays registered (and its files stay), but no alias or release
  // may name it. FailedPrecondition while an alias or an active release names it.
  absl::StatusOr<ModelVersion> ArchiveVersion(const std::string& model, int64_t version,
                                              const std::string& actor, const std::string& reason);
  // Description and tags: of the model (version 0) or of a version.
  absl::Status UpdateMetadata(const std::string& model, int64_t version,
                              const MetadataUpdate& update, const std::string& actor);

  // ---- releases (registry_releases.cc) ----

  // Records a running release. FailedPrecondition when the model has an active one or a
  // version is archived; NotFound for unknown versions; InvalidArgument naming the field.
  absl::StatusOr<Release> StartRelease(const ReleaseSpec& spec, const std::string& actor,
                                       const std::string& reason);
  absl::StatusOr<Release> GetRelease(int64_t id);
  absl::StatusOr<std::vector<Release>> ListReleases(const std::string& model);  // "" = all
  // Moves an active release to `stage` with new evidence (the controller's progress).
  absl::StatusOr<Release> AdvanceRelease(int64_t id, const std::string& stage,
                                         const std::string& evidence_json, const std::string& actor,
                                         const std::string& reason);
  // State changes: pause (running), resume (paused), promote and rollback (active).
  // FailedPrecondition when the release is not in a state that allows it; Aborted when it
  // changed while this ran.
  absl::StatusOr<Release> PauseRelease(int64_t id, const std::string& actor,
                                       const std::string& reason);
  absl::StatusOr<Release> ResumeRelease(int64_t id, const std::string& actor,
                                        const std::string& reason);
  // With `alias` ("production"), the same transaction points it at the candidate (promote)
  // or back at the baseline (rollback; deleted when there is no baseline), with its own
  // audit row: a crash never leaves a promoted release with the alias unmoved. Aborted,
  // and nothing changed, if someone moves the alias meanwhile. Without, only the release
  // state is recorded.
  absl::StatusOr<Release> PromoteRelease(int64_t id, const std::string& actor,
                                         const std::string& reason, const std::string& alias = "");
  absl::StatusOr<Release> RollbackRelease(int64_t id, const std::string& actor,
                                          const std::string& reason, const std::string& alias = "");

  // ---- first start (bundled_import.cc) ----

  // Imports every version folder of the repository with its lineage.json (and
  // calibration.json), records its files' digests, and points `production` at each
  // model's newest version. Runs once per database: it records that it ran, so later
  // starts import nothing and append no audit rows. If a crash cuts it short, the next
  // start finishes it (versions already registered are skipped).
  absl::StatusOr<ImportReport> ImportBundled(const std::string& actor);

  const std::string& repository() const { return options_.repository; }

 private:
  Registry(RegistryOptions options, std::unique_ptr<RegistryStore> store);
  AuditEntry Audit(const std::string& actor, const char* action, const std::string& model,
                   std::string before, std::string after, const std::string& reason) const;
  int64_t Now() const { return options_.wall_clock_ms(); }
  const std::string& ActorOr(const std::string& actor) const {
    return actor.empty() ? local_user_ : actor;
  }
  // The highest numeric folder under <repository>/<model>, 0 when none.
  int64_t MaxVersionOnDisk(const std::string& model) const;
  absl::StatusOr<ModelVersion> RegisterLocked(const RegisterRequest& request,
                                              const Lineage& lineage, const std::string& actor)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(register_mu_);
  // Read, check `allowed`, write `to` with CAS on the state read; with `alias`, move it to
  // the candidate (`to_candidate`) or the baseline in the same transaction.
  absl::StatusOr<Release> TransitionRelease(int64_t id, const char* verb,
                                            std::vector<ReleaseState> allowed, ReleaseState to,
                                            const std::string& actor, const std::string& reason,
                                            const std::string& alias, bool to_candidate);

  const RegistryOptions options_;
  const std::unique_ptr<RegistryStore> store_;
  const std::string local_user_;
  absl::Mutex register_mu_;
};

// The chain as `ferry models lineage` prints it: one block per version, child first.
std::string FormatLineageChain(const std::vector<ModelVersion>& chain);

}  // namespace ferry

#endif  // FERRY_REGISTRY_REGISTRY_H_
