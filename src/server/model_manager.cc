#include "server/model_manager.h"

#include <algorithm>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "repository/repository.h"
#include "rollout/version_policy.h"
#include "spdlog/spdlog.h"

namespace ferry {

ModelManager::ModelManager(ManagerOptions options) : options_([&] {
  if (options.clock == nullptr) options.clock = Clock::Real();
  return std::move(options);
}()) {}

ModelManager::~ModelManager() { ShutdownAll(); }

absl::Status ModelManager::LoadAll() {
  std::lock_guard<std::mutex> serial(load_mu_);
  FERRY_ASSIGN_OR_RETURN(std::vector<ModelDir> dirs, ScanRepository(options_.repository));
  // Ensembles and cascades warm up through their members, so they load last (and the
  // members of a wanted composite are wanted too).
  std::vector<std::string> wanted = options_.only_models;
  std::vector<bool> composite(dirs.size(), false);
  for (size_t i = 0; i < dirs.size(); ++i) {
    absl::StatusOr<ModelConfig> config = LoadModelConfig(dirs[i].path);
    if (!config.ok() || !config->is_composite()) continue;
    composite[i] = true;
    if (std::find(wanted.begin(), wanted.end(), dirs[i].name) != wanted.end()) {
      wanted.insert(wanted.end(), config->composite.members.begin(), config->composite.members.end());
    }
  }
  std::vector<size_t> order(dirs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_partition(order.begin(), order.end(), [&](size_t i) { return !composite[i]; });
  for (size_t i : order) {
    const ModelDir& dir = dirs[i];
    if (!options_.only_models.empty() &&
        std::find(wanted.begin(), wanted.end(), dir.name) == wanted.end()) {
      continue;
    }
    for (const std::string& warning : dir.warnings) spdlog::warn("{}", warning);
    std::vector<std::pair<int64_t, std::string>> versions;
    for (const VersionDir& v : dir.versions) versions.emplace_back(v.version, v.path);
    std::shared_ptr<ServedModel> model = Build(dir.name, dir.path, versions);
    std::unique_lock<std::shared_mutex> lock(mu_);
    models_[dir.name] = std::move(model);
  }
  if (dirs.empty()) spdlog::warn("model repository '{}' holds no models", options_.repository);
  return absl::OkStatus();
}

std::shared_ptr<ServedModel> ModelManager::Build(
    const std::string& name, const std::string& path,
    const std::vector<std::pair<int64_t, std::string>>& versions) {
  auto model = std::make_shared<ServedModel>();
  model->name = name;
  model->path = path;
  absl::StatusOr<ModelConfig> config = LoadModelConfig(path);
  if (!config.ok()) {
    model->error = std::string(config.status().message());
  } else {
    model->config = std::make_shared<const ModelConfig>(std::move(*config));
    if (versions.empty()) {
      model->error = absl::StrCat(path, ": no version folders (e.g. ", path, "/1/model.pt)");
    }
  }
  if (!model->error.empty()) spdlog::error("model '{}' failed: {}", name, model->error);
  for (const auto& [number, version_path] : versions) {
    auto version = std::make_shared<ServedVersion>();
    version->model = name;
    version->version = number;
    version->version_name = std::to_string(number);
    version->config = model->config;
    model->versions.push_back(version);
    if (!model->error.empty()) {
      version->state = VersionState::kFailed;
      version->reason = model->error;
      continue;
    }
    const int64_t start = options_.clock->NowNanos();
    const absl::Status status = LoadVersion(version_path, *version);
    if (!status.ok()) {
      version->state = VersionState::kFailed;
      version->reason = std::string(status.message());
      version->batcher.reset();
      version->backend.reset();
      spdlog::error("model '{}' version {} failed: {}", name, number, version->reason);
      continue;
    }
    version->state = VersionState::kReady;
    spdlog::info("model '{}' version {} ready: {}, warmed up at batch sizes [{}] in {} ms", name,
                 number, version->backend->Describe(),
                 absl::StrJoin(model->config->execution.warmup_batch_sizes, ", "),
                 (options_.clock->NowNanos() - start) / 1'000'000);
  }
  return model;
}

namespace {

// Reads <version>/calibration.json when there is one. A file that does not parse or does
// not fit the config fails the version, as a bad model file would.
absl::Status LoadCalibration(const std::string& path, ServedVersion& version) {
  const std::string file = (std::filesystem::path(path) / kCalibrationFileName).string();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return absl::OkStatus();
  FERRY_ASSIGN_OR_RETURN(Calibration calibration, ReadCalibrationFile(file));
  FERRY_ASSIGN_OR_RETURN(CalibratedClassifier classifier,
                         PrepareCalibratedClassifier(version.config->signature,
                                                     version.config->uncertainty,
                                                     std::move(calibration), file));
  spdlog::info("model '{}' version {} calibrated: T = {:.4f} on {} rows, alphas [{}], score {}",
               version.model, version.version_name, classifier.calibration.temperature,
               classifier.calibration.n, classifier.calibration.LevelList(),
               std::string(ConformalScoreName(classifier.score)));
  version.calibration = std::make_shared<const CalibratedClassifier>(std::move(classifier));
  return absl::OkStatus();
}

// A [mc_dropout] version: its model with dropout kept active, under MC dropout.
absl::StatusOr<std::unique_ptr<Backend>> CreateMcDropout(const ModelConfig& config,
                                                         BackendOptions options) {
  // The graph itself returns one tensor of logits; the served outputs are made from them.
  TensorSpec logits;
  logits.name = "logits";
  logits.dtype = DataType::kFp32;
  logits.shape = {-1, -1};
  options.signature.outputs = {logits};
  options.keep_dropout_active = true;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Backend> stochastic, CreateBackend(options));
  McDropoutOptions mc;
  mc.passes = config.mc_dropout.passes;
  mc.signature = config.signature;
  return CreateMcDropoutBackend(std::move(stochastic), std::move(mc));
}

}  // namespace

absl::Status ModelManager::LoadVersion(const std::string& path, ServedVersion& version) {
  const ModelConfig& config = *version.config;
  // Without load_calibration, the models asked for (all, or only_models) serve
  // uncalibrated; the members a composite among them needs keep their calibration.
  const auto& only = options_.only_models;
  const bool asked_for = only.empty() || std::find(only.begin(), only.end(), version.model) != only.end();
  if (options_.load_calibration || !asked_for) FERRY_RETURN_IF_ERROR(LoadCalibration(path, version));
  version.metrics = options_.metrics->ForModel(version.model, version.version_name);
  version.observed = {version.model, version.version_name, version.metrics};
  ModelMetrics* metrics = version.metrics;
  if (config.is_composite()) {
    FERRY_ASSIGN_OR_RETURN(version.backend, CreateComposite(config, metrics));
  } else {
    BackendOptions backend_options;
    backend_options.platform = config.platform;
    backend_options.version_path = path;
    backend_options.signature = config.signature;
    backend_options.intra_op_threads = config.execution.intra_op_threads;
    backend_options.optimize = options_.optimize;
    if (config.mc_dropout.passes > 0) {
      FERRY_ASSIGN_OR_RETURN(version.backend, CreateMcDropout(config, std::move(backend_options)));
    } else {
      FERRY_ASSIGN_OR_RETURN(version.backend, CreateBackend(backend_options));
    }
  }
  FERRY_RETURN_IF_ERROR(WarmUp(*version.backend, config.signature,
                               config.execution.warmup_batch_sizes));

  Backend* backend = version.backend.get();
  BatcherOptions batcher;
  batcher.max_batch_size = config.signature.max_batch_size;
  batcher.max_queue_delay_us = config.batching.max_queue_delay_us;
  batcher.preferred_batch_sizes = config.batching.preferred_batch_sizes;
  batcher.max_queue_size = config.batching.max_queue_size;
  batcher.num_workers = config.execution.workers;
  batcher.clock = options_.clock;
  batcher.on_worker_start = [backend] { backend->PrepareWorkerThread(); };
  batcher.worker_thread_name = absl::StrCat("w:", version.model, ":", version.version_name);
  // A composite's batch waits for its members; that must not hold an I/O thread.
  batcher.run_inline_when_idle = !config.is_composite();
  batcher.on_batch = [metrics](int64_t rows, int64_t compute_ns, bool ran_inline) {
    metrics->RecordBatch(rows, compute_ns, ran_inline);
    metrics->last_inference_ms.store(WallClockMillis(), std::memory_order_relaxed);
  };
  FERRY_ASSIGN_OR_RETURN(
      version.batcher,
      DynamicBatcher::Create(std::move(batcher), [backend](std::vector<Tensor>& inputs) {
        return backend->Execute(inputs);
      }));
  version.batcher->Start();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Backend>> ModelManager::CreateComposite(const ModelConfig& config,
                                                                      ModelMetrics* metrics) {
  if (!options_.member_infer) {
    return absl::FailedPreconditionError("composite models cannot be served here");
  }
  // Each member must already serve, take the same inputs, and take batches as large.
  for (const std::string& member : config.composite.members) {
    absl::StatusOr<std::shared_ptr<ServedVersion>> served = Resolve(member, "");
    if (!served.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("member '", member, "' is not available: ", std::string(served.status().message())));
    }
    const ModelSignature& theirs = (*served)->config->signature;
    const ModelSignature& ours = config.signature;
    bool same = theirs.inputs.size() == ours.inputs.size();
    for (size_t i = 0; same && i < ours.inputs.size(); ++i) {
      same = theirs.inputs[i].name == ours.inputs[i].name &&
             theirs.inputs[i].dtype == ours.inputs[i].dtype &&
             theirs.inputs[i].shape == ours.inputs[i].shape;
    }
    if (!same) {
      return absl::InvalidArgumentError(
          absl::StrCat("member '", member, "' takes different inputs than '", config.name, "'"));
    }
    if (theirs.max_batch_size < ours.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member '", member, "' has max_batch_size ", theirs.max_batch_size, ", below '",
          config.name, "''s ", ours.max_batch_size));
    }
  }
  CompositeOptions composite;
  composite.members = config.composite.members;
  composite.signature = config.signature;
  composite.infer = options_.member_infer;
  if (config.platform == "ensemble") return CreateEnsembleBackend(std::move(composite));
  composite.min_confidence = config.composite.min_confidence;
  composite.alpha = config.composite.alpha;
  metrics->cascade_stages.store(config.composite.members.size(), std::memory_order_relaxed);
  composite.on_stage = [metrics](size_t stage, int64_t answered, int64_t escalated) {
    metrics->RecordStage(stage, answered, escalated);
  };
  return CreateCascadeBackend(std::move(composite));
}

absl::Status ModelManager::Load(const std::string& name) {
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a model name"));
  }
  std::lock_guard<std::mutex> serial(load_mu_);
  const std::string path = (std::filesystem::path(options_.repository) / name).string();
  FERRY_ASSIGN_OR_RETURN(ModelDir dir, ScanModel(path));
  for (const std::string& warning : dir.warnings) spdlog::warn("{}", warning);
  std::vector<std::pair<int64_t, std::string>> versions;
  for (const VersionDir& v : dir.versions) versions.emplace_back(v.version, v.path);
  std::shared_ptr<ServedModel> fresh = Build(name, path, versions);

  std::string failure = fresh->error;
  for (const auto& v : fresh->versions) {
    if (failure.empty() && v->state != VersionState::kReady) {
      failure = absl::StrCat("version ", v->version, ": ", v->reason);
    }
  }
  std::shared_ptr<ServedModel> previous;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = models_.find(name);
    if (it != models_.end()) previous = it->second;
    const bool previous_serves = previous && !previous->unloaded && previous->error.empty();
    // A failed reload keeps the old versions serving; a failed first load is recorded
    // so that the index and the ready endpoints can say why.
    if (failure.empty() || !previous_serves) models_[name] = fresh;
  }
  if (!failure.empty()) {
    Drain(*fresh);
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "' failed to load: ", failure));
  }
  if (previous) Drain(*previous);
  spdlog::info("model '{}' loaded", name);
  return absl::OkStatus();
}

absl::Status ModelManager::Unload(const std::string& name) {
  std::lock_guard<std::mutex> serial(load_mu_);
  std::shared_ptr<ServedModel> previous;
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end() || it->second->unloaded) {
      return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
    }
    previous = it->second;
    auto tombstone = std::make_shared<ServedModel>();
    tombstone->name = name;
    tombstone->path = previous->path;
    tombstone->unloaded = true;
    tombstone->error = "unloaded";
    it->second = std::move(tombstone);
  }
  Drain(*previous);
  spdlog::info("model '{}' unloaded", name);
  return absl::OkStatus();
}

void ModelManager::Drain(const ServedModel& model) {
  for (const auto& version : model.versions) {
    if (version->batcher) version->batcher->Shutdown();
    if (version->metrics) version->metrics->queue_depth.store(0, std::memory_order_relaxed);
  }
}

std::shared_ptr<const ServedModel> ModelManager::Find(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ServedModel>> ModelManager::Snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::shared_ptr<const ServedModel>> out;
  out.reserve(models_.size());
  for (const auto& [name, model] : models_) out.push_back(model);
  return out;
}

absl::StatusOr<std::shared_ptr<ServedVersion>> ModelManager::Resolve(
    const std::string& name, const std::string& version) const {
  std::shared_ptr<const ServedModel> model = Find(name);
  if (model == nullptr || model->unloaded) {
    return absl::NotFoundError(absl::StrCat("unknown model '", name, "'"));
  }
  int64_t wanted = 0;
  if (version.empty()) {
    std::vector<VersionView> views;
    for (const auto& v : model->versions) views.push_back({v->version, v->state == VersionState::kReady});
    wanted = SelectDefaultVersion(views);
    if (wanted == 0) {
      std::string why = model->error;
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
  // Composites first: their queued work still needs their members.
  std::vector<std::shared_ptr<const ServedModel>> models = Snapshot();
  std::stable_partition(models.begin(), models.end(), [](const auto& m) {
    return m->config != nullptr && m->config->is_composite();
  });
  for (const auto& model : models) Drain(*model);
}

}  // namespace ferry
