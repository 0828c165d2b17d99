// ModelManager: loads the model versions in the repository, finds the one a request names,
// and loads or unloads models while others keep serving.
//
// A version is ready only after it is loaded, optimized (or fell back to the plain module,
// with the reason logged) and warmed up at its configured batch sizes.
//
// Concurrency: the model table is a map of shared pointers behind a reader-writer lock.
// Requests take the read lock only to copy out the version they need; a version (with its
// config and batcher) stays alive while any request holds it. Loads and unloads are
// serialized by their own mutex and do their slow work (loading, warming up, draining)
// outside the table lock, so traffic to other models never waits for them.
#ifndef FERRY_SERVER_MODEL_MANAGER_H_
#define FERRY_SERVER_MODEL_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "common/clock.h"
#include "monitor/metrics.h"
#include "monitor/observer.h"
#include "pipeline/composite.h"
#include "repository/model_config.h"
#include "scheduler/dynamic_batcher.h"
#include "uncertainty/uncertainty_outputs.h"

namespace ferry {

enum class VersionState { kLoading, kReady, kFailed };

// One loaded model version. Shared with in-flight requests, so it outlives them.
struct ServedVersion {
  std::string model;
  int64_t version = 0;
  std::string version_name;  // "1"
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is not ready
  std::shared_ptr<const ModelConfig> config;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DynamicBatcher> batcher;
  ModelMetrics* metrics = nullptr;
  // What observers are told of this version (its names and metrics).
  ObservedVersion observed;
  // <version>/calibration.json, parsed and checked against the config at load; null when
  // the version is not calibrated. Immutable: a new calibration needs a reload.
  std::shared_ptr<const CalibratedClassifier> calibration;
};

// What requests to `v` may name: the config's signature, plus the uncertainty outputs
// when the version is calibrated.
inline const ModelSignature& ResponseSignature(const ServedVersion& v) {
  return v.calibration != nullptr ? v.calibration->signature : v.config->signature;
}

struct ServedModel {
  std::string name;
  std::string path;
  // Set when the model as a whole cannot serve: config.toml failed, no version folders,
  // or it was unloaded.
  std::string error;
  bool unloaded = false;
  std::shared_ptr<const ModelConfig> config;  // null when config.toml failed
  std::vector<std::shared_ptr<ServedVersion>> versions;  // ascending
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
};

class ModelManager {
 public:
  explicit ModelManager(ManagerOptions options);
  ~ModelManager();  // ShutdownAll()

  // Loads every model in the repository, logging each version as ready or failed with
  // the reason. Fails only when the repository cannot be read.
  absl::Status LoadAll();

  // (Re)loads one model from <repository>/<name>. The new versions load and warm up
  // while the old ones keep serving; then they replace them and the old ones drain.
  // NotFound if the folder does not exist; the model's own errors (bad config, load
  // failure) are InvalidArgument and leave the previous versions serving.
  absl::Status Load(const std::string& name);

  // Stops serving a model: new requests get NotFound, queued ones finish. NotFound for
  // an unknown or already unloaded model.
  absl::Status Unload(const std::string& name);

  // The model named `name` (loaded, failed or unloaded), or null.
  std::shared_ptr<const ServedModel> Find(const std::string& name) const;
  // Every known model, sorted by name.
  std::vector<std::shared_ptr<const ServedModel>> Snapshot() const;

  // The version that serves `version` ("" = the default version).
  // NotFound: unknown or unloaded model, or no such version. InvalidArgument: `version`
  // is not a positive integer. Unavailable: the version (or every version) is not ready.
  absl::StatusOr<std::shared_ptr<ServedVersion>> Resolve(const std::string& name,
                                                         const std::string& version) const;

  // Drains and stops every batcher. Idempotent.
  void ShutdownAll();

 private:
  std::shared_ptr<ServedModel> Build(const std::string& name, const std::string& path,
                                     const std::vector<std::pair<int64_t, std::string>>& versions);
  absl::Status LoadVersion(const std::string& path, ServedVersion& version);
  // An ensemble's or cascade's backend, after checking its members serve compatibly.
  absl::StatusOr<std::unique_ptr<Backend>> CreateComposite(const ModelConfig& config,
                                                           ModelMetrics* metrics);
  static void Drain(const ServedModel& model);

  const ManagerOptions options_;
  std::mutex load_mu_;  // one load or unload at a time
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<ServedModel>> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry

#endif  // FERRY_SERVER_MODEL_MANAGER_H_
