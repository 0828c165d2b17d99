// How well predicted probabilities match outcomes: accuracy, negative log-likelihood
// and the expected calibration error (ECE) over equal-width confidence bins.
#ifndef FERRY_UNCERTAINTY_CALIBRATION_METRICS_H_
#define FERRY_UNCERTAINTY_CALIBRATION_METRICS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace ferry {

// The number of bins Ferry reports ECE over (the common choice in the literature).
inline constexpr int kDefaultCalibrationBins = 15;

// One bin of a reliability diagram: rows whose top probability lies in (lower, upper]
// (the first bin also takes exactly 0).
struct ReliabilityBin {
  double lower = 0.0;
  double upper = 0.0;
  int64_t count = 0;
  double mean_confidence = 0.0;  // 0 when empty
  double accuracy = 0.0;         // fraction correct; 0 when empty
};

// Bins rows by confidence (their top probability) into `bins` equal-width bins over
// [0, 1]. correct[i] is nonzero when row i's top class was the true one.
// REQUIRES: confidence.size() == correct.size(), bins >= 1, confidences in [0, 1].
std::vector<ReliabilityBin> ReliabilityDiagram(absl::Span<const double> confidence,
                                               absl::Span<const uint8_t> correct,
                                               int bins = kDefaultCalibrationBins);

// sum over bins of (count / n) * |accuracy - mean_confidence|; 0 for no rows.
double ExpectedCalibrationError(absl::Span<const ReliabilityBin> bins);

// Summary of row-major [rows, classes] probabilities against labels.
struct ProbabilityQuality {
  int64_t rows = 0;
  double accuracy = 0.0;  // top class (lowest index among ties) == label
  // Mean -log p(label); a probability that underflowed to 0 counts as kMinProbability.
  double nll = 0.0;
  double ece = 0.0;
  std::vector<ReliabilityBin> bins;
};

// The floor applied to p(label) in the NLL, so one underflowed row cannot make it infinite.
inline constexpr double kMinProbability = 1e-300;

// REQUIRES: probabilities.size() == labels.size() * classes, labels in [0, classes).
ProbabilityQuality MeasureProbabilities(absl::Span<const double> probabilities, int64_t classes,
                                        absl::Span<const int64_t> labels,
                                        int bins = kDefaultCalibrationBins);

// Index of the largest value (the lowest index among ties).
int64_t ArgMax(absl::Span<const double> row);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_CALIBRATION_METRICS_H_
