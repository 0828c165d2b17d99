// Anytime-valid statistics: tests and confidence sequences that stay valid however often the
// data is looked at (after every batch, every interval), because each is built from a
// nonnegative supermartingale under the null and Ville's inequality bounds the chance that
// it ever reaches 1/alpha by alpha. A fixed-horizon test peeked at every 100 requests would
// raise false alarms several times more often than its nominal level.
//
// Everything here is a plain value updated in O(1) (or O(grid) per batch) and can be saved
// and restored field by field, so a test resumes after a restart where it stopped.
//
//   RunningMoments       count, mean and spread of a stream (Welford), mergeable.
//   NormalMixture*       the mSPRT for a normal mean (difference), its always-valid p-value
//                        and its confidence sequence (Johari, Pekelis, Walsh, arXiv 1512.04922).
//   RateRatioSequence    two event counts (errors of a canary and of a baseline) compared by
//                        their rate ratio, conditioning on the total count; well-defined when
//                        one arm has no events (Lindon & Malek, arXiv 2011.03567).
//   BinomialUpperBound   an anytime-valid upper bound for one arm's event rate.
//   AlwaysValidP         the running minimum that turns 1/Lambda_t into an always-valid p.
#ifndef FERRY_STATISTICS_SEQUENTIAL_H_
#define FERRY_STATISTICS_SEQUENTIAL_H_

#include <array>
#include <cstdint>

namespace ferry {
namespace statistics {

// Count, mean and sum of squared deviations of a stream of numbers (Welford's update,
// numerically stable). Merge combines two streams exactly (Chan et al.'s formula).
struct RunningMoments {
  int64_t count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from the mean

  void Add(double x);
  void Merge(const RunningMoments& other);
  // The unbiased sample variance; 0 for fewer than two values.
  double Variance() const;
};

// The mSPRT's mixture likelihood ratio for a normal mean, written with the variance of the
// estimate (s2 = V / n for a mean of n values of variance V; var_a / n_a + var_b / n_b for a
// difference of two means) and a N(theta0, tau^2) mixing distribution on the effect:
//   Lambda = sqrt(s2 / (s2 + tau^2)) * exp(tau^2 (estimate - theta0)^2 / (2 s2 (s2 + tau^2))).
// With s2 = V / n this is Johari et al.'s formula. REQUIRES: s2 > 0, tau > 0.
double NormalMixtureLikelihoodRatio(double estimate, double s2, double theta0, double tau);

struct Interval {
  double lower = 0;
  double upper = 0;
};

// The confidence sequence the mSPRT inverts to: every theta0 with Lambda < 1 / alpha, which
// is estimate +- the radius below. Covers the true effect at every look at once with
// probability >= 1 - alpha. REQUIRES: s2 > 0, tau > 0, 0 < alpha < 1.
Interval NormalMixtureConfidenceInterval(double estimate, double s2, double tau, double alpha);

// The running minimum of 1 / Lambda_t (capped at 1): an always-valid p-value, which never
// increases, so "p <= alpha at some look" has probability <= alpha under the null.
class AlwaysValidP {
 public:
  // Takes this look's likelihood ratio and returns the updated p-value.
  double Update(double likelihood_ratio);
  double value() const { return p_; }
  void Restore(double p) { p_ = p; }

 private:
  double p_ = 1;
};

// Two arms' event counts (errors, wrong answers) compared through the ratio of their rates,
// r = rate_canary / rate_baseline, without ever dividing by an arm's rate.
//
// Conditional on a batch's exposures (n_c canary and n_b baseline requests) and its total
// event count m, the canary's share of the events is Binomial(m, pi) with
// pi = q r / (q r + 1 - q), q = n_c / (n_c + n_b) (the Poisson model of Lindon & Malek,
// arXiv 2011.03567; each batch has its own q, so traffic weights may change between
// batches). Against r = 1 the batch's likelihood ratio for a fixed r is
//   r^{x_c} / (1 + q (r - 1))^m,
// and the product over batches is a martingale under r = 1. For 0/1 outcomes (each request
// fails or not) with equal failure probabilities the canary's count given m is
// hypergeometric instead, which is smaller than the binomial in convex order (Hoeffding,
// 1963), so the same product is a supermartingale: the test of "no regression" is valid
// for Bernoulli requests too, and conservative. With r > 1 alternatives only it is also
// valid against every r < 1.
//
// The state keeps log Lambda(r) on a fixed grid of r (log-spaced from 1/32 to 32); the
// mixture weights (a normal prior on log r of scale tau) are applied when reading, so the
// state does not depend on them. A baseline with zero events is no special case: each
// canary event then multiplies Lambda(r) by r / (1 + q (r - 1)), up to 1 / q.
class RateRatioSequence {
 public:
  static constexpr int kGridHalf = 40;
  static constexpr int kGridSize = 2 * kGridHalf + 1;  // r_k = 32^{(k - kGridHalf) / kGridHalf}
  static double GridRatio(int k);

  // Adds one batch. Arms with no exposure carry no information (q = 0 or 1 leaves every
  // Lambda(r) at its value). REQUIRES: 0 <= events <= exposure.
  void AddBatch(int64_t canary_exposure, int64_t canary_events, int64_t baseline_exposure,
                int64_t baseline_events);

  // Always-valid p-value for "the canary's rate is no higher than the baseline's" (r <= 1),
  // from the mixture over r > 1 only (this look's 1 / Lambda, capped at 1).
  double RegressionPValue(double tau) const;
  // Always-valid p-value for r = 1 against r != 1 (A/B tests).
  double TwoSidedPValue(double tau) const;
  // The confidence sequence for r at this look: the grid points not rejected at alpha,
  // widened to the next grid point on each side (0 and +infinity beyond the grid).
  Interval RatioInterval(double tau, double alpha) const;

  int64_t canary_events() const { return canary_events_; }
  int64_t total_events() const { return total_events_; }
  int64_t canary_exposure() const { return canary_exposure_; }
  int64_t baseline_exposure() const { return baseline_exposure_; }
  const std::array<double, kGridSize>& log_lambda() const { return log_lambda_; }

  // Rebuilds a saved state (the values of the accessors above).
  static RateRatioSequence Restore(int64_t canary_exposure, int64_t canary_events,
                                   int64_t baseline_exposure, int64_t total_events,
                                   const std::array<double, kGridSize>& log_lambda);

 private:
  int64_t canary_exposure_ = 0;
  int64_t baseline_exposure_ = 0;
  int64_t canary_events_ = 0;
  int64_t total_events_ = 0;
  std::array<double, kGridSize> log_lambda_{};  // log Lambda(r_k) against r = 1
};

// An anytime-valid upper confidence bound for an event rate from `events` in `trials`: the
// largest p0 >= events / trials whose Beta(1, 1)-mixture likelihood ratio
// B(x + 1, n - x + 1) / (p0^x (1 - p0)^(n - x)) stays below 1 / alpha (Robbins' mixture).
// 1 when trials == 0.
double BinomialUpperBound(int64_t events, int64_t trials, double alpha);
// The matching lower bound: 1 - BinomialUpperBound(trials - events, trials, alpha); 0 when
// trials == 0.
double BinomialLowerBound(int64_t events, int64_t trials, double alpha);

}  // namespace statistics
}  // namespace ferry

#endif  // FERRY_STATISTICS_SEQUENTIAL_H_
