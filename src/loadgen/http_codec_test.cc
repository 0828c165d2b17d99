#include "loadgen/http_codec.h"

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "loadgen/elements.h"

namespace ferry::loadgen {
namespace {

Tensor Input(std::string name, DataType type, std::vector<int64_t> shape,
             std::vector<double> values) {
  Tensor input;
  input.name = std::move(name);
  input.dtype = type;
  input.shape = std::move(shape);
  for (double v : values) AppendNumber(type, v, &input.data);
  return input;
}

// The binary extension's own example: a UINT32 [2,2] and a BOOL [3] input.
RequestData BinaryExample() {
  RequestData request;
  request.inputs.push_back(Input("input0", DataType::kUint32, {2, 2}, {1, 2, 3, 4}));
  request.inputs.push_back(Input("input1", DataType::kBool, {3}, {1, 0, 1}));
  return request;
}

TEST(HttpCodecTest, BinaryRequestIsJsonHeaderThenLittleEndianBytes) {
  const BinaryInferRequest encoded = EncodeBinaryInferRequest(BinaryExample());
  const std::string header =
      R"({"inputs":[{"name":"input0","shape":[2,2],"datatype":"UINT32",)"
      R"("parameters":{"binary_data_size":16}},{"name":"input1","shape":[3],"datatype":"BOOL",)"
      R"("parameters":{"binary_data_size":3}}],"parameters":{"binary_data_output":true}})";
  const std::string tensors(
      "\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0"
      "\x01\x00\x01",
      19);
  EXPECT_EQ(encoded.header_length, header.size());
  EXPECT_EQ(encoded.body, header + tensors);
}

TEST(HttpCodecTest, SharedMemoryRequestNamesTheRegionAtConsecutiveOffsets) {
  const RequestData request = BinaryExample();
  EXPECT_EQ(ShmInputBytes(request), 19u);
  EXPECT_EQ(EncodeShmInferRequest(request, "ferry_bench_1_0"),
            R"({"inputs":[{"name":"input0","shape":[2,2],"datatype":"UINT32",)"
            R"("parameters":{"shared_memory_region":"ferry_bench_1_0","shared_memory_offset":0,)"
            R"("shared_memory_byte_size":16}},{"name":"input1","shape":[3],"datatype":"BOOL",)"
            R"("parameters":{"shared_memory_region":"ferry_bench_1_0","shared_memory_offset":16,)"
            R"("shared_memory_byte_size":3}}],"parameters":{"binary_data_output":true}})");
}

TEST(HttpCodecTest, SharedMemoryOutputsFollowTheInputsInTheRegion) {
  EXPECT_EQ(EncodeShmInferRequest(BinaryExample(), "r", {{"y", 40}, {"z", 8}}),
            R"({"inputs":[{"name":"input0","shape":[2,2],"datatype":"UINT32",)"
            R"("parameters":{"shared_memory_region":"r","shared_memory_offset":0,)"
            R"("shared_memory_byte_size":16}},{"name":"input1","shape":[3],"datatype":"BOOL",)"
            R"("parameters":{"shared_memory_region":"r","shared_memory_offset":16,)"
            R"("shared_memory_byte_size":3}}],"outputs":[{"name":"y","parameters":)"
            R"({"shared_memory_region":"r","shared_memory_offset":19,"shared_memory_byte_size":40}},)"
            R"({"name":"z","parameters":{"shared_memory_region":"r","shared_memory_offset":59,)"
            R"("shared_memory_byte_size":8}}],"parameters":{"binary_data_output":true}})");
}

TEST(HttpCodecTest, HttpPostCarriesBothLengths) {
  const std::string message =
      BuildHttpPost("/v2/models/m/infer", "h:1", "application/octet-stream", "{}AB", size_t{2});
  EXPECT_EQ(message,
            "POST /v2/models/m/infer HTTP/1.1\r\nHost: h:1\r\nUser-Agent: ferry-bench\r\n"
            "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: 2\r\n"
            "Content-Length: 4\r\n\r\n{}AB");
  EXPECT_EQ(BuildHttpPost("/x", "h", "application/json", "{}", std::nullopt).find("Inference"),
            std::string::npos);
}

TEST(HttpCodecTest, JsonRequestUsesShortestNumbersBoolsAndStrings) {
  RequestData request;
  request.inputs.push_back(Input("image", DataType::kFp32, {1, 3}, {0, 1.5, 255}));
  request.inputs.push_back(Input("flags", DataType::kBool, {2}, {1, 0}));
  request.inputs.push_back(Input("ids", DataType::kInt64, {2}, {-3, 7}));
  Tensor text;
  text.name = "text";
  text.dtype = DataType::kBytes;
  text.shape = {1};
  const std::string element("\x04\0\0\0a\"b\n", 8);  // a 4-byte length, then the bytes
  text.data.assign(element.begin(), element.end());
  request.inputs.push_back(text);
  EXPECT_EQ(EncodeJsonInferRequest(request),
            R"({"inputs":[{"name":"image","shape":[1,3],"datatype":"FP32","data":[0,1.5,255]},)"
            R"({"name":"flags","shape":[2],"datatype":"BOOL","data":[true,false]},)"
            R"({"name":"ids","shape":[2],"datatype":"INT64","data":[-3,7]},)"
            R"({"name":"text","shape":[1],"datatype":"BYTES","data":["a\"b\u000a"]}]})");
}

TEST(HttpCodecTest, ModelPathWithAndWithoutVersion) {
  EXPECT_EQ(ModelPath("m", "", "/infer"), "/v2/models/m/infer");
  EXPECT_EQ(ModelPath("m", "3", "/stats"), "/v2/models/m/versions/3/stats");
  EXPECT_EQ(ModelPath("m", "", ""), "/v2/models/m");
}

std::vector<TensorSpec> Logits() { return {{"logits", DataType::kFp32, {-1, 10}}}; }

// A binary response: JSON header announcing FP32 [1,10] (40 bytes), then `bytes` bytes.
std::pair<std::string, uint64_t> BinaryResponse(size_t bytes, int announced = 40) {
  const std::string header =
      std::string(R"({"model_name":"m","outputs":[{"name":"logits","datatype":"FP32",)") +
      R"("shape":[1,10],"parameters":{"binary_data_size":)" + std::to_string(announced) + "}}]}";
  return {header + std::string(bytes, '\x01'), header.size()};
}

TEST(ResponseCheckerTest, WellFormedBinaryResponse) {
  ResponseChecker checker(Logits());
  auto [body, header_length] = BinaryResponse(40);
  ResponseSummary summary;
  ASSERT_TRUE(checker.Check(body, header_length, &summary).ok());
  EXPECT_EQ(summary.outputs, 1u);
  EXPECT_EQ(summary.elements, 10u);
  EXPECT_EQ(summary.binary_bytes, 40u);
  // The checker is reused per connection: a second check must not see the first.
  ASSERT_TRUE(checker.Check(body, header_length, &summary).ok());
  EXPECT_EQ(summary.binary_bytes, 40u);
}

TEST(ResponseCheckerTest, SharedMemoryOutputsCarryOnlyTheirSize) {
  ResponseChecker checker(Logits());
  ResponseSummary summary;
  const std::string head = R"({"outputs":[{"name":"logits","datatype":"FP32","shape":[1,10],)"
                           R"("parameters":{"shared_memory_region":"r","shared_memory_offset":0,)";
  EXPECT_TRUE(checker.Check(head + R"("shared_memory_byte_size":40}}]})", std::nullopt, &summary)
                  .ok());
  EXPECT_EQ(summary.elements, 10u);
  absl::Status bad =
      checker.Check(head + R"("shared_memory_byte_size":36}}]})", std::nullopt, &summary);
  EXPECT_NE(std::string(bad.message()).find("shared_memory_byte_size does not match"),
            std::string::npos)
      << bad;
}

TEST(ResponseCheckerTest, TruncatedBinaryResponse) {
  ResponseChecker checker(Logits());
  auto [body, header_length] = BinaryResponse(39);
  ResponseSummary summary;
  const absl::Status s = checker.Check(body, header_length, &summary);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("truncated"), absl::string_view::npos) << s;
  auto [longer, longer_header] = BinaryResponse(41);
  EXPECT_NE(checker.Check(longer, longer_header, &summary).message().find("extra bytes"),
            absl::string_view::npos);
}

TEST(ResponseCheckerTest, HeaderLengthLargerThanBody) {
  ResponseChecker checker(Logits());
  auto [body, header_length] = BinaryResponse(40);
  ResponseSummary summary;
  const absl::Status s = checker.Check(body, body.size() + 1, &summary);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("exceeds the body"), absl::string_view::npos) << s;
  // A header length that cuts the JSON short is a parse error, not a crash.
  EXPECT_FALSE(checker.Check(body, header_length - 3, &summary).ok());
}

TEST(ResponseCheckerTest, BinarySizeMustMatchShape) {
  ResponseChecker checker(Logits());
  auto [body, header_length] = BinaryResponse(36, 36);
  ResponseSummary summary;
  const absl::Status s = checker.Check(body, header_length, &summary);
  EXPECT_NE(s.message().find("binary_data_size 36 but shape needs 10 x 4 = 40"),
            absl::string_view::npos)
      << s;
}

TEST(ResponseCheckerTest, JsonResponses) {
  ResponseChecker checker(Logits());
  ResponseSummary summary;
  const std::string ok =
      R"({"model_name":"m","outputs":[{"name":"logits","datatype":"FP32","shape":[2,10],)"
      R"("data":[[0,1,2,3,4,5,6,7,8,9],[0,1,2,3,4,5,6,7,8,9]]}]})";
  ASSERT_TRUE(checker.Check(ok, std::nullopt, &summary).ok());
  EXPECT_EQ(summary.elements, 20u);
  const std::string short_data =
      R"({"outputs":[{"name":"logits","datatype":"FP32","shape":[1,10],"data":[1,2]}]})";
  EXPECT_NE(checker.Check(short_data, std::nullopt, &summary).message().find("2 data elements"),
            absl::string_view::npos);
  const std::string wrong_name =
      R"({"outputs":[{"name":"probs","datatype":"FP32","shape":[1],"data":[1]}]})";
  EXPECT_FALSE(checker.Check(wrong_name, std::nullopt, &summary).ok());
  const std::string wrong_type =
      R"({"outputs":[{"name":"logits","datatype":"FP64","shape":[1],"data":[1]}]})";
  EXPECT_FALSE(checker.Check(wrong_type, std::nullopt, &summary).ok());
  EXPECT_FALSE(checker.Check(R"({"outputs":[]})", std::nullopt, &summary).ok());  // missing
  EXPECT_FALSE(checker.Check("not json", std::nullopt, &summary).ok());
  EXPECT_FALSE(checker.Check(R"({"error":"x"})", std::nullopt, &summary).ok());
  // binary_data_size without a header length cannot be located.
  auto [body, header_length] = BinaryResponse(40);
  EXPECT_FALSE(checker.Check(body.substr(0, header_length), std::nullopt, &summary).ok());
}

TEST(ResponseCheckerTest, WithoutExpectationsAnyOutputsPass) {
  ResponseChecker checker({});
  ResponseSummary summary;
  EXPECT_TRUE(
      checker
          .Check(R"({"outputs":[{"name":"a","datatype":"BOOL","shape":[2],"data":[true,false]}]})",
                 std::nullopt, &summary)
          .ok());
}

}  // namespace
}  // namespace ferry::loadgen
