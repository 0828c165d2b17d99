#include "uncertainty/conformal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ferry {

absl::string_view ConformalScoreName(ConformalScore score) {
  switch (score) {
    case ConformalScore::kLac: return "lac";
    case ConformalScore::kAps: return "aps";
  }
  return "lac";
}

std::optional<ConformalScore> ParseConformalScore(absl::string_view name) {
  if (name == "lac") return ConformalScore::kLac;
  if (name == "aps") return ConformalScore::kAps;
  return std::nullopt;
}

int64_t ConformalRank(int64_t n, double alpha) {
  const double exact = static_cast<double>(n + 1) * (1.0 - alpha);
  // (n+1)(1-alpha) is often an integer in exact arithmetic (n = 9, alpha = 0.1) but a
  // hair above it in floating point (100 * 0.93 = 93.00000000000001). A relative slack
  // far above rounding error and far below 1/(n+1) keeps those on the integer.
  const double slack = 1e-12 * std::max(1.0, exact);
  return static_cast<int64_t>(std::ceil(exact - slack));
}

double ConformalQuantile(std::vector<double> scores, double alpha) {
  const int64_t n = static_cast<int64_t>(scores.size());
  const int64_t k = std::max<int64_t>(1, ConformalRank(n, alpha));
  if (k > n) return std::numeric_limits<double>::infinity();
  std::nth_element(scores.begin(), scores.begin() + (k - 1), scores.end());
  return scores[k - 1];
}

namespace {

// APS: classes in order of decreasing probability; each tie group gets the cumulative
// mass up to and including the whole group, so tied classes always share a score.
// The sum runs in that order for every caller, which keeps the values bit-identical
// between calibration and serving.
void ApsScores(absl::Span<const double> p, absl::Span<double> out) {
  const size_t c = p.size();
  // Class counts are small (tens to a few thousand): a fresh index vector per row is fine.
  std::vector<size_t> order(c);
  std::iota(order.begin(), order.end(), size_t{0});
  // NaN sorts last instead of breaking the ordering the sort relies on.
  const auto key = [&](size_t k) {
    return std::isnan(p[k]) ? -std::numeric_limits<double>::infinity() : p[k];
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) > key(b); });
  double mass = 0.0;
  size_t i = 0;
  while (i < c) {
    size_t j = i;
    do {
      mass += p[order[j]];
      ++j;
    } while (j < c && key(order[j]) == key(order[i]));
    for (size_t t = i; t < j; ++t) out[order[t]] = mass;
    i = j;
  }
}

}  // namespace

void ConformalScores(ConformalScore score, absl::Span<const double> probabilities,
                     absl::Span<double> out) {
  if (score == ConformalScore::kAps) {
    ApsScores(probabilities, out);
    return;
  }
  for (size_t c = 0; c < probabilities.size(); ++c) out[c] = 1.0 - probabilities[c];
}

double ConformalScoreOf(ConformalScore score, absl::Span<const double> probabilities,
                        int64_t label) {
  if (score == ConformalScore::kLac) return 1.0 - probabilities[label];
  std::vector<double> all(probabilities.size());
  ApsScores(probabilities, absl::MakeSpan(all));
  return all[label];
}

int64_t PredictionSet(ConformalScore score, absl::Span<const double> probabilities,
                      double threshold, absl::Span<uint8_t> in_set) {
  std::vector<double> scores(probabilities.size());
  ConformalScores(score, probabilities, absl::MakeSpan(scores));
  int64_t size = 0;
  for (size_t c = 0; c < scores.size(); ++c) {
    in_set[c] = scores[c] <= threshold ? 1 : 0;
    size += in_set[c];
  }
  return size;
}

}  // namespace ferry
