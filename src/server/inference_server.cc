#include "server/inference_server.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/classification.h"
#include "core/error_text.h"
#include "monitor/metrics_observer.h"
#include "repository/repository.h"
#include "server/model_manager.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

constexpr char kServerName[] = "ferry";
constexpr char kServerVersion[] = "0.1.0";

// The protocol's platform names are <framework>_<format>.
std::string ProtocolPlatform(const std::string& platform) {
  if (platform == "torchscript") return "pytorch_torchscript";
  return platform;
}

// Picks and transforms the outputs a request asked for; all of them when it named none.
// A calibrated version first adds its uncertainty outputs at the request's `level`.
absl::StatusOr<std::vector<Tensor>> Postprocess(const ServedVersion& served,
                                                const std::vector<RequestedOutput>& requested,
                                                int level, std::vector<Tensor> outputs) {
  if (served.calibration != nullptr) {
    FERRY_RETURN_IF_ERROR(AddUncertaintyOutputs(*served.calibration, level, requested, outputs));
  }
  if (requested.empty()) return outputs;
  const ModelSignature& sig = ResponseSignature(served);
  std::vector<Tensor> selected;
  selected.reserve(requested.size());
  for (const RequestedOutput& want : requested) {
    const int idx = FindTensor(sig.outputs, want.name);
    if (want.classification > 0) {
      FERRY_ASSIGN_OR_RETURN(Tensor top, TopClasses(outputs[idx], want.classification, sig.labels));
      selected.push_back(std::move(top));
    } else {
      selected.push_back(std::move(outputs[idx]));
    }
  }
  return selected;
}

}  // namespace

InferenceServer::InferenceServer(ServerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<InferenceServer>> InferenceServer::Create(ServerOptions options) {
  if (options.clock == nullptr) options.clock = Clock::Real();
  if (!options.backend_factory) {
    return absl::InvalidArgumentError(
        "backend_factory: none given (the programs pass CreateBackend, tests a fake)");
  }
  std::unique_ptr<InferenceServer> server(new InferenceServer(std::move(options)));
  ManagerOptions manager;
  manager.repository = server->options_.model_repository;
  manager.optimize = server->options_.optimize;
  manager.load_calibration = server->options_.load_calibration;
  manager.only_models = server->options_.only_models;
  manager.clock = server->options_.clock;
  manager.metrics = &server->metrics_;
  manager.backend_factory = server->options_.backend_factory;
  manager.aliases = server->options_.aliases;
  // Members answer composites even while draining, so queued composite work can finish.
  InferenceServer* self = server.get();
  manager.member_infer = [self](const ModelRef& member, std::shared_ptr<RequestContext> context,
                                 InferRequest request, MemberDone done) {
    self->Run(std::move(context), member.model, member.RequestedVersion(), std::move(request),
              std::move(done));
  };
  server->observers_.push_back(std::make_shared<MetricsObserver>());
  for (auto& observer : server->options_.observers) {
    if (observer == nullptr) return absl::InvalidArgumentError("observers: a null observer");
    server->keep_inputs_ |= observer->wants_inputs();
    server->observers_.push_back(observer);
  }
  server->models_ = std::make_unique<ModelManager>(manager);
  FERRY_RETURN_IF_ERROR(server->models_->LoadAll());
  return server;
}

InferenceServer::~InferenceServer() { Drain(); }

ServerMetadata InferenceServer::Metadata() const {
  // Only what is implemented: the binary tensor data extension is HTTP-only (gRPC has raw
  // contents), the others are on both transports.
  return {kServerName, kServerVersion,
          {"classification", "binary_tensor_data", "model_repository", "statistics",
           "model_configuration", "logging", "system_shared_memory", "sequence"}};
}

bool InferenceServer::IsReady() const { return !draining_.load(std::memory_order_acquire); }

absl::StatusOr<ModelMetadata> InferenceServer::GetModelMetadata(const std::string& model,
                                                                const std::string& version) const {
  std::shared_ptr<const ServedModel> served = models_->Find(model);
  if (served == nullptr || served->unloaded) {
    return absl::NotFoundError(error_text::UnknownModel(model));
  }
  if (served->config == nullptr) {
    return absl::UnavailableError(
        absl::StrCat(error_text::NoAvailableVersions(model), ": it failed to load: ", served->error));
  }
  if (!version.empty()) {
    // Any version that exists on disk has metadata, ready or not.
    FERRY_ASSIGN_OR_RETURN(const std::string number, models_->ResolveAlias(model, version));
    const int64_t wanted = ParseVersion(number);
    bool found = false;
    for (const auto& v : served->versions) found |= (wanted != 0 && v.version == wanted);
    if (!found) return absl::NotFoundError(error_text::UnknownVersion(model, wanted));
  }
  ModelMetadata meta;
  meta.name = served->name;
  for (const auto& v : served->versions) {
    if (v.state == VersionState::kReady) meta.versions.push_back(v.version_name);
  }
  meta.platform = ProtocolPlatform(served->config->platform);
  meta.inputs = served->config->signature.inputs;
  meta.outputs = served->config->signature.outputs;
  // The uncertainty outputs are listed only for a calibrated version (the default one
  // when the request names none).
  absl::StatusOr<std::shared_ptr<const CalibratedClassifier>> calibration = GetCalibration(model, version);
  if (calibration.ok() && *calibration != nullptr) meta.outputs = (*calibration)->signature.outputs;
  return meta;
}

absl::StatusOr<TritonModelConfig> InferenceServer::GetModelConfig(const std::string& model,
                                                                  const std::string& version) const {
  if (model.empty()) return absl::InvalidArgumentError("a model name is required");
  // The version's own config (a version folder's config.toml overrides the model's), and
  // its calibrated outputs, which requests may name as any other.
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<ServedVersion> v, models_->Resolve(model, version));
  return ToTritonModelConfig(*v->config, ResponseSignature(*v));
}

absl::StatusOr<std::shared_ptr<const CalibratedClassifier>> InferenceServer::GetCalibration(
    const std::string& model, const std::string& version) const {
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<ServedVersion> v, models_->Resolve(model, version));
  return v->calibration;
}

absl::StatusOr<bool> InferenceServer::IsModelReady(const std::string& model,
                                                   const std::string& version) const {
  absl::StatusOr<std::shared_ptr<ServedVersion>> v = models_->Resolve(model, version);
  if (v.ok()) return !draining_.load(std::memory_order_acquire);
  if (absl::IsUnavailable(v.status())) return false;
  return v.status();
}

std::vector<ModelIndexEntry> InferenceServer::Index() const {
  std::vector<ModelIndexEntry> index;
  for (const auto& model : models_->Snapshot()) {
    if (model->versions.empty()) {
      index.push_back({model->name, "", "UNAVAILABLE", model->error});
      continue;
    }
    for (const auto& v : model->versions) {
      index.push_back({model->name, v.version_name, VersionStateIndexName(v.state), v.reason});
    }
  }
  return index;
}

namespace {

ModelStatistics StatisticsOf(const ServedVersion& v) {
  const ModelMetrics& m = *v.metrics;
  ModelStatistics s;
  s.name = v.model;
  s.version = v.version_name;
  s.last_inference_ms = m.last_inference_ms.load(std::memory_order_relaxed);
  s.inference_count = m.inference_count.load(std::memory_order_relaxed);
  s.execution_count = m.execution_count.load(std::memory_order_relaxed);
  s.success = {m.request_latency.Count(), m.request_latency.SumNanos()};
  s.fail = {m.fail_count.load(std::memory_order_relaxed), m.fail_ns.load(std::memory_order_relaxed)};
  s.queue = {m.queue_time.Count(), m.queue_time.SumNanos()};
  s.compute_infer = {m.compute_time.Count(), m.compute_time.SumNanos()};
  for (size_t size = 1; size < m.batches_by_size.size(); ++size) {
    const uint64_t n = m.batches_by_size[size].load(std::memory_order_relaxed);
    if (n == 0) continue;
    s.batch_stats.push_back({size, {n, m.batch_ns_by_size[size].load(std::memory_order_relaxed)}});
  }
  return s;
}

}  // namespace

absl::StatusOr<std::vector<ModelStatistics>> InferenceServer::Statistics(
    const std::string& model, const std::string& version) const {
  std::vector<ModelStatistics> stats;
  if (model.empty()) {
    for (const auto& served : models_->Snapshot()) {
      for (const auto& v : served->versions) {
        if (v.state == VersionState::kReady && !served->unloaded) stats.push_back(StatisticsOf(*v.served));
      }
    }
    return stats;
  }
  if (!version.empty()) {
    FERRY_ASSIGN_OR_RETURN(std::shared_ptr<ServedVersion> v, models_->Resolve(model, version));
    stats.push_back(StatisticsOf(*v));
    return stats;
  }
  std::shared_ptr<const ServedModel> served = models_->Find(model);
  if (served == nullptr || served->unloaded) {
    return absl::NotFoundError(error_text::UnknownModel(model));
  }
  for (const auto& v : served->versions) {
    if (v.state == VersionState::kReady) stats.push_back(StatisticsOf(*v.served));
  }
  return stats;
}

absl::Status InferenceServer::LoadModel(const std::string& model) {
  if (draining_.load(std::memory_order_acquire)) {
    return absl::UnavailableError("the server is shutting down");
  }
  return models_->Load(model);
}

absl::Status InferenceServer::UnloadModel(const std::string& model) {
  return models_->Unload(model);
}

void InferenceServer::Infer(std::shared_ptr<RequestContext> context, const std::string& model,
                            const std::string& version, InferRequest request, InferCallback done) {
  if (draining_.load(std::memory_order_acquire)) {
    RequestTiming timing;
    timing.received_ns = timing.finished_ns = options_.clock->NowNanos();
    Complete(*context, nullptr, {}, absl::UnavailableError("the server is shutting down"), timing,
             done);
    return;
  }
  Run(std::move(context), model, version, std::move(request), std::move(done));
}

absl::Status ApplyTimeoutParameter(const InferRequest& request, int64_t now_ns,
                                   RequestContext& context) {
  auto it = request.parameters.find(kTimeoutParameter);
  if (it == request.parameters.end()) return absl::OkStatus();
  const int64_t* us = std::get_if<int64_t>(&it->second);
  if (us == nullptr || *us <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter '", kTimeoutParameter, "' must be a positive whole number of microseconds"));
  }
  // Past about 292 years the nanosecond sum would overflow; that is no deadline at all.
  constexpr int64_t kMaxUs = (RequestContext::kNoDeadline / 1000) / 2;
  if (*us < kMaxUs) context.TightenDeadline(now_ns + *us * 1000);
  return absl::OkStatus();
}

void InferenceServer::Complete(const RequestContext& context, const ServedVersion* served,
                               absl::Span<const Tensor> inputs,
                               absl::StatusOr<InferResponse> result, const RequestTiming& timing,
                               const InferCallback& done) const {
  const absl::Status& status = result.status();
  absl::Span<const Tensor> outputs;
  if (result.ok()) outputs = result->outputs;
  ObservedVersion observed;
  if (served != nullptr) observed = {served->model, served->version_name, served->metrics};
  const CompletedRequest completed{context,
                                   served != nullptr ? &observed : nullptr,
                                   inputs,
                                   outputs,
                                   status,
                                   timing};
  for (const auto& observer : observers_) observer->OnComplete(completed);
  done(std::move(result));
}

void InferenceServer::Run(std::shared_ptr<RequestContext> context, const std::string& model,
                          const std::string& version, InferRequest request, InferCallback done) {
  RequestTiming timing;
  timing.received_ns = options_.clock->NowNanos();
  const auto fail = [&](const ServedVersion* served, absl::Status status) {
    timing.finished_ns = options_.clock->NowNanos();
    Complete(*context, served, request.inputs, std::move(status), timing, done);
  };
  // What the observers may read once the task's inputs are gone into a batch.
  std::shared_ptr<const std::vector<Tensor>> kept_inputs;
  if (keep_inputs_) kept_inputs = std::make_shared<const std::vector<Tensor>>(request.inputs);
  std::string id = request.id.empty() ? context->id : request.id;

  // A version swapped out after this request routed to it stops taking work; the request
  // then routes again, to the snapshot that replaced it, instead of failing.
  constexpr int kMaxRoutes = 3;
  for (int route = 1;; ++route) {
    absl::StatusOr<std::shared_ptr<ServedVersion>> resolved = models_->Resolve(model, version);
    if (!resolved.ok()) return fail(nullptr, resolved.status());
    std::shared_ptr<ServedVersion> served = std::move(*resolved);
    const ModelSignature& sig = ResponseSignature(*served);
    // (Applying the timeout again on a second route sets the same deadline.)
    absl::Status status = ApplyTimeoutParameter(request, timing.received_ns, *context);
    absl::StatusOr<int> level =
        status.ok() ? PrepareUncertaintyRequest(served->calibration.get(), request,
                                                served->config->signature, served->model,
                                                served->version_name)
                    : absl::StatusOr<int>(status);
    status = level.ok() ? ValidateRequestedOutputs(sig, served->model, request.outputs) : level.status();
    absl::StatusOr<int64_t> rows =
        status.ok() ? ValidateInputs(sig, request.inputs, served->model) : absl::StatusOr<int64_t>(status);
    if (rows.ok()) {
      if (status = served->backend->CheckRequest(request.inputs); !status.ok()) rows = status;
    }
    if (rows.ok() && served->sequences == nullptr && request.sequence.any()) {
      rows = absl::InvalidArgumentError(absl::StrCat(
          "model '", served->model, "' is not stateful (its config has no [sequence] table): "
          "it takes no sequence_id, sequence_start or sequence_end"));
    }
    if (!rows.ok()) return fail(served.get(), rows.status());
    if (options_.after_route) options_.after_route(served->version);

    auto task = std::make_unique<BatchTask>();
    task->inputs = std::move(request.inputs);
    task->rows = *rows;
    task->context = context;
    Clock* clock = options_.clock;
    task->done = [this, served, context, clock, timing, kept_inputs, id, level = *level,
                  requested = request.outputs, done](absl::StatusOr<std::vector<Tensor>> outputs,
                                                     const TaskTiming& task_timing) mutable {
      absl::StatusOr<std::vector<Tensor>> result =
          outputs.ok() ? Postprocess(*served, requested, level, std::move(*outputs))
                       : outputs.status();
      timing.enqueued_ns = task_timing.enqueue_ns;
      timing.compute_start_ns = task_timing.start_ns;
      timing.compute_end_ns = task_timing.end_ns;
      timing.batch_rows = task_timing.batch_rows;
      timing.finished_ns = clock->NowNanos();
      absl::Span<const Tensor> inputs;
      if (kept_inputs != nullptr) inputs = *kept_inputs;
      if (!result.ok()) {
        if (result.status().code() == absl::StatusCode::kInternal) {
          spdlog::error("model '{}' version {}: {}", served->model, served->version_name,
                        std::string(result.status().message()));
        }
        return Complete(*context, served.get(), inputs, result.status(), timing, done);
      }
      InferResponse response;
      response.model_name = served->model;
      response.model_version = served->version_name;
      response.id = std::move(id);
      response.outputs = std::move(*result);
      Complete(*context, served.get(), inputs, std::move(response), timing, done);
    };
    status = served->sequences != nullptr ? served->sequences->Enqueue(request.sequence, task)
                                          : served->batcher->Enqueue(task);
    if (status.ok()) return;
    // The task stayed with us; its inputs are still in it.
    request.inputs = std::move(task->inputs);
    if (absl::IsUnavailable(status) && served->draining.load(std::memory_order_acquire) &&
        route < kMaxRoutes) {
      continue;
    }
    return fail(served.get(), status);
  }
}

std::string InferenceServer::RenderMetrics() const {
  for (const auto& model : models_->Snapshot()) {
    for (const auto& entry : model->versions) {
      const ServedVersion* v = entry.served.get();
      if (v == nullptr || v->metrics == nullptr) continue;
      v->metrics->queue_depth.store(model->unloaded || !v->batcher ? 0 : v->batcher->QueueDepth(),
                                    std::memory_order_relaxed);
    }
  }
  return metrics_.RenderPrometheus();
}

void InferenceServer::Drain() {
  if (draining_.exchange(true)) return;
  spdlog::info("draining: finishing queued requests");
  if (models_) models_->ShutdownAll();
}

}  // namespace ferry
