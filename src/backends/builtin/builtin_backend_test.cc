#include "backends/builtin/builtin_backend.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

TensorSpec Spec(const std::string& name, DataType dtype, std::vector<int64_t> shape = {-1, 4}) {
  TensorSpec s;
  s.name = name;
  s.dtype = dtype;
  s.shape = std::move(shape);
  return s;
}

BackendOptions Options(const std::string& op, DataType dtype) {
  BackendOptions o;
  o.platform = "builtin";
  o.operation = op;
  o.signature.max_batch_size = 8;
  o.signature.inputs = {Spec("INPUT0", dtype), Spec("INPUT1", dtype)};
  o.signature.outputs = {Spec("OUTPUT0", dtype), Spec("OUTPUT1", dtype)};
  return o;
}

template <typename T>
Tensor Numbers(const std::string& name, DataType dtype, std::vector<int64_t> shape,
               std::vector<T> values) {
  Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(T));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  return std::vector<T>(t.data_as<T>(), t.data_as<T>() + t.data.size() / sizeof(T));
}

Tensor Strings(const std::string& name, std::vector<int64_t> shape, const std::vector<std::string>& items) {
  Tensor t;
  t.name = name;
  t.dtype = DataType::kBytes;
  t.shape = std::move(shape);
  for (const std::string& s : items) {
    const uint32_t len = static_cast<uint32_t>(s.size());
    uint8_t prefix[4];
    std::memcpy(prefix, &len, 4);
    t.data.insert(t.data.end(), prefix, prefix + 4);
    t.data.insert(t.data.end(), s.begin(), s.end());
  }
  return t;
}

std::vector<std::string> StringsOf(const Tensor& t) {
  std::vector<std::string> out;
  size_t offset = 0;
  while (offset < t.data.size()) {
    uint32_t len = 0;
    std::memcpy(&len, t.data.data() + offset, 4);
    out.emplace_back(reinterpret_cast<const char*>(t.data.data()) + offset + 4, len);
    offset += 4 + len;
  }
  return out;
}

TEST(BuiltinBackendTest, AddSubOnInt8WrapsAround) {
  auto backend = CreateBuiltinBackend(Options("add_sub", DataType::kInt8));
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<Tensor> in = {Numbers<int8_t>("INPUT0", DataType::kInt8, {2, 4}, {1, 2, 3, 127, -128, 0, 5, 9}),
                            Numbers<int8_t>("INPUT1", DataType::kInt8, {2, 4}, {1, 1, 1, 1, 1, 7, -5, 9})};
  ASSERT_TRUE((*backend)->CheckRequest(in).ok());
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(in);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "OUTPUT0");
  EXPECT_EQ((*out)[1].name, "OUTPUT1");
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_THAT(Values<int8_t>((*out)[0]), ElementsAre(2, 3, 4, -128, -127, 7, 0, 18));
  EXPECT_THAT(Values<int8_t>((*out)[1]), ElementsAre(0, 1, 2, 126, 127, -7, 10, 0));
}

TEST(BuiltinBackendTest, AddSubOnOtherNumericTypes) {
  for (DataType dtype : {DataType::kInt32, DataType::kInt64, DataType::kUint8, DataType::kFp32, DataType::kFp64}) {
    auto backend = CreateBuiltinBackend(Options("add_sub", dtype));
    ASSERT_TRUE(backend.ok()) << DataTypeName(dtype) << backend.status();
  }
  auto backend = CreateBuiltinBackend(Options("add_sub", DataType::kFp32));
  std::vector<Tensor> in = {Numbers<float>("INPUT0", DataType::kFp32, {1, 4}, {1.5f, 2, 3, 4}),
                            Numbers<float>("INPUT1", DataType::kFp32, {1, 4}, {0.25f, 2, -3, 8})};
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(in);
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(Values<float>((*out)[0]), ElementsAre(1.75f, 4, 0, 12));
  EXPECT_THAT(Values<float>((*out)[1]), ElementsAre(1.25f, 0, 6, -4));
}

TEST(BuiltinBackendTest, AddSubOnDecimalStrings) {
  auto backend = CreateBuiltinBackend(Options("add_sub", DataType::kBytes));
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<Tensor> in = {Strings("INPUT0", {1, 4}, {"1", "-20", "9223372036854775806", "0"}),
                            Strings("INPUT1", {1, 4}, {"2", "5", "1", "-7"})};
  ASSERT_TRUE((*backend)->CheckRequest(in).ok());
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].dtype, DataType::kBytes);
  EXPECT_THAT(StringsOf((*out)[0]), ElementsAre("3", "-15", "9223372036854775807", "-7"));
  EXPECT_THAT(StringsOf((*out)[1]), ElementsAre("-1", "-25", "9223372036854775805", "7"));
}

TEST(BuiltinBackendTest, CheckRequestNamesABadStringAndAnOverflow) {
  auto backend = CreateBuiltinBackend(Options("add_sub", DataType::kBytes));
  ASSERT_TRUE(backend.ok());
  std::vector<Tensor> in = {Strings("INPUT0", {1, 4}, {"1", "2", "x3", "4"}),
                            Strings("INPUT1", {1, 4}, {"1", "1", "1", "1"})};
  absl::Status status = (*backend)->CheckRequest(in);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("input 'INPUT0' element 2: \"x3\" is not a decimal integer"));
  in = {Strings("INPUT0", {1, 4}, {"1", "2", "3", "9223372036854775807"}),
        Strings("INPUT1", {1, 4}, {"1", "1", "1", "1"})};
  status = (*backend)->CheckRequest(in);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("element 3"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("does not fit in int64"));
  in = {Strings("INPUT0", {1, 4}, {"1", "2", "", "4"}), Strings("INPUT1", {1, 4}, {"1", "1", "1", "1"})};
  EXPECT_EQ((*backend)->CheckRequest(in).code(), absl::StatusCode::kInvalidArgument);
  // Execute refuses the same (a batch of checked requests never gets here).
  EXPECT_FALSE((*backend)->Execute(in).ok());
}

TEST(BuiltinBackendTest, WarmUpInputsAreValidDecimalStrings) {
  BackendOptions o = Options("add_sub", DataType::kBytes);
  auto backend = CreateBuiltinBackend(o);
  ASSERT_TRUE(backend.ok());
  EXPECT_TRUE(WarmUp(**backend, o.signature, {1, 8}).ok());
}

TEST(BuiltinBackendTest, IdentityReturnsItsInputUnderTheOutputName) {
  BackendOptions o;
  o.operation = "identity";
  o.signature.inputs = {Spec("INPUT0", DataType::kBytes, {-1, -1})};
  o.signature.outputs = {Spec("OUTPUT0", DataType::kBytes, {-1, -1})};
  auto backend = CreateBuiltinBackend(o);
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<Tensor> in = {Strings("INPUT0", {1, 3}, {"hello", "", std::string("\0\xff", 2)})};
  const std::vector<uint8_t> bytes = in[0].data;
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(in);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name, "OUTPUT0");
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ((*out)[0].data, bytes);
}

TEST(BuiltinBackendTest, AccumulateAddsAndCopiesTheSum) {
  auto backend = CreateBuiltinBackend(Options("accumulate", DataType::kInt32));
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<Tensor> in = {Numbers<int32_t>("INPUT", DataType::kInt32, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}),
                            Numbers<int32_t>("STATE_IN", DataType::kInt32, {2, 4}, {10, 10, 10, 10, 0, 0, 0, -8})};
  // A client sends only the first input; the state is added later (sequence_batcher.h).
  EXPECT_TRUE((*backend)->CheckRequest({in[0]}).ok());
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(in);
  ASSERT_TRUE(out.ok());
  EXPECT_THAT(Values<int32_t>((*out)[0]), ElementsAre(11, 12, 13, 14, 5, 6, 7, 0));
  EXPECT_EQ((*out)[1].data, (*out)[0].data);
  EXPECT_EQ((*out)[1].name, "OUTPUT1");
}

TEST(BuiltinBackendTest, CreateRefusesUnknownOperationsAndMismatchedSignatures) {
  auto unknown = CreateBuiltinBackend(Options("multiply", DataType::kInt32));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("unknown builtin operation 'multiply'"));

  BackendOptions o = Options("add_sub", DataType::kInt32);
  o.signature.outputs[1].dtype = DataType::kInt64;
  EXPECT_THAT(std::string(CreateBuiltinBackend(o).status().message()), HasSubstr("'OUTPUT1' is INT64"));
  o = Options("add_sub", DataType::kInt32);
  o.signature.inputs.pop_back();
  EXPECT_THAT(std::string(CreateBuiltinBackend(o).status().message()), HasSubstr("two inputs and two outputs"));
  EXPECT_THAT(std::string(CreateBuiltinBackend(Options("accumulate", DataType::kBytes)).status().message()),
              HasSubstr("cannot compute on BYTES"));
  EXPECT_FALSE(CreateBuiltinBackend(Options("add_sub", DataType::kBool)).ok());
  o = Options("identity", DataType::kInt32);
  o.signature.outputs.pop_back();
  EXPECT_THAT(std::string(CreateBuiltinBackend(o).status().message()), HasSubstr("as many outputs as inputs"));
}

TEST(BuiltinBackendTest, CheckRequestRefusesInputsOfDifferentShapes) {
  BackendOptions o = Options("add_sub", DataType::kInt32);
  for (auto* specs : {&o.signature.inputs, &o.signature.outputs}) {
    for (TensorSpec& s : *specs) s.shape = {-1, -1};
  }
  auto backend = CreateBuiltinBackend(o);
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<Tensor> in = {Numbers<int32_t>("INPUT0", DataType::kInt32, {1, 2}, {1, 2}),
                            Numbers<int32_t>("INPUT1", DataType::kInt32, {1, 3}, {1, 2, 3})};
  absl::Status status = (*backend)->CheckRequest(in);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("must have the same shape"));
}

}  // namespace
}  // namespace ferry
