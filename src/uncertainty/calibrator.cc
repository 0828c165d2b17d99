#include "uncertainty/calibrator.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "uncertainty/calibration_metrics.h"
#include "uncertainty/conformal.h"

namespace ferry {

absl::StatusOr<Calibration> FitCalibration(absl::Span<const double> logits, int64_t classes,
                                           absl::Span<const int64_t> labels,
                                           std::vector<double> alphas,
                                           const TemperatureOptions& options) {
  if (alphas.empty()) return absl::InvalidArgumentError("no alpha levels to calibrate");
  std::sort(alphas.begin(), alphas.end());
  for (size_t i = 0; i < alphas.size(); ++i) {
    if (!(alphas[i] > 0 && alphas[i] < 1)) {
      return absl::InvalidArgumentError(absl::StrCat("alpha ", alphas[i], " is not in (0, 1)"));
    }
    if (i > 0 && alphas[i] - alphas[i - 1] <= 1e-9) {
      return absl::InvalidArgumentError(absl::StrCat("alpha ", alphas[i], " is listed twice"));
    }
  }
  FERRY_ASSIGN_OR_RETURN(TemperatureFit fit, FitTemperature(logits, classes, labels, options));

  Calibration c;
  c.classes = classes;
  c.n = static_cast<int64_t>(labels.size());
  c.temperature = fit.temperature;
  c.nll_before = fit.nll_before;
  c.nll_after = fit.nll_after;
  const std::vector<double> before = SoftmaxRows(logits, classes, 1.0);
  const std::vector<double> after = SoftmaxRows(logits, classes, fit.temperature);
  const ProbabilityQuality q_before = MeasureProbabilities(before, classes, labels);
  const ProbabilityQuality q_after = MeasureProbabilities(after, classes, labels);
  c.accuracy = q_after.accuracy;
  c.ece_before = q_before.ece;
  c.ece_after = q_after.ece;

  std::vector<double> lac(labels.size()), aps(labels.size());
  for (size_t r = 0; r < labels.size(); ++r) {
    absl::Span<const double> row = absl::MakeConstSpan(after).subspan(r * classes, classes);
    lac[r] = ConformalScoreOf(ConformalScore::kLac, row, labels[r]);
    aps[r] = ConformalScoreOf(ConformalScore::kAps, row, labels[r]);
  }
  for (double alpha : alphas) {
    ConformalLevel level;
    level.alpha = alpha;
    level.rank = ConformalRank(c.n, alpha);
    level.lac = ConformalQuantile(lac, alpha);
    level.aps = ConformalQuantile(aps, alpha);
    c.levels.push_back(level);
  }
  return c;
}

}  // namespace ferry
