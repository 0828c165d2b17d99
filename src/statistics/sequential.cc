#include "statistics/sequential.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ferry {
namespace statistics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double LogGridRatio(int k) {
  return std::log(32.0) * (k - RateRatioSequence::kGridHalf) / RateRatioSequence::kGridHalf;
}

// log(sum_k w_k exp(l_k) / sum_k w_k) over k in [begin, end), weights of a normal prior on
// log r with scale tau.
double LogMixture(const std::array<double, RateRatioSequence::kGridSize>& log_lambda, int begin,
                  int end, double tau) {
  double max_term = -kInf;
  for (int k = begin; k < end; ++k) {
    const double u = LogGridRatio(k);
    max_term = std::max(max_term, log_lambda[k] - u * u / (2 * tau * tau));
  }
  double sum = 0;
  double weight = 0;
  for (int k = begin; k < end; ++k) {
    const double u = LogGridRatio(k);
    const double log_w = -u * u / (2 * tau * tau);
    sum += std::exp(log_lambda[k] + log_w - max_term);
    weight += std::exp(log_w);
  }
  return max_term + std::log(sum) - std::log(weight);
}

}  // namespace

void RunningMoments::Add(double x) {
  ++count;
  const double delta = x - mean;
  mean += delta / static_cast<double>(count);
  m2 += delta * (x - mean);
}

void RunningMoments::Merge(const RunningMoments& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double n_a = static_cast<double>(count);
  const double n_b = static_cast<double>(other.count);
  const double delta = other.mean - mean;
  const double n = n_a + n_b;
  mean += delta * n_b / n;
  m2 += other.m2 + delta * delta * n_a * n_b / n;
  count += other.count;
}

double RunningMoments::Variance() const {
  return count < 2 ? 0.0 : m2 / static_cast<double>(count - 1);
}

double NormalMixtureLikelihoodRatio(double estimate, double s2, double theta0, double tau) {
  const double tau2 = tau * tau;
  const double d = estimate - theta0;
  return std::sqrt(s2 / (s2 + tau2)) * std::exp(tau2 * d * d / (2 * s2 * (s2 + tau2)));
}

Interval NormalMixtureConfidenceInterval(double estimate, double s2, double tau, double alpha) {
  // Solve Lambda(theta0) = 1 / alpha for |estimate - theta0|.
  const double tau2 = tau * tau;
  const double radius = std::sqrt(2 * s2 * (s2 + tau2) / tau2 *
                                  (std::log(1 / alpha) + 0.5 * std::log((s2 + tau2) / s2)));
  return {estimate - radius, estimate + radius};
}

double AlwaysValidP::Update(double likelihood_ratio) {
  if (likelihood_ratio > 0) p_ = std::min(p_, 1 / likelihood_ratio);
  return p_;
}

double RateRatioSequence::GridRatio(int k) { return std::exp(LogGridRatio(k)); }

void RateRatioSequence::AddBatch(int64_t canary_exposure, int64_t canary_events,
                                 int64_t baseline_exposure, int64_t baseline_events) {
  canary_exposure_ += canary_exposure;
  baseline_exposure_ += baseline_exposure;
  canary_events_ += canary_events;
  const int64_t m = canary_events + baseline_events;
  total_events_ += m;
  if (m == 0 || canary_exposure == 0 || baseline_exposure == 0) return;
  const double q = static_cast<double>(canary_exposure) /
                   static_cast<double>(canary_exposure + baseline_exposure);
  for (int k = 0; k < kGridSize; ++k) {
    const double u = LogGridRatio(k);
    log_lambda_[k] += static_cast<double>(canary_events) * u -
                      static_cast<double>(m) * std::log1p(q * std::expm1(u));
  }
}

double RateRatioSequence::RegressionPValue(double tau) const {
  const double log_m = LogMixture(log_lambda_, kGridHalf + 1, kGridSize, tau);
  return std::min(1.0, std::exp(-log_m));
}

double RateRatioSequence::TwoSidedPValue(double tau) const {
  // Every grid point but r = 1 itself.
  const double lo = LogMixture(log_lambda_, 0, kGridHalf, tau);
  const double hi = LogMixture(log_lambda_, kGridHalf + 1, kGridSize, tau);
  const double log_m = std::log(0.5) + std::max(lo, hi) + std::log1p(std::exp(-std::abs(lo - hi)));
  return std::min(1.0, std::exp(-log_m));
}

Interval RateRatioSequence::RatioInterval(double tau, double alpha) const {
  // Testing r = r_j: the likelihood ratio of r_k against r_j is Lambda(r_k) / Lambda(r_j), so
  // the mixture against r_j is the mixture against 1 divided by Lambda(r_j).
  const double log_mixture = LogMixture(log_lambda_, 0, kGridSize, tau);
  const double threshold = std::log(1 / alpha);
  int first = -1;
  int last = -1;
  int best = kGridHalf;
  for (int j = 0; j < kGridSize; ++j) {
    if (log_lambda_[j] > log_lambda_[best]) best = j;
    if (log_mixture - log_lambda_[j] < threshold) {
      if (first < 0) first = j;
      last = j;
    }
  }
  if (first < 0) first = last = best;  // every grid point rejected: the truth lies between
  return {first == 0 ? 0.0 : GridRatio(first - 1),
          last == kGridSize - 1 ? kInf : GridRatio(last + 1)};
}

RateRatioSequence RateRatioSequence::Restore(int64_t canary_exposure, int64_t canary_events,
                                             int64_t baseline_exposure, int64_t total_events,
                                             const std::array<double, kGridSize>& log_lambda) {
  RateRatioSequence s;
  s.canary_exposure_ = canary_exposure;
  s.canary_events_ = canary_events;
  s.baseline_exposure_ = baseline_exposure;
  s.total_events_ = total_events;
  s.log_lambda_ = log_lambda;
  return s;
}

double BinomialUpperBound(int64_t events, int64_t trials, double alpha) {
  if (trials <= 0) return 1.0;
  const double x = static_cast<double>(events);
  const double n = static_cast<double>(trials);
  const double log_beta = std::lgamma(x + 1) + std::lgamma(n - x + 1) - std::lgamma(n + 2);
  const double threshold = std::log(1 / alpha);
  auto log_m = [&](double p0) {
    return log_beta - (x > 0 ? x * std::log(p0) : 0) - (n - x) * std::log1p(-p0);
  };
  if (events >= trials || log_m(1 - 1e-15) < threshold) return 1.0;
  double lo = x / n;
  double hi = 1 - 1e-15;
  if (log_m(std::max(lo, 1e-300)) >= threshold) return lo;
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (log_m(mid) < threshold ? lo : hi) = mid;
  }
  return hi;
}

double BinomialLowerBound(int64_t events, int64_t trials, double alpha) {
  if (trials <= 0) return 0.0;
  return 1 - BinomialUpperBound(trials - events, trials, alpha);
}

}  // namespace statistics
}  // namespace ferry
