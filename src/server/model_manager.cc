#include "server/model_manager.h"

#include <algorithm>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/container/inlined_vector.h"
#include "common/status_macros.h"
#include "core/error_text.h"
#include "repository/repository.h"
#include "rollout/version_policy.h"
#include "spdlog/spdlog.h"

namespace ferry {

ModelManager::ModelManager(ManagerOptions options) : options_([&] {
  if (options.clock == nullptr) options.clock = Clock::Real();
  return std::move(options);
}()) {}

ModelManager::~ModelManager() { ShutdownAll(); }

namespace {

// The version folder's files (name, size, modification time), the model's and the
// version's config.toml and the labels file, as one string: equal strings mean nothing a
// load reads has changed.
std::string Fingerprint(const std::string& model_path, const std::string& version_path,
                        const ModelConfig& config) {
  namespace fs = std::filesystem;
  std::string out;
  const auto add = [&out](const fs::path& file) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    const auto time = fs::last_write_time(file, ec);
    absl::StrAppend(&out, file.string(), ":", ec ? -1 : static_cast<int64_t>(size), ":",
                    ec ? 0 : time.time_since_epoch().count(), "\n");
  };
  add(fs::path(model_path) / "config.toml");
  if (!config.labels_file.empty()) add(fs::path(model_path) / config.labels_file);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(version_path, ec)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) add(file);
  return out;
}

const VersionEntry* FindEntry(const ServedModel* model, int64_t version) {
  if (model == nullptr) return nullptr;
  for (const VersionEntry& e : model->versions) {
    if (e.version == version) return &e;
  }
  return nullptr;
}

VersionEntry Entry(int64_t version, VersionState state, std::string reason,
                   std::shared_ptr<ServedVersion> served = nullptr) {
  VersionEntry e;
  e.version = version;
  e.version_name = std::to_string(version);
  e.state = state;
  e.reason = std::move(reason);
  e.served = std::move(served);
  return e;
}

}  // namespace

absl::Status ModelManager::LoadAll() {
  absl::MutexLock serial(&load_mu_);
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
      for (const ModelRef& member : config->composite.members) wanted.push_back(member.model);
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
    // Failures are logged and shown in the index; the other models still serve.
    (void)LoadLocked(dir.name, dir.path, nullptr);
  }
  if (dirs.empty()) spdlog::warn("model repository '{}' holds no models", options_.repository);
  return absl::OkStatus();
}

absl::Status ModelManager::LoadLocked(const std::string& name, const std::string& path,
                                      std::shared_ptr<const ServedModel> current) {
  FERRY_ASSIGN_OR_RETURN(ModelDir dir, ScanModel(path));
  const bool current_serves = current != nullptr && !current->unloaded &&
                              std::any_of(current->versions.begin(), current->versions.end(),
                                          [](const VersionEntry& e) { return e.served != nullptr; });
  auto next = std::make_shared<ServedModel>();
  next->name = name;
  next->path = path;
  absl::StatusOr<ModelConfig> model_config = LoadModelConfig(path);
  if (!model_config.ok()) {
    next->error = std::string(model_config.status().message());
  } else if (dir.versions.empty()) {
    next->error = absl::StrCat(path, ": no version folders (e.g. ", path, "/1/model.pt)");
  }
  if (!next->error.empty()) {
    spdlog::error("model '{}' failed: {}", name, next->error);
    const absl::Status failed =
        absl::InvalidArgumentError(absl::StrCat(error_text::LoadFailed(name), ": ", next->error));
    // A failed reload keeps the current versions serving; a failed first load is
    // recorded so that the index and the ready endpoints can say why.
    if (current_serves) return failed;
    for (const VersionDir& v : dir.versions) {
      next->versions.push_back(Entry(v.version, VersionState::kFailed, next->error));
    }
    Publish(std::move(next));
    return failed;
  }
  next->config = std::make_shared<const ModelConfig>(std::move(*model_config));

  // Which versions need building: new ones, and those whose files or configs changed.
  struct Pending {
    size_t index;  // into next->versions
    std::string path;
    std::shared_ptr<const ModelConfig> config;
    std::string fingerprint;
  };
  std::vector<Pending> pending;
  std::string failure;
  const auto fail = [&](int64_t version, const std::string& reason) {
    spdlog::error("model '{}' version {} failed: {}", name, version, reason);
    if (failure.empty()) failure = absl::StrCat("version ", version, ": ", reason);
  };
  for (const VersionDir& v : dir.versions) {
    const VersionEntry* now = FindEntry(current.get(), v.version);
    const bool now_ready = now != nullptr && now->state == VersionState::kReady;
    absl::StatusOr<ModelConfig> config = LoadModelConfig(path, v.path);
    if (!config.ok()) {
      fail(v.version, std::string(config.status().message()));
      next->versions.push_back(now_ready ? *now
                                         : Entry(v.version, VersionState::kFailed,
                                                 std::string(config.status().message())));
      continue;
    }
    std::string fingerprint = Fingerprint(path, v.path, *config);
    if (now_ready && now->served->fingerprint == fingerprint) {
      next->versions.push_back(*now);  // unchanged: keeps its build and warm state
      continue;
    }
    // A changed version keeps serving its old build until the new one is ready.
    next->versions.push_back(now_ready ? *now : Entry(v.version, VersionState::kLoading, ""));
    pending.push_back({next->versions.size() - 1, v.path,
                       std::make_shared<const ModelConfig>(std::move(*config)),
                       std::move(fingerprint)});
  }
  // While they load, the index shows the new versions as LOADING.
  if (!pending.empty()) Publish(std::make_shared<ServedModel>(*next));

  std::vector<std::shared_ptr<ServedVersion>> retired;
  for (Pending& p : pending) {
    VersionEntry& entry = next->versions[p.index];
    std::string error;
    std::shared_ptr<ServedVersion> built =
        BuildVersion(name, entry.version, p.path, std::move(p.config), std::move(p.fingerprint), error);
    if (built == nullptr) {
      fail(entry.version, error);
      if (entry.state != VersionState::kReady) entry = Entry(entry.version, VersionState::kFailed, error);
      continue;
    }
    if (entry.served != nullptr) retired.push_back(entry.served);
    entry = Entry(entry.version, VersionState::kReady, "", std::move(built));
  }
  // Versions gone from disk drain, then show as unloaded.
  std::vector<size_t> draining;
  if (current != nullptr) {
    for (const VersionEntry& old : current->versions) {
      if (FindEntry(next.get(), old.version) != nullptr) continue;
      if (old.served != nullptr) {
        retired.push_back(old.served);
        draining.push_back(next->versions.size());
        next->versions.push_back(Entry(old.version, VersionState::kDraining, "removed from the repository",
                                       old.served));
      }
    }
    std::sort(next->versions.begin(), next->versions.end(),
              [](const VersionEntry& a, const VersionEntry& b) { return a.version < b.version; });
  }
  Publish(next);
  for (const auto& version : retired) Drain(*version);
  if (!draining.empty()) {
    auto after = std::make_shared<ServedModel>(*next);
    for (VersionEntry& e : after->versions) {
      if (e.state == VersionState::kDraining) e = Entry(e.version, VersionState::kUnloaded, "unloaded");
    }
    Publish(std::move(after));
  }
  if (!failure.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(error_text::LoadFailed(name), ": ", failure));
  }
  return absl::OkStatus();
}

std::shared_ptr<ServedVersion> ModelManager::BuildVersion(const std::string& name, int64_t number,
                                                          const std::string& version_path,
                                                          std::shared_ptr<const ModelConfig> config,
                                                          std::string fingerprint, std::string& error) {
  auto version = std::make_shared<ServedVersion>();
  version->model = name;
  version->version = number;
  version->version_name = std::to_string(number);
  version->config = std::move(config);
  version->fingerprint = std::move(fingerprint);
  const int64_t start = options_.clock->NowNanos();
  const absl::Status status = StartVersion(version_path, *version);
  if (!status.ok()) {
    error = std::string(status.message());
    return nullptr;
  }
  spdlog::info("model '{}' version {} ready: {}, warmed up at batch sizes [{}] in {} ms", name,
               number, version->backend->Describe(),
               absl::StrJoin(version->config->execution.warmup_batch_sizes, ", "),
               (options_.clock->NowNanos() - start) / 1'000'000);
  return version;
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

// One row of a sequence's state, every element `value` in the spec's datatype.
Tensor StateRow(const TensorSpec& spec, double value) {
  Tensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  t.shape[0] = 1;
  const int64_t n = t.element_count();
  t.data.resize(static_cast<size_t>(n) * DataTypeByteSize(t.dtype));
  const auto fill = [&](auto typed) {
    using T = decltype(typed);
    for (int64_t i = 0; i < n; ++i) t.mutable_data_as<T>()[i] = static_cast<T>(value);
  };
  switch (t.dtype) {
    case DataType::kBool: fill(uint8_t{}); for (auto& b : t.data) b = b != 0; break;
    case DataType::kUint8: fill(uint8_t{}); break;
    case DataType::kUint16: fill(uint16_t{}); break;
    case DataType::kUint32: fill(uint32_t{}); break;
    case DataType::kUint64: fill(uint64_t{}); break;
    case DataType::kInt8: fill(int8_t{}); break;
    case DataType::kInt16: fill(int16_t{}); break;
    case DataType::kInt32: fill(int32_t{}); break;
    case DataType::kInt64: fill(int64_t{}); break;
    case DataType::kFp32: fill(float{}); break;
    case DataType::kFp64: fill(double{}); break;
    default: break;  // FP16 and BF16 states start at zero
  }
  return t;
}

// A [mc_dropout] version: its model with dropout kept active, under MC dropout.
absl::StatusOr<std::unique_ptr<Backend>> CreateMcDropout(const ModelConfig& config,
                                                         BackendOptions options,
                                                         const BackendFactory& create) {
  // The graph itself returns one tensor of logits; the served outputs are made from them.
  TensorSpec logits;
  logits.name = "logits";
  logits.dtype = DataType::kFp32;
  logits.shape = {-1, -1};
  options.signature.outputs = {logits};
  options.keep_dropout_active = true;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<Backend> stochastic, create(options));
  McDropoutOptions mc;
  mc.passes = config.mc_dropout.passes;
  mc.signature = config.signature;
  return CreateMcDropoutBackend(std::move(stochastic), std::move(mc));
}

}  // namespace

absl::Status ModelManager::StartVersion(const std::string& path, ServedVersion& version) {
  const ModelConfig& config = *version.config;
  // Without load_calibration, the models asked for (all, or only_models) serve
  // uncalibrated; the members a composite among them needs keep their calibration.
  const auto& only = options_.only_models;
  const bool asked_for = only.empty() || std::find(only.begin(), only.end(), version.model) != only.end();
  if (options_.load_calibration || !asked_for) FERRY_RETURN_IF_ERROR(LoadCalibration(path, version));
  version.metrics = options_.metrics->ForModel(version.model, version.version_name);
  ModelMetrics* metrics = version.metrics;
  if (config.is_composite()) {
    FERRY_ASSIGN_OR_RETURN(version.backend, CreateComposite(config, metrics));
  } else {
    BackendOptions backend_options;
    backend_options.platform = config.platform;
    backend_options.version_path = path;
    backend_options.signature = ExecutionSignature(config);
    backend_options.intra_op_threads = config.execution.intra_op_threads;
    backend_options.optimize = options_.optimize;
    backend_options.operation = config.builtin.operation;
    if (config.mc_dropout.passes > 0) {
      FERRY_ASSIGN_OR_RETURN(version.backend, CreateMcDropout(config, std::move(backend_options),
                                                              options_.backend_factory));
    } else {
      FERRY_ASSIGN_OR_RETURN(version.backend, options_.backend_factory(backend_options));
    }
  }
  FERRY_RETURN_IF_ERROR(WarmUp(*version.backend, ExecutionSignature(config),
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
  // A composite's batches only dispatch to its members, whose batchers decide where they
  // run; it keeps off I/O threads.
  batcher.run_inline_when_idle = !config.is_composite();
  batcher.on_batch = [metrics](int64_t rows, int64_t compute_ns, bool ran_inline) {
    metrics->RecordBatch(rows, compute_ns, ran_inline);
    metrics->last_inference_ms.store(WallClockMillis(), std::memory_order_relaxed);
  };
  if (backend->asynchronous()) {
    FERRY_ASSIGN_OR_RETURN(
        version.batcher,
        DynamicBatcher::CreateAsync(std::move(batcher),
                                    [backend](std::vector<Tensor> inputs, BatchContexts contexts,
                                              BackendDone done) {
                                      backend->ExecuteAsync(std::move(inputs), std::move(contexts),
                                                            std::move(done));
                                    }));
  } else {
    FERRY_ASSIGN_OR_RETURN(
        version.batcher,
        DynamicBatcher::Create(std::move(batcher), [backend](std::vector<Tensor>& inputs) {
          return backend->Execute(inputs);
        }));
  }
  if (config.sequence.enabled) {
    SequenceBatcherOptions sequences;
    sequences.max_sequences = config.sequence.max_sequences;
    sequences.idle_timeout_ms = config.sequence.idle_timeout_ms;
    sequences.initial_state = StateRow(config.sequence.state_input, config.sequence.initial_state);
    sequences.model_name = version.model;
    sequences.clock = options_.clock;
    FERRY_ASSIGN_OR_RETURN(version.sequences,
                           SequenceBatcher::Create(std::move(sequences), version.batcher.get()));
  }
  version.batcher->Start();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Backend>> ModelManager::CreateComposite(const ModelConfig& config,
                                                                      ModelMetrics* metrics) {
  if (!options_.member_infer) {
    return absl::FailedPreconditionError("composite models cannot be served here");
  }
  // Each member must already serve, take the same inputs, and take batches as large.
  for (const ModelRef& member : config.composite.members) {
    absl::StatusOr<std::shared_ptr<ServedVersion>> served =
        Resolve(member.model, member.RequestedVersion());
    if (!served.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("member ", member.Describe(), " is not available: ",
                                                     std::string(served.status().message())));
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
          absl::StrCat("member ", member.Describe(), " takes different inputs than '", config.name, "'"));
    }
    if (theirs.max_batch_size < ours.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", member.Describe(), " has max_batch_size ", theirs.max_batch_size, ", below '",
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
  absl::MutexLock serial(&load_mu_);
  const std::string path = (std::filesystem::path(options_.repository) / name).string();
  std::shared_ptr<const ServedModel> current = Find(name);
  if (absl::Status s = LoadLocked(name, path, current); !s.ok()) {
    if (!absl::IsNotFound(s)) return s;
    return absl::NotFoundError(absl::StrCat(error_text::LoadUnknownModel(name), ": ", s.message()));
  }
  spdlog::info("model '{}' loaded", name);
  return absl::OkStatus();
}

absl::Status ModelManager::Unload(const std::string& name) {
  absl::MutexLock serial(&load_mu_);
  std::shared_ptr<const ServedModel> previous = Find(name);
  if (previous == nullptr || previous->unloaded) {
    return absl::NotFoundError(error_text::UnknownModel(name));
  }
  auto tombstone = std::make_shared<ServedModel>();
  tombstone->name = name;
  tombstone->path = previous->path;
  tombstone->unloaded = true;
  tombstone->error = "unloaded";
  Publish(std::move(tombstone));
  DrainAll(*previous);
  spdlog::info("model '{}' unloaded", name);
  return absl::OkStatus();
}

void ModelManager::Publish(std::shared_ptr<ServedModel> model) {
  absl::MutexLock lock(&mu_);
  models_[model->name] = std::move(model);
}

void ModelManager::Drain(ServedVersion& version) {
  version.draining.store(true, std::memory_order_release);
  if (version.batcher) version.batcher->Shutdown();
  if (version.metrics) version.metrics->queue_depth.store(0, std::memory_order_relaxed);
}

void ModelManager::DrainAll(const ServedModel& model) {
  for (const VersionEntry& e : model.versions) {
    if (e.served != nullptr) Drain(*e.served);
  }
}

std::shared_ptr<const ServedModel> ModelManager::Find(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ServedModel>> ModelManager::Snapshot() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<const ServedModel>> out;
  out.reserve(models_.size());
  for (const auto& [name, model] : models_) out.push_back(model);
  return out;
}

absl::StatusOr<std::shared_ptr<ServedVersion>> ModelManager::Resolve(
    const std::string& name, const std::string& version) const {
  std::shared_ptr<const ServedModel> model = Find(name);
  if (model == nullptr || model->unloaded) {
    return absl::NotFoundError(error_text::UnknownModel(name));
  }
  if (model->versions.empty() && !model->error.empty()) {
    return absl::UnavailableError(
        absl::StrCat(error_text::NoAvailableVersions(name), ": ", model->error));
  }
  // A handful of versions: the views live on the stack of this call.
  absl::InlinedVector<VersionView, 4> views;
  for (const VersionEntry& e : model->versions) views.push_back({e.version, e.state, e.reason});
  FERRY_ASSIGN_OR_RETURN(const std::string requested, ResolveAlias(name, version));
  FERRY_ASSIGN_OR_RETURN(const int64_t chosen, RouteVersion(name, views, requested));
  return FindEntry(model.get(), chosen)->served;
}

void ModelManager::ShutdownAll() {
  // Composites first: their queued work still needs their members.
  std::vector<std::shared_ptr<const ServedModel>> models = Snapshot();
  std::stable_partition(models.begin(), models.end(), [](const auto& m) {
    return m->config != nullptr && m->config->is_composite();
  });
  for (const auto& model : models) {
    DrainAll(*model);
  }
}

}  // namespace ferry
