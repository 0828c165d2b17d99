// Composite models: an ensemble, whose members all answer and are averaged, a cascade,
// whose stages answer in turn until one is confident, and MC dropout, an ensemble of
// stochastic passes of one model. All are Backends, so a composite model gets its own
// batcher, metrics and post-processing like any other. An ensemble's and a cascade's
// batches go to the members through the server's own request path (MemberInfer), so each
// member batches, measures and calibrates its share exactly as it does for clients.
//
// Ensembles and cascades are asynchronous backends (Backend::ExecuteAsync): a batch sends
// its member calls and returns; the last member to answer finishes it, on that member's
// thread. No thread waits for a member. Member calls carry RequestContext::ForBatch of the
// batch's requests, so they expire with the last of them and are dropped once all of them
// are cancelled. Execute (warm-up, tests) runs the same path and waits.
#ifndef FERRY_PIPELINE_COMPOSITE_H_
#define FERRY_PIPELINE_COMPOSITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backends/backend.h"
#include "core/infer.h"
#include "core/request_context.h"
#include "core/signature.h"

namespace ferry {

using MemberDone = std::function<void(absl::StatusOr<InferResponse>)>;
// Runs `request` on `member` for `context` (the server's own request path); `done` runs
// exactly once, on any thread, and may run before it returns.
using MemberInfer = std::function<void(const ModelRef& member, std::shared_ptr<RequestContext> context,
                                       InferRequest request, MemberDone done)>;

struct CompositeOptions {
  // Ensemble: the members. Cascade: the stages, cheapest first; the last answers
  // whatever reaches it.
  std::vector<ModelRef> members;
  // The composite's own signature; its outputs are checked against what it can produce.
  ModelSignature signature;
  MemberInfer infer;
  // Cascade: a stage answers a row when its prediction set holds exactly one class, or
  // its top probability is at least this.
  double min_confidence = 1.0;
  // Cascade: the "alpha" parameter sent to the stages that may pass rows on; unset uses
  // each stage's own default.
  std::optional<double> alpha;
  // Cascade: called after each stage with the rows it answered and the rows it passed on.
  std::function<void(size_t stage, int64_t answered, int64_t escalated)> on_stage;
};

// Outputs it can produce: "probabilities" FP32 [-1, C] (the members' mean), "logits" FP32
// [-1, C] (log of that mean, so a calibration can be fitted on top), "epistemic" FP32 [-1]
// (the mutual information between prediction and member). Each member must answer
// "probabilities" (natively or because it is calibrated).
absl::StatusOr<std::unique_ptr<Backend>> CreateEnsembleBackend(CompositeOptions options);

// Outputs it can produce: "probabilities" FP32 [-1, C] and "logits" FP32 [-1, C] of the
// stage that answered each row, and "stage" INT32 [-1], that stage's index. Every stage
// but the last must answer "prediction_set" (it must be calibrated).
absl::StatusOr<std::unique_ptr<Backend>> CreateCascadeBackend(CompositeOptions options);

struct McDropoutOptions {
  // Forward passes per row; at least 2.
  int passes = 20;
  // The served signature; its outputs are checked against what MC dropout can produce.
  ModelSignature signature;
};

// MC dropout over `stochastic`, a backend whose dropout stays active and which returns
// one FP32 [N, C] tensor of logits. Each batch of B rows runs as one forward of
// passes x B rows (the batch repeated); every pass's softmax is one member of an
// ensemble. Outputs as CreateEnsembleBackend: "probabilities" (the mean over passes),
// "logits" (its log) and "epistemic" (the mutual information between prediction and pass).
absl::StatusOr<std::unique_ptr<Backend>> CreateMcDropoutBackend(std::unique_ptr<Backend> stochastic,
                                                                McDropoutOptions options);

}  // namespace ferry

#endif  // FERRY_PIPELINE_COMPOSITE_H_
