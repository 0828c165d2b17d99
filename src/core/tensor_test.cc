#include "core/tensor.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

Tensor Int32Tensor(std::vector<int64_t> shape, std::vector<int32_t> values) {
  Tensor t;
  t.name = "x";
  t.dtype = DataType::kInt32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<int32_t> Values(const Tensor& t) {
  return std::vector<int32_t>(t.data_as<int32_t>(), t.data_as<int32_t>() + t.data.size() / 4);
}

TEST(DataTypeTest, NamesRoundTripAndSizes) {
  const std::pair<const char*, size_t> expected[] = {
      {"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
      {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
      {"BF16", 2}, {"FP32", 4},  {"FP64", 8},   {"BYTES", 0}};
  for (const auto& [name, size] : expected) {
    const DataType dtype = ParseDataType(name);
    ASSERT_NE(dtype, DataType::kInvalid) << name;
    EXPECT_EQ(DataTypeName(dtype), name);
    EXPECT_EQ(DataTypeByteSize(dtype), size) << name;
  }
  EXPECT_EQ(ParseDataType("fp32"), DataType::kInvalid);
  EXPECT_EQ(ParseDataType("FLOAT"), DataType::kInvalid);
  EXPECT_EQ(ParseDataType(""), DataType::kInvalid);
}

TEST(ElementCountTest, HandlesEmptyZeroNegativeAndOverflow) {
  EXPECT_EQ(ElementCount({}), 1);
  EXPECT_EQ(ElementCount({2, 3, 4}), 24);
  EXPECT_EQ(ElementCount({5, 0, 7}), 0);
  EXPECT_EQ(ElementCount({2, -1}), -1);
  EXPECT_EQ(ElementCount({1LL << 40, 1LL << 40}), -1);
}

TEST(CheckByteSizeTest, FixedSizeTypes) {
  Tensor t = Int32Tensor({2, 2}, {1, 2, 3, 4});
  EXPECT_TRUE(CheckByteSize(t).ok());
  t.data.pop_back();
  const absl::Status s = CheckByteSize(t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), testing::HasSubstr("needs 16 bytes but 15"));
}

TEST(CheckByteSizeTest, BytesElements) {
  Tensor t;
  t.name = "s";
  t.dtype = DataType::kBytes;
  t.shape = {2};
  const uint8_t good[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0};
  t.data.assign(good, good + sizeof(good));
  EXPECT_TRUE(CheckByteSize(t).ok());
  t.shape = {3};  // one element short
  EXPECT_FALSE(CheckByteSize(t).ok());
  t.shape = {1};  // trailing bytes
  EXPECT_FALSE(CheckByteSize(t).ok());
  const uint8_t truncated[] = {9, 0, 0, 0, 'h'};
  t.data.assign(truncated, truncated + sizeof(truncated));
  EXPECT_FALSE(CheckByteSize(t).ok());
}

TEST(ConcatRowsTest, JoinsAlongFirstDimension) {
  Tensor a = Int32Tensor({1, 2}, {1, 2});
  Tensor b = Int32Tensor({2, 2}, {3, 4, 5, 6});
  const Tensor* parts[] = {&a, &b};
  Tensor c = ConcatRows(parts);
  EXPECT_EQ(c.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(c), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
}

TEST(SplitRowsTest, InverseOfConcat) {
  Tensor t = Int32Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  const int64_t rows[] = {1, 2};
  absl::StatusOr<std::vector<Tensor>> parts = SplitRows(t, rows);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Values((*parts)[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ((*parts)[1].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values((*parts)[1]), (std::vector<int32_t>{3, 4, 5, 6}));
}

TEST(SplitRowsTest, RejectsMismatchedRowsAndBytes) {
  Tensor t = Int32Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  const int64_t too_many[] = {2, 2};
  EXPECT_EQ(SplitRows(t, too_many).status().code(), absl::StatusCode::kInternal);
  t.data.resize(20);  // a model that returned fewer bytes than its shape says
  const int64_t rows[] = {1, 2};
  EXPECT_FALSE(SplitRows(t, rows).ok());
  Tensor s;
  s.dtype = DataType::kBytes;
  s.shape = {1};
  const int64_t one[] = {1};
  EXPECT_FALSE(SplitRows(s, one).ok());  // no element where the shape needs one
}

// BYTES elements vary in length: [3, 2] strings split into rows of 2 and 1.
TEST(SplitRowsTest, SplitsBytesByTheirLengthPrefixes) {
  Tensor t;
  t.name = "s";
  t.dtype = DataType::kBytes;
  t.shape = {3, 2};
  const std::vector<std::string> words = {"a", "", "ccc", "dd", "eeeee", "f"};
  for (const std::string& w : words) {
    const uint32_t len = static_cast<uint32_t>(w.size());
    const auto* p = reinterpret_cast<const uint8_t*>(&len);
    t.data.insert(t.data.end(), p, p + 4);
    t.data.insert(t.data.end(), w.begin(), w.end());
  }
  const int64_t rows[] = {2, 1};
  absl::StatusOr<std::vector<Tensor>> parts = SplitRows(t, rows);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ((*parts)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ((*parts)[1].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*parts)[0].data.size(), 4u * 4 + 1 + 0 + 3 + 2);
  EXPECT_EQ((*parts)[1].data.size(), 4u * 2 + 5 + 1);
  const Tensor* both[] = {&(*parts)[0], &(*parts)[1]};
  EXPECT_EQ(ConcatRows(both).data, t.data);
  const int64_t wrong[] = {1, 1};
  EXPECT_EQ(SplitRows(t, wrong).status().code(), absl::StatusCode::kInternal);
}

TEST(GatherRowsTest, PicksRowsInTheGivenOrder) {
  Tensor t = Int32Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  const int64_t picks[] = {2, 0, 2};
  absl::StatusOr<Tensor> g = GatherRows(t, picks);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(*g), (std::vector<int32_t>{5, 6, 1, 2, 5, 6}));
  absl::StatusOr<Tensor> none = GatherRows(t, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->shape, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(none->data.empty());
}

TEST(GatherRowsTest, RejectsOutOfRangeRowsAndBadTensors) {
  Tensor t = Int32Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  const int64_t past[] = {3};
  EXPECT_EQ(GatherRows(t, past).status().code(), absl::StatusCode::kInternal);
  const int64_t negative[] = {-1};
  EXPECT_FALSE(GatherRows(t, negative).ok());
  t.data.resize(20);
  const int64_t first[] = {0};
  EXPECT_FALSE(GatherRows(t, first).ok());
}

}  // namespace
}  // namespace ferry
