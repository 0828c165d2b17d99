// A loaded model version that can run a batch. Implementations: torch/ (TorchScript),
// xgboost/ (XGBoost boosters); backends/create_backend.h picks one by platform, and
// testing/fake_backend.h has a fake for tests. This header and backend.cc link no
// framework (library ferry_backend); framework headers stay inside each implementation's
// folder.
#ifndef FERRY_BACKENDS_BACKEND_H_
#define FERRY_BACKENDS_BACKEND_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/request_context.h"
#include "core/signature.h"
#include "core/tensor.h"

namespace ferry {

struct BackendOptions {
  std::string platform;      // "torchscript", "xgboost" or "builtin"
  std::string version_path;  // the version folder, e.g. models/fashion_cnn/1
  ModelSignature signature;
  // Intra-op threads each worker thread may use inside one Execute call (libtorch's
  // intra-op threads; XGBoost's nthread).
  int intra_op_threads = 1;
  // Try freezing and optimizing the graph at load time, falling back to the plain module
  // (TorchScript only).
  bool optimize = true;
  // MC dropout (TorchScript only): load without optimizing and leave the model's dropout
  // layers (nn.Dropout and its kin) in training mode, so that every forward samples new
  // masks. InvalidArgument when the model has none.
  bool keep_dropout_active = false;
  // Builtin only: the operation it computes (config.toml's [builtin] operation; see
  // backends/builtin/builtin_backend.h).
  std::string operation;
};

// The requests one batch computes for, in batch order; a null entry is work no request
// waits on (warm-up).
using BatchContexts = std::vector<std::shared_ptr<const RequestContext>>;
// Receives one batch's outputs, as Execute returns them.
using BackendDone = std::function<void(absl::StatusOr<std::vector<Tensor>> outputs)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // Runs one batch. `inputs` are in signature order, each with the batch in dimension 0;
  // the backend may consume them. Returns outputs in signature order with the same rows.
  // Thread-safe: several workers may call it at once. A model error is INTERNAL and fails
  // only this batch.
  virtual absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) = 0;

  // Checks one request's inputs (in signature order, already validated against the
  // signature) for what the signature cannot say, e.g. that BYTES hold numbers, before
  // the request joins a batch: a bad value then fails its own request (InvalidArgument,
  // naming the tensor) instead of the batch it would have joined. Thread-safe.
  virtual absl::Status CheckRequest(const std::vector<Tensor>& inputs) const {
    (void)inputs;
    return absl::OkStatus();
  }

  // True for a backend whose batches wait on other work (a composite waits on its member
  // models): the server then runs its batches with ExecuteAsync, and no thread blocks
  // while they wait. Fixed for the backend's life.
  virtual bool asynchronous() const { return false; }

  // Runs one batch as Execute does, but may return before it is done: `done` is called
  // exactly once, on any thread, before or after ExecuteAsync returns. `contexts` are the
  // requests the batch computes for, so that work done on their behalf can carry their
  // deadlines and cancellation. The default runs Execute and calls `done` at once.
  virtual void ExecuteAsync(std::vector<Tensor> inputs, BatchContexts contexts, BackendDone done) {
    (void)contexts;
    done(Execute(inputs));
  }

  // Called on a thread before it runs Execute: once on each worker thread, and before
  // every batch that runs inline on a caller's thread, so it must be cheap when repeated.
  virtual void PrepareWorkerThread() {}

  // One line for the start-up log, e.g. "frozen + optimized for inference".
  virtual std::string Describe() const = 0;
};

// Makes the backend for one model version. The server is handed one
// (ServerOptions::backend_factory): the programs pass CreateBackend
// (backends/create_backend.h), tests a fake (testing/fake_backend.h). Errors as
// CreateBackend's.
using BackendFactory =
    std::function<absl::StatusOr<std::unique_ptr<Backend>>(const BackendOptions& options)>;

// Runs `backend` on zero-filled inputs `repeats` times at each batch size, so that
// one-off costs (graph specialization, allocator growth) are paid before traffic.
// Variable non-batch dimensions are given size 1.
absl::Status WarmUp(Backend& backend, const ModelSignature& signature,
                    const std::vector<int64_t>& batch_sizes, int repeats = 3);

// Zero-filled inputs for the signature with `rows` rows, in signature order; each BYTES
// element is the string "0".
std::vector<Tensor> ZeroInputs(const ModelSignature& signature, int64_t rows);

}  // namespace ferry

#endif  // FERRY_BACKENDS_BACKEND_H_
