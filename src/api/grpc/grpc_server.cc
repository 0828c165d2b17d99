#include "api/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/grpc/grpc_service.h"

namespace ferry {

struct GrpcServer::Impl {
  GrpcOptions options;
  // Declared before `server` so they are destroyed after it: gRPC requires registered
  // services to outlive the server object.
  std::unique_ptr<grpc_api::InferenceService> inference;
  std::unique_ptr<grpc_api::HealthService> health;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  // Held through the whole shutdown, so a second caller returns only once it is done.
  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;
};

namespace {

absl::Status CheckOptions(const GrpcOptions& o) {
  if (o.host.empty()) return absl::InvalidArgumentError("gRPC host must not be empty");
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("gRPC port ", o.port, " is not in [0, 65535]"));
  }
  if (o.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC max_message_bytes must be positive, got ", o.max_message_bytes));
  }
  if (o.shutdown_timeout_ms < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gRPC shutdown_timeout_ms must be >= 0, got ", o.shutdown_timeout_ms));
  }
  return absl::OkStatus();
}

std::string ListenAddress(const GrpcOptions& o) {
  // gRPC parses "host:port", so an IPv6 literal needs its brackets.
  const bool ipv6 = o.host.find(':') != std::string::npos && o.host.front() != '[';
  return ipv6 ? absl::StrCat("[", o.host, "]:", o.port) : absl::StrCat(o.host, ":", o.port);
}

}  // namespace

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { Shutdown(); }

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Create(GrpcOptions options,
                                                               InferenceServer* server,
                                                               AdminService* admin) {
  if (server == nullptr) return absl::InvalidArgumentError("gRPC: no InferenceServer given");
  if (admin == nullptr) return absl::InvalidArgumentError("gRPC: no AdminService given");
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->inference =
      std::make_unique<grpc_api::InferenceService>(server, admin, impl->options.routing_key_header);
  impl->health = std::make_unique<grpc_api::HealthService>(server);

  const std::string address = ListenAddress(impl->options);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.SetMaxReceiveMessageSize(impl->options.max_message_bytes);
  builder.SetMaxSendMessageSize(impl->options.max_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second Ferry bind the same port and
  // silently steal half the connections. A taken port must be an error at startup.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(impl->inference.get());
  builder.RegisterService(impl->health.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("gRPC: cannot listen on ", address, " (address in use or not local?)"));
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::Shutdown() {
  absl::MutexLock lock(&impl_->shutdown_mu);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  // Shutdown refuses new calls at once and waits for in-flight ones; at the deadline it
  // cancels those left, whose OnCancel makes the batcher drop them before compute.
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(impl_->options.shutdown_timeout_ms));
  impl_->server->Wait();
}

}  // namespace ferry
