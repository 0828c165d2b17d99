// The model configuration extension below the transports: ToTritonModelConfig on parsed
// configs of every platform, and InferenceServer::GetModelConfig over a repository (version
// overrides, every error).
#include "server/model_configuration.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference_server.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;
using testing::Pair;

constexpr char kTensors[] = R"(
[[inputs]]
name = "image"
datatype = "FP32"
shape = [-1, 1, 28, 28]
[[outputs]]
name = "logits"
datatype = "FP32"
shape = [-1, 10]
[[outputs]]
name = "epistemic"
datatype = "FP32"
shape = [-1]
)";

ModelConfig Parse(const std::string& head, const std::string& tail = "") {
  absl::StatusOr<ModelConfig> c =
      ParseModelConfig(head + kTensors + tail, "m/config.toml", "m");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : ModelConfig();
}

TEST(ModelConfigurationTest, TorchScriptWithBatchingAndLabels) {
  ModelConfig config = Parse("platform = \"torchscript\"\nmax_batch_size = 64\nlabels = \"l.txt\"\n",
                             "[batching]\nmax_queue_delay_us = 250\npreferred_batch_sizes = [8, 64]\n"
                             "max_queue_size = 12\n[execution]\nworkers = 3\n");
  config.signature.labels.assign(10, "class");  // LoadModelConfig reads them from l.txt
  const TritonModelConfig t = ToTritonModelConfig(config, config.signature);
  EXPECT_EQ(t.name, "m");
  EXPECT_EQ(t.platform, "pytorch_libtorch");
  EXPECT_EQ(t.backend, "pytorch");
  EXPECT_EQ(t.max_batch_size, 64);
  ASSERT_EQ(t.inputs.size(), 1u);
  EXPECT_EQ(t.inputs[0].name, "image");
  EXPECT_EQ(t.inputs[0].data_type, "TYPE_FP32");
  EXPECT_THAT(t.inputs[0].dims, ElementsAre(1, 28, 28));  // no batch dimension
  EXPECT_EQ(t.inputs[0].format, "FORMAT_NONE");
  ASSERT_EQ(t.outputs.size(), 2u);
  EXPECT_THAT(t.outputs[0].dims, ElementsAre(10));
  EXPECT_EQ(t.outputs[0].label_filename, "l.txt");  // one score per label
  EXPECT_TRUE(t.outputs[1].dims.empty());           // [-1]: the batch dimension only
  EXPECT_EQ(t.outputs[1].label_filename, "");
  EXPECT_FALSE(t.is_ensemble);
  EXPECT_THAT(t.preferred_batch_sizes, ElementsAre(8, 64));
  EXPECT_EQ(t.max_queue_delay_us, 250u);
  EXPECT_EQ(t.max_queue_size, 12u);
  EXPECT_EQ(t.instance_count, 3);
  EXPECT_THAT(t.parameters, ElementsAre(Pair("ferry_platform", "torchscript")));
}

TEST(ModelConfigurationTest, LabelsOnlyOnOutputsWithOneScorePerLabel) {
  ModelConfig config = Parse("platform = \"torchscript\"\nlabels = \"l.txt\"\n");
  config.signature.labels.assign(3, "class");  // 3 labels, 10 scores: not this output's
  EXPECT_EQ(ToTritonModelConfig(config, config.signature).outputs[0].label_filename, "");
  config.labels_file.clear();
  config.signature.labels.assign(10, "class");
  EXPECT_EQ(ToTritonModelConfig(config, config.signature).outputs[0].label_filename, "");
}

TEST(ModelConfigurationTest, XgboostNamesItsOwnBackend) {
  const ModelConfig config = Parse("platform = \"xgboost\"\n");
  const TritonModelConfig t = ToTritonModelConfig(config, config.signature);
  EXPECT_EQ(t.platform, "xgboost");
  EXPECT_EQ(t.backend, "xgboost");
  EXPECT_EQ(t.max_batch_size, 8);  // config.toml's default
  EXPECT_EQ(t.max_queue_delay_us, 100u);
  EXPECT_EQ(t.max_queue_size, 1024u);
  EXPECT_EQ(t.instance_count, 1);
}

TEST(ModelConfigurationTest, CompositesAreEnsemblesWithOneStepPerMember) {
  for (const std::string kind : {"ensemble", "cascade"}) {
    const std::string list = kind == "ensemble" ? "members" : "stages";
    const ModelConfig config =
        Parse("platform = \"" + kind + "\"\n",
              "[" + kind + "]\n" + list + " = [\"a\", { model = \"b\", version = 2 }]\n");
    const TritonModelConfig t = ToTritonModelConfig(config, config.signature);
    EXPECT_EQ(t.platform, "ensemble") << kind;
    EXPECT_EQ(t.backend, "") << kind;
    EXPECT_TRUE(t.is_ensemble);
    ASSERT_EQ(t.ensemble_steps.size(), 2u);
    EXPECT_EQ(t.ensemble_steps[0].model_name, "a");
    EXPECT_EQ(t.ensemble_steps[0].model_version, -1);  // follows the model
    EXPECT_EQ(t.ensemble_steps[1].model_name, "b");
    EXPECT_EQ(t.ensemble_steps[1].model_version, 2);  // pinned
    EXPECT_THAT(t.ensemble_steps[1].input_map, ElementsAre(Pair("image", "image")));
    EXPECT_EQ(t.instance_count, 0);  // Triton's ensembles have no instances
    EXPECT_THAT(t.parameters, ElementsAre(Pair("ferry_platform", kind)));
  }
}

TEST(ModelConfigurationTest, McDropoutPassesAreAParameter) {
  const ModelConfig config = Parse("platform = \"torchscript\"\n", "[mc_dropout]\npasses = 20\n");
  EXPECT_THAT(ToTritonModelConfig(config, config.signature).parameters,
              ElementsAre(Pair("ferry_platform", "torchscript"), Pair("mc_dropout_passes", "20")));
}

TEST(ModelConfigurationTest, DataTypeNamesAreTritons) {
  EXPECT_EQ(TritonDataTypeName(DataType::kFp32), "TYPE_FP32");
  EXPECT_EQ(TritonDataTypeName(DataType::kInt32), "TYPE_INT32");
  EXPECT_EQ(TritonDataTypeName(DataType::kBool), "TYPE_BOOL");
  EXPECT_EQ(TritonDataTypeName(DataType::kBf16), "TYPE_BF16");
  EXPECT_EQ(TritonDataTypeName(DataType::kBytes), "TYPE_STRING");
}

class GetModelConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    // Version 2 overrides the batching of the model's config.toml.
    repo_.AddSimple("two");
    repo_.AddVersion("two", 2);
    std::ofstream(repo_.path() / "two" / "2" / "config.toml")
        << "[batching]\nmax_queue_delay_us = 77\n[execution]\nworkers = 2\n";
    repo_.AddConfig("broken", "platform = \"torchscript\"\nmax_batch_size = 0\n");
    auto server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  TempRepository repo_{"ferry_model_configuration_test"};
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(GetModelConfigTest, EachVersionHasItsOwnConfig) {
  absl::StatusOr<TritonModelConfig> one = server_->GetModelConfig("two", "1");
  absl::StatusOr<TritonModelConfig> two = server_->GetModelConfig("two", "2");
  absl::StatusOr<TritonModelConfig> latest = server_->GetModelConfig("two", "");
  ASSERT_TRUE(one.ok() && two.ok() && latest.ok());
  EXPECT_EQ(one->max_queue_delay_us, 0u);
  EXPECT_EQ(one->instance_count, 1);
  EXPECT_EQ(two->max_queue_delay_us, 77u);
  EXPECT_EQ(two->instance_count, 2);
  EXPECT_EQ(two->max_batch_size, 8);  // not overridden: the model's
  EXPECT_EQ(latest->max_queue_delay_us, 77u);  // the default version is the highest ready one
  EXPECT_EQ(two->name, "two");
  ASSERT_EQ(two->inputs.size(), 2u);
  EXPECT_EQ(two->inputs[1].name, "INPUT1");
  EXPECT_EQ(two->inputs[1].data_type, "TYPE_INT32");
  EXPECT_THAT(two->inputs[1].dims, ElementsAre(16));
}

TEST_F(GetModelConfigTest, ErrorsNameTheProblem) {
  struct Case {
    std::string model, version;
    absl::StatusCode code;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"nope", "", absl::StatusCode::kNotFound, "Request for unknown model: 'nope' is not found"},
           {"simple", "9", absl::StatusCode::kNotFound, "Request for unknown model: 'simple' version 9 is not found"},
           {"simple", "Abc", absl::StatusCode::kInvalidArgument, "'Abc' is not a positive integer"},
           {"simple", "abc", absl::StatusCode::kNotFound, "model 'simple' has no version alias 'abc'"},
           {"simple", "0", absl::StatusCode::kInvalidArgument, "'0' is not a positive integer"},
           {"simple", "-1", absl::StatusCode::kInvalidArgument, "not a positive integer"},
           {"", "", absl::StatusCode::kInvalidArgument, "a model name is required"},
           {"broken", "", absl::StatusCode::kUnavailable, "max_batch_size"},
       }) {
    absl::StatusOr<TritonModelConfig> got = server_->GetModelConfig(c.model, c.version);
    EXPECT_EQ(got.status().code(), c.code) << c.model << "/" << c.version << ": " << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.says));
  }
}

TEST_F(GetModelConfigTest, AnUnloadedModelIsUnknown) {
  ASSERT_TRUE(server_->UnloadModel("simple").ok());
  EXPECT_EQ(server_->GetModelConfig("simple", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(GetModelConfigTest, ServerMetadataListsTheExtension) {
  const std::vector<std::string> extensions = server_->Metadata().extensions;
  EXPECT_THAT(extensions, testing::Contains("model_configuration"));
  EXPECT_THAT(extensions, testing::Contains("logging"));
  EXPECT_THAT(extensions, testing::Not(testing::Contains("trace")));
}

}  // namespace
}  // namespace ferry
