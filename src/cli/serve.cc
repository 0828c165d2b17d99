// `ferry serve`: load a model repository and serve it over HTTP until SIGTERM or SIGINT.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <string>

#include "api/grpc/grpc_server.h"
#include "api/http/http_server.h"
#include "backends/create_backend.h"
#include "backends/torch/torch_backend.h"
#include "cli/commands.h"
#include "server/admin_service.h"
#include "server/inference_server.h"
#include "server/registry_service.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

struct ServeFlags {
  std::string model_repository = "models";
  std::string host = "0.0.0.0";
  int http_port = 8000;
  int http_threads = 2;
  int http_idle_poll_us = HttpOptions{}.idle_poll_us;
  int grpc_port = 8001;  // -1: no gRPC
  size_t max_body_bytes = 64u << 20;
  std::string routing_key_header = HttpOptions{}.routing_key_header;
  int max_admin_work = AdminOptions{}.max_pending;
  bool no_optimize = false;
  std::string quantized_engine = "onednn";
  std::string log_level = "info";
  std::string registry_db;  // empty: DefaultDatabasePath(model_repository)
};

int Serve(const ServeFlags& flags) {
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  // Signals are taken synchronously by this thread (sigwait below), so every thread
  // started from here on must inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Batch workers set their own intra-op threads; this covers loading and warm-up.
  ConfigureTorchProcess(/*interop_threads=*/1, /*intra_op_threads=*/1);
  if (absl::Status s = SetQuantizedEngine(flags.quantized_engine); !s.ok()) {
    spdlog::error("{}", std::string(s.message()));
    return 1;
  }

  // The registry first: the bundled models are imported (once per database) and the
  // aliases published before the first request can name one.
  RegistryOptions registry_options;
  registry_options.repository = flags.model_repository;
  registry_options.database_path = flags.registry_db;
  absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Open(registry_options);
  if (!registry.ok()) {
    spdlog::error("opening the model registry: {}", std::string(registry.status().message()));
    return 1;
  }
  absl::StatusOr<ImportReport> imported = (*registry)->ImportBundled("");
  if (!imported.ok()) {
    // The models still serve; the registry lists what was imported, and the next start
    // tries again.
    spdlog::error("importing the repository into the registry: {}",
                  std::string(imported.status().message()));
  } else if (!imported->already_done) {
    spdlog::info("registry: imported {} versions, set {} aliases", imported->versions_imported,
                 imported->aliases_set);
  }
  auto aliases = std::make_shared<AliasTable>();
  absl::StatusOr<std::unique_ptr<RegistryService>> registry_service =
      RegistryService::Create(std::move(*registry), aliases);
  if (!registry_service.ok()) {
    spdlog::error("{}", std::string(registry_service.status().message()));
    return 1;
  }

  ServerOptions options;
  options.model_repository = flags.model_repository;
  options.aliases = aliases;
  options.optimize = !flags.no_optimize;
  options.backend_factory = CreateBackend;
  spdlog::info("loading model repository '{}'", flags.model_repository);
  absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Create(options);
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return 1;
  }
  // One admin service for both transports: one bound on admin work, one place that will
  // check who may do it. Declared after the server and before the transports, so it is
  // destroyed after the transports and before the server.
  AdminOptions admin_options;
  admin_options.max_pending = flags.max_admin_work;
  admin_options.threads = std::min(admin_options.threads, flags.max_admin_work);
  admin_options.registry = registry_service->get();
  absl::StatusOr<std::unique_ptr<AdminService>> admin =
      AdminService::Create(admin_options, server->get());
  if (!admin.ok()) {
    spdlog::error("{}", std::string(admin.status().message()));
    return 1;
  }
  HttpOptions http;
  http.host = flags.host;
  http.port = flags.http_port;
  http.threads = flags.http_threads;
  http.idle_poll_us = flags.http_idle_poll_us;
  http.max_body_bytes = flags.max_body_bytes;
  http.routing_key_header = flags.routing_key_header;
  absl::StatusOr<std::unique_ptr<HttpServer>> http_server =
      HttpServer::Create(http, server->get(), admin->get());
  if (!http_server.ok()) {
    spdlog::error("{}", std::string(http_server.status().message()));
    return 1;
  }
  // gRPC starts listening in Create; it comes up before HTTP so that, once "listening on
  // http://" is logged, both transports answer.
  std::unique_ptr<GrpcServer> grpc_server;
  if (flags.grpc_port >= 0) {
    GrpcOptions grpc;
    grpc.host = flags.host;
    grpc.port = flags.grpc_port;
    // One size limit for both transports: an HTTP body and a gRPC message carry the same tensors.
    grpc.max_message_bytes = static_cast<int>(std::min<size_t>(flags.max_body_bytes, INT_MAX));
    grpc.routing_key_header = flags.routing_key_header;
    absl::StatusOr<std::unique_ptr<GrpcServer>> created =
        GrpcServer::Create(grpc, server->get(), admin->get());
    if (!created.ok()) {
      spdlog::error("{}", std::string(created.status().message()));
      return 1;
    }
    grpc_server = std::move(*created);
    spdlog::info("gRPC listening on {}:{}", flags.host, grpc_server->port());
  }
  (*http_server)->Start();
  spdlog::info("listening on http://{}:{}", flags.host, (*http_server)->port());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; no new connections, finishing queued work",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*http_server)->StopAccepting();
  // gRPC refuses new calls at once and waits for in-flight ones, which complete on the
  // batch workers: so before Drain, which stops them.
  if (grpc_server) grpc_server->Shutdown();
  // Admin work still queued fails with 503 / UNAVAILABLE and a running load finishes, so
  // no model loads while (or after) the server drains.
  (*admin)->Shutdown();
  (*server)->Drain();
  (*http_server)->Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model repository over HTTP (V2 REST).");
  cmd->add_option("--model-repository", flags->model_repository,
                  "Folder with <model>/config.toml and <model>/<version>/model.pt")
      ->capture_default_str();
  cmd->add_option("--host", flags->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--http-port", flags->http_port, "HTTP port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", flags->grpc_port,
                  "gRPC port (V2 GRPCInferenceService + grpc.health.v1); 0 picks a free one, "
                  "-1 turns gRPC off")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--http-threads", flags->http_threads,
                  "Threads that handle HTTP connections (decode, encode, network I/O)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--http-idle-poll-us", flags->http_idle_poll_us,
                  "After the last response, one HTTP thread polls for the next request this "
                  "many microseconds before it sleeps: a lone client skips a wake-up. Never "
                  "while any request is in flight; 0 turns it off")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--max-body-bytes", flags->max_body_bytes,
                  "Largest request accepted: HTTP body (larger get 413) or gRPC message "
                  "(larger get RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 34));
  cmd->add_option("--routing-key-header", flags->routing_key_header,
                  "Request header (gRPC: metadata key) whose value keeps one user on one side "
                  "of a traffic split; empty reads none")
      ->capture_default_str();
  cmd->add_option("--max-admin-work", flags->max_admin_work,
                  "Model loads, unloads and other admin calls waiting or running at once, "
                  "over HTTP and gRPC together; more get 503 (gRPC: UNAVAILABLE)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-optimize", flags->no_optimize,
                "Serve TorchScript modules as saved, without freeze + optimize_for_inference");
  cmd->add_option("--quantized-engine", flags->quantized_engine,
                  "libtorch kernels for int8 models: onednn or qnnpack")
      ->capture_default_str();
  cmd->add_option("--registry-db", flags->registry_db,
                  "The model registry's SQLite file; default: <repository>.registry.db next to "
                  "the repository folder");
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cmd->callback([flags, &run] { run = [flags] { return Serve(*flags); }; });
}

}  // namespace ferry
