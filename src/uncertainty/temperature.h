// Temperature scaling: one scalar T > 0 divides every logit before the softmax. It
// keeps each row's ranking (so accuracy) and corrects over- (T > 1) or
// under-confidence (T < 1). T is fitted by minimizing the negative log-likelihood of
// held-out labels.
//
// Logits are row-major [rows, classes] doubles; labels are class indices.
#ifndef FERRY_UNCERTAINTY_TEMPERATURE_H_
#define FERRY_UNCERTAINTY_TEMPERATURE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ferry {

// out = softmax(logits / temperature) for one row, computed after subtracting the row's
// maximum so that large logits do not overflow. A -inf logit gets probability 0.
// REQUIRES: temperature > 0, out.size() == logits.size() >= 1, at least one finite logit.
void Softmax(absl::Span<const double> logits, double temperature, absl::Span<double> out);

// Softmax of every row of row-major [rows, classes] logits.
std::vector<double> SoftmaxRows(absl::Span<const double> logits, int64_t classes,
                                double temperature);

// log softmax(logits / temperature)[index] for one row, without forming the
// probabilities (so it stays finite where the probability would underflow to 0).
double LogSoftmaxAt(absl::Span<const double> logits, double temperature, int64_t index);

// Mean over rows of -log softmax(row / temperature)[label].
// REQUIRES: logits.size() == labels.size() * classes; labels in [0, classes).
double MeanNegativeLogLikelihood(absl::Span<const double> logits, int64_t classes,
                                 absl::Span<const int64_t> labels, double temperature);

struct TemperatureOptions {
  // The search range for T. A fit that ends on a bound says so (TemperatureFit::at_bound):
  // e.g. data the model separates perfectly pushes T toward 0.
  double min_temperature = 0.01;
  double max_temperature = 100.0;
  // Newton steps on 1/T, safeguarded by bisection; 60 halvings already reach machine
  // precision, so this is rarely the limit.
  int max_iterations = 200;
};

struct TemperatureFit {
  double temperature = 1.0;
  double nll_before = 0.0;  // at T = 1
  double nll_after = 0.0;   // at the fitted T
  int iterations = 0;
  bool at_bound = false;  // the minimum lies at or beyond a bound of the search range
};

// Finds the T in [min_temperature, max_temperature] that minimizes the mean NLL. The
// NLL is convex in 1/T, so the minimum is global. InvalidArgument for no rows, sizes
// that do not match, a label out of range, a non-finite logit or bad options.
absl::StatusOr<TemperatureFit> FitTemperature(absl::Span<const double> logits, int64_t classes,
                                              absl::Span<const int64_t> labels,
                                              const TemperatureOptions& options = {});

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_TEMPERATURE_H_
