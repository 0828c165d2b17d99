#include "core/classification.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::ElementsAre;

Tensor Scores(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.name = "logits";
  t.dtype = DataType::kFp32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

TEST(TopClassesTest, RanksEachRowWithLabels) {
  Tensor scores = Scores({2, 3}, {0.5f, 2.5f, 1.0f, 3.0f, -1.0f, 0.0f});
  absl::StatusOr<Tensor> top = TopClasses(scores, 2, {"cat", "dog", "bird"});
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->dtype, DataType::kBytes);
  EXPECT_EQ(top->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(BytesElements(*top), ElementsAre("2.5:1:dog", "1:2:bird", "3:0:cat", "0:2:bird"));
}

TEST(TopClassesTest, WithoutLabelsAndCappedAtClassCount) {
  Tensor scores = Scores({3}, {1.0f, 3.0f, 2.0f});
  absl::StatusOr<Tensor> top = TopClasses(scores, 10, {});
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->shape, (std::vector<int64_t>{3}));
  EXPECT_THAT(BytesElements(*top), ElementsAre("3:1", "2:2", "1:0"));
}

TEST(TopClassesTest, TiesKeepLowerIndexFirst) {
  Tensor scores = Scores({1, 4}, {1.0f, 2.0f, 2.0f, 2.0f});
  absl::StatusOr<Tensor> top = TopClasses(scores, 3, {});
  ASSERT_TRUE(top.ok());
  EXPECT_THAT(BytesElements(*top), ElementsAre("2:1", "2:2", "2:3"));
}

TEST(TopClassesTest, IntegerScores) {
  Tensor t;
  t.name = "out";
  t.dtype = DataType::kInt32;
  t.shape = {1, 3};
  const int32_t v[] = {7, -2, 9};
  t.data.resize(sizeof(v));
  std::memcpy(t.data.data(), v, sizeof(v));
  absl::StatusOr<Tensor> top = TopClasses(t, 1, {});
  ASSERT_TRUE(top.ok());
  EXPECT_THAT(BytesElements(*top), ElementsAre("9:2"));
}

TEST(TopClassesTest, RejectsNonNumericAndBadCount) {
  Tensor t;
  t.name = "flags";
  t.dtype = DataType::kBool;
  t.shape = {1, 2};
  t.data = {0, 1};
  EXPECT_EQ(TopClasses(t, 1, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(TopClasses(Scores({1, 2}, {1, 2}), 0, {}).ok());
}

TEST(BytesElementsTest, RoundTrip) {
  std::vector<uint8_t> data;
  AppendBytesElement("", data);
  AppendBytesElement("abc", data);
  Tensor t;
  t.dtype = DataType::kBytes;
  t.shape = {2};
  t.data = data;
  EXPECT_THAT(BytesElements(t), ElementsAre("", "abc"));
  EXPECT_TRUE(CheckByteSize(t).ok());
}

}  // namespace
}  // namespace ferry
