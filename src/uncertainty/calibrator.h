// What `ferry calibrate` computes from a model's logits on a labeled calibration set:
// the temperature, probability quality before and after it, and the conformal
// thresholds for each alpha and score. Pure; the CLI collects the logits through the
// server and adds the file's provenance fields.
#ifndef FERRY_UNCERTAINTY_CALIBRATOR_H_
#define FERRY_UNCERTAINTY_CALIBRATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "uncertainty/calibration_file.h"
#include "uncertainty/temperature.h"

namespace ferry {

// Fits T by minimum NLL, then scores every row's true class under the calibrated
// probabilities softmax(logits / T) with LAC and APS, and takes the conformal quantile
// of each at each alpha. Fills classes, n, temperature, accuracy, nll_*, ece_* and
// levels; the provenance fields (model, version, data, created, logits_output) are the
// caller's. InvalidArgument for bad logits or labels (see FitTemperature) or an alpha
// outside (0, 1); alphas are sorted and must be distinct.
absl::StatusOr<Calibration> FitCalibration(absl::Span<const double> logits, int64_t classes,
                                           absl::Span<const int64_t> labels,
                                           std::vector<double> alphas,
                                           const TemperatureOptions& options = {});

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_CALIBRATOR_H_
