#include "uncertainty/uncertainty_outputs.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

ModelSignature Signature(DataType logits_type = DataType::kFp32) {
  ModelSignature sig;
  sig.inputs = {{"x", DataType::kFp32, {-1, 4}}};
  sig.outputs = {{"logits", logits_type, {-1, 3}}, {"embedding", DataType::kFp32, {-1, 8}}};
  sig.max_batch_size = 8;
  return sig;
}

Calibration ThreeClasses() {
  Calibration c;
  c.logits_output = "logits";
  c.classes = 3;
  c.n = 100;
  c.temperature = 2.0;
  // LAC 0.75: classes with p >= 0.25. APS 0.85: classes until 85% of the mass.
  c.levels = {{0.05, 97, 0.95, std::numeric_limits<double>::infinity()},
              {0.1, 91, 0.75, 0.85},
              {0.2, 81, 0.5, 0.5}};
  return c;
}

CalibratedClassifier Prepared(ConformalScore score = ConformalScore::kLac, double min_confidence = 0.5) {
  UncertaintyConfig config;
  config.score = score;
  config.min_confidence = min_confidence;
  absl::StatusOr<CalibratedClassifier> c =
      PrepareCalibratedClassifier(Signature(), config, ThreeClasses(), "m/1/calibration.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// Logits whose softmax at T = 2 is exactly `p` (up to rounding).
Tensor LogitsFor(const std::vector<std::vector<double>>& rows, DataType dtype = DataType::kFp32) {
  Tensor t{"logits", dtype, {static_cast<int64_t>(rows.size()), 3}, {}};
  t.data.resize(rows.size() * 3 * DataTypeByteSize(dtype));
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int c = 0; c < 3; ++c) {
      const double z = 2.0 * std::log(rows[r][c]) + 5.0;  // a shift changes nothing
      if (dtype == DataType::kFp32) {
        t.mutable_data_as<float>()[r * 3 + c] = static_cast<float>(z);
      } else {
        t.mutable_data_as<double>()[r * 3 + c] = z;
      }
    }
  }
  return t;
}

std::vector<uint8_t> Bytes(const Tensor& t) { return t.data; }

TEST(UncertaintyOutputsTest, Names) {
  EXPECT_TRUE(IsUncertaintyOutput("probabilities"));
  EXPECT_TRUE(IsUncertaintyOutput("prediction_set"));
  EXPECT_TRUE(IsUncertaintyOutput("uncertain"));
  EXPECT_FALSE(IsUncertaintyOutput("logits"));
}

TEST(UncertaintyOutputsTest, CalibratedOutputsAppendOrReplace) {
  std::vector<TensorSpec> out = CalibratedOutputs(Signature().outputs, 3);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[2].name, "probabilities");
  EXPECT_EQ(out[2].dtype, DataType::kFp32);
  EXPECT_EQ(out[2].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(out[3].name, "prediction_set");
  EXPECT_EQ(out[3].dtype, DataType::kBool);
  EXPECT_EQ(out[3].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(out[4].name, "uncertain");
  EXPECT_EQ(out[4].dtype, DataType::kBool);
  EXPECT_EQ(out[4].shape, (std::vector<int64_t>{-1}));
  // A model's own `probabilities` is replaced where it stands.
  std::vector<TensorSpec> own = {{"logits", DataType::kFp32, {-1, 3}},
                                 {"probabilities", DataType::kFp64, {-1, -1}}};
  out = CalibratedOutputs(own, 3);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].name, "probabilities");
  EXPECT_EQ(out[1].dtype, DataType::kFp32);
  EXPECT_EQ(out[1].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(out[2].name, "prediction_set");
}

TEST(UncertaintyOutputsTest, PrepareChecksTheCalibrationAgainstTheModel) {
  UncertaintyConfig config;
  const auto error = [&](const ModelSignature& sig, const UncertaintyConfig& cfg, Calibration c) {
    absl::StatusOr<CalibratedClassifier> r = PrepareCalibratedClassifier(sig, cfg, std::move(c), "f.json");
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  Calibration c = ThreeClasses();
  c.classes = 10;
  EXPECT_THAT(error(Signature(), config, c), HasSubstr("f.json: calibrated for 10 classes but output 'logits' has 3"));
  EXPECT_THAT(error(Signature(DataType::kInt32), config, ThreeClasses()),
              HasSubstr("must be FP32 or FP64 of shape [-1, C]"));
  UncertaintyConfig other = config;
  other.logits = "embedding";
  EXPECT_THAT(error(Signature(), other, ThreeClasses()),
              HasSubstr("calibrated on output 'logits' but config.toml's [uncertainty] logits is 'embedding'"));
  c = ThreeClasses();
  c.logits_output = "scores";
  other.logits = "scores";
  EXPECT_THAT(error(Signature(), other, c), HasSubstr("the model has no output 'scores'"));
  other = config;
  other.alpha = 0.3;
  EXPECT_THAT(error(Signature(), other, ThreeClasses()),
              HasSubstr("alpha 0.3 is not a calibrated level (0.05, 0.1, 0.2)"));
  // Variable class dimension in the config is fine.
  ModelSignature open = Signature(DataType::kFp64);
  open.outputs[0].shape = {-1, -1};
  EXPECT_TRUE(PrepareCalibratedClassifier(open, config, ThreeClasses(), "f").ok());
  const CalibratedClassifier ok = Prepared(ConformalScore::kAps, 0.7);
  EXPECT_EQ(ok.logits_index, 0);
  EXPECT_EQ(ok.default_level, 1);
  EXPECT_EQ(ok.score, ConformalScore::kAps);
  EXPECT_EQ(ok.min_confidence, 0.7);
}

TEST(UncertaintyOutputsTest, SelectsTheRequestedLevel) {
  const CalibratedClassifier c = Prepared();
  std::map<std::string, ParameterValue> params;
  EXPECT_EQ(*SelectConformalLevel(params, c), 1);  // the config's 0.1
  params["alpha"] = 0.05;
  EXPECT_EQ(*SelectConformalLevel(params, c), 0);
  params["alpha"] = 0.2;
  EXPECT_EQ(*SelectConformalLevel(params, c), 2);
  params["alpha"] = 0.15;
  EXPECT_THAT(std::string(SelectConformalLevel(params, c).status().message()),
              HasSubstr("parameter 'alpha' is 0.15; this version is calibrated at 0.05, 0.1, 0.2 only"));
  params["alpha"] = int64_t{1};
  EXPECT_THAT(std::string(SelectConformalLevel(params, c).status().message()), HasSubstr("is 1;"));
  params["alpha"] = std::string("0.1");
  EXPECT_THAT(std::string(SelectConformalLevel(params, c).status().message()),
              HasSubstr("parameter 'alpha' must be a number"));
  params["alpha"] = true;
  EXPECT_EQ(SelectConformalLevel(params, c).status().code(), absl::StatusCode::kInvalidArgument);
  params.erase("alpha");
  params["other"] = std::string("ignored");
  EXPECT_EQ(*SelectConformalLevel(params, c), 1);
}

TEST(UncertaintyOutputsTest, UncalibratedRequestsSayToCalibrate) {
  const ModelSignature sig = Signature();
  InferRequest r;
  EXPECT_TRUE(CheckUncalibratedRequest(r, sig, "m", "2").ok());
  r.outputs = {{"logits", 0}};
  EXPECT_TRUE(CheckUncalibratedRequest(r, sig, "m", "2").ok());
  r.outputs = {{"logits", 0}, {"prediction_set", 0}};
  const std::string msg(CheckUncalibratedRequest(r, sig, "m", "2").message());
  EXPECT_THAT(msg, HasSubstr("output 'prediction_set' needs a calibrated model"));
  EXPECT_THAT(msg, HasSubstr("ferry calibrate --model m --version 2"));
  r.outputs = {{"uncertain", 0}};
  EXPECT_FALSE(CheckUncalibratedRequest(r, sig, "m", "2").ok());
  // A model with its own `probabilities` serves it uncalibrated.
  ModelSignature own = sig;
  own.outputs.push_back({"probabilities", DataType::kFp32, {-1, 3}});
  r.outputs = {{"probabilities", 0}};
  EXPECT_TRUE(CheckUncalibratedRequest(r, own, "m", "2").ok());
  EXPECT_FALSE(CheckUncalibratedRequest(r, sig, "m", "2").ok());
  r.outputs.clear();
  r.parameters["alpha"] = 0.1;
  EXPECT_THAT(std::string(CheckUncalibratedRequest(r, sig, "m", "2").message()),
              HasSubstr("parameter 'alpha' needs a calibrated model"));
}

TEST(UncertaintyOutputsTest, LacOutputsByHand) {
  const CalibratedClassifier c = Prepared(ConformalScore::kLac, 0.5);
  const Tensor logits = LogitsFor({{0.6, 0.3, 0.1}, {0.9, 0.05, 0.05}, {0.1, 0.2, 0.7}, {0.2, 0.2, 0.6}});
  absl::StatusOr<UncertaintyTensors> out = ComputeUncertaintyOutputs(logits, c, /*level=*/1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->probabilities.name, "probabilities");
  EXPECT_EQ(out->probabilities.dtype, DataType::kFp32);
  EXPECT_EQ(out->probabilities.shape, (std::vector<int64_t>{4, 3}));
  EXPECT_NEAR(out->probabilities.data_as<float>()[0], 0.6f, 1e-6);
  EXPECT_NEAR(out->probabilities.data_as<float>()[1], 0.3f, 1e-6);
  EXPECT_NEAR(out->probabilities.data_as<float>()[5], 0.05f, 1e-6);
  EXPECT_EQ(out->prediction_set.dtype, DataType::kBool);
  EXPECT_EQ(out->prediction_set.shape, (std::vector<int64_t>{4, 3}));
  // Threshold 0.75 keeps classes with p >= 0.25.
  EXPECT_EQ(Bytes(out->prediction_set), (std::vector<uint8_t>{1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(out->uncertain.dtype, DataType::kBool);
  EXPECT_EQ(out->uncertain.shape, (std::vector<int64_t>{4}));
  // Two classes: uncertain. One class at 0.9, 0.7 and 0.6: not.
  EXPECT_EQ(Bytes(out->uncertain), (std::vector<uint8_t>{1, 0, 0, 0}));

  // Level 2 (threshold 0.5: p >= 0.5) and min_confidence 0.65: the 0.6 row is a
  // singleton but too unsure; the 0.6/0.3/0.1 row too.
  const CalibratedClassifier strict = Prepared(ConformalScore::kLac, 0.65);
  out = ComputeUncertaintyOutputs(logits, strict, 2);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Bytes(out->prediction_set), (std::vector<uint8_t>{1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(Bytes(out->uncertain), (std::vector<uint8_t>{1, 0, 0, 1}));
}

TEST(UncertaintyOutputsTest, ApsOutputsByHandInFp64) {
  const CalibratedClassifier c = Prepared(ConformalScore::kAps, 0.0);
  const Tensor logits = LogitsFor({{0.6, 0.3, 0.1}, {0.9, 0.05, 0.05}, {0.5, 0.25, 0.25}}, DataType::kFp64);
  absl::StatusOr<UncertaintyTensors> out = ComputeUncertaintyOutputs(logits, c, 1);  // APS 0.85
  ASSERT_TRUE(out.ok()) << out.status();
  // Row 1: mass 0.6, 0.9 -> {0}. Row 2: 0.9 alone passes 0.85 -> empty. Row 3: 0.5, then
  // the tied pair brings 1.0 -> {0}.
  EXPECT_EQ(Bytes(out->prediction_set), (std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 1, 0, 0}));
  EXPECT_EQ(Bytes(out->uncertain), (std::vector<uint8_t>{0, 1, 0}));
  // Level 0 has an infinite APS threshold: every class, so every row is uncertain.
  out = ComputeUncertaintyOutputs(logits, c, 0);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Bytes(out->prediction_set), std::vector<uint8_t>(9, 1));
  EXPECT_EQ(Bytes(out->uncertain), (std::vector<uint8_t>{1, 1, 1}));
}

TEST(UncertaintyOutputsTest, BadLogitsAreAModelFault) {
  const CalibratedClassifier c = Prepared();
  Tensor logits = LogitsFor({{0.6, 0.3, 0.1}});
  logits.mutable_data_as<float>()[1] = std::nanf("");
  EXPECT_EQ(ComputeUncertaintyOutputs(logits, c, 1).status().code(), absl::StatusCode::kInternal);
  logits.mutable_data_as<float>()[1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ComputeUncertaintyOutputs(logits, c, 1).status().code(), absl::StatusCode::kInternal);
  // -inf is a class with probability 0.
  logits.mutable_data_as<float>()[1] = -std::numeric_limits<float>::infinity();
  absl::StatusOr<UncertaintyTensors> out = ComputeUncertaintyOutputs(logits, c, 1);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->probabilities.data_as<float>()[1], 0.0f);
  Tensor wrong{"logits", DataType::kInt32, {1, 3}, std::vector<uint8_t>(12)};
  EXPECT_EQ(ComputeUncertaintyOutputs(wrong, c, 1).status().code(), absl::StatusCode::kInternal);
  Tensor narrow{"logits", DataType::kFp32, {1, 2}, std::vector<uint8_t>(8)};
  EXPECT_EQ(ComputeUncertaintyOutputs(narrow, c, 1).status().code(), absl::StatusCode::kInternal);
}

TEST(UncertaintyOutputsTest, PrepareRequestDispatchesOnCalibration) {
  const CalibratedClassifier c = Prepared();
  InferRequest r;
  r.outputs = {{"prediction_set", 0}};
  EXPECT_EQ(*PrepareUncertaintyRequest(&c, r, Signature(), "m", "1"), 1);
  r.parameters["alpha"] = 0.2;
  EXPECT_EQ(*PrepareUncertaintyRequest(&c, r, Signature(), "m", "1"), 2);
  EXPECT_THAT(std::string(PrepareUncertaintyRequest(nullptr, r, Signature(), "m", "1").status().message()),
              HasSubstr("ferry calibrate"));
  r.parameters.clear();
  r.outputs = {{"logits", 0}};
  EXPECT_EQ(*PrepareUncertaintyRequest(nullptr, r, Signature(), "m", "1"), 0);
}

std::vector<std::string> Names(const std::vector<Tensor>& ts) {
  std::vector<std::string> names;
  for (const Tensor& t : ts) names.push_back(t.name);
  return names;
}

TEST(UncertaintyOutputsTest, AddOutputsLinesUpWithTheCalibratedSignature) {
  const CalibratedClassifier c = Prepared();
  const Tensor logits = LogitsFor({{0.6, 0.3, 0.1}});
  const Tensor embedding{"embedding", DataType::kFp32, {1, 8}, std::vector<uint8_t>(32)};
  std::vector<Tensor> outputs = {logits, embedding};
  ASSERT_TRUE(AddUncertaintyOutputs(c, 1, {{"uncertain", 0}}, outputs).ok());
  EXPECT_EQ(Names(outputs), (std::vector<std::string>{"logits", "embedding", "probabilities",
                                                       "prediction_set", "uncertain"}));
  for (size_t i = 0; i < outputs.size(); ++i) EXPECT_EQ(outputs[i].name, c.signature.outputs[i].name);
  EXPECT_EQ(outputs[4].data, (std::vector<uint8_t>{1}));
  // Nothing uncertain requested, or no outputs named: nothing added.
  outputs = {logits, embedding};
  ASSERT_TRUE(AddUncertaintyOutputs(c, 1, {{"logits", 0}}, outputs).ok());
  EXPECT_EQ(outputs.size(), 2u);
  ASSERT_TRUE(AddUncertaintyOutputs(c, 1, {}, outputs).ok());
  EXPECT_EQ(outputs.size(), 2u);

  // A model with its own probabilities: replaced in place, also when no outputs are named.
  ModelSignature own = Signature();
  own.outputs[1] = {"probabilities", DataType::kFp32, {-1, 3}};
  UncertaintyConfig config;
  absl::StatusOr<CalibratedClassifier> with_own =
      PrepareCalibratedClassifier(own, config, ThreeClasses(), "f");
  ASSERT_TRUE(with_own.ok()) << with_own.status();
  const Tensor raw{"probabilities", DataType::kFp32, {1, 3}, std::vector<uint8_t>(12)};
  outputs = {logits, raw};
  ASSERT_TRUE(AddUncertaintyOutputs(*with_own, 1, {}, outputs).ok());
  EXPECT_EQ(Names(outputs), (std::vector<std::string>{"logits", "probabilities"}));
  EXPECT_NEAR(outputs[1].data_as<float>()[0], 0.6f, 1e-6);
  outputs = {logits, raw};
  ASSERT_TRUE(AddUncertaintyOutputs(*with_own, 1, {{"prediction_set", 0}}, outputs).ok());
  EXPECT_EQ(Names(outputs),
            (std::vector<std::string>{"logits", "probabilities", "prediction_set", "uncertain"}));
  EXPECT_NEAR(outputs[1].data_as<float>()[0], 0.6f, 1e-6);
  // A model that returned too few outputs is an internal error.
  outputs = {};
  EXPECT_EQ(AddUncertaintyOutputs(c, 1, {{"uncertain", 0}}, outputs).code(), absl::StatusCode::kInternal);
}

TEST(UncertaintyOutputsTest, PredictRowIsTheSameRule) {
  std::vector<double> p(3);
  std::vector<uint8_t> set(3);
  const std::vector<double> z = {std::log(0.6), std::log(0.3), std::log(0.1)};
  EXPECT_TRUE(PredictRow(z, 1.0, ConformalScore::kLac, 0.75, 0.0, absl::MakeSpan(p), absl::MakeSpan(set)));
  EXPECT_EQ(set, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_FALSE(PredictRow(z, 1.0, ConformalScore::kLac, 0.5, 0.59, absl::MakeSpan(p), absl::MakeSpan(set)));
  EXPECT_TRUE(PredictRow(z, 1.0, ConformalScore::kLac, 0.5, 0.61, absl::MakeSpan(p), absl::MakeSpan(set)));
}

}  // namespace
}  // namespace ferry
