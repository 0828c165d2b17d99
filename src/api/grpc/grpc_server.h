// GrpcServer: the Open Inference Protocol (KServe V2) over gRPC, i.e. the service
// inference.GRPCInferenceService (shared/PROTOCOL.md §3) plus grpc.health.v1.Health/Check,
// in front of an InferenceServer. This header stays free of gRPC and protobuf headers so
// the CLI and anything else including it compiles without them.
#ifndef FERRY_API_GRPC_GRPC_SERVER_H_
#define FERRY_API_GRPC_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/admin_service.h"
#include "server/inference_server.h"

namespace ferry {

struct GrpcOptions {
  // Address to listen on; an IPv6 literal may be given bare ("::").
  std::string host = "0.0.0.0";
  // 0 picks a free port; port() tells which.
  int port = 8001;
  // Largest request and response message, in bytes. Tensors travel inside the message,
  // so this bounds the largest batch a client can send or receive.
  int max_message_bytes = 64 << 20;
  // How long Shutdown() lets in-flight calls finish before cancelling them. Cancelled
  // calls still queued are dropped before compute and answered CANCELLED.
  int shutdown_timeout_ms = 10000;
  // The metadata key whose value keeps one user on one side of a traffic split
  // (RequestContext::routing_key), as HttpOptions::routing_key_header. Empty reads none.
  std::string routing_key_header = "X-User-Id";
};

class GrpcServer {
 public:
  // Checks the options, builds the server and starts listening. `server` and `admin`
  // (which runs the repository RPCs; HttpServer shares it, and with it the bound on admin
  // work) are not owned and must outlive the GrpcServer. InvalidArgument for bad options;
  // Unavailable when the address cannot be bound (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Create(GrpcOptions options,
                                                            InferenceServer* server,
                                                            AdminService* admin);
  ~GrpcServer();  // Shutdown()

  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // The port actually bound (the chosen one when options.port was 0).
  int port() const;

  // Stops accepting calls (new ones fail UNAVAILABLE) and returns once every in-flight
  // call has finished, waiting at most shutdown_timeout_ms before cancelling the rest.
  // The InferenceServer must keep running until this returns, since in-flight calls
  // complete on its workers. Idempotent. Must not be called from a gRPC handler.
  void Shutdown();

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry

#endif  // FERRY_API_GRPC_GRPC_SERVER_H_
