#include "uncertainty/temperature.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

double RowMax(absl::Span<const double> row) {
  double m = -std::numeric_limits<double>::infinity();
  for (double v : row) m = std::max(m, v);
  return m;
}

// Gradient and curvature of the mean NLL with respect to beta = 1/T. For one row with
// p = softmax(beta * z): d/dbeta = E_p[z] - z_label and d2/dbeta2 = Var_p[z] >= 0.
struct Derivatives {
  double gradient = 0.0;
  double curvature = 0.0;
};

Derivatives NllDerivatives(absl::Span<const double> logits, int64_t classes,
                           absl::Span<const int64_t> labels, double beta) {
  Derivatives d;
  const size_t rows = labels.size();
  std::vector<double> w(static_cast<size_t>(classes));
  for (size_t r = 0; r < rows; ++r) {
    absl::Span<const double> z = logits.subspan(r * classes, classes);
    const double m = beta * RowMax(z);
    double sum = 0.0, mean = 0.0;
    for (int64_t c = 0; c < classes; ++c) {
      w[c] = std::exp(beta * z[c] - m);
      sum += w[c];
      mean += w[c] * z[c];
    }
    mean /= sum;
    double var = 0.0;
    for (int64_t c = 0; c < classes; ++c) var += w[c] * (z[c] - mean) * (z[c] - mean);
    d.gradient += mean - z[labels[r]];
    d.curvature += var / sum;
  }
  d.gradient /= static_cast<double>(rows);
  d.curvature /= static_cast<double>(rows);
  return d;
}

}  // namespace

void Softmax(absl::Span<const double> logits, double temperature, absl::Span<double> out) {
  const double m = RowMax(logits) / temperature;
  double sum = 0.0;
  for (size_t c = 0; c < logits.size(); ++c) {
    out[c] = std::exp(logits[c] / temperature - m);
    sum += out[c];
  }
  for (size_t c = 0; c < logits.size(); ++c) out[c] /= sum;
}

std::vector<double> SoftmaxRows(absl::Span<const double> logits, int64_t classes,
                                double temperature) {
  std::vector<double> out(logits.size());
  for (size_t at = 0; at + classes <= logits.size(); at += classes) {
    Softmax(logits.subspan(at, classes), temperature, absl::MakeSpan(out).subspan(at, classes));
  }
  return out;
}

double LogSoftmaxAt(absl::Span<const double> logits, double temperature, int64_t index) {
  const double m = RowMax(logits) / temperature;
  double sum = 0.0;
  for (double v : logits) sum += std::exp(v / temperature - m);
  return logits[index] / temperature - m - std::log(sum);
}

double MeanNegativeLogLikelihood(absl::Span<const double> logits, int64_t classes,
                                 absl::Span<const int64_t> labels, double temperature) {
  double total = 0.0;
  for (size_t r = 0; r < labels.size(); ++r) {
    total -= LogSoftmaxAt(logits.subspan(r * classes, classes), temperature, labels[r]);
  }
  return labels.empty() ? 0.0 : total / static_cast<double>(labels.size());
}

absl::StatusOr<TemperatureFit> FitTemperature(absl::Span<const double> logits, int64_t classes,
                                              absl::Span<const int64_t> labels,
                                              const TemperatureOptions& options) {
  if (!(options.min_temperature > 0) || !(options.max_temperature > options.min_temperature)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "temperature range must satisfy 0 < min < max; was [", options.min_temperature, ", ",
        options.max_temperature, "]"));
  }
  if (classes < 2) {
    return absl::InvalidArgumentError(absl::StrCat("need at least 2 classes; was ", classes));
  }
  if (labels.empty()) return absl::InvalidArgumentError("no rows to fit a temperature on");
  if (logits.size() != labels.size() * static_cast<size_t>(classes)) {
    return absl::InvalidArgumentError(absl::StrCat("logits hold ", logits.size(), " values, not ",
                                                   labels.size(), " rows x ", classes, " classes"));
  }
  for (size_t r = 0; r < labels.size(); ++r) {
    if (labels[r] < 0 || labels[r] >= classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", r, ": label ", labels[r], " is not in [0, ", classes, ")"));
    }
    for (int64_t c = 0; c < classes; ++c) {
      if (!std::isfinite(logits[r * classes + c])) {
        return absl::InvalidArgumentError(
            absl::StrCat("row ", r, ": logit ", c, " is not finite (", logits[r * classes + c], ")"));
      }
    }
  }

  TemperatureFit fit;
  fit.nll_before = MeanNegativeLogLikelihood(logits, classes, labels, 1.0);
  // The NLL is convex in beta = 1/T, so its gradient is non-decreasing: keep a bracket
  // [lo, hi] with gradient(lo) < 0 < gradient(hi) and take Newton steps inside it.
  double lo = 1.0 / options.max_temperature;
  double hi = 1.0 / options.min_temperature;
  double beta;
  if (NllDerivatives(logits, classes, labels, lo).gradient >= 0) {
    beta = lo;
    fit.at_bound = true;
  } else if (NllDerivatives(logits, classes, labels, hi).gradient <= 0) {
    beta = hi;
    fit.at_bound = true;
  } else {
    beta = std::clamp(1.0, lo, hi);
    for (fit.iterations = 1; fit.iterations <= options.max_iterations; ++fit.iterations) {
      const Derivatives d = NllDerivatives(logits, classes, labels, beta);
      if (d.gradient == 0) break;
      (d.gradient < 0 ? lo : hi) = beta;
      double next = d.curvature > 0 ? beta - d.gradient / d.curvature : lo - 1;
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
      const bool converged = std::abs(next - beta) <= 1e-13 * beta || hi - lo <= 1e-13 * hi;
      beta = next;
      if (converged) break;
    }
  }
  fit.temperature = 1.0 / beta;
  fit.nll_after = MeanNegativeLogLikelihood(logits, classes, labels, fit.temperature);
  return fit;
}

}  // namespace ferry
