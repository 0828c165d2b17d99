// Split conformal prediction for classifiers: nonconformity scores, the finite-sample
// quantile that turns calibration scores into a threshold, and the prediction set a
// threshold gives for one row of probabilities.
//
// The guarantee: if calibration rows and a new row are exchangeable, the set built with
// the threshold from ConformalQuantile(scores, alpha) holds the true class with
// probability at least 1 - alpha. Both steps must score rows with the same functions
// (below), bit for bit, so that the row that defines the threshold is itself covered.
#ifndef FERRY_UNCERTAINTY_CONFORMAL_H_
#define FERRY_UNCERTAINTY_CONFORMAL_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ferry {

enum class ConformalScore {
  // Least ambiguous set-valued classifier: score 1 - p(true class). Small sets; can be
  // empty when no class is likely enough.
  kLac,
  // Adaptive prediction sets: the probability mass of every class at least as likely as
  // the true class (ties count together). Larger sets on hard rows, smaller on easy ones.
  kAps,
};

// "lac" / "aps".
absl::string_view ConformalScoreName(ConformalScore score);
// Inverse of ConformalScoreName; nullopt for anything else.
std::optional<ConformalScore> ParseConformalScore(absl::string_view name);

// The rank k = ceil((n + 1) * (1 - alpha)) of the calibration score that becomes the
// threshold, computed so that products that are integers in exact arithmetic (10 * 0.9)
// are not pushed up by rounding. May exceed n. REQUIRES: n >= 0, 0 < alpha < 1.
int64_t ConformalRank(int64_t n, double alpha);

// The k-th smallest of `scores` (k from ConformalRank), or +infinity when k exceeds the
// number of scores: too few calibration rows for this alpha, so every class is in every
// set. Ties need no special care: a set includes every class whose score is <= the
// threshold. REQUIRES: 0 < alpha < 1.
double ConformalQuantile(std::vector<double> scores, double alpha);

// Scores of every class for one row of probabilities: out[c] is class c's score.
// REQUIRES: out.size() == probabilities.size().
void ConformalScores(ConformalScore score, absl::Span<const double> probabilities,
                     absl::Span<double> out);

// The score of class `label` (what calibration collects). Equal, bit for bit, to
// ConformalScores(...)[label]. REQUIRES: 0 <= label < probabilities.size().
double ConformalScoreOf(ConformalScore score, absl::Span<const double> probabilities,
                        int64_t label);

// Sets in_set[c] to 1 for every class whose score is <= threshold, 0 for the others,
// and returns the set's size. +infinity gives the full set. One byte per class, the
// layout of a BOOL tensor. REQUIRES: in_set.size() == probabilities.size().
int64_t PredictionSet(ConformalScore score, absl::Span<const double> probabilities,
                      double threshold, absl::Span<uint8_t> in_set);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_CONFORMAL_H_
