#include "uncertainty/evaluation.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "boost/json.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "uncertainty/calibrator.h"
#include "uncertainty/test_random.h"

namespace ferry {
namespace {

using testing::HasSubstr;

// A labeled set whose single FP64 "feature" row is the logits themselves, so the fake
// predictor below is the identity on its inputs.
LabeledSet LogitSet(const std::vector<double>& logits, const std::vector<int64_t>& labels, int classes) {
  LabeledSet s;
  s.dtype = DataType::kFp64;
  s.shape = {static_cast<int64_t>(labels.size()), classes};
  s.classes = classes;
  s.labels = labels;
  s.data.resize(logits.size() * sizeof(double));
  std::memcpy(s.data.data(), logits.data(), s.data.size());
  return s;
}

// Answers like a served version: the uncertainty outputs computed from the logits.
class FakePredictor : public Predictor {
 public:
  FakePredictor(CalibratedClassifier classifier, int64_t max_batch)
      : classifier_(std::move(classifier)), max_batch_(max_batch) {}
  std::string Name() const override { return "fake version 1"; }
  int64_t MaxBatchSize() const override { return max_batch_; }
  const CalibratedClassifier& Classifier() const override { return classifier_; }
  absl::StatusOr<PredictorBatch> Predict(const Tensor& rows, double alpha) override {
    ++calls;
    max_rows_seen = std::max(max_rows_seen, rows.shape[0]);
    PredictorBatch b;
    const double* z = rows.data_as<double>();
    b.logits.assign(z, z + rows.shape[0] * rows.shape[1]);
    const int level = classifier_.calibration.FindLevel(alpha);
    absl::StatusOr<UncertaintyTensors> out = ComputeUncertaintyOutputs(rows, classifier_, level);
    if (!out.ok()) return out.status();
    const float* p = out->probabilities.data_as<float>();
    b.probabilities.assign(p, p + b.logits.size());
    b.prediction_set = out->prediction_set.data;
    b.uncertain = out->uncertain.data;
    if (flip_first_set) b.prediction_set[0] ^= 1;
    b.request_ns = {1'000'000 * calls};  // 1 ms, 2 ms, ...
    for (int64_t r = 0; r < rows.shape[0] && !stages.empty(); ++r) {
      b.stage.push_back(stages[static_cast<size_t>(next_row++ % stages.size())]);
    }
    return b;
  }

  int64_t calls = 0;
  int64_t max_rows_seen = 0;
  bool flip_first_set = false;
  std::vector<int32_t> stages;  // answered like a cascade when set, cycling per row
  int64_t next_row = 0;

 private:
  CalibratedClassifier classifier_;
  int64_t max_batch_;
};

CalibratedClassifier FromCalibration(Calibration cal, ConformalScore score) {
  CalibratedClassifier c;
  c.calibration = std::move(cal);
  c.logits_index = 0;
  c.score = score;
  c.default_level = c.calibration.FindLevel(0.1);
  c.min_confidence = 0.5;
  return c;
}

TEST(EvaluationTest, HandMadeSet) {
  // Two classes, T = 1; LAC threshold 0.5 at alpha 0.1 keeps p >= 0.5.
  Calibration cal;
  cal.classes = 2;
  cal.n = 10;
  cal.temperature = 1.0;
  cal.levels = {{0.1, 10, 0.5, 0.6}};
  const std::vector<double> logits = {std::log(3.0), 0,  // p = 0.75, 0.25; label 0: right
                                      0, std::log(4.0),  // 0.2, 0.8; label 0: wrong
                                      0, 0,              // 0.5, 0.5; label 1
                                      std::log(9.0), 0};  // 0.9, 0.1; label 0: right
  const LabeledSet data = LogitSet(logits, {0, 0, 1, 0}, 2);
  FakePredictor predictor(FromCalibration(cal, ConformalScore::kLac), /*max_batch=*/3);
  absl::StatusOr<EvaluationReport> r = Evaluate(predictor, data, "x", 0.1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(predictor.calls, 2);  // batches of 3 and 1
  EXPECT_EQ(predictor.max_rows_seen, 3);
  EXPECT_EQ(r->rows, 4);
  EXPECT_TRUE(r->has_before);
  // Row 3 ties: class 0 is the prediction, label 1: wrong.
  EXPECT_DOUBLE_EQ(r->after.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r->before.accuracy, 0.5);
  EXPECT_NEAR(r->after.nll, -(std::log(0.75) + std::log(0.2) + std::log(0.5) + std::log(0.9)) / 4, 1e-12);
  ASSERT_EQ(r->sets.size(), 2u);  // lac and aps at the one level
  const SetQuality& lac = r->sets[0];
  EXPECT_EQ(lac.score, ConformalScore::kLac);
  // Sets: {0}, {1}, {0, 1}, {0}. Covered: yes, no, yes, yes.
  EXPECT_DOUBLE_EQ(lac.coverage, 0.75);
  EXPECT_DOUBLE_EQ(lac.mean_set_size, 5.0 / 4);
  EXPECT_DOUBLE_EQ(lac.singleton_rate, 0.75);
  EXPECT_DOUBLE_EQ(lac.empty_rate, 0.0);
  // APS 0.6: every row's top class alone carries more than 0.6 (row 3's tied pair 1.0),
  // so every set is empty and nothing is covered.
  const SetQuality& aps = r->sets[1];
  EXPECT_EQ(aps.score, ConformalScore::kAps);
  EXPECT_DOUBLE_EQ(aps.empty_rate, 1.0);
  EXPECT_DOUBLE_EQ(aps.coverage, 0.0);
  // Uncertain: only row 3 (two classes). Not uncertain: rows 1, 2, 4 with 2 of 3 right.
  EXPECT_DOUBLE_EQ(r->uncertain_rate, 0.25);
  EXPECT_EQ(r->not_uncertain_rows, 3);
  EXPECT_NEAR(r->accuracy_not_uncertain, 2.0 / 3, 1e-15);
  EXPECT_DOUBLE_EQ(r->accuracy_uncertain, 0.0);
  EXPECT_TRUE(r->checked_answers);
  EXPECT_EQ(r->set_mismatches, 0);
  EXPECT_EQ(r->uncertain_mismatches, 0);
  EXPECT_LT(r->max_probability_error, 1e-7);  // FP32 answers
  EXPECT_EQ(r->timing.requests, 2);
  EXPECT_DOUBLE_EQ(r->timing.mean_ms, 1.5);
  EXPECT_DOUBLE_EQ(r->timing.p99_ms, 2.0);
  EXPECT_DOUBLE_EQ(r->timing.per_row_us, 3000.0 / 4);
}

TEST(EvaluationTest, CountsRowsPerCascadeStage) {
  Calibration cal;
  cal.classes = 2;
  cal.n = 10;
  cal.temperature = 1.0;
  cal.levels = {{0.1, 10, 0.5, 0.6}};
  const LabeledSet data = LogitSet({1, 0, 0, 1, 1, 0, 0, 1, 1, 0}, {0, 1, 0, 1, 0}, 2);
  FakePredictor predictor(FromCalibration(cal, ConformalScore::kLac), /*max_batch=*/2);
  absl::StatusOr<EvaluationReport> plain = Evaluate(predictor, data, "x", 0.1);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->rows_by_stage.empty());
  FakePredictor cascade(FromCalibration(cal, ConformalScore::kLac), /*max_batch=*/2);
  cascade.stages = {0, 0, 1};  // rows 0, 1, 3, 4 answered by stage 0; row 2 by stage 1
  absl::StatusOr<EvaluationReport> r = Evaluate(cascade, data, "x", 0.1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows_by_stage, (std::vector<int64_t>{4, 1}));
  EXPECT_THAT(RenderEvaluationText(*r), HasSubstr("escalation rate (rows passed on by stage 0): 20.0 %"));
  EXPECT_THAT(RenderEvaluationJson(*r), HasSubstr("\"rows_by_stage\": [4, 1]"));
  cascade.stages = {-1};
  EXPECT_FALSE(Evaluate(cascade, data, "x", 0.1).ok());
}

TEST(EvaluationTest, ReportsComputeModelByModel) {
  EvaluationReport r;
  r.rows = 100;
  r.compute_per_row_us = 3.0;
  r.compute_by_model = {{"fast", 2, 100, 100000.0}, {"slow", 4, 20, 200000.0}};
  const std::string text = RenderEvaluationText(r);
  EXPECT_THAT(text, HasSubstr("  fast: 100 rows in 2 batches (50.0 rows a batch), 1.0 us per row evaluated\n"));
  EXPECT_THAT(text, HasSubstr("  slow: 20 rows in 4 batches (5.0 rows a batch), 2.0 us per row evaluated\n"));
  EXPECT_THAT(RenderEvaluationJson(r),
              HasSubstr("\"compute_by_model\": [{\"model\": \"fast\", \"batches\": 2, \"rows\": 100, "
                        "\"us_per_row_evaluated\": 1}, {\"model\": \"slow\", \"batches\": 4, "
                        "\"rows\": 20, \"us_per_row_evaluated\": 2}]"));
  r.compute_by_model.clear();
  EXPECT_THAT(RenderEvaluationJson(r), HasSubstr("\"compute_by_model\": []"));
}

TEST(EvaluationTest, CountsAnswersThatDisagreeWithTheRecomputation) {
  Calibration cal;
  cal.classes = 2;
  cal.n = 10;
  cal.levels = {{0.1, 10, 0.5, 0.6}};
  const LabeledSet data = LogitSet({1, 0, 0, 1}, {0, 1}, 2);
  FakePredictor predictor(FromCalibration(cal, ConformalScore::kLac), 8);
  predictor.flip_first_set = true;
  absl::StatusOr<EvaluationReport> r = Evaluate(predictor, data, "x", 0.1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->set_mismatches, 1);
}

TEST(EvaluationTest, RejectsAnUncalibratedAlphaAndOtherClasses) {
  Calibration cal;
  cal.classes = 2;
  cal.n = 10;
  cal.levels = {{0.1, 10, 0.5, 0.6}};
  FakePredictor predictor(FromCalibration(cal, ConformalScore::kLac), 8);
  EXPECT_THAT(std::string(Evaluate(predictor, LogitSet({1, 0}, {0}, 2), "x", 0.2).status().message()),
              HasSubstr("alpha 0.2 is not a calibrated level (0.1)"));
  EXPECT_THAT(std::string(Evaluate(predictor, LogitSet({1, 0, 0}, {0}, 3), "x", 0.1).status().message()),
              HasSubstr("the data has 3 classes"));
}

TEST(EvaluationTest, CalibratedSyntheticModelMeetsItsTargets) {
  // An overconfident model (logits = 2.5 x the true ones): calibrate on one half,
  // evaluate on the other; coverage lands near 1 - alpha and ECE falls.
  TestRandom rng(99);
  const int classes = 10, n = 6000;
  std::vector<double> logits;
  std::vector<int64_t> labels;
  std::vector<double> z(classes), p(classes);
  for (int i = 0; i < 2 * n; ++i) {
    for (double& v : z) v = 1.5 * rng.Normal();
    Softmax(z, 1.0, absl::MakeSpan(p));
    labels.push_back(rng.Categorical(p));
    for (double v : z) logits.push_back(2.5 * v);
  }
  const absl::Span<const double> all(logits);
  absl::StatusOr<Calibration> cal = FitCalibration(all.subspan(0, n * classes), classes,
                                                   absl::MakeConstSpan(labels).subspan(0, n), {0.05, 0.1, 0.2});
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_NEAR(cal->temperature, 2.5, 0.1);
  EXPECT_LT(cal->ece_after, cal->ece_before);
  const LabeledSet eval = LogitSet(std::vector<double>(logits.begin() + n * classes, logits.end()),
                                   std::vector<int64_t>(labels.begin() + n, labels.end()), classes);
  for (ConformalScore score : {ConformalScore::kLac, ConformalScore::kAps}) {
    FakePredictor predictor(FromCalibration(*cal, score), 64);
    absl::StatusOr<EvaluationReport> r = Evaluate(predictor, eval, "x", 0.1);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_LT(r->after.ece, 0.03);
    EXPECT_GT(r->before.ece, r->after.ece);
    EXPECT_LT(r->after.nll, r->before.nll);
    for (const SetQuality& q : r->sets) {
      EXPECT_NEAR(q.coverage, 1 - q.alpha, 0.025) << ConformalScoreName(q.score) << " " << q.alpha;
    }
    EXPECT_EQ(r->set_mismatches, 0);
    EXPECT_EQ(r->uncertain_mismatches, 0);
    if (r->uncertain_rate > 0 && r->uncertain_rate < 1) {
      EXPECT_GT(r->accuracy_not_uncertain, r->after.accuracy);
    }
  }
}

TEST(EvaluationTest, RendersTextJsonAndAPlotScript) {
  Calibration cal;
  cal.classes = 2;
  cal.n = 10;
  cal.temperature = 1.5;
  cal.levels = {{0.1, 10, 0.5, std::numeric_limits<double>::infinity()}};
  FakePredictor predictor(FromCalibration(cal, ConformalScore::kLac), 8);
  absl::StatusOr<EvaluationReport> r =
      Evaluate(predictor, LogitSet({2, 0, 0, 1, 3, 0}, {0, 1, 1}, 2), "x", 0.1);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string text = RenderEvaluationText(*r);
  EXPECT_THAT(text, HasSubstr("fake version 1 on 3 rows"));
  EXPECT_THAT(text, HasSubstr("ECE (15 bins)"));
  EXPECT_THAT(text, HasSubstr("uncertain answers at alpha 0.1"));
  EXPECT_THAT(text, HasSubstr("inf"));  // the APS threshold

  boost::json::error_code ec;
  const boost::json::value json = boost::json::parse(RenderEvaluationJson(*r), ec);
  ASSERT_FALSE(ec) << RenderEvaluationJson(*r);
  const boost::json::object& o = json.as_object();
  EXPECT_EQ(o.at("rows").as_int64(), 3);
  EXPECT_EQ(o.at("temperature").as_double(), 1.5);
  EXPECT_EQ(o.at("after").as_object().at("bins").as_array().size(), 15u);
  EXPECT_TRUE(o.at("before").is_object());
  const boost::json::array& sets = o.at("sets").as_array();
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[1].as_object().at("score").as_string(), "aps");
  EXPECT_TRUE(sets[1].as_object().at("threshold").is_null());
  EXPECT_DOUBLE_EQ(sets[1].as_object().at("coverage").to_number<double>(), 1.0);
  EXPECT_TRUE(o.at("uncertain").as_object().contains("accuracy_not_uncertain"));
  EXPECT_TRUE(o.at("timing").as_object().contains("p99_ms"));

  const std::string plot = ReliabilityPlotScript(*r, "/tmp/x \"1\".png");
  EXPECT_THAT(plot, HasSubstr("set output \"/tmp/x \\\"1\\\".png\""));
  EXPECT_THAT(plot, HasSubstr("$before << EOD"));
  EXPECT_THAT(plot, HasSubstr("$after << EOD"));
}

}  // namespace
}  // namespace ferry
