// XGBoost boosters through libxgboost's C API. This header is xgboost-free; the C API
// stays in the .cc.
//
// Threads: XGBoost (>= 1.4) documents prediction on one booster as thread-safe for
// tree boosters (gbtree, dart) as long as nothing changes the booster meanwhile. Ferry
// sets every parameter (nthread) and runs a probe prediction at load, before any worker
// starts, and never touches the booster's parameters again, so workers predict
// concurrently on the one booster. Other boosters (gblinear) are not covered by that
// guarantee and are serialized by a mutex: more than one worker gains nothing there.
// xgboost_backend_test.cc checks concurrent predictions against single-threaded ones.
#ifndef FERRY_BACKENDS_XGBOOST_XGBOOST_BACKEND_H_
#define FERRY_BACKENDS_XGBOOST_XGBOOST_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "backends/backend.h"

namespace ferry {

// Loads <version_path>/model.json or <version_path>/model.ubj (exactly one must exist)
// and checks it against options.signature:
//   - one input, FP32, shape [-1, d1, d2, ...] with fixed d's whose product is the
//     booster's feature count; each row is read row-major as one feature vector;
//   - a classifier (objective multi:softprob, multi:softmax or binary:logistic) serves
//     "logits" (per-class margins, FP32 [-1, C]) and/or "probabilities" (their softmax,
//     FP32 [-1, C]), in the config's order; binary:logistic has C = 2 with margins
//     [0, m], so softmax gives [1 - p, p];
//   - any other objective is a regressor with one output FP32 [-1, 1] of any name,
//     holding XGBoost's transformed prediction.
// options.intra_op_threads becomes the booster's nthread (threads inside one Execute).
// Errors: NotFound when neither file exists; InvalidArgument, naming the file, for both
// files, an unreadable model (with XGBoost's message) or a signature mismatch.
absl::StatusOr<std::unique_ptr<Backend>> CreateXGBoostBackend(const BackendOptions& options);

}  // namespace ferry

#endif  // FERRY_BACKENDS_XGBOOST_XGBOOST_BACKEND_H_
