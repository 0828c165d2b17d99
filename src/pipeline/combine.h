// Pure functions that composite models use to combine their members' answers.
// Probabilities are FP32 [N, C] tensors whose rows sum to 1.
#ifndef FERRY_PIPELINE_COMBINE_H_
#define FERRY_PIPELINE_COMBINE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/tensor.h"

namespace ferry {

// The element-wise mean of the members' probabilities. InvalidArgument unless there is at
// least one member and all are FP32 with the same [N, C] shape.
absl::StatusOr<Tensor> MeanProbabilities(absl::Span<const Tensor> members);

// Per row, the mutual information between the prediction and the choice of member:
// H(mean) - mean over members of H(member), in nats, FP32 [N]. Zero when the members
// agree; large when each is sure of a different class (epistemic uncertainty).
// `mean` is MeanProbabilities(members).
Tensor MutualInformation(absl::Span<const Tensor> members, const Tensor& mean);

// log(p), with p clamped below at the smallest normal float so that a zero becomes a
// large negative number rather than -inf. Softmax of the result gives back p.
Tensor LogProbabilities(const Tensor& probabilities);

// A cascade stage's verdict per row: true when the stage answers the row itself, false
// when it passes the row on. It answers when its prediction set (BOOL [N, C]; may be
// null) holds exactly one class, or when its top probability is at least
// `min_confidence`.
std::vector<bool> StageAnswers(const Tensor& probabilities, const Tensor* prediction_set,
                               double min_confidence);

}  // namespace ferry

#endif  // FERRY_PIPELINE_COMBINE_H_
