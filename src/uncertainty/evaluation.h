// `ferry evaluate`: how good a predictor's probabilities, prediction sets and
// `uncertain` flags are on a labeled set. The predictor is an interface so that what is
// evaluated can grow: today a served model version (src/cli/evaluate.cc); a cascade or
// an ensemble implements the same three methods.
#ifndef FERRY_UNCERTAINTY_EVALUATION_H_
#define FERRY_UNCERTAINTY_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"
#include "uncertainty/calibration_metrics.h"
#include "uncertainty/labeled_set.h"
#include "uncertainty/uncertainty_outputs.h"

namespace ferry {

// One batch of answers, row-major.
struct PredictorBatch {
  // [rows, C] raw logits when the predictor has them: then "before" is softmax(logits)
  // and "after" softmax(logits / T), and the sets are recomputed from them exactly as
  // the server does. Empty otherwise (e.g. an ensemble that averages probabilities).
  std::vector<double> logits;
  // [rows, C] uncalibrated probabilities; only read when `logits` is empty (and may be
  // empty too: the report then has no "before").
  std::vector<double> raw_probabilities;
  // [rows, C] calibrated probabilities as answered.
  std::vector<double> probabilities;
  // [rows, C] the answered prediction set at the evaluated alpha, one byte per class.
  std::vector<uint8_t> prediction_set;
  // [rows] the answered `uncertain` flags.
  std::vector<uint8_t> uncertain;
  // Wall time of each request that produced this batch, in nanoseconds.
  std::vector<int64_t> request_ns;
  // [rows] a cascade's `stage` output: which stage answered each row. Empty otherwise.
  std::vector<int32_t> stage;
};

class Predictor {
 public:
  virtual ~Predictor() = default;
  // For the report, e.g. "fashion_cnn version 1".
  virtual std::string Name() const = 0;
  // The most rows one Predict call takes.
  virtual int64_t MaxBatchSize() const = 0;
  // The calibration behind the answers: its thresholds define the offline sets for every
  // alpha and score; its score and min_confidence are the ones served.
  virtual const CalibratedClassifier& Classifier() const = 0;
  // Answers `rows` (a slice of the labeled set) at miscoverage level `alpha`.
  virtual absl::StatusOr<PredictorBatch> Predict(const Tensor& rows, double alpha) = 0;
};

// Coverage of the sets for one (alpha, score), recomputed from the calibrated
// probabilities with the calibration's threshold.
struct SetQuality {
  double alpha = 0.0;
  ConformalScore score = ConformalScore::kLac;
  double threshold = 0.0;
  double coverage = 0.0;        // fraction of rows whose set holds the true class
  double mean_set_size = 0.0;
  double empty_rate = 0.0;      // sets with no class
  double singleton_rate = 0.0;  // sets with exactly one class
};

struct TimingSummary {
  int64_t requests = 0;
  int64_t rows = 0;
  double mean_ms = 0.0;  // per request
  double p99_ms = 0.0;   // per request, nearest rank
  double per_row_us = 0.0;
};

struct EvaluationReport {
  std::string predictor;
  int64_t rows = 0;
  int64_t classes = 0;
  double alpha = 0.0;  // the level the answers were requested at
  ConformalScore served_score = ConformalScore::kLac;
  double min_confidence = 0.0;
  double temperature = 1.0;
  int64_t calibration_rows = 0;

  bool has_before = false;
  ProbabilityQuality before;  // softmax(logits), when has_before
  ProbabilityQuality after;   // the calibrated probabilities
  std::vector<SetQuality> sets;  // every calibrated alpha x {lac, aps}

  // From the answered `uncertain` flags at `alpha`.
  double uncertain_rate = 0.0;
  int64_t not_uncertain_rows = 0;
  double accuracy_not_uncertain = 0.0;  // 0 when every answer was flagged
  double accuracy_uncertain = 0.0;      // 0 when none was

  // Rows where the answered prediction_set / uncertain differ from the offline
  // recomputation (only checked when the predictor gives logits), and the largest
  // difference between answered and recomputed probabilities.
  bool checked_answers = false;
  int64_t set_mismatches = 0;
  int64_t uncertain_mismatches = 0;
  double max_probability_error = 0.0;

  TimingSummary timing;
  // Server-side model compute per row in microseconds: the batches' compute time summed
  // over the models that ran (for an ensemble or cascade, its members), divided by the
  // rows. Negative when not measured (the caller fills it in).
  double compute_per_row_us = -1.0;
  // Cascades: rows answered by each stage, in stage order. Empty for other models.
  std::vector<int64_t> rows_by_stage;
  // The same compute, model by model (for a composite, one entry per member that ran a
  // batch), in the server's model order. Empty when not measured (the caller fills it in).
  struct ModelCompute {
    std::string model;
    int64_t batches = 0;
    int64_t rows = 0;  // rows that model computed, not the rows evaluated
    double ns = 0;
  };
  std::vector<ModelCompute> compute_by_model;
};

// Runs `predictor` over `data` in batches of its MaxBatchSize at `alpha` and measures
// everything above. InvalidArgument when `alpha` is not a calibrated level or the data
// does not match the calibration's classes; the predictor's own errors pass through.
absl::StatusOr<EvaluationReport> Evaluate(Predictor& predictor, const LabeledSet& data,
                                          const std::string& input_name, double alpha);

// The report for people: aligned tables, then what each number means in one line.
std::string RenderEvaluationText(const EvaluationReport& report);
// The report for scripts: one JSON object (docs/uncertainty.md lists its fields).
std::string RenderEvaluationJson(const EvaluationReport& report);
// A gnuplot script that draws the reliability diagram (before and after temperature
// scaling) as a PNG at `png_path`.
std::string ReliabilityPlotScript(const EvaluationReport& report, const std::string& png_path);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_EVALUATION_H_
