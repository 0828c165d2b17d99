#include "uncertainty/evaluation.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "json/writer.h"
#include "uncertainty/conformal.h"
#include "uncertainty/temperature.h"

namespace ferry {
namespace {

absl::Status CheckBatch(const PredictorBatch& b, int64_t rows, int64_t classes) {
  const size_t cells = static_cast<size_t>(rows * classes);
  const auto bad = [&](absl::string_view what) {
    return absl::InternalError(absl::StrCat("predictor answered ", rows, " rows with ", what,
                                            " of the wrong size"));
  };
  if (!b.logits.empty() && b.logits.size() != cells) return bad("logits");
  if (b.logits.empty() && !b.raw_probabilities.empty() && b.raw_probabilities.size() != cells) {
    return bad("raw probabilities");
  }
  if (b.probabilities.size() != cells) return bad("probabilities");
  if (b.prediction_set.size() != cells) return bad("a prediction set");
  if (b.uncertain.size() != static_cast<size_t>(rows)) return bad("uncertain flags");
  return absl::OkStatus();
}

TimingSummary SummarizeTiming(std::vector<int64_t> request_ns, int64_t rows) {
  TimingSummary t;
  t.requests = static_cast<int64_t>(request_ns.size());
  t.rows = rows;
  if (request_ns.empty()) return t;
  double total = 0;
  for (int64_t ns : request_ns) total += static_cast<double>(ns);
  std::sort(request_ns.begin(), request_ns.end());
  // Nearest rank: the smallest value with at least 99% of requests at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * request_ns.size()));
  t.mean_ms = total / request_ns.size() / 1e6;
  t.p99_ms = request_ns[std::max<size_t>(rank, 1) - 1] / 1e6;
  t.per_row_us = rows > 0 ? total / rows / 1e3 : 0.0;
  return t;
}

}  // namespace

absl::StatusOr<EvaluationReport> Evaluate(Predictor& predictor, const LabeledSet& data,
                                          const std::string& input_name, double alpha) {
  const CalibratedClassifier& classifier = predictor.Classifier();
  const Calibration& cal = classifier.calibration;
  const int64_t classes = cal.classes;
  const int level = cal.FindLevel(alpha);
  if (level < 0) {
    return absl::InvalidArgumentError(absl::StrCat("alpha ", JsonNumber(alpha),
                                                   " is not a calibrated level (", cal.LevelList(), ")"));
  }
  if (data.classes != classes) {
    return absl::InvalidArgumentError(absl::StrCat("the data has ", data.classes,
                                                   " classes; the calibration ", classes));
  }
  const int64_t n = data.rows();
  const int64_t batch = std::max<int64_t>(1, predictor.MaxBatchSize());

  std::vector<double> before, after;  // [n, C]
  std::vector<uint8_t> answered_set, uncertain;
  std::vector<int64_t> request_ns;
  bool has_logits = true, has_before = true;
  EvaluationReport report;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t rows = std::min(batch, n - begin);
    FERRY_ASSIGN_OR_RETURN(PredictorBatch b, predictor.Predict(data.Rows(input_name, begin, rows), alpha));
    FERRY_RETURN_IF_ERROR(CheckBatch(b, rows, classes));
    has_logits &= !b.logits.empty();
    if (!b.logits.empty()) {
      const std::vector<double> raw = SoftmaxRows(b.logits, classes, 1.0);
      const std::vector<double> scaled = SoftmaxRows(b.logits, classes, cal.temperature);
      before.insert(before.end(), raw.begin(), raw.end());
      after.insert(after.end(), scaled.begin(), scaled.end());
      for (size_t i = 0; i < scaled.size(); ++i) {
        report.max_probability_error = std::max(report.max_probability_error,
                                                std::abs(scaled[i] - b.probabilities[i]));
      }
    } else {
      has_before &= !b.raw_probabilities.empty();
      before.insert(before.end(), b.raw_probabilities.begin(), b.raw_probabilities.end());
      after.insert(after.end(), b.probabilities.begin(), b.probabilities.end());
    }
    answered_set.insert(answered_set.end(), b.prediction_set.begin(), b.prediction_set.end());
    uncertain.insert(uncertain.end(), b.uncertain.begin(), b.uncertain.end());
    request_ns.insert(request_ns.end(), b.request_ns.begin(), b.request_ns.end());
    for (int32_t st : b.stage) {
      if (st < 0) return absl::InternalError(absl::StrCat("stage ", st, " is negative"));
      if (static_cast<size_t>(st) >= report.rows_by_stage.size()) report.rows_by_stage.resize(st + 1, 0);
      ++report.rows_by_stage[st];
    }
  }

  report.predictor = predictor.Name();
  report.rows = n;
  report.classes = classes;
  report.alpha = cal.levels[level].alpha;
  report.served_score = classifier.score;
  report.min_confidence = classifier.min_confidence;
  report.temperature = cal.temperature;
  report.calibration_rows = cal.n;
  report.has_before = has_logits || has_before;
  if (report.has_before) report.before = MeasureProbabilities(before, classes, data.labels);
  report.after = MeasureProbabilities(after, classes, data.labels);
  report.checked_answers = has_logits;
  if (!has_logits) report.max_probability_error = 0.0;

  std::vector<uint8_t> in_set(static_cast<size_t>(classes));
  for (const ConformalLevel& l : cal.levels) {
    for (ConformalScore score : {ConformalScore::kLac, ConformalScore::kAps}) {
      SetQuality q;
      q.alpha = l.alpha;
      q.score = score;
      q.threshold = l.Threshold(score);
      int64_t covered = 0, total_size = 0, empty = 0, singleton = 0;
      const bool served = score == classifier.score && l.alpha == report.alpha;
      for (int64_t r = 0; r < n; ++r) {
        absl::Span<const double> p = absl::MakeConstSpan(after).subspan(r * classes, classes);
        const int64_t size = PredictionSet(score, p, q.threshold, absl::MakeSpan(in_set));
        covered += in_set[data.labels[r]];
        total_size += size;
        empty += size == 0 ? 1 : 0;
        singleton += size == 1 ? 1 : 0;
        if (served && has_logits) {
          const bool same = std::equal(in_set.begin(), in_set.end(),
                                       answered_set.begin() + r * classes);
          report.set_mismatches += same ? 0 : 1;
          const double top = p[ArgMax(p)];
          const bool flag = size != 1 || top < classifier.min_confidence;
          report.uncertain_mismatches += (flag != (uncertain[r] != 0)) ? 1 : 0;
        }
      }
      if (n > 0) {
        q.coverage = static_cast<double>(covered) / n;
        q.mean_set_size = static_cast<double>(total_size) / n;
        q.empty_rate = static_cast<double>(empty) / n;
        q.singleton_rate = static_cast<double>(singleton) / n;
      }
      report.sets.push_back(q);
    }
  }

  int64_t flagged = 0, right_flagged = 0, right_unflagged = 0;
  for (int64_t r = 0; r < n; ++r) {
    absl::Span<const double> p = absl::MakeConstSpan(after).subspan(r * classes, classes);
    const bool right = ArgMax(p) == data.labels[r];
    if (uncertain[r]) {
      ++flagged;
      right_flagged += right;
    } else {
      right_unflagged += right;
    }
  }
  report.not_uncertain_rows = n - flagged;
  if (n > 0) report.uncertain_rate = static_cast<double>(flagged) / n;
  if (flagged > 0) report.accuracy_uncertain = static_cast<double>(right_flagged) / flagged;
  if (n - flagged > 0) report.accuracy_not_uncertain = static_cast<double>(right_unflagged) / (n - flagged);
  report.timing = SummarizeTiming(std::move(request_ns), n);
  return report;
}

}  // namespace ferry
