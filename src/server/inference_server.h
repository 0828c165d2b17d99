// InferenceServer: what the transports (api/http, later api/grpc) call. It owns the
// loaded models and runs the request path below decoding:
//   validate against the signature -> pick the version -> batcher -> postprocess.
// Transports map absl::Status codes to their own: InvalidArgument 400, NotFound 404,
// ResourceExhausted 503 with Retry-After (queue full), Unavailable 503 (not ready,
// draining), DeadlineExceeded 504 (the request's deadline passed before it ran),
// Cancelled (client gone: nothing to send), Internal 500.
//
// Every request that reaches Infer is reported exactly once to each RequestObserver
// (monitor/observer.h), just before its callback runs; the Prometheus metrics are the
// first observer.
#ifndef FERRY_SERVER_INFERENCE_SERVER_H_
#define FERRY_SERVER_INFERENCE_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "absl/types/span.h"
#include "backends/backend.h"
#include "core/infer.h"
#include "core/request_context.h"
#include "core/signature.h"
#include "monitor/metrics.h"
#include "monitor/observer.h"
#include "server/alias_table.h"
#include "server/model_configuration.h"
#include "sharedmem/shared_memory.h"
#include "uncertainty/uncertainty_outputs.h"

namespace ferry {

class ModelManager;
struct ServedVersion;

struct ServerOptions {
  // Folder holding <model>/config.toml and <model>/<version>/ (see docs/repository.md).
  std::string model_repository;
  // Try freeze + optimize_for_inference on TorchScript models at load.
  bool optimize = true;
  // Read each version's calibration.json (see docs/uncertainty.md). `ferry calibrate`
  // turns this off so that an old file cannot get in the way of a new one.
  bool load_calibration = true;
  // Load only these models (empty: every model in the repository).
  std::vector<std::string> only_models;
  // Not owned. Default: the real clock.
  Clock* clock = nullptr;
  // Told of every finished request, after the built-in metrics observer, in this order.
  std::vector<std::shared_ptr<RequestObserver>> observers;
  // For tests: called with the version number after a request has routed and before it
  // queues, so that a test can swap versions in exactly that window. Empty in production.
  std::function<void(int64_t version)> after_route;
  // Makes the backend of each model version (not of ensembles and cascades, which the
  // server builds over their members). Required: Create fails with InvalidArgument
  // naming this option when it is empty. The programs pass CreateBackend
  // (backends/create_backend.h, the real TorchScript and XGBoost backends); tests pass a
  // FakeBackendFactory's (testing/fake_backend.h), so they need no libtorch.
  BackendFactory backend_factory;
  // The registry's aliases, so that a request may name a version by alias
  // (`versions/production`); resolved to the number before routing (server/alias_table.h).
  // Null: a request names versions by number only (an alias is NotFound).
  std::shared_ptr<const AliasTable> aliases;
};

// The request parameter that sets a deadline: a positive whole number of microseconds
// from when the server receives the request (as Triton's "timeout" parameter).
inline constexpr char kTimeoutParameter[] = "timeout";

// Tightens `context`'s deadline to `now_ns` + the request's "timeout" parameter, if it
// has one. InvalidArgument, naming the parameter, when it is not a positive integer.
absl::Status ApplyTimeoutParameter(const InferRequest& request, int64_t now_ns,
                                   RequestContext& context);

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // ready versions, ascending
  std::string platform;               // as the protocol names it, e.g. "pytorch_torchscript"
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// One row of the repository index.
struct ModelIndexEntry {
  std::string name;
  std::string version;  // empty when the model failed before any version was found
  std::string state;    // "READY", "UNAVAILABLE", "LOADING"
  std::string reason;   // why it is not ready
};

// Statistics extension: a count and the total nanoseconds spent.
struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
};

struct BatchStat {
  uint64_t batch_size = 0;
  DurationStat compute_infer;
};

struct ModelStatistics {
  std::string name;
  std::string version;
  uint64_t last_inference_ms = 0;  // Unix epoch milliseconds; 0 = never
  uint64_t inference_count = 0;    // rows computed
  uint64_t execution_count = 0;    // batches executed
  DurationStat success;            // end-to-end in the server
  DurationStat fail;
  DurationStat queue;
  DurationStat compute_infer;  // Ferry does not time input/output copies separately
  std::vector<BatchStat> batch_stats;  // sizes that ran, ascending
};

using InferCallback = std::function<void(absl::StatusOr<InferResponse>)>;

class InferenceServer {
 public:
  // Scans the repository and loads every model version it finds. A model that fails
  // (bad config, missing file, load error) is logged with the reason and left
  // unavailable; the others still serve. Fails only if the repository is unreadable, or
  // with InvalidArgument for bad options (no backend_factory, a null observer).
  static absl::StatusOr<std::unique_ptr<InferenceServer>> Create(ServerOptions options);
  ~InferenceServer();

  ServerMetadata Metadata() const;
  bool IsLive() const { return true; }
  // True while not draining. Models that failed to load do not make the server unready;
  // they show in the index and their own ready endpoints.
  bool IsReady() const;

  // `version` empty = the version that answers by default. NotFound for an unknown model
  // or version.
  absl::StatusOr<ModelMetadata> GetModelMetadata(const std::string& model,
                                                 const std::string& version) const;
  // Model configuration extension: the configuration of `version` (empty = the version
  // that answers by default), its own config.toml overrides applied, in Triton's shape
  // (server/model_configuration.h). InvalidArgument for an empty model name or a version
  // that is not a positive integer, NotFound for an unknown model or version, Unavailable
  // for a version that is not ready (the message says why).
  absl::StatusOr<TritonModelConfig> GetModelConfig(const std::string& model,
                                                   const std::string& version) const;
  // The calibration a version serves with (`version` empty = the default version), or
  // null when it has none. Errors as for Infer's version lookup.
  absl::StatusOr<std::shared_ptr<const CalibratedClassifier>> GetCalibration(
      const std::string& model, const std::string& version) const;

  // Ok(true/false) for a known model; NotFound for an unknown one.
  absl::StatusOr<bool> IsModelReady(const std::string& model, const std::string& version) const;
  std::vector<ModelIndexEntry> Index() const;

  // Statistics for every ready version of `model` ("" = every model), or for one
  // version. NotFound for an unknown model or version.
  absl::StatusOr<std::vector<ModelStatistics>> Statistics(const std::string& model,
                                                         const std::string& version) const;

  // Model repository extension: (re)load or unload one model by name, while the others
  // keep serving. See ModelManager::Load and ::Unload for the errors.
  absl::Status LoadModel(const std::string& model);
  absl::Status UnloadModel(const std::string& model);

  // Runs one request. Errors found before queueing (unknown model, bad input, full queue,
  // a deadline already past) are reported through `done` before Infer returns; otherwise
  // `done` runs later on a worker thread. `context` must not be null: the server reads it
  // (and sets its deadline from the "timeout" parameter) before queueing, and the
  // transport may Cancel() it at any time, which drops the request before compute. The
  // response's V2 `id` is the request's own `id`, or the context's id when it has none.
  void Infer(std::shared_ptr<RequestContext> context, const std::string& model,
             const std::string& version, InferRequest request, InferCallback done);

  // The folder the models are loaded from (ServerOptions::model_repository).
  const std::string& model_repository() const { return options_.model_repository; }

  // The clock deadlines are measured on (RequestContext::deadline_ns).
  Clock* clock() const { return options_.clock; }

  // System shared memory extension: the regions clients registered, for both transports
  // (sharedmem/shared_memory.h). Unmapped when the server is destroyed, or later once the
  // last request holding one finishes.
  SharedMemoryRegistry& shared_memory() { return shared_memory_; }

  // Prometheus text for /metrics.
  std::string RenderMetrics() const;
  MetricsRegistry& metrics() { return metrics_; }

  // Stops taking new requests (they get Unavailable), finishes everything queued, and
  // stops the workers. Idempotent.
  void Drain();

 private:
  explicit InferenceServer(ServerOptions options);
  // Infer without the draining check; composite models reach their members through it.
  void Run(std::shared_ptr<RequestContext> context, const std::string& model,
           const std::string& version, InferRequest request, InferCallback done);
  // Tells every observer, then `done`.
  void Complete(const RequestContext& context, const ServedVersion* served,
                absl::Span<const Tensor> inputs, absl::StatusOr<InferResponse> result,
                const RequestTiming& timing, const InferCallback& done) const;

  ServerOptions options_;
  MetricsRegistry metrics_;
  SharedMemoryRegistry shared_memory_;
  std::unique_ptr<ModelManager> models_;
  std::atomic<bool> draining_{false};
  // The metrics observer first, then ServerOptions::observers. Fixed after Create.
  std::vector<std::shared_ptr<RequestObserver>> observers_;
  bool keep_inputs_ = false;  // some observer reads the inputs
};

}  // namespace ferry

#endif  // FERRY_SERVER_INFERENCE_SERVER_H_
