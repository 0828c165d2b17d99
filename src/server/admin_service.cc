#include "server/admin_service.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/thread_name.h"
#include "core/error_text.h"
#include "repository/model_folder_update.h"
#include "server/config_override.h"
#include "spdlog/spdlog.h"

namespace ferry {

absl::StatusOr<std::unique_ptr<AdminService>> AdminService::Create(AdminOptions options,
                                                                   InferenceServer* server) {
  if (server == nullptr) return absl::InvalidArgumentError("admin: no inference server given");
  if (options.max_pending < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin: max_pending (most admin work waiting or running) must be at least 1, got ",
        options.max_pending));
  }
  if (options.threads < 1 || options.threads > options.max_pending) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin: threads must be between 1 and max_pending (", options.max_pending,
                     "), got ", options.threads));
  }
  std::unique_ptr<AdminService> service(new AdminService(std::move(options), server));
  absl::MutexLock lock(&service->join_mu_);
  for (int i = 0; i < service->options_.threads; ++i) {
    try {
      service->threads_.emplace_back([s = service.get(), i] {
        SetCurrentThreadName(absl::StrCat("admin-", i));
        s->WorkerLoop();
      });
    } catch (const std::system_error& e) {
      // Fewer threads than asked would silently change how work queues; fail instead.
      // The destructor stops and joins the threads already started.
      return absl::UnavailableError(absl::StrCat("admin: cannot start a thread: ", e.what()));
    }
  }
  return service;
}

AdminService::AdminService(AdminOptions options, InferenceServer* server)
    : options_(std::move(options)), server_(server) {}

AdminService::~AdminService() { Shutdown(); }

void AdminService::LoadModel(const RequestContext& ctx, const std::string& model,
                             AdminCallback done) {
  SubmitForModel(ctx, "load", model, &InferenceServer::LoadModel, std::move(done));
}

void AdminService::LoadModel(const RequestContext& ctx, const std::string& model,
                             LoadParameters parameters, AdminCallback done) {
  if (parameters.empty()) return LoadModel(ctx, model, std::move(done));
  (void)ctx;  // authorization will read ctx.principal here
  absl::Status refused;
  if (model.empty()) {
    refused = absl::InvalidArgumentError("the model name must not be empty");
  } else if (!parameters.files.empty() && !parameters.config) {
    refused = absl::InvalidArgumentError(
        "file: parameters need a 'config' parameter too: the model's configuration to load "
        "them with");
  }
  for (size_t i = 0; refused.ok() && i < parameters.files.size(); ++i) {
    refused = CheckArtifactPath(parameters.files[i].first);
  }
  if (!refused.ok()) return Notify(done, std::move(refused), "load");
  Submit(
      absl::StrCat("load model '", model, "' with parameters"),
      [this, model, parameters = std::move(parameters)] {
        return LoadWithParameters(model, parameters);
      },
      std::move(done));
}

absl::Status AdminService::LoadWithParameters(const std::string& model,
                                              const LoadParameters& parameters) {
  namespace fs = std::filesystem;
  absl::MutexLock lock(&override_mu_);
  const fs::path folder = fs::path(server_->model_repository()) / model;
  std::error_code ec;
  if (parameters.files.empty() && !fs::is_directory(folder, ec)) {
    return absl::NotFoundError(absl::StrCat(
        error_text::LoadUnknownModel(model), ": the repository has no such model; send its "
        "files as 'file:<version>/<name>' parameters with the config"));
  }
  ModelFolderChange change;
  change.files = parameters.files;
  if (parameters.config) {
    absl::StatusOr<TritonModelConfig> current = server_->GetModelConfig(model, "");
    std::string current_toml;
    if (std::ifstream in(folder / "config.toml"); in) {
      current_toml.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    FERRY_ASSIGN_OR_RETURN(change.config_toml,
                           ApplyConfigOverride(model, *parameters.config,
                                               current.ok() ? &*current : nullptr, current_toml));
  }
  FERRY_ASSIGN_OR_RETURN(ModelFolderUpdate update,
                         ModelFolderUpdate::Apply(server_->model_repository(), model, change));
  absl::Status loaded = server_->LoadModel(model);
  if (loaded.ok()) return loaded;
  if (absl::Status reverted = update.Revert(); !reverted.ok()) {
    spdlog::error("load of '{}' failed and its repository folder could not be put back: {}",
                  model, std::string(reverted.message()));
  } else if (fs::is_directory(folder, ec)) {
    // Versions that did load with the new files serve them; load the old ones back.
    (void)server_->LoadModel(model);
  }
  return loaded;
}

void AdminService::UnloadModel(const RequestContext& ctx, const std::string& model,
                               AdminCallback done) {
  SubmitForModel(ctx, "unload", model, &InferenceServer::UnloadModel, std::move(done));
}

void AdminService::SubmitForModel(const RequestContext& ctx, const char* verb,
                                  const std::string& model, ModelAction action,
                                  AdminCallback done) {
  (void)ctx;  // authorization will read ctx.principal here
  if (model.empty()) {
    return Notify(done, absl::InvalidArgumentError("the model name must not be empty"), verb);
  }
  Submit(
      absl::StrCat(verb, " model '", model, "'"),
      [server = server_, action, model] { return (server->*action)(model); }, std::move(done));
}

std::vector<ModelIndexEntry> AdminService::RepositoryIndex(const RequestContext& ctx,
                                                           bool ready_only) const {
  (void)ctx;  // authorization will read ctx.principal here
  std::vector<ModelIndexEntry> entries = server_->Index();
  if (ready_only) {
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [](const ModelIndexEntry& e) { return e.state != "READY"; }),
                  entries.end());
  }
  return entries;
}

absl::StatusOr<LogSettings> AdminService::Logging(const RequestContext& ctx,
                                                 const SettingUpdates& updates) {
  (void)ctx;  // authorization will read ctx.principal here
  if (updates.empty()) return CurrentLogSettings();
  absl::StatusOr<LogSettings> now = UpdateLogSettings(updates);
  if (now.ok()) {
    spdlog::warn("log settings changed by a client: level {}, format {}",
                 spdlog::level::to_string_view(spdlog::get_level()), now->log_format);
  }
  return now;
}

absl::StatusOr<TraceSettings> AdminService::Tracing(const RequestContext& ctx,
                                                   const std::string& model,
                                                   const TraceSettings& updates) const {
  (void)ctx;  // authorization will read ctx.principal here
  if (!model.empty()) {
    absl::StatusOr<bool> known = server_->IsModelReady(model, "");
    if (!known.ok() && absl::IsNotFound(known.status())) return known.status();
  }
  return UpdateTraceSettings(updates);
}

void AdminService::Submit(std::string what, std::function<absl::Status()> work,
                          AdminCallback done) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError(absl::StrCat("the server is shutting down; cannot ", what));
    } else if (pending_ >= options_.max_pending) {
      refused = absl::ResourceExhaustedError(absl::StrCat(
          "too many admin operations (model loads, unloads) in progress: the limit is ",
          options_.max_pending, " waiting or running; retry shortly"));
    } else {
      ++pending_;
      queue_.push_back({std::move(what), std::move(work), std::move(done)});
      return;
    }
  }
  Notify(done, std::move(refused), what);
}

void AdminService::WorkerLoop() {
  for (;;) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &AdminService::HasWorkOrStopping));
      // Shutdown takes the queue before it joins, so stopping with an empty queue is the end.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::Status result = RunTask(task);
    {
      // Released before `done`, so whoever it tells may submit again at once.
      absl::MutexLock lock(&mu_);
      --pending_;
    }
    Notify(task.done, std::move(result), task.what);
  }
}

absl::Status AdminService::RunTask(const Task& task) const {
  // The admin threads outlive any one operation: nothing may escape from it.
  try {
    if (options_.before_work) options_.before_work(task.what);
    return task.work();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("internal error during ", task.what, ": ", e.what()));
  }
}

void AdminService::Notify(const AdminCallback& done, absl::Status status, std::string_view what) {
  try {
    done(std::move(status));
  } catch (const std::exception& e) {
    // The transport's callback threw: its caller may get no answer, but the admin thread
    // (or the refusing caller) carries on.
    spdlog::error("admin: the completion callback of {} threw: {}", what, e.what());
  }
}

void AdminService::Shutdown() {
  std::deque<Task> queued;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queued.swap(queue_);
    pending_ -= static_cast<int>(queued.size());
  }
  for (Task& task : queued) {
    Notify(task.done,
           absl::UnavailableError(
               absl::StrCat("the server is shutting down; ", task.what, " was not started")),
           task.what);
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace ferry
