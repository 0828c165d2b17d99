#include "server/config_override.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "repository/model_config.h"

namespace ferry {
namespace {

using testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ConfigOverrideTest : public testing::Test {
 protected:
  void SetUp() override {
    toml_ = ReadFile("models/simple/config.toml");
    absl::StatusOr<ModelConfig> config = ParseModelConfig(toml_, "simple", "simple");
    ASSERT_TRUE(config.ok()) << config.status();
    current_ = ToTritonModelConfig(*config, config->signature);
  }
  // The config the override produces, parsed.
  ModelConfig Applied(const std::string& json) {
    absl::StatusOr<std::string> text = ApplyConfigOverride("simple", json, &current_, toml_);
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok()) return {};
    absl::StatusOr<ModelConfig> config = ParseModelConfig(*text, "out", "simple");
    EXPECT_TRUE(config.ok()) << config.status() << "\n" << *text;
    return config.ok() ? *config : ModelConfig{};
  }
  absl::Status Error(const std::string& json) {
    return ApplyConfigOverride("simple", json, &current_, toml_).status();
  }

  std::string toml_;
  TritonModelConfig current_;
};

// What GET .../config shows for simple, as a client would send it back.
constexpr char kSimpleAsShown[] = R"({
  "name": "simple", "platform": "pytorch_libtorch", "backend": "pytorch",
  "version_policy": {"all": {}}, "max_batch_size": 8,
  "input": [{"name": "INPUT0", "data_type": "TYPE_INT32", "dims": ["16"], "format": "FORMAT_NONE",
             "is_shape_tensor": false, "allow_ragged_batch": false, "optional": false},
            {"name": "INPUT1", "data_type": "TYPE_INT32", "dims": [16], "format": "FORMAT_NONE"}],
  "output": [{"name": "OUTPUT0", "data_type": "TYPE_INT32", "dims": [16], "label_filename": ""},
             {"name": "OUTPUT1", "data_type": "TYPE_INT32", "dims": [16]}],
  "dynamic_batching": {"preferred_batch_size": [], "max_queue_delay_microseconds": "0",
                       "default_queue_policy": {"max_queue_size": 1024}},
  "instance_group": [{"name": "simple", "count": 1, "kind": "KIND_CPU"}],
  "parameters": {"ferry_platform": {"string_value": "torchscript"}}})";

TEST_F(ConfigOverrideTest, WhatTheModelShowsChangesNothing) {
  const ModelConfig before = *ParseModelConfig(toml_, "simple", "simple");
  for (const std::string json : {std::string(kSimpleAsShown), std::string("{}")}) {
    const ModelConfig after = Applied(json);
    EXPECT_EQ(after.platform, before.platform);
    EXPECT_EQ(after.signature.max_batch_size, before.signature.max_batch_size);
    EXPECT_EQ(after.signature.inputs.size(), 2u);
    EXPECT_EQ(after.batching.max_queue_delay_us, before.batching.max_queue_delay_us);
    EXPECT_EQ(after.execution.warmup_batch_sizes, before.execution.warmup_batch_sizes);
    EXPECT_EQ(after.execution.workers, before.execution.workers);
  }
}

TEST_F(ConfigOverrideTest, EachFieldChangesItsKey) {
  ModelConfig c = Applied(R"({"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [2, 4],
      "max_queue_delay_microseconds": 250, "default_queue_policy": {"max_queue_size": "64"}},
      "instance_group": [{"count": 2, "kind": "KIND_CPU"}, {"count": 1}],
      "parameters": {"ferry_platform": {"string_value": "torchscript"}}})");
  EXPECT_EQ(c.signature.max_batch_size, 4);
  EXPECT_EQ(c.batching.preferred_batch_sizes, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(c.batching.max_queue_delay_us, 250);
  EXPECT_EQ(c.batching.max_queue_size, 64);
  EXPECT_EQ(c.execution.workers, 3);
  // Warm-up sizes are Ferry's own (simple warms up at 1 and 8): a smaller max_batch_size
  // keeps those that fit; preferred sizes come from the client and are checked.
  c = Applied(R"({"max_batch_size": 2})");
  EXPECT_EQ(c.execution.warmup_batch_sizes, (std::vector<int64_t>{1}));
  absl::Status s = Error(R"({"max_batch_size": 2, "dynamic_batching": {"preferred_batch_size": [4]}})");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("preferred_batch_sizes"));

  c = Applied(R"({"input": [{"name": "X", "data_type": "TYPE_FP32", "dims": [3, -1], "format": "FORMAT_NCHW"}],
                  "output": [{"name": "Y", "data_type": "TYPE_STRING", "dims": [1]}]})");
  ASSERT_EQ(c.signature.inputs.size(), 1u);
  EXPECT_EQ(c.signature.inputs[0].name, "X");
  EXPECT_EQ(c.signature.inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(c.signature.inputs[0].shape, (std::vector<int64_t>{-1, 3, -1}));
  EXPECT_EQ(c.signature.inputs[0].format, "NCHW");
  EXPECT_EQ(c.signature.outputs[0].dtype, DataType::kBytes);
}

TEST_F(ConfigOverrideTest, ANewModelNeedsItsSignature) {
  absl::StatusOr<std::string> text = ApplyConfigOverride(
      "fresh", R"({"platform": "pytorch_libtorch", "max_batch_size": 2,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}]})", nullptr, "");
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<ModelConfig> c = ParseModelConfig(*text, "fresh", "fresh");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->platform, "torchscript");
  absl::Status missing =
      ApplyConfigOverride("fresh", R"({"platform": "xgboost"})", nullptr, "").status();
  EXPECT_TRUE(absl::IsInvalidArgument(missing));
  EXPECT_THAT(missing.message(), HasSubstr("inputs"));
}

TEST_F(ConfigOverrideTest, EveryBadFieldIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1, 2]", "config: must be a JSON object"},
      {"{", "config: not valid JSON"},
      {R"({"name": "other"})", "config.name: 'other' is not the model being loaded"},
      {R"({"name": 3})", "config.name: must be a string"},
      {R"({"backend": "onnxruntime"})", "config.backend: 'onnxruntime'"},
      {R"({"platform": "ensemble"})", "config.platform: 'ensemble'"},
      {R"({"platform": "xgboost", "backend": "pytorch"})", "disagrees"},
      {R"({"max_batch_size": 0})", "config.max_batch_size: must be at least 1"},
      {R"({"max_batch_size": "many"})", "config.max_batch_size: must be an integer"},
      {R"({"input": []})", "config.input: must list at least one tensor"},
      {R"({"input": {}})", "config.input: must be a JSON array"},
      {R"({"input": [{"data_type": "TYPE_FP32", "dims": [1]}]})", "config.input[0].name: is required"},
      {R"({"input": [{"name": "a", "dims": [1]}]})", "config.input[0].data_type: is required"},
      {R"({"input": [{"name": "a", "data_type": "TYPE_FP8", "dims": [1]}]})", "config.input[0].data_type: 'TYPE_FP8'"},
      {R"({"input": [{"name": "a", "data_type": "FP32", "dims": [1]}]})", "config.input[0].data_type: 'FP32'"},
      {R"({"input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [0]}]})", "config.input[0].dims: every dimension"},
      {R"({"input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [1], "format": "FORMAT_NC"}]})", "config.input[0].format: must be"},
      {R"({"input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [1], "reshape": {}}]})", "config.input[0].reshape: is not a field"},
      {R"({"output": [{"name": "a", "data_type": "TYPE_FP32", "dims": [1], "format": "FORMAT_NONE"}]})", "config.output[0].format: is not a field"},
      {R"({"input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [1], "optional": true}]})", "config.input[0].optional: Ferry"},
      {R"({"output": [{"name": "a", "data_type": "TYPE_FP32", "dims": [1], "is_shape_tensor": "no"}]})", "config.output[0].is_shape_tensor"},
      {R"({"dynamic_batching": {"priority_levels": 2}})", "config.dynamic_batching.priority_levels"},
      {R"({"dynamic_batching": {"default_queue_policy": {"timeout_action": 1}}})", "config.dynamic_batching.default_queue_policy.timeout_action"},
      {R"({"dynamic_batching": {"preferred_batch_size": [0]}})", "preferred"},
      {R"({"instance_group": [{"count": 1, "kind": "KIND_GPU"}]})", "config.instance_group[0].kind: 'KIND_GPU'"},
      {R"({"instance_group": [{"count": 0}]})", "config.instance_group[0].count: must be at least 1"},
      {R"({"instance_group": [{"gpus": [0]}]})", "config.instance_group[0].gpus"},
      {R"({"version_policy": {"latest": {"num_versions": 1}}})", "config.version_policy"},
      {R"({"parameters": {"x": {"string_value": "1"}}})", "config.parameters.x: is not a parameter"},
      {R"({"parameters": {"ferry_platform": "torchscript"}})", "config.parameters.ferry_platform: must be"},
      {R"({"parameters": {"mc_dropout_passes": {"string_value": "two"}}})", "mc_dropout_passes.string_value: must be an integer"},
      {R"({"ensemble_scheduling": {"step": []}})", "config.ensemble_scheduling"},
      {R"({"optimization": {}})", "config.optimization: is not a field Ferry applies"},
  };
  for (const auto& [json, message] : cases) {
    absl::Status s = Error(json);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << json << " -> " << s;
    EXPECT_THAT(s.message(), HasSubstr(message)) << json;
  }
}

}  // namespace
}  // namespace ferry
