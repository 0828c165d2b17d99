#include "core/signature.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

ModelSignature ImageSignature() {
  ModelSignature sig;
  sig.inputs = {{"image", DataType::kFp32, {-1, 1, 2, 2}}};
  sig.outputs = {{"logits", DataType::kFp32, {-1, 3}}};
  sig.max_batch_size = 4;
  return sig;
}

Tensor Image(int64_t rows, std::string name = "image") {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DataType::kFp32;
  t.shape = {rows, 1, 2, 2};
  t.data.assign(rows * 4 * sizeof(float), 0);
  return t;
}

std::string Error(const ModelSignature& sig, std::vector<Tensor> inputs) {
  absl::StatusOr<int64_t> r = ValidateInputs(sig, inputs, "m");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(ValidateInputsTest, AcceptsAndReturnsBatchSize) {
  std::vector<Tensor> inputs = {Image(3)};
  absl::StatusOr<int64_t> rows = ValidateInputs(ImageSignature(), inputs, "m");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 3);
}

TEST(ValidateInputsTest, ReordersToSignatureOrder) {
  ModelSignature sig;
  sig.inputs = {{"a", DataType::kInt32, {-1, 1}}, {"b", DataType::kInt32, {-1, 1}}};
  sig.max_batch_size = 8;
  Tensor a{"a", DataType::kInt32, {2, 1}, std::vector<uint8_t>(8, 1)};
  Tensor b{"b", DataType::kInt32, {2, 1}, std::vector<uint8_t>(8, 2)};
  std::vector<Tensor> inputs = {b, a};
  ASSERT_TRUE(ValidateInputs(sig, inputs, "m").ok());
  EXPECT_EQ(inputs[0].name, "a");
  EXPECT_EQ(inputs[1].name, "b");
}

TEST(ValidateInputsTest, NamesEachProblem) {
  const ModelSignature sig = ImageSignature();
  // Triton's wording first (docs/api.md), then Ferry's detail.
  EXPECT_EQ(Error(sig, {}), "expected 1 inputs but got 0 inputs for model 'm': missing input 'image'");
  EXPECT_EQ(Error(sig, {Image(1, "pixels")}),
            "unexpected inference input 'pixels' for model 'm'; the model takes 'image'");
  EXPECT_THAT(Error(sig, {Image(1), Image(1)}), HasSubstr("given twice"));

  Tensor wrong_type = Image(1);
  wrong_type.dtype = DataType::kInt32;
  EXPECT_EQ(Error(sig, {wrong_type}),
            "inference input 'image' data-type is 'INT32', but model 'm' expects 'FP32'");

  Tensor wrong_rank = Image(1);
  wrong_rank.shape = {1, 2, 2};
  wrong_rank.data.resize(16);
  EXPECT_EQ(Error(sig, {wrong_rank}),
            "unexpected shape for input 'image' for model 'm'. Expected [-1,1,2,2], got [1,2,2] "
            "(rank 3, expected 4)");

  Tensor wrong_dim = Image(1);
  wrong_dim.shape = {1, 1, 4, 1};
  EXPECT_EQ(Error(sig, {wrong_dim}),
            "unexpected shape for input 'image' for model 'm'. Expected [-1,1,2,2], got [1,1,4,1] "
            "(dimension 2)");

  EXPECT_EQ(Error(sig, {Image(5)}),
            "inference request batch-size must be <= 4 for 'm': input 'image' has batch size 5");

  Tensor empty = Image(1);
  empty.shape[0] = 0;
  empty.data.clear();
  EXPECT_THAT(Error(sig, {empty}), HasSubstr("at least 1"));

  Tensor short_data = Image(2);
  short_data.data.resize(20);
  EXPECT_THAT(Error(sig, {short_data}), HasSubstr("needs 32 bytes but 20"));
}

TEST(ValidateInputsTest, InputsMustAgreeOnBatchSize) {
  ModelSignature sig;
  sig.inputs = {{"a", DataType::kInt32, {-1, 1}}, {"b", DataType::kInt32, {-1, 1}}};
  sig.max_batch_size = 8;
  Tensor a{"a", DataType::kInt32, {2, 1}, std::vector<uint8_t>(8, 1)};
  Tensor b{"b", DataType::kInt32, {3, 1}, std::vector<uint8_t>(12, 2)};
  EXPECT_THAT(Error(sig, {a, b}), HasSubstr("differs from the other inputs' 2"));
}

TEST(ValidateRequestedOutputsTest, ChecksNamesRepeatsAndClassification) {
  const ModelSignature sig = ImageSignature();
  EXPECT_TRUE(ValidateRequestedOutputs(sig, "m", {}).ok());
  EXPECT_TRUE(ValidateRequestedOutputs(sig, "m", {{"logits", 0}}).ok());
  EXPECT_TRUE(ValidateRequestedOutputs(sig, "m", {{"logits", 3}}).ok());
  EXPECT_THAT(std::string(ValidateRequestedOutputs(sig, "m", {{"probs", 0}}).message()),
              "unexpected inference output 'probs' for model 'm'");
  EXPECT_THAT(std::string(ValidateRequestedOutputs(sig, "m", {{"logits", 0}, {"logits", 1}}).message()),
              HasSubstr("requested twice"));
  EXPECT_THAT(std::string(ValidateRequestedOutputs(sig, "m", {{"logits", 4}}).message()),
              HasSubstr("more than the 3 classes"));
  EXPECT_FALSE(ValidateRequestedOutputs(sig, "m", {{"logits", -1}}).ok());
}

}  // namespace
}  // namespace ferry
