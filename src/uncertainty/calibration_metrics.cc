#include "uncertainty/calibration_metrics.h"

#include <algorithm>
#include <cmath>

namespace ferry {

int64_t ArgMax(absl::Span<const double> row) {
  int64_t best = 0;
  for (size_t c = 1; c < row.size(); ++c) {
    if (row[c] > row[best]) best = static_cast<int64_t>(c);
  }
  return best;
}

std::vector<ReliabilityBin> ReliabilityDiagram(absl::Span<const double> confidence,
                                               absl::Span<const uint8_t> correct, int bins) {
  std::vector<ReliabilityBin> out(static_cast<size_t>(bins));
  std::vector<double> confidence_sum(out.size(), 0.0);
  std::vector<int64_t> correct_count(out.size(), 0);
  for (int b = 0; b < bins; ++b) {
    out[b].lower = static_cast<double>(b) / bins;
    out[b].upper = static_cast<double>(b + 1) / bins;
  }
  for (size_t i = 0; i < confidence.size(); ++i) {
    // Bin b holds (b/bins, (b+1)/bins], with 0 going to the first bin. ceil(c * bins) - 1
    // can land one off when c sits on an edge (0.2 * 15 = 3.0000000000000004), so settle
    // it against the same edges the bins report.
    int b = std::clamp(static_cast<int>(std::ceil(confidence[i] * bins)) - 1, 0, bins - 1);
    if (b > 0 && confidence[i] <= out[b].lower) --b;
    if (b < bins - 1 && confidence[i] > out[b].upper) ++b;
    ++out[b].count;
    confidence_sum[b] += confidence[i];
    correct_count[b] += correct[i] != 0 ? 1 : 0;
  }
  for (int b = 0; b < bins; ++b) {
    if (out[b].count == 0) continue;
    out[b].mean_confidence = confidence_sum[b] / out[b].count;
    out[b].accuracy = static_cast<double>(correct_count[b]) / out[b].count;
  }
  return out;
}

double ExpectedCalibrationError(absl::Span<const ReliabilityBin> bins) {
  int64_t n = 0;
  for (const ReliabilityBin& b : bins) n += b.count;
  if (n == 0) return 0.0;
  double ece = 0.0;
  for (const ReliabilityBin& b : bins) {
    ece += static_cast<double>(b.count) / n * std::abs(b.accuracy - b.mean_confidence);
  }
  return ece;
}

ProbabilityQuality MeasureProbabilities(absl::Span<const double> probabilities, int64_t classes,
                                        absl::Span<const int64_t> labels, int bins) {
  ProbabilityQuality q;
  q.rows = static_cast<int64_t>(labels.size());
  std::vector<double> confidence(labels.size());
  std::vector<uint8_t> correct(labels.size());
  int64_t hits = 0;
  double nll = 0.0;
  for (size_t r = 0; r < labels.size(); ++r) {
    absl::Span<const double> row = probabilities.subspan(r * classes, classes);
    const int64_t top = ArgMax(row);
    confidence[r] = row[top];
    correct[r] = top == labels[r] ? 1 : 0;
    hits += correct[r];
    nll -= std::log(std::max(row[labels[r]], kMinProbability));
  }
  if (q.rows > 0) {
    q.accuracy = static_cast<double>(hits) / q.rows;
    q.nll = nll / q.rows;
  }
  q.bins = ReliabilityDiagram(confidence, correct, bins);
  q.ece = ExpectedCalibrationError(q.bins);
  return q;
}

}  // namespace ferry
