// AdminService: every admin action on a running server (model load and unload, the
// repository index; later register, promote, rollback and alias), written once for all
// transports. HTTP (api/http/router.cc) and gRPC (api/grpc/grpc_service.cc) only decode a
// call, hand it here and encode the answer, so what an admin action does, how much admin
// work may pile up, and (later) who may do it are decided in one place.
//
// Slow actions (a load warms the model up: seconds) run on a small fixed pool of admin
// threads owned by the service, never on a transport's threads, which keep serving
// inference meanwhile. One bound covers admin work waiting or running, whichever
// transport sent it: past it a call fails at once with ResourceExhausted (HTTP 503 with
// Retry-After, gRPC UNAVAILABLE), so a burst of operator calls cannot queue without end.
//
// Concurrency: every method may be called from any thread. Each completion callback runs
// exactly once: before the call returns when the call is refused (bad argument, bound
// reached, shutting down), otherwise on an admin thread once the work is done; it must
// not block for long, since the admin threads are few. The work slot is released before
// the callback runs, so a caller told "done" may submit again at once. After Shutdown
// (or the destructor) returns, no admin thread runs and nothing touches the server.
#ifndef FERRY_SERVER_ADMIN_SERVICE_H_
#define FERRY_SERVER_ADMIN_SERVICE_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/request_context.h"
#include "server/inference_server.h"
#include "server/log_settings.h"

namespace ferry {

class RegistryService;  // server/registry_service.h

struct AdminOptions {
  // Admin operations waiting or running at once, over every transport; one more fails
  // at once with ResourceExhausted naming this limit. At least 1 (`ferry serve
  // --max-admin-work`).
  int max_pending = 4;
  // Admin threads, 1 to max_pending. Loads and unloads serialize inside the model manager
  // anyway; a second thread keeps quick actions from waiting behind a long warm-up once
  // there are actions that do not take that lock.
  int threads = 2;
  // For tests: called on the admin thread just before each operation runs, with what it
  // is ("load model 'm'"). A test blocks here to hold a slot without a slow model.
  std::function<void(std::string_view what)> before_work;
  // The model registry (/api/v1); not owned, must outlive the service. Null: the server
  // runs without one and /api/v1 answers 404.
  RegistryService* registry = nullptr;
};

// A load's parameters (the repository extension): "config", Triton's model configuration
// as JSON (server/config_override.h has what it may change), and "file:<version>/<name>"
// parameters carrying artifacts' bytes (repository/model_folder_update.h).
struct LoadParameters {
  std::optional<std::string> config;
  std::vector<std::pair<std::string, std::string>> files;  // "<version>/<name>" -> bytes
  bool empty() const { return !config && files.empty(); }
};

// Called once with the outcome of an admin operation; see the concurrency note above.
using AdminCallback = std::function<void(absl::Status)>;

class AdminService {
 public:
  // Starts the admin threads. `server` is not owned and must outlive the service.
  // InvalidArgument, naming the value, for a bad option or a null server.
  static absl::StatusOr<std::unique_ptr<AdminService>> Create(AdminOptions options,
                                                              InferenceServer* server);
  ~AdminService();  // Shutdown()

  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  // Every method takes the caller's RequestContext, read before the method returns and not
  // kept. Its `principal` is where authorization will be checked, here and nowhere else;
  // today no identity is checked and every caller may do everything.

  // (Re)loads `model` from the repository (InferenceServer::LoadModel): `done` gets Ok once
  // the new version is ready, NotFound for a model the repository does not have,
  // InvalidArgument for a bad config or model file (the old version keeps serving),
  // Unavailable while the server drains. Refused at once: InvalidArgument for an empty
  // name, ResourceExhausted at the bound, Unavailable after Shutdown.
  void LoadModel(const RequestContext& ctx, const std::string& model, AdminCallback done);
  // The same with parameters. A config and files first land in the repository (the model's
  // config.toml rewritten, the files in their version folders, all in one atomic swap),
  // then the model loads from there; when the load fails, the folder is put back as it was
  // and reloaded, so the repository keeps describing what serves. Refused at once with
  // InvalidArgument: files without a config (a new model needs its configuration), a bad
  // file path. Then InvalidArgument for a config that does not apply (naming the field) or
  // a model that fails to load; NotFound for a config alone on a model the repository
  // does not have.
  void LoadModel(const RequestContext& ctx, const std::string& model, LoadParameters parameters,
                 AdminCallback done);
  // Stops serving `model` (InferenceServer::UnloadModel); NotFound for an unknown or
  // already unloaded model. Refused at once as LoadModel.
  void UnloadModel(const RequestContext& ctx, const std::string& model, AdminCallback done);

  // The repository index: every model version with its state, or with `ready_only` only
  // the READY ones. Cheap (no disk access), so it answers on the calling thread and does
  // not count against the bound.
  std::vector<ModelIndexEntry> RepositoryIndex(const RequestContext& ctx, bool ready_only) const;

  // Logging extension: applies `updates` (empty: none) and returns the log settings now
  // (server/log_settings.h has the mapping and the errors, all InvalidArgument). Answers on
  // the calling thread and does not count against the bound.
  absl::StatusOr<LogSettings> Logging(const RequestContext& ctx, const SettingUpdates& updates);
  // Trace extension, for the whole server (`model` empty) or one model (NotFound when it is
  // unknown): tracing is off and stays off (UpdateTraceSettings). On the calling thread.
  absl::StatusOr<TraceSettings> Tracing(const RequestContext& ctx, const std::string& model,
                                        const TraceSettings& updates) const;

  int max_pending() const { return options_.max_pending; }
  // The registry, or null (AdminOptions::registry). Its calls are quick (a SQLite
  // transaction, or a file copy for a registration) and run on the caller's thread; the
  // load that follows a registration is LoadModel's.
  RegistryService* registry() const { return options_.registry; }

  // Refuses new work (Unavailable), fails work still queued with Unavailable (its callbacks
  // run on the calling thread, before this waits), lets running work finish and joins the
  // admin threads. Idempotent. Must not be called from an admin callback.
  void Shutdown();

 private:
  struct Task {
    std::string what;  // for messages and the before_work hook
    std::function<absl::Status()> work;
    AdminCallback done;
  };

  using ModelAction = absl::Status (InferenceServer::*)(const std::string& model);

  AdminService(AdminOptions options, InferenceServer* server);
  // Checks the name, then Submits `action` on `model`; `verb` names it in messages.
  void SubmitForModel(const RequestContext& ctx, const char* verb, const std::string& model,
                      ModelAction action, AdminCallback done);
  // Queues `work` under the bound, or refuses it through `done` at once.
  void Submit(std::string what, std::function<absl::Status()> work, AdminCallback done);
  void WorkerLoop();
  // LoadModel's work with parameters, under override_mu_.
  absl::Status LoadWithParameters(const std::string& model, const LoadParameters& parameters);
  // Runs one task's work and hook; exceptions become Internal.
  absl::Status RunTask(const Task& task) const;
  static void Notify(const AdminCallback& done, absl::Status status, std::string_view what);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  const AdminOptions options_;
  InferenceServer* const server_;

  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // queued + running: what the bound counts
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // One repository write (and the load that checks it) at a time, so that a revert never
  // undoes another load's files.
  absl::Mutex override_mu_;

  absl::Mutex join_mu_;  // one Shutdown joins; a second waits for it
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace ferry

#endif  // FERRY_SERVER_ADMIN_SERVICE_H_
