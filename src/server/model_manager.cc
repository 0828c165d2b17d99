#include "server/model_manager.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "repository/repository.h"
#include "rollout/version_policy.h"
#include "spdlog/spdlog.h"

namespace ferry {

ModelManager::ModelManager(ManagerOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = Clock::Real();
}

ModelManager::~ModelManager() { ShutdownAll(); }

absl::Status ModelManager::LoadRepository(const std::string& root) {
  FERRY_ASSIGN_OR_RETURN(std::vector<ModelDir> dirs, ScanRepository(root));
  models_.reserve(dirs.size());
  for (const ModelDir& dir : dirs) {
    for (const std::string& warning : dir.warnings) spdlog::warn("{}", warning);
    ServedModel& model = models_.emplace_back();
    model.name = dir.name;
    model.path = dir.path;
    std::vector<int64_t> versions;
    std::vector<std::string> paths;
    for (const VersionDir& v : dir.versions) {
      versions.push_back(v.version);
      paths.push_back(v.path);
    }
    LoadModel(model, versions, paths);
  }
  if (models_.empty()) spdlog::warn("model repository '{}' holds no models", root);
  return absl::OkStatus();
}

void ModelManager::LoadModel(ServedModel& model, const std::vector<int64_t>& versions,
                             const std::vector<std::string>& version_paths) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(model.path);
  if (!config.ok()) {
    model.config_error = std::string(config.status().message());
    spdlog::error("model '{}' failed: {}", model.name, model.config_error);
  } else {
    model.config = std::make_unique<ModelConfig>(std::move(*config));
  }
  if (versions.empty() && model.config_error.empty()) {
    model.config_error = absl::StrCat(model.path, ": no version folders (e.g. ", model.path, "/1/)");
    spdlog::error("model '{}' failed: {}", model.name, model.config_error);
  }
  for (size_t i = 0; i < versions.size(); ++i) {
    auto version = std::make_shared<ServedVersion>();
    version->model = model.name;
    version->version = versions[i];
    version->version_name = std::to_string(versions[i]);
    version->config = model.config.get();
    model.versions.push_back(version);
    if (!model.config_error.empty()) {
      version->state = VersionState::kFailed;
      version->reason = model.config_error;
      continue;
    }
    const int64_t start = options_.clock->NowNanos();
    absl::Status status = LoadVersion(*model.config, version_paths[i], *version);
    if (!status.ok()) {
      version->state = VersionState::kFailed;
      version->reason = std::string(status.message());
      version->batcher.reset();
      version->backend.reset();
      spdlog::error("model '{}' version {} failed: {}", model.name, versions[i], version->reason);
      continue;
    }
    version->state = VersionState::kReady;
    spdlog::info("model '{}' version {} ready: {}, warmed up at batch sizes [{}] in {} ms",
                 model.name, versions[i], version->backend->Describe(),
                 absl::StrJoin(model.config->execution.warmup_batch_sizes, ", "),
                 (options_.clock->NowNanos() - start) / 1'000'000);
  }
}

absl::Status ModelManager::LoadVersion(const ModelConfig& config, const std::string& path,
                                       ServedVersion& version) {
  BackendOptions backend_options;
  backend_options.platform = config.platform;
  backend_options.version_path = path;
  backend_options.signature = config.signature;
  backend_options.intra_op_threads = config.execution.intra_op_threads;
  backend_options.optimize = options_.optimize;
  FERRY_ASSIGN_OR_RETURN(version.backend, CreateBackend(backend_options));
  FERRY_RETURN_IF_ERROR(WarmUp(*version.backend, config.signature,
                               config.execution.warmup_batch_sizes));

  version.metrics = options_.metrics->ForModel(version.model, version.version_name);
  ModelMetrics* metrics = version.metrics;
  Backend* backend = version.backend.get();
  BatcherOptions batcher;
  batcher.max_batch_size = config.signature.max_batch_size;
  batcher.max_queue_delay_us = config.batching.max_queue_delay_us;
  batcher.preferred_batch_sizes = config.batching.preferred_batch_sizes;
  batcher.max_queue_size = config.batching.max_queue_size;
  batcher.num_workers = config.execution.workers;
  batcher.clock = options_.clock;
  batcher.on_worker_start = [backend] { backend->PrepareWorkerThread(); };
  batcher.on_batch = [metrics](int64_t rows, int64_t compute_ns) {
    metrics->execution_count.fetch_add(1, std::memory_order_relaxed);
    metrics->inference_count.fetch_add(rows, std::memory_order_relaxed);
    metrics->batch_size.Observe(static_cast<double>(rows));
    metrics->last_inference_ms.store(WallClockMillis(), std::memory_order_relaxed);
  };
  FERRY_ASSIGN_OR_RETURN(
      version.batcher,
      DynamicBatcher::Create(std::move(batcher), [backend](std::vector<Tensor>& inputs) {
        return backend->Execute(inputs);
      }));
  DynamicBatcher* queue = version.batcher.get();
  metrics->queue_depth = [queue] { return queue->QueueDepth(); };
  version.batcher->Start();
  return absl::OkStatus();
}

const ServedModel* ModelManager::Find(const std::string& name) const {
  for (const ServedModel& model : models_) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<ServedVersion>> ModelManager::Resolve(
    const std::string& name, const std::string& version) const {
  const ServedModel* model = Find(name);
  if (model == nullptr) return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  int64_t wanted = 0;
  if (version.empty()) {
    std::vector<VersionView> views;
    for (const auto& v : model->versions) views.push_back({v->version, v->state == VersionState::kReady});
    wanted = SelectDefaultVersion(views);
    if (wanted == 0) {
      std::string why = model->config_error;
      if (why.empty() && !model->versions.empty()) why = model->versions.back()->reason;
      return absl::UnavailableError(
          absl::StrCat("model '", name, "' has no ready version", why.empty() ? "" : ": ", why));
    }
  } else {
    wanted = ParseVersion(version);
    if (wanted == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("version '", version, "' is not a positive integer"));
    }
  }
  for (const auto& v : model->versions) {
    if (v->version != wanted) continue;
    if (v->state != VersionState::kReady) {
      return absl::UnavailableError(absl::StrCat("model '", name, "' version ", wanted,
                                                 " is not ready: ", v->reason));
    }
    return v;
  }
  return absl::NotFoundError(absl::StrCat("model '", name, "' has no version ", version));
}

void ModelManager::ShutdownAll() {
  for (ServedModel& model : models_) {
    for (auto& version : model.versions) {
      if (version->batcher) version->batcher->Shutdown();
    }
  }
}

}  // namespace ferry
