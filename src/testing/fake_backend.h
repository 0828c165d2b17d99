// FakeBackend: a Backend for tests, so that the server, the router and the transports are
// tested without libtorch. Its outputs are a function of its inputs (ready-made: the
// `simple` model's sum and difference, and deterministic classifier logits); it can be
// slow (a real sleep, or a Gate the test opens, for tests that must stay deterministic),
// fail (on every call, or from the Nth call on), and it counts its calls and rows.
//
// FakeBackendFactory is what tests hand to ServerOptions::backend_factory: it makes a
// FakeBackend for each model version the server loads, configured per model (and
// version) by the test, by default with outputs that fit the version's signature.
//
// Warm-up runs through Execute too (the config's execution.warmup_batch_sizes, by default
// 1 and max_batch_size, three calls at each size; a composite's warm-up calls its members
// too): the counters include those calls, a gate holds them and an error from the first
// call on fails the load.
//
// Thread-safe: the server's workers may call one FakeBackend at once, and a test may
// configure a factory while a server uses it.
#ifndef FERRY_TESTING_FAKE_BACKEND_H_
#define FERRY_TESTING_FAKE_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backends/backend.h"
#include "core/signature.h"
#include "core/tensor.h"
#include "testing/gate.h"

namespace ferry {

// Makes a batch's outputs from its inputs (in signature order, the batch in dimension 0).
using FakeOutputs =
    std::function<absl::StatusOr<std::vector<Tensor>>(const std::vector<Tensor>& inputs)>;

// The `simple` model's contract: INT32 INPUT0 and INPUT1 of one shape give OUTPUT0 =
// INPUT0 + INPUT1 and OUTPUT1 = INPUT0 - INPUT1. InvalidArgument for other inputs.
FakeOutputs SimpleOutputs();

// A classifier's FP32 logits [rows, classes], made deterministically from each row's
// inputs by FakeLogits.
FakeOutputs ClassifierOutputs(int64_t classes);

// The logits ClassifierOutputs answers, for tests to compute what to expect. For each row,
// s = the sum of the row's elements over all inputs (numbers as they are, BOOL as 0/1,
// other datatypes byte by byte), rounded down, k = |s|: class k % classes gets the logit
// (k / classes) % 8, every other class 0. So rows differ both in their class and in how
// sure they are (a logit of 0: every class ties). Named "logits".
Tensor FakeLogits(const std::vector<Tensor>& inputs, int64_t classes);

// What a FakeBackend answers when it is given no outputs function: SimpleOutputs for the
// `simple` contract (inputs INPUT0, INPUT1, two INT32 outputs); otherwise, per output, the
// logits of ClassifierOutputs for an FP32 [-1, C] one with C > 0, and zeros for any other
// (variable dimensions but the batch get size 1).
FakeOutputs DefaultOutputs(const ModelSignature& signature);

struct FakeBackendCounters {
  std::atomic<int64_t> calls{0};  // Execute calls, warm-up included
  std::atomic<int64_t> rows{0};   // rows (dimension 0 of the first input) of those calls
};

struct FakeBackendOptions {
  // Null: DefaultOutputs for the backend's signature. Outputs without a name get the
  // signature's names, in order.
  FakeOutputs outputs;
  // Slept in every call before it answers (real time).
  absl::Duration latency = absl::ZeroDuration();
  // Not owned; when set, every call (after the latency) enters it and waits for a permit.
  Gate* gate = nullptr;
  // When not OK, returned by every call from call number `fail_from_call` on (1 = the
  // first call), as a model error would be.
  absl::Status error;
  int64_t fail_from_call = 1;
  // What Describe() says.
  std::string description = "fake backend";
};

class FakeBackend : public Backend {
 public:
  // `signature` names the outputs and checks them: an answer whose count or datatypes do
  // not match it is INTERNAL, as a real backend's would be. An empty signature checks
  // nothing.
  explicit FakeBackend(FakeBackendOptions options, ModelSignature signature = {});

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) override;
  std::string Describe() const override { return options_.description; }

  int64_t calls() const { return counters_->calls.load(); }
  int64_t rows() const { return counters_->rows.load(); }
  // The same counters, for reading after the backend is gone.
  std::shared_ptr<const FakeBackendCounters> counters() const { return counters_; }

 private:
  const FakeBackendOptions options_;
  const ModelSignature signature_;
  const std::shared_ptr<FakeBackendCounters> counters_ = std::make_shared<FakeBackendCounters>();
};

// Makes FakeBackends for the versions a server loads, each configured by the model and
// version its BackendOptions::version_path names (<repository>/<model>/<version>).
// Default: FakeBackendOptions{} (DefaultOutputs, no latency, no errors).
class FakeBackendFactory {
 public:
  FakeBackendFactory();

  // How every version of `model` behaves; a setting for one version wins over it. Takes
  // effect for the backends made after the call (a reload makes new ones).
  void Set(const std::string& model, FakeBackendOptions options);
  void Set(const std::string& model, int64_t version, FakeBackendOptions options);
  // Loading `model`'s `version` fails with `status`, as a broken model file would; OK
  // lets it load again.
  void FailLoad(const std::string& model, int64_t version, absl::Status status);

  // For ServerOptions::backend_factory (and ManagerOptions). It shares this factory's
  // settings and counters, and may outlive it.
  BackendFactory factory() const;

  // How many backends were made for `model`'s `version` (a reload of a changed version
  // makes another).
  int64_t Builds(const std::string& model, int64_t version) const;
  // The counters of the last backend made for `model`'s `version`; null when none was.
  std::shared_ptr<const FakeBackendCounters> Counters(const std::string& model,
                                                      int64_t version) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ferry

#endif  // FERRY_TESTING_FAKE_BACKEND_H_
