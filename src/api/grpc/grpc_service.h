// The gRPC service implementations behind GrpcServer. Internal to api/grpc.
//
// Both services use gRPC's callback API: a handler returns a reactor instead of a
// finished response, so ModelInfer hands the request to InferenceServer::Infer and returns
// at once; the batch worker that finishes the request completes the RPC. No thread waits
// per in-flight request, which matters because dynamic batching keeps many requests in
// flight by design and the machine has few cores.
#ifndef FERRY_API_GRPC_GRPC_SERVICE_H_
#define FERRY_API_GRPC_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "health.grpc.pb.h"
#include "inference.grpc.pb.h"
#include "server/admin_service.h"
#include "server/inference_server.h"

namespace ferry {
namespace grpc_api {

// The metadata key that names a request both ways, as HTTP's X-Request-Id header: a
// client's names its request, and every ModelInfer answer carries the server's request
// id in its initial metadata.
inline constexpr char kRequestIdKey[] = "x-request-id";

// absl -> gRPC status. InvalidArgument, NotFound, Unavailable, Cancelled, Internal,
// Unimplemented, AlreadyExists and DeadlineExceeded keep their code. ResourceExhausted
// (the model's queue is full) becomes UNAVAILABLE: it is the same "retry later" the HTTP
// side answers with 503, Triton answers UNAVAILABLE too, and gRPC retry policies retry
// UNAVAILABLE by convention. Anything else is UNKNOWN. The message passes unchanged.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Finishes an RPC whose answer is already known, on the calling thread.
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, grpc::Status status);
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status);

// A ModelInferRequest decoded, its shared-memory inputs read and its output regions held.
struct DecodedInfer {
  InferRequest request;
  SharedMemoryOutputs shm_outputs;
};

// inference.GRPCInferenceService over an InferenceServer, with the repository RPCs handed
// to an AdminService (neither owned; both must outlive it).
class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `routing_key_header` names the metadata key read into RequestContext::routing_key
  // (any case; gRPC keys are lower case); empty reads none.
  InferenceService(InferenceServer* server, AdminService* admin, std::string routing_key_header);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* req,
                                       inference::ServerLiveResponse* resp) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest* req,
                                        inference::ServerReadyResponse* resp) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* resp) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* req,
                                           inference::ServerMetadataResponse* resp) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* resp) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* resp) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* ctx,
                                            const inference::ModelStatisticsRequest* req,
                                            inference::ModelStatisticsResponse* resp) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* req,
                                            inference::RepositoryIndexResponse* resp) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
      inference::RepositoryModelLoadResponse* resp) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* req,
      inference::RepositoryModelUnloadResponse* resp) override;

  // Triton's extensions, in grpc_extensions.cc: the model configuration (the same
  // TritonModelConfig the HTTP route writes as JSON), log and trace settings (through the
  // AdminService), system shared memory (InferenceServer::shared_memory), and CUDA shared
  // memory, refused with FAILED_PRECONDITION (this server has no GPU, so it never will).
  // ModelStreamInfer is in grpc_stream.cc.
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx,
                                        const inference::ModelConfigRequest* req,
                                        inference::ModelConfigResponse* resp) override;
  grpc::ServerUnaryReactor* LogSettings(grpc::CallbackServerContext* ctx,
                                        const inference::LogSettingsRequest* req,
                                        inference::LogSettingsResponse* resp) override;
  grpc::ServerUnaryReactor* TraceSetting(grpc::CallbackServerContext* ctx,
                                         const inference::TraceSettingRequest* req,
                                         inference::TraceSettingResponse* resp) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryStatus(
      grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* req,
      inference::SystemSharedMemoryStatusResponse* resp) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryRegister(
      grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* req,
      inference::SystemSharedMemoryRegisterResponse* resp) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryUnregister(
      grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* req,
      inference::SystemSharedMemoryUnregisterResponse* resp) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryStatus(
      grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryStatusRequest* req,
      inference::CudaSharedMemoryStatusResponse* resp) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryRegister(
      grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryRegisterRequest* req,
      inference::CudaSharedMemoryRegisterResponse* resp) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryUnregister(
      grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryUnregisterRequest* req,
      inference::CudaSharedMemoryUnregisterResponse* resp) override;

 private:
  friend class InferStream;  // ModelStreamInfer's reactor, in grpc_stream.cc

  // The value of metadata `key` (lower case), or nothing; a repeated key gives the first.
  static std::optional<std::string_view> MetadataValue(const grpc::CallbackServerContext& ctx,
                                                       const std::string& key);
  // The call's deadline on the server's clock (RequestContext::deadline_ns); 0 for none.
  int64_t DeadlineOf(const grpc::CallbackServerContext& ctx) const;
  // Decodes a request, reading its shared-memory inputs (errors are InvalidArgument).
  absl::StatusOr<DecodedInfer> Decode(const inference::ModelInferRequest& req);
  // Runs a decoded request and fills `resp` (written into shared memory where asked).
  // `done` runs exactly once: before RunInfer returns for errors found before queueing,
  // else on a batch worker. `resp` must stay valid until then.
  void RunInfer(std::shared_ptr<RequestContext> context, DecodedInfer decoded,
                const std::string& model, const std::string& version,
                inference::ModelInferResponse* resp, std::function<void(grpc::Status)> done);

  InferenceServer* server_;
  AdminService* admin_;
  const std::string routing_key_header_;  // lower case
};

// grpc.health.v1.Health/Check: SERVING while the InferenceServer is ready (not draining),
// else NOT_SERVING, for the empty service name (the whole server) and for
// "inference.GRPCInferenceService". Any other name is NOT_FOUND, as the health checking
// protocol specifies.
class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(InferenceServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx,
                                  const grpc::health::v1::HealthCheckRequest* req,
                                  grpc::health::v1::HealthCheckResponse* resp) override;

 private:
  InferenceServer* server_;
};

}  // namespace grpc_api
}  // namespace ferry

#endif  // FERRY_API_GRPC_GRPC_SERVICE_H_
