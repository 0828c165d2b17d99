#include "api/grpc/grpc_service.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/request_context.h"
#include "api/grpc/tensor_codec.h"

namespace ferry {
namespace grpc_api {
namespace {

// A load or unload goes to the AdminService, which does the slow part (a load warms the
// model up) on its own threads: the reactor finishes from there, or at once when the call
// is refused, and gRPC's small callback pool never blocks. GrpcServer::Shutdown waits for
// Finish, so the reactor is alive when the callback runs. `start` hands the call over.
template <typename Start>
grpc::ServerUnaryReactor* StartModelCall(grpc::CallbackServerContext* ctx,
                                         const std::string& model, Start start) {
  if (model.empty()) {
    return FinishNow(ctx,
                     grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "model_name must be set"));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const RequestContext context;  // no identity yet: authentication will fill the principal
  start(context, [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

// The default reactor cannot observe cancellation, so ModelInfer has its own: OnCancel
// (client gone, deadline passed, server shutting down) cancels the request's context,
// which the batcher checks before compute, so abandoned requests stop costing model time.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  InferReactor() : context_(std::make_shared<RequestContext>()) {}

  const std::shared_ptr<RequestContext>& context() const { return context_; }

  void OnCancel() override { context_->Cancel(); }
  // gRPC calls this once, after Finish and after any OnCancel; nothing touches the
  // reactor afterwards. The context lives on if the batcher still holds it.
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<RequestContext> context_;
};

// Exceptions must not unwind into gRPC's threads (they would terminate the process). The
// codecs' allocations are bounded by the message size limit, so this is a last resort.
grpc::Status ExceptionStatus(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory");
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
}

void SetDuration(const DurationStat& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

constexpr char kInferenceServiceName[] = "inference.GRPCInferenceService";

}  // namespace

std::optional<std::string_view> InferenceService::MetadataValue(
    const grpc::CallbackServerContext& ctx, const std::string& key) {
  if (key.empty()) return std::nullopt;
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

int64_t InferenceService::DeadlineOf(const grpc::CallbackServerContext& ctx) const {
  const auto deadline = ctx.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return 0;
  const int64_t left_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - std::chrono::system_clock::now())
          .count();
  // A deadline centuries away (or one the sum would overflow) is no deadline.
  if (left_ns >= RequestContext::kNoDeadline / 4) return 0;
  return server_->clock()->NowNanos() + left_ns;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, grpc::Status status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  return FinishNow(ctx, ToGrpcStatus(status));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (status.code()) {
    case absl::StatusCode::kOk: return grpc::Status::OK;
    case absl::StatusCode::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case absl::StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case absl::StatusCode::kCancelled: code = grpc::StatusCode::CANCELLED; break;
    case absl::StatusCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
    case absl::StatusCode::kUnimplemented: code = grpc::StatusCode::UNIMPLEMENTED; break;
    case absl::StatusCode::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case absl::StatusCode::kPermissionDenied: code = grpc::StatusCode::PERMISSION_DENIED; break;
    case absl::StatusCode::kDeadlineExceeded: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case absl::StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    default: break;
  }
  return grpc::Status(code, std::string(status.message()));
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* resp) {
  resp->set_live(server_->IsLive());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* resp) {
  resp->set_ready(server_->IsReady());
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelReadyRequest* req,
                                                       inference::ModelReadyResponse* resp) {
  // A known model that is not ready is an answer (ready=false), not an error; an unknown
  // one is NOT_FOUND, as on the HTTP side.
  absl::StatusOr<bool> ready = server_->IsModelReady(req->name(), req->version());
  if (!ready.ok()) return FinishNow(ctx, ready.status());
  resp->set_ready(*ready);
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* resp) {
  ferry::ServerMetadata meta = server_->Metadata();
  resp->set_name(std::move(meta.name));
  resp->set_version(std::move(meta.version));
  for (std::string& e : meta.extensions) resp->add_extensions(std::move(e));
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
    inference::ModelMetadataResponse* resp) {
  absl::StatusOr<ferry::ModelMetadata> meta =
      server_->GetModelMetadata(req->name(), req->version());
  if (!meta.ok()) return FinishNow(ctx, meta.status());
  resp->set_name(std::move(meta->name));
  for (std::string& v : meta->versions) resp->add_versions(std::move(v));
  resp->set_platform(std::move(meta->platform));
  auto add = [](const TensorSpec& spec, inference::ModelMetadataResponse::TensorMetadata* t) {
    t->set_name(spec.name);
    t->set_datatype(std::string(DataTypeName(spec.dtype)));
    t->mutable_shape()->Add(spec.shape.begin(), spec.shape.end());
  };
  for (const TensorSpec& spec : meta->inputs) add(spec, resp->add_inputs());
  for (const TensorSpec& spec : meta->outputs) add(spec, resp->add_outputs());
  return FinishNow(ctx, grpc::Status::OK);
}

InferenceService::InferenceService(InferenceServer* server, AdminService* admin,
                                   std::string routing_key_header)
    : server_(server),
      admin_(admin),
      routing_key_header_(absl::AsciiStrToLower(routing_key_header)) {}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelInferRequest* req,
                                                       inference::ModelInferResponse* resp) {
  auto* reactor = new InferReactor();
  RequestContext& context = *reactor->context();
  absl::StatusOr<DecodedInfer> decoded;
  try {
    decoded = Decode(*req);
  } catch (const std::exception& e) {
    reactor->Finish(ExceptionStatus(e));
    return reactor;
  }
  absl::StatusOr<std::string> id = ChooseRequestId(MetadataValue(*ctx, kRequestIdKey),
                                                   "x-request-id metadata", req->id());
  // The client's id when it was usable, so that a failure can still be matched up.
  ctx->AddInitialMetadata(kRequestIdKey, id.ok() ? *id : NewRequestId());
  if (!decoded.ok() || !id.ok()) {
    reactor->Finish(ToGrpcStatus(decoded.ok() ? id.status() : decoded.status()));
    return reactor;
  }
  context.id = std::move(*id);
  if (auto key = MetadataValue(*ctx, routing_key_header_)) context.routing_key = std::string(*key);
  // The client's deadline, moved onto the server's clock.
  if (const int64_t deadline_ns = DeadlineOf(*ctx); deadline_ns != 0) {
    context.TightenDeadline(deadline_ns);
  }
  // `req` and `resp` stay valid until the reactor's OnDone, which cannot come before
  // Finish below. The callback runs exactly once: here (errors found before queueing,
  // in which case Finish runs before the reactor is returned, which gRPC allows) or on a
  // batch worker.
  RunInfer(reactor->context(), *std::move(decoded), req->model_name(), req->model_version(), resp,
           [reactor](grpc::Status status) { reactor->Finish(std::move(status)); });
  return reactor;
}

absl::StatusOr<DecodedInfer> InferenceService::Decode(const inference::ModelInferRequest& req) {
  DecodedInfer d;
  SharedMemoryTensors shm;
  absl::StatusOr<InferRequest> request = DecodeInferRequest(req, &shm);
  if (!request.ok()) return request.status();
  d.request = *std::move(request);
  if (!shm.empty()) {
    absl::StatusOr<SharedMemoryOutputs> outputs =
        ResolveSharedMemory(server_->shared_memory(), shm, d.request);
    if (!outputs.ok()) return outputs.status();
    d.shm_outputs = *std::move(outputs);
  }
  return d;
}

void InferenceService::RunInfer(std::shared_ptr<RequestContext> context, DecodedInfer decoded,
                                const std::string& model, const std::string& version,
                                inference::ModelInferResponse* resp,
                                std::function<void(grpc::Status)> done) {
  server_->Infer(std::move(context), model, version, std::move(decoded.request),
                 [resp, done = std::move(done), shm_outputs = std::move(decoded.shm_outputs)](
                     absl::StatusOr<InferResponse> result) {
                   if (!result.ok()) {
                     done(ToGrpcStatus(result.status()));
                     return;
                   }
                   grpc::Status status = grpc::Status::OK;
                   try {
                     std::vector<std::optional<SharedMemoryRef>> in_shm;
                     if (!shm_outputs.empty()) {
                       auto written = shm_outputs.Write(*result);
                       if (!written.ok()) {
                         done(ToGrpcStatus(written.status()));
                         return;
                       }
                       in_shm = *std::move(written);
                     }
                     EncodeInferResponse(std::move(*result), resp, &in_shm);
                   } catch (const std::exception& e) {
                     status = ExceptionStatus(e);
                   }
                   done(std::move(status));
                 });
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(
    grpc::CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
    inference::ModelStatisticsResponse* resp) {
  absl::StatusOr<std::vector<ferry::ModelStatistics>> stats =
      server_->Statistics(req->name(), req->version());
  if (!stats.ok()) return FinishNow(ctx, stats.status());
  for (const ferry::ModelStatistics& s : *stats) {
    inference::ModelStatistics* out = resp->add_model_stats();
    out->set_name(s.name);
    out->set_version(s.version);
    out->set_last_inference(s.last_inference_ms);
    out->set_inference_count(s.inference_count);
    out->set_execution_count(s.execution_count);
    inference::InferStatistics* infer = out->mutable_inference_stats();
    SetDuration(s.success, infer->mutable_success());
    SetDuration(s.fail, infer->mutable_fail());
    SetDuration(s.queue, infer->mutable_queue());
    SetDuration(s.compute_infer, infer->mutable_compute_infer());
    // Ferry does not time input and output copies apart from compute, and has no cache:
    // those durations stay present but zero, as Triton reports for what it did not do.
    infer->mutable_compute_input();
    infer->mutable_compute_output();
    infer->mutable_cache_hit();
    infer->mutable_cache_miss();
    for (const BatchStat& b : s.batch_stats) {
      inference::InferBatchStatistics* batch = out->add_batch_stats();
      batch->set_batch_size(b.batch_size);
      SetDuration(b.compute_infer, batch->mutable_compute_infer());
      batch->mutable_compute_input();
      batch->mutable_compute_output();
    }
  }
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
    inference::RepositoryIndexResponse* resp) {
  // Ferry serves one repository, so repository_name is not checked (Triton's single-
  // repository servers ignore it the same way).
  const RequestContext context;  // no identity yet: authentication will fill the principal
  for (ModelIndexEntry& e : admin_->RepositoryIndex(context, req->ready())) {
    auto* m = resp->add_models();
    m->set_name(std::move(e.name));
    m->set_version(std::move(e.version));
    m->set_state(std::move(e.state));
    m->set_reason(std::move(e.reason));
  }
  return FinishNow(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
    inference::RepositoryModelLoadResponse*) {
  // Triton's load parameters: "config" (string_param, the configuration as JSON) and
  // "file:<version>/<name>" (bytes_param); AdminService::LoadModel checks what they say.
  LoadParameters parameters;
  for (const auto& [name, value] : req->parameters()) {
    if (name == "config") {
      if (value.parameter_choice_case() != inference::ModelRepositoryParameter::kStringParam) {
        return FinishNow(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                           "load parameter 'config' must be a string_param"));
      }
      parameters.config = value.string_param();
    } else if (absl::StartsWith(name, "file:")) {
      if (value.parameter_choice_case() != inference::ModelRepositoryParameter::kBytesParam) {
        return FinishNow(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                           absl::StrCat("load parameter '", name,
                                                        "' must be a bytes_param")));
      }
      parameters.files.emplace_back(name.substr(5), value.bytes_param());
    } else {
      return FinishNow(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         absl::StrCat("unknown load parameter '", name,
                                                      "': a load takes 'config' and "
                                                      "'file:<version>/<name>'")));
    }
  }
  return StartModelCall(ctx, req->model_name(),
                        [this, &req, &parameters](const RequestContext& c, AdminCallback done) {
                          admin_->LoadModel(c, req->model_name(), std::move(parameters),
                                            std::move(done));
                        });
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
    inference::RepositoryModelUnloadResponse*) {
  // Parameters are ignored, as over HTTP: Triton's only one, unload_dependents, has no
  // effect (a composite whose member is unloaded stays loaded and answers UNAVAILABLE).
  return StartModelCall(ctx, req->model_name(),
                        [this, &req](const RequestContext& c, AdminCallback done) {
                          admin_->UnloadModel(c, req->model_name(), std::move(done));
                        });
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* ctx,
                                               const grpc::health::v1::HealthCheckRequest* req,
                                               grpc::health::v1::HealthCheckResponse* resp) {
  if (!req->service().empty() && req->service() != kInferenceServiceName) {
    return FinishNow(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                       absl::StrCat("unknown service '", req->service(), "'")));
  }
  resp->set_status(server_->IsReady() ? grpc::health::v1::HealthCheckResponse::SERVING
                                      : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  return FinishNow(ctx, grpc::Status::OK);
}

}  // namespace grpc_api
}  // namespace ferry
