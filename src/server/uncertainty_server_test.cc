// Calibrated versions on the request path, in process, on copies of the bundled
// fashion_mlp model's config (image FP32 [-1, 1, 28, 28] -> logits FP32 [-1, 10]) served
// by FakeBackends (testing/fake_backend.h: FakeLogits), with hand-written calibration
// files: the uncertainty outputs, the "alpha" parameter, uncalibrated and broken
// versions, metadata.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/classification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference_server.h"
#include "testing/fake_backend.h"
#include "testing/requests.h"
#include "testing/temp_repository.h"
#include "uncertainty/calibration_file.h"
#include "uncertainty/conformal.h"
#include "uncertainty/temperature.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

Calibration TestCalibration() {
  Calibration c;
  c.model = "mlp";
  c.version = "1";
  c.logits_output = "logits";
  c.classes = 10;
  c.n = 100;
  c.temperature = 1.7;
  // 0.05: every class; 0.1: classes with p >= 0.5 (LAC) or up to 90% of the mass (APS);
  // 0.2: p >= 0.8 / up to 60%.
  c.levels = {{0.05, 96, kInf, kInf}, {0.1, 91, 0.5, 0.9}, {0.2, 81, 0.2, 0.6}};
  return c;
}

class UncertaintyServerTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = repo_.path();
    CopyMlp("mlp", {1, 2});
    ASSERT_TRUE(WriteCalibrationFile((root_ / "mlp" / "1" / kCalibrationFileName).string(),
                                     TestCalibration()).ok());
    CopyMlp("aps", {1}, "\n[uncertainty]\nscore = \"aps\"\nalpha = 0.2\nmin_confidence = 0.9\n");
    ASSERT_TRUE(WriteCalibrationFile((root_ / "aps" / "1" / kCalibrationFileName).string(),
                                     TestCalibration()).ok());
    CopyMlp("badcal", {1});
    std::ofstream(root_ / "badcal" / "1" / kCalibrationFileName) << "{\"format\": 1,";
    CopyMlp("wrongclasses", {1});
    Calibration three = TestCalibration();
    three.classes = 3;
    ASSERT_TRUE(WriteCalibrationFile((root_ / "wrongclasses" / "1" / kCalibrationFileName).string(),
                                     three).ok());
    Start(ServerOptions());
  }
  void TearDown() override { server_.reset(); }
  void Start(ServerOptions options) {
    server_.reset();
    auto server = repo_.StartServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void CopyMlp(const std::string& name, const std::vector<int64_t>& versions,
               const std::string& extra_config = "") {
    repo_.AddCopyOf("fashion_mlp", name, extra_config, versions);
  }
  // Rows of pseudo-random pixels: varied enough to give confident and unsure rows.
  static Tensor Images(int rows) {
    Tensor t{"image", DataType::kFp32, {rows, 1, 28, 28}, {}};
    t.data.resize(static_cast<size_t>(rows) * 784 * sizeof(float));
    float* px = t.mutable_data_as<float>();
    uint32_t state = 12345;
    for (int i = 0; i < rows * 784; ++i) {
      state = state * 1664525u + 1013904223u;
      const int row = i / 784, pos = i % 784;
      // A bright block whose place depends on the row, plus noise.
      const bool block = (pos / 28 > 4 + row && pos / 28 < 20) && (pos % 28 > 6 && pos % 28 < 22 - row);
      px[i] = (block ? 180.0f : 0.0f) + static_cast<float>(state >> 27);
    }
    return t;
  }
  static InferRequest Request(int rows, std::vector<std::string> outputs) {
    InferRequest r;
    r.inputs = {Images(rows)};
    for (std::string& name : outputs) r.outputs.push_back({std::move(name), 0});
    return r;
  }
  absl::StatusOr<InferResponse> Infer(const std::string& model, InferRequest request,
                                      const std::string& version = "") {
    return InferAndWait(*server_, model, std::move(request), version);
  }

  TempRepository repo_{"ferry_unc_server_test"};
  fs::path root_;
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(UncertaintyServerTest, CalibratedOutputsFollowFromTheLogits) {
  const int rows = 6;
  absl::StatusOr<InferResponse> r =
      Infer("mlp", Request(rows, {"logits", "probabilities", "prediction_set", "uncertain"}), "1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs.size(), 4u);
  const Tensor& logits = r->outputs[0];
  const Tensor& probs = r->outputs[1];
  const Tensor& set = r->outputs[2];
  const Tensor& uncertain = r->outputs[3];
  // The model's own numbers: the fake's logits of these images.
  const Tensor expected = FakeLogits({Images(rows)}, 10);
  EXPECT_EQ(logits.shape, expected.shape);
  EXPECT_EQ(logits.data, expected.data);
  EXPECT_EQ(probs.name, "probabilities");
  EXPECT_EQ(probs.dtype, DataType::kFp32);
  EXPECT_EQ(probs.shape, (std::vector<int64_t>{rows, 10}));
  EXPECT_EQ(set.name, "prediction_set");
  EXPECT_EQ(set.dtype, DataType::kBool);
  EXPECT_EQ(set.shape, (std::vector<int64_t>{rows, 10}));
  EXPECT_EQ(uncertain.name, "uncertain");
  EXPECT_EQ(uncertain.dtype, DataType::kBool);
  EXPECT_EQ(uncertain.shape, (std::vector<int64_t>{rows}));
  int singletons = 0, flagged = 0;
  for (int i = 0; i < rows; ++i) {
    std::vector<double> z(10), p(10);
    for (int c = 0; c < 10; ++c) z[c] = logits.data_as<float>()[i * 10 + c];
    Softmax(z, 1.7, absl::MakeSpan(p));
    int size = 0;
    double top = 0;
    for (int c = 0; c < 10; ++c) {
      EXPECT_NEAR(probs.data_as<float>()[i * 10 + c], p[c], 1e-6);
      // Default alpha 0.1, LAC threshold 0.5: p >= 0.5.
      EXPECT_EQ(set.data[i * 10 + c], p[c] >= 0.5 ? 1 : 0) << i << " " << c;
      size += set.data[i * 10 + c];
      top = std::max(top, p[c]);
    }
    // The default min_confidence is 0.7.
    EXPECT_EQ(uncertain.data[i], (size != 1 || top < 0.7) ? 1 : 0);
    singletons += size == 1;
    flagged += uncertain.data[i];
  }
  // The inputs give both kinds of rows, so the checks above ran on each.
  EXPECT_GT(singletons, 0);
  EXPECT_GT(flagged, 0);
}

TEST_F(UncertaintyServerTest, AlphaPicksTheLevel) {
  InferRequest all = Request(3, {"prediction_set", "uncertain"});
  all.parameters["alpha"] = 0.05;  // an infinite threshold: every class
  absl::StatusOr<InferResponse> r = Infer("mlp", std::move(all), "1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outputs[0].data, std::vector<uint8_t>(30, 1));
  EXPECT_EQ(r->outputs[1].data, std::vector<uint8_t>(3, 1));

  InferRequest bad = Request(1, {"prediction_set"});
  bad.parameters["alpha"] = 0.15;
  r = Infer("mlp", std::move(bad), "1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("calibrated at 0.05, 0.1, 0.2 only"));
  InferRequest text = Request(1, {"prediction_set"});
  text.parameters["alpha"] = std::string("0.1");
  r = Infer("mlp", std::move(text), "1");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'alpha' must be a number"));
  // Other parameters are ignored, as other V2 servers do.
  InferRequest other = Request(1, {"prediction_set"});
  other.parameters["priority"] = int64_t{3};
  EXPECT_TRUE(Infer("mlp", std::move(other), "1").ok());
}

TEST_F(UncertaintyServerTest, ConfigChoosesScoreDefaultAlphaAndMinConfidence) {
  absl::StatusOr<InferResponse> r = Infer("aps", Request(6, {"probabilities", "prediction_set", "uncertain"}));
  ASSERT_TRUE(r.ok()) << r.status();
  for (int i = 0; i < 6; ++i) {
    std::vector<double> p(10);
    for (int c = 0; c < 10; ++c) p[c] = r->outputs[0].data_as<float>()[i * 10 + c];
    std::vector<double> scores(10);
    ConformalScores(ConformalScore::kAps, p, absl::MakeSpan(scores));
    int size = 0;
    double top = 0;
    for (int c = 0; c < 10; ++c) {
      // alpha 0.2 by default: APS threshold 0.6. FP32 rounding aside, the same classes.
      if (std::abs(scores[c] - 0.6) > 1e-5) EXPECT_EQ(r->outputs[1].data[i * 10 + c], scores[c] <= 0.6);
      size += r->outputs[1].data[i * 10 + c];
      top = std::max(top, p[c]);
    }
    if (std::abs(top - 0.9) > 1e-5) EXPECT_EQ(r->outputs[2].data[i], size != 1 || top < 0.9);
  }
}

TEST_F(UncertaintyServerTest, WithoutOutputsTheModelOutputsAreUnchanged) {
  absl::StatusOr<InferResponse> r = Infer("mlp", Request(2, {}), "1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].name, "logits");
}

TEST_F(UncertaintyServerTest, ClassificationWorksOnCalibratedProbabilities) {
  InferRequest request = Request(2, {});
  request.outputs = {{"probabilities", 3}};
  absl::StatusOr<InferResponse> r = Infer("mlp", std::move(request), "1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outputs[0].dtype, DataType::kBytes);
  EXPECT_EQ(r->outputs[0].shape, (std::vector<int64_t>{2, 3}));
  // BOOL outputs cannot be ranked.
  request = Request(1, {});
  request.outputs = {{"prediction_set", 2}};
  EXPECT_EQ(Infer("mlp", std::move(request), "1").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UncertaintyServerTest, UncalibratedVersionServesButRefusesUncertaintyOutputs) {
  // Version 2 has no calibration.json and is the default version.
  absl::StatusOr<InferResponse> r = Infer("mlp", Request(1, {"logits"}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model_version, "2");
  for (const char* name : {"probabilities", "prediction_set", "uncertain"}) {
    r = Infer("mlp", Request(1, {"logits", name}));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("ferry calibrate --model mlp --version 2"));
  }
  InferRequest alpha = Request(1, {"logits"});
  alpha.parameters["alpha"] = 0.1;
  EXPECT_EQ(Infer("mlp", std::move(alpha)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UncertaintyServerTest, MetadataListsTheOutputsOnlyForCalibratedVersions) {
  absl::StatusOr<ModelMetadata> v1 = server_->GetModelMetadata("mlp", "1");
  ASSERT_TRUE(v1.ok()) << v1.status();
  ASSERT_EQ(v1->outputs.size(), 4u);
  EXPECT_EQ(v1->outputs[1].name, "probabilities");
  EXPECT_EQ(v1->outputs[1].shape, (std::vector<int64_t>{-1, 10}));
  EXPECT_EQ(v1->outputs[2].name, "prediction_set");
  EXPECT_EQ(v1->outputs[2].dtype, DataType::kBool);
  EXPECT_EQ(v1->outputs[3].name, "uncertain");
  EXPECT_EQ(v1->outputs[3].shape, (std::vector<int64_t>{-1}));
  absl::StatusOr<ModelMetadata> v2 = server_->GetModelMetadata("mlp", "2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->outputs.size(), 1u);
  absl::StatusOr<ModelMetadata> dflt = server_->GetModelMetadata("mlp", "");
  ASSERT_TRUE(dflt.ok());
  EXPECT_EQ(dflt->outputs.size(), 1u);  // the default version, 2, is not calibrated
  EXPECT_EQ(server_->GetModelMetadata("aps", "")->outputs.size(), 4u);

  absl::StatusOr<std::shared_ptr<const CalibratedClassifier>> cal = server_->GetCalibration("mlp", "1");
  ASSERT_TRUE(cal.ok());
  ASSERT_NE(*cal, nullptr);
  EXPECT_EQ((*cal)->calibration.temperature, 1.7);
  EXPECT_EQ(*server_->GetCalibration("mlp", "2"), nullptr);
}

TEST_F(UncertaintyServerTest, ABadCalibrationFailsItsVersion) {
  absl::StatusOr<InferResponse> r = Infer("badcal", Request(1, {"logits"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("calibration.json: not valid JSON"));
  r = Infer("wrongclasses", Request(1, {"logits"}));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("calibrated for 3 classes but output 'logits' has 10"));
  // The others still serve.
  EXPECT_TRUE(Infer("mlp", Request(1, {"uncertain"}), "1").ok());
}

TEST_F(UncertaintyServerTest, CalibrationCanBeSkippedAndModelsFiltered) {
  ServerOptions options;
  options.load_calibration = false;
  options.only_models = {"badcal", "mlp"};
  Start(options);
  // badcal loads: its file is not read.
  EXPECT_TRUE(Infer("badcal", Request(1, {"logits"})).ok());
  EXPECT_EQ(Infer("mlp", Request(1, {"uncertain"}), "1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Infer("aps", Request(1, {"logits"})).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(UncertaintyServerTest, ReloadPicksUpANewCalibration) {
  EXPECT_EQ(Infer("mlp", Request(1, {"uncertain"}), "2").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(WriteCalibrationFile((root_ / "mlp" / "2" / kCalibrationFileName).string(),
                                   TestCalibration()).ok());
  ASSERT_TRUE(server_->LoadModel("mlp").ok());
  EXPECT_TRUE(Infer("mlp", Request(1, {"uncertain"}), "2").ok());
}

}  // namespace
}  // namespace ferry
