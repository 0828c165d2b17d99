// The outputs a calibrated model version adds to its responses, computed per row from
// the model's logits:
//   probabilities   FP32 [rows, C]  softmax(logits / T)
//   prediction_set  BOOL [rows, C]  the conformal set at the request's alpha
//   uncertain       BOOL [rows]     the set does not hold exactly one class, or the top
//                                   probability is below min_confidence
// The server calls these after the batcher; anything else that holds logits and a
// calibration (a cascade stage, `ferry evaluate`) calls the same functions.
#ifndef FERRY_UNCERTAINTY_UNCERTAINTY_OUTPUTS_H_
#define FERRY_UNCERTAINTY_UNCERTAINTY_OUTPUTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/infer.h"
#include "core/signature.h"
#include "core/tensor.h"
#include "uncertainty/calibration_file.h"
#include "uncertainty/uncertainty_config.h"

namespace ferry {

inline constexpr char kProbabilitiesOutput[] = "probabilities";
inline constexpr char kPredictionSetOutput[] = "prediction_set";
inline constexpr char kUncertainOutput[] = "uncertain";
// The request-level parameter that picks the miscoverage level.
inline constexpr char kAlphaParameter[] = "alpha";

// True for the three names above.
bool IsUncertaintyOutput(absl::string_view name);

// A version's calibration, checked against its config once at load and then read-only.
struct CalibratedClassifier {
  Calibration calibration;
  int logits_index = -1;  // in the model's outputs
  ConformalScore score = ConformalScore::kLac;
  int default_level = 0;  // index into calibration.levels
  double min_confidence = 0.7;
  // The model's signature with CalibratedOutputs: what requests to this version may name.
  ModelSignature signature;
};

// Checks `calibration` (read from `source`) against the model: the logits output it
// names exists, is FP32 or FP64 [-1, C] with C = calibration.classes (or -1), matches
// the config's `logits`, and the config's default alpha is a calibrated level.
// InvalidArgument naming `source` otherwise, with what to do about it.
absl::StatusOr<CalibratedClassifier> PrepareCalibratedClassifier(const ModelSignature& signature,
                                                                 const UncertaintyConfig& config,
                                                                 Calibration calibration,
                                                                 absl::string_view source);

// The outputs a calibrated version offers: the model's, then probabilities,
// prediction_set and uncertain. A model output called `probabilities` is replaced in
// place by the calibrated one.
std::vector<TensorSpec> CalibratedOutputs(const std::vector<TensorSpec>& model_outputs,
                                          int64_t classes);

// The calibrated level a request asks for with its "alpha" parameter, or the default
// level when it sets none. InvalidArgument for a value that is not a number or not one
// of the calibrated levels (the message lists them).
absl::StatusOr<int> SelectConformalLevel(const std::map<std::string, ParameterValue>& parameters,
                                         const CalibratedClassifier& classifier);

// For a version without calibration: InvalidArgument when the request names one of the
// uncertainty outputs (that the model does not have itself) or sets "alpha", saying to
// run `ferry calibrate`. OK otherwise.
absl::Status CheckUncalibratedRequest(const InferRequest& request, const ModelSignature& signature,
                                      const std::string& model, const std::string& version);

// What the request path checks before queueing. For a calibrated version
// (`classifier` not null): the level the request's "alpha" picks (SelectConformalLevel).
// For an uncalibrated one: CheckUncalibratedRequest, then level 0.
absl::StatusOr<int> PrepareUncertaintyRequest(const CalibratedClassifier* classifier,
                                              const InferRequest& request,
                                              const ModelSignature& model_signature,
                                              const std::string& model, const std::string& version);

// After the batch ran: brings a calibrated version's `outputs` (the model's, in its
// signature order) in line with classifier.signature for what the request takes. When
// `requested` names an uncertainty output, computes all three from the logits at
// `level` (a model output called `probabilities` is replaced, the others appended).
// When `requested` is empty (every model output), only a model output called
// `probabilities` is replaced. Otherwise leaves `outputs` alone. Errors as
// ComputeUncertaintyOutputs.
absl::Status AddUncertaintyOutputs(const CalibratedClassifier& classifier, int level,
                                   const std::vector<RequestedOutput>& requested,
                                   std::vector<Tensor>& outputs);

// One row: fills `probabilities` and `in_set` (one byte per class) and returns the
// `uncertain` flag. REQUIRES: logits has at least one finite value and no NaN or +inf;
// probabilities.size() == in_set.size() == logits.size().
bool PredictRow(absl::Span<const double> logits, double temperature, ConformalScore score,
                double threshold, double min_confidence, absl::Span<double> probabilities,
                absl::Span<uint8_t> in_set);

struct UncertaintyTensors {
  Tensor probabilities;   // FP32 [rows, C]
  Tensor prediction_set;  // BOOL [rows, C]
  Tensor uncertain;       // BOOL [rows]
};

// All three outputs from a [rows, C] FP32 or FP64 logits tensor at calibration level
// `level`. Internal error for logits of the wrong type or shape, or with a NaN or +inf
// (a model fault, not the client's).
absl::StatusOr<UncertaintyTensors> ComputeUncertaintyOutputs(const Tensor& logits,
                                                             const CalibratedClassifier& classifier,
                                                             int level);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_UNCERTAINTY_OUTPUTS_H_
