// ModelManager: loads the model versions in the repository, routes a request to the
// version that answers it, and loads, reloads or unloads models while others keep serving.
//
// Each version has a life of its own (rollout/version_policy.h: loading, ready, failed,
// draining, unloaded) and its own config: a <version>/config.toml overrides the model's.
// A version is ready only after it is loaded, optimized (or fell back to the plain module,
// with the reason logged) and warmed up at its configured batch sizes. Reloading a model
// builds only the versions that are new or changed on disk (their files or configs); the
// others keep their backend, batcher and warm state. A version that fails to load never
// takes traffic from a ready one: a changed version keeps its old build serving.
//
// Concurrency: each model's state is an immutable snapshot (ServedModel) that a load
// replaces whole under a short write lock, so a request sees one consistent snapshot and
// keeps the version it routed to (a shared pointer) until it finishes, even if a swap
// happens meanwhile. A version taken out of a snapshot is drained (its queued requests
// finish) after the swap. Loads and unloads are serialized by their own mutex and do their
// slow work (loading, warming up, draining) outside the table lock, so traffic never waits
// for them.
#ifndef FERRY_SERVER_MODEL_MANAGER_H_
#define FERRY_SERVER_MODEL_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "backends/backend.h"
#include "common/clock.h"
#include "monitor/metrics.h"
#include "monitor/observer.h"
#include "pipeline/composite.h"
#include "repository/model_config.h"
#include "rollout/version_policy.h"
#include "server/alias_table.h"
#include "scheduler/dynamic_batcher.h"
#include "scheduler/sequence_batcher.h"
#include "uncertainty/uncertainty_outputs.h"

namespace ferry {

// One loaded model version: immutable once ready, and shared with the requests it is
// serving, so it outlives them.
struct ServedVersion {
  std::string model;
  int64_t version = 0;
  std::string version_name;  // "1"
  // The model's config.toml with the version folder's overrides.
  std::shared_ptr<const ModelConfig> config;
  // The version folder's files and configs as they were at load: a reload rebuilds the
  // version only when this changes.
  std::string fingerprint;
  std::unique_ptr<Backend> backend;
  // A stateful model's ([sequence]) requests go through this to the batcher; null for
  // the others. Declared before the batcher, so that it outlives the batcher's shutdown,
  // whose finishing requests call back into it.
  std::unique_ptr<SequenceBatcher> sequences;
  std::unique_ptr<DynamicBatcher> batcher;
  ModelMetrics* metrics = nullptr;
  // <version>/calibration.json, parsed and checked against the config at load; null when
  // the version is not calibrated. Immutable: a new calibration needs a reload.
  std::shared_ptr<const CalibratedClassifier> calibration;
  // Set just before the batcher stops taking work: a request that routed here before a
  // swap and finds the queue closed routes again instead of failing.
  std::atomic<bool> draining{false};
};

// What requests to `v` may name: the config's signature, plus the uncertainty outputs
// when the version is calibrated.
inline const ModelSignature& ResponseSignature(const ServedVersion& v) {
  return v.calibration != nullptr ? v.calibration->signature : v.config->signature;
}

// A version as one snapshot of its model sees it.
struct VersionEntry {
  int64_t version = 0;
  std::string version_name;
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is not ready
  // Set while ready or draining; null otherwise.
  std::shared_ptr<ServedVersion> served;
};

// One immutable snapshot of a model.
struct ServedModel {
  std::string name;
  std::string path;
  // Set when the model as a whole cannot serve: config.toml failed, no version folders,
  // or it was unloaded.
  std::string error;
  bool unloaded = false;
  std::shared_ptr<const ModelConfig> config;  // the model's own; null when it failed
  std::vector<VersionEntry> versions;         // ascending
};

struct ManagerOptions {
  std::string repository;  // the folder holding one sub-folder per model
  bool optimize = true;
  // Read each version's calibration.json. `ferry calibrate` turns this off, so that a
  // stale or broken file cannot stop it from writing a new one. With only_models set, it
  // applies to those models only: members loaded for a composite keep their calibration.
  bool load_calibration = true;
  // Load only these models from the repository (empty: all of them).
  std::vector<std::string> only_models;
  Clock* clock = nullptr;              // not owned
  MetricsRegistry* metrics = nullptr;  // not owned, required
  // How ensembles and cascades reach their members (the server's own Infer). Without it,
  // composite models fail to load.
  MemberInfer member_infer;
  // Makes each version's backend (and MC dropout's stochastic one); required.
  BackendFactory backend_factory;
  // Aliases a requested version may name; null: none (server/alias_table.h).
  std::shared_ptr<const AliasTable> aliases;
};

class ModelManager {
 public:
  explicit ModelManager(ManagerOptions options);
  ~ModelManager();  // ShutdownAll()

  // Loads every model in the repository, logging each version as ready or failed with
  // the reason. Fails only when the repository cannot be read.
  absl::Status LoadAll();

  // (Re)loads one model from <repository>/<name>: versions new or changed on disk load
  // and warm up while the current ones keep serving, then one swap publishes them; versions
  // gone from disk (and the old builds of changed ones) drain after it. NotFound if the
  // folder does not exist. The model's own errors (bad config, a version that fails to
  // load) are InvalidArgument naming the version; every version that did load serves.
  absl::Status Load(const std::string& name);

  // Stops serving a model: new requests get NotFound, queued ones finish. NotFound for
  // an unknown or already unloaded model.
  absl::Status Unload(const std::string& name);

  // The model named `name` (loaded, failed or unloaded), or null.
  std::shared_ptr<const ServedModel> Find(const std::string& name) const;
  // Every known model, sorted by name.
  std::vector<std::shared_ptr<const ServedModel>> Snapshot() const;

  // The version that serves `version` ("" = the default version), by RouteVersion over
  // the model's current snapshot. NotFound: unknown or unloaded model, or no such version.
  // `version` may be an alias (ResolveVersionAlias; NotFound naming an unknown one).
  // InvalidArgument: `version` is not a positive integer. Unavailable: the version (or
  // every version) is not ready.
  absl::StatusOr<std::shared_ptr<ServedVersion>> Resolve(const std::string& name,
                                                         const std::string& version) const;

  // `version` with an alias replaced by the number it names (ResolveVersionAlias over
  // this manager's aliases): the one place a requested version string is interpreted.
  absl::StatusOr<std::string> ResolveAlias(const std::string& name,
                                           const std::string& version) const {
    return ResolveVersionAlias(options_.aliases.get(), name, version);
  }

  // Drains and stops every batcher. Idempotent.
  void ShutdownAll();

 private:
  // Loads model `name` from `path` against its current snapshot (null when new) and
  // publishes the result. Returns the first failure, as Load does.
  absl::Status LoadLocked(const std::string& name, const std::string& path,
                          std::shared_ptr<const ServedModel> current)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(load_mu_);
  // Builds one version: backend, warm-up, batcher. Null `error` means ready.
  std::shared_ptr<ServedVersion> BuildVersion(const std::string& name, int64_t number,
                                              const std::string& version_path,
                                              std::shared_ptr<const ModelConfig> config,
                                              std::string fingerprint, std::string& error);
  absl::Status StartVersion(const std::string& path, ServedVersion& version);
  // An ensemble's or cascade's backend, after checking its members serve compatibly.
  absl::StatusOr<std::unique_ptr<Backend>> CreateComposite(const ModelConfig& config,
                                                           ModelMetrics* metrics);
  void Publish(std::shared_ptr<ServedModel> model) ABSL_LOCKS_EXCLUDED(mu_);
  static void Drain(ServedVersion& version);
  // Drains every version of `model` that has a build.
  static void DrainAll(const ServedModel& model);

  const ManagerOptions options_;
  absl::Mutex load_mu_;  // one load or unload at a time
  mutable absl::Mutex mu_;  // the table; readers share it
  std::map<std::string, std::shared_ptr<ServedModel>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry

#endif  // FERRY_SERVER_MODEL_MANAGER_H_
