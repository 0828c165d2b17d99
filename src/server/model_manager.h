// ModelManager: loads every model version in the repository and finds the one a request
// names. A version is ready only after it is loaded, optimized (or fell back to the plain
// module, with the reason logged) and warmed up at its configured batch sizes.
//
// The set of models is fixed once LoadRepository returns, so lookups take no lock.
#ifndef FERRY_SERVER_MODEL_MANAGER_H_
#define FERRY_SERVER_MODEL_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "common/clock.h"
#include "monitor/metrics.h"
#include "repository/model_config.h"
#include "scheduler/dynamic_batcher.h"

namespace ferry {

enum class VersionState { kLoading, kReady, kFailed };

// One loaded model version. Shared with in-flight requests, so it outlives them.
struct ServedVersion {
  std::string model;
  int64_t version = 0;
  std::string version_name;  // "1"
  VersionState state = VersionState::kLoading;
  std::string reason;  // why it is not ready
  const ModelConfig* config = nullptr;  // owned by the ServedModel
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DynamicBatcher> batcher;
  ModelMetrics* metrics = nullptr;
};

struct ServedModel {
  std::string name;
  std::string path;
  // Set when config.toml failed; then no version can load.
  std::string config_error;
  std::unique_ptr<ModelConfig> config;
  std::vector<std::shared_ptr<ServedVersion>> versions;  // ascending
};

struct ManagerOptions {
  bool optimize = true;
  Clock* clock = nullptr;               // not owned
  MetricsRegistry* metrics = nullptr;   // not owned, required
};

class ModelManager {
 public:
  explicit ModelManager(ManagerOptions options);
  ~ModelManager();  // ShutdownAll()

  // Loads everything under `root`, logging each model and version as ready or failed
  // with the reason. Fails only when `root` cannot be read.
  absl::Status LoadRepository(const std::string& root);

  // The model named `name`, or null.
  const ServedModel* Find(const std::string& name) const;

  // The version that serves `version` ("" = the default version).
  // NotFound: unknown model, or no such version. InvalidArgument: `version` is not a
  // positive integer. Unavailable: the version (or every version) is not ready.
  absl::StatusOr<std::shared_ptr<ServedVersion>> Resolve(const std::string& name,
                                                         const std::string& version) const;

  const std::vector<ServedModel>& models() const { return models_; }

  // Drains and stops every batcher. Idempotent.
  void ShutdownAll();

 private:
  void LoadModel(ServedModel& model, const std::vector<int64_t>& versions,
                 const std::vector<std::string>& version_paths);
  absl::Status LoadVersion(const ModelConfig& config, const std::string& path,
                           ServedVersion& version);

  ManagerOptions options_;
  std::vector<ServedModel> models_;
};

}  // namespace ferry

#endif  // FERRY_SERVER_MODEL_MANAGER_H_
