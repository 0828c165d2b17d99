// The binary tensor data extension (framing, sizes, BYTES, the raw request, binary
// outputs), request-level parameters and the statistics body.
#include "api/http/binary_framing.h"

#include <boost/json.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace json = boost::json;

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// BYTES elements as the binary extension frames them: 4-byte length, then the bytes.
std::string Framed(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    const uint32_t len = static_cast<uint32_t>(e.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += e;
  }
  return out;
}

std::string Bytes(const Tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.data.data()), t.data.size());
}

// Decodes `json` + `binary` with the JSON's length as the header would give it.
absl::StatusOr<RestInferRequest> Decode(const std::string& json, const std::string& binary) {
  return DecodeRestInferRequest(json + binary, json.size());
}

std::string Error(const absl::StatusOr<RestInferRequest>& r) {
  if (r.ok()) return "<decoded fine>";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

// One input "x" with the given datatype, shape and input parameters.
std::string OneBinaryInput(const std::string& dtype, const std::string& shape,
                           const std::string& params) {
  return absl::StrCat(R"({"inputs":[{"name":"x","datatype":")", dtype, R"(","shape":)", shape,
                      R"(,"parameters":)", params, "}]}");
}

// ---- the example of the protocol's binary tensor data page ------------------------------

TEST(BinaryRequestTest, ProtocolExampleVector) {
  // UINT32 [2, 2] then BOOL [3], 16 + 3 bytes after the JSON; output0 asked for in binary.
  const std::string json = R"({
    "model_name" : "mymodel",
    "inputs" : [
      {"name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32",
       "parameters" : {"binary_data_size" : 16}},
      {"name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL",
       "parameters" : {"binary_data_size" : 3}}
    ],
    "outputs" : [{"name" : "output0", "parameters" : {"binary_data" : true}}]
  })";
  const std::string binary =
      Raw(std::vector<uint32_t>{1, 2, 3, 0xffffffff}) + std::string("\1\0\1", 3);
  absl::StatusOr<RestInferRequest> r = Decode(json, binary);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->request.inputs.size(), 2u);
  const Tensor& in0 = r->request.inputs[0];
  EXPECT_EQ(in0.name, "input0");
  EXPECT_EQ(in0.dtype, DataType::kUint32);
  EXPECT_THAT(in0.shape, ElementsAre(2, 2));
  EXPECT_EQ(Bytes(in0), binary.substr(0, 16));
  const Tensor& in1 = r->request.inputs[1];
  EXPECT_EQ(in1.dtype, DataType::kBool);
  EXPECT_THAT(in1.data, ElementsAre(1, 0, 1));
  EXPECT_THAT(r->binary_data_size, ElementsAre(16, 3));
  ASSERT_EQ(r->request.outputs.size(), 1u);
  EXPECT_EQ(r->request.outputs[0].name, "output0");
  EXPECT_THAT(r->binary_data, ElementsAre(1));
  EXPECT_TRUE(CheckByteSize(in0).ok());
}

TEST(BinaryRequestTest, JsonAndBinaryInputsMixInOrder) {
  const std::string json =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"INT64","shape":[1],"data":[7]},)"
      R"({"parameters":{"binary_data_size":4},"name":"c","datatype":"FP16","shape":[2]}]})";
  const std::string binary = Raw(std::vector<float>{1.5f, -2}) + std::string("\x00\x3c\x00\xc0", 4);
  absl::StatusOr<RestInferRequest> r = Decode(json, binary);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->request.inputs.size(), 3u);
  EXPECT_EQ(Bytes(r->request.inputs[0]), binary.substr(0, 8));
  EXPECT_EQ(Bytes(r->request.inputs[1]), Raw(std::vector<int64_t>{7}));
  // FP16 cannot travel as JSON numbers, but in binary it is just bytes.
  EXPECT_EQ(Bytes(r->request.inputs[2]), binary.substr(8));
  EXPECT_THAT(r->binary_data_size, ElementsAre(8, -1, 4));
}

TEST(BinaryRequestTest, EmptyTensorsAndZeroSizes) {
  absl::StatusOr<RestInferRequest> r =
      Decode(OneBinaryInput("FP32", "[0,4]", R"({"binary_data_size":0})"), "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->request.inputs[0].data.empty());
}

TEST(BinaryRequestTest, BytesInBinary) {
  const std::string data = Framed({"hello", "", "w\0rld"});
  absl::StatusOr<RestInferRequest> r = Decode(
      OneBinaryInput("BYTES", "[3]", absl::StrCat(R"({"binary_data_size":)", data.size(), "}")),
      data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Bytes(r->request.inputs[0]), data);
  EXPECT_TRUE(CheckByteSize(r->request.inputs[0]).ok());
}

TEST(BinaryRequestTest, BadBytesFramingNamesTheInput) {
  struct Case {
    std::string shape;
    std::string data;
    std::string message;
  };
  std::string truncated = Framed({"abc"});
  truncated.pop_back();
  const std::vector<Case> cases = {
      {"[2]", Framed({"abc"}) + std::string("\x01\0", 2),
       "input 'x': binary BYTES data ends after 1 of the 2 elements its shape [2] calls for"},
      {"[1]", truncated, "input 'x': binary BYTES element 0 has length 3 but only 2 bytes"},
      {"[1]", Framed({"a", "b"}), "input 'x': binary BYTES data has 5 bytes left over after the 1"},
      {"[3]", Framed({"a"}) + "1234",
       "input 'x': 'binary_data_size' is 9 but shape [3] of BYTES needs at least 12 bytes"},
  };
  for (const Case& c : cases) {
    const std::string json = OneBinaryInput(
        "BYTES", c.shape, absl::StrCat(R"({"binary_data_size":)", c.data.size(), "}"));
    EXPECT_THAT(Error(Decode(json, c.data)), HasSubstr(c.message)) << c.message;
  }
}

TEST(BinaryRequestTest, SizeErrorsNameTheInputAndTheSizes) {
  struct Case {
    std::string json;
    std::string binary;
    std::string message;
  };
  const std::string four(4, '\0');
  const std::vector<Case> cases = {
      {OneBinaryInput("UINT32", "[2,2]", R"({"binary_data_size":15})"), std::string(15, '\0'),
       "input 'x': 'binary_data_size' is 15 but shape [2, 2] of UINT32 needs 16 bytes"},
      {OneBinaryInput("BOOL", "[3]", R"({"binary_data_size":4})"), four,
       "input 'x': 'binary_data_size' is 4 but shape [3] of BOOL needs 3 bytes"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":-4})"), four,
       "input 'x': parameter 'binary_data_size' must be a non-negative integer, not -4"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":"4"})"), four,
       "input 'x': parameter 'binary_data_size' must be a non-negative integer, not a string"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":4.0})"), four,
       "input 'x': parameter 'binary_data_size' must be a non-negative integer, not 4.0"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":4,"binary_data_size":4})"), four,
       "input 'x': key 'binary_data_size' appears more than once"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":4})"), std::string(3, '\0'),
       "the inputs' 'binary_data_size' add up to 4 bytes ('x' 4), but 3 bytes follow the JSON"},
      {OneBinaryInput("FP32", "[1]", R"({"binary_data_size":4})"), std::string(5, '\0'),
       "add up to 4 bytes ('x' 4), but 5 bytes follow"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})", four,
       "4 bytes follow the JSON header (Inference-Header-Content-Length), but no input has the "
       "parameter 'binary_data_size'"},
      // Both "data" and "binary_data_size", in either order.
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],)"
       R"("parameters":{"binary_data_size":4}}]})",
       four, "input 'x': has both 'data' and 'binary_data_size'"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],)"
       R"("parameters":{"binary_data_size":4},"data":[1]}]})",
       four, "input 'x': has both 'data' and 'binary_data_size'"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","parameters":{"binary_data_size":4}}]})", four,
       "input 'x': 'shape' is required"},
      {R"({"inputs":[{"name":"x","shape":[1],"parameters":{"binary_data_size":4}}]})", four,
       "input 'x': 'datatype' is required"},
      {OneBinaryInput("FP33", "[1]", R"({"binary_data_size":4})"), four,
       "input 'x': datatype \"FP33\" is not a known datatype"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})", "",
       "input 'x': 'data' is required (or the parameter 'binary_data_size'"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Error(Decode(c.json, c.binary)), HasSubstr(c.message)) << c.json;
  }
  // The header length cut inside the JSON.
  const std::string json = OneBinaryInput("FP32", "[1]", R"({"binary_data_size":4})");
  EXPECT_THAT(Error(DecodeRestInferRequest(json + four, json.size() - 2)),
              HasSubstr("request body is not valid JSON"));
  EXPECT_THAT(Error(DecodeRestInferRequest(json + four, json.size() + 5)),
              HasSubstr("but the body has only"));
  // No header: binary sizes cannot be honoured.
  EXPECT_THAT(Error(DecodeRestInferRequest(json, std::nullopt)),
              HasSubstr("input 'x': 'binary_data_size' is set, but the request has no binary "
                        "part"));
}

TEST(BinaryRequestTest, HeaderLengthValues) {
  EXPECT_EQ(*ParseInferenceHeaderLength("0", 10), 0u);
  EXPECT_EQ(*ParseInferenceHeaderLength("10", 10), 10u);
  EXPECT_EQ(*ParseInferenceHeaderLength(" 7 ", 10), 7u);
  for (const char* bad :
       {"", " ", "-1", "+5", "1e3", "0x10", "7,7", "abc", "99999999999999999999999"}) {
    absl::StatusOr<size_t> n = ParseInferenceHeaderLength(bad, 100);
    ASSERT_FALSE(n.ok()) << bad;
    EXPECT_THAT(n.status().message(), HasSubstr("Inference-Header-Content-Length header")) << bad;
    EXPECT_THAT(n.status().message(), HasSubstr("is not a non-negative integer")) << bad;
  }
  absl::StatusOr<size_t> n = ParseInferenceHeaderLength("11", 10);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().message(),
            "Inference-Header-Content-Length header is 11 but the body has only 10 bytes");
}

// ---- the raw request ----------------------------------------------------------------

ModelMetadata OneInputModel(DataType dtype, std::vector<int64_t> shape) {
  ModelMetadata m;
  m.name = "m";
  m.inputs.push_back({"in", dtype, std::move(shape)});
  m.outputs.push_back({"out", DataType::kFp32, {-1, 10}});
  return m;
}

TEST(RawRequestTest, TheBodyIsTheOnlyInputWithBatchOne) {
  const std::string image(28 * 28 * 4, '\x01');
  absl::StatusOr<RestInferRequest> r =
      DecodeRawInferRequest(image, OneInputModel(DataType::kFp32, {-1, 1, 28, 28}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->request.inputs.size(), 1u);
  EXPECT_EQ(r->request.inputs[0].name, "in");
  EXPECT_THAT(r->request.inputs[0].shape, ElementsAre(1, 1, 28, 28));
  EXPECT_EQ(Bytes(r->request.inputs[0]), image);
  EXPECT_TRUE(r->binary_data_output);
  EXPECT_TRUE(r->request.outputs.empty());

  // One variable dimension besides the batch is worked out from the size.
  r = DecodeRawInferRequest(Raw(std::vector<int32_t>{1, 2, 3}),
                            OneInputModel(DataType::kInt32, {-1, -1}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->request.inputs[0].shape, ElementsAre(1, 3));

  // BYTES: the body is one element.
  r = DecodeRawInferRequest(std::string("a\0b", 3), OneInputModel(DataType::kBytes, {-1, 1}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Bytes(r->request.inputs[0]), Framed({std::string("a\0b", 3)}));
  EXPECT_TRUE(CheckByteSize(r->request.inputs[0]).ok());
}

TEST(RawRequestTest, Errors) {
  struct Case {
    std::string body;
    ModelMetadata model;
    std::string message;
  };
  ModelMetadata two = OneInputModel(DataType::kInt32, {-1, 16});
  two.name = "simple";
  two.inputs = {{"INPUT0", DataType::kInt32, {-1, 16}}, {"INPUT1", DataType::kInt32, {-1, 16}}};
  const std::vector<Case> cases = {
      {std::string(128, '\0'), two,
       "a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one "
       "input, but model 'simple' has 2 (INPUT0, INPUT1)"},
      {std::string(100, '\0'), OneInputModel(DataType::kFp32, {-1, 1, 28, 28}),
       "has 100 bytes, but input 'in' of shape [-1, 1, 28, 28] and datatype FP32 needs 3136 bytes"},
      {std::string(6, '\0'), OneInputModel(DataType::kInt32, {-1, -1}),
       "has 6 bytes, which is not a whole number of input 'in'"},
      {std::string(8, '\0'), OneInputModel(DataType::kInt32, {-1, -1, -1}),
       "more than one variable dimension besides the batch"},
      {"ab", OneInputModel(DataType::kBytes, {-1, 2}), "does not hold exactly one element"},
      {"ab", OneInputModel(DataType::kBytes, {-1, -1}), "does not hold exactly one element"},
      {"", OneInputModel(DataType::kFp32, {-1, 4}), "has an empty body"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RestInferRequest> r = DecodeRawInferRequest(c.body, c.model);
    EXPECT_THAT(Error(r), HasSubstr(c.message)) << c.message;
  }
}

// ---- request-level parameters -----------------------------------------------------------

TEST(RequestParametersTest, ScalarsAreKeptAsTheWireGaveThem) {
  absl::StatusOr<RestInferRequest> r = DecodeInferHeader(
      R"({"parameters":{"alpha":0.1,"top":3,"tag":"x\"y","strict":false,"big":-9223372036854775808},)"
      R"("inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& p = r->request.parameters;
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(std::get<double>(p.at("alpha")), 0.1);
  EXPECT_EQ(std::get<int64_t>(p.at("top")), 3);
  EXPECT_EQ(std::get<std::string>(p.at("tag")), "x\"y");
  EXPECT_EQ(std::get<bool>(p.at("strict")), false);
  EXPECT_EQ(std::get<int64_t>(p.at("big")), INT64_MIN);
  EXPECT_FALSE(r->binary_data_output);

  r = DecodeInferHeader(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],)"
                        R"("parameters":{"binary_data_output":true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->binary_data_output);
  EXPECT_EQ(std::get<bool>(r->request.parameters.at("binary_data_output")), true);

  // null and {} mean no parameters.
  for (const char* params : {"null", "{}"}) {
    r = DecodeInferHeader(absl::StrCat(
        R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],"parameters":)",
        params, "}"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->request.parameters.empty());
  }
}

TEST(RequestParametersTest, WrongTypesAre400NamingTheParameter) {
  const std::string input = R"("inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}])";
  struct Case {
    std::string params;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"alpha":{"v":1}})",
       "request: parameter 'alpha' must be a string, number or boolean, "
       "not an object"},
      {R"({"alpha":[0.1]})", "parameter 'alpha' must be a string, number or boolean, not an array"},
      {R"({"alpha":null})", "parameter 'alpha' must be a string, number or boolean, not null"},
      {R"({"n":18446744073709551615})",
       "parameter 'n' = 18446744073709551615 is out of range; integers must fit in int64"},
      {R"({"x":1e999})", "parameter 'x' = 1e999 is not a finite number"},
      {R"({"a":1,"a":2})", "request: parameter 'a' appears more than once"},
      {R"({"binary_data_output":1})",
       "request: parameter 'binary_data_output' must be true or false, not a number"},
      {"[1]", "request: 'parameters' must be an object, not an array"},
      {"\"alpha\"", "request: 'parameters' must be an object, not a string"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RestInferRequest> r =
        DecodeInferHeader(absl::StrCat("{", input, R"(,"parameters":)", c.params, "}"));
    EXPECT_THAT(Error(r), HasSubstr(c.message)) << c.params;
  }
  absl::StatusOr<RestInferRequest> r = DecodeInferHeader(
      absl::StrCat("{", input, R"(,"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})"));
  EXPECT_THAT(Error(r), HasSubstr("output 'y': parameter 'binary_data' must be true or false, "
                                  "not a string"));
}

// ---- binary outputs -------------------------------------------------------------------

InferResponse TwoOutputs() {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "1";
  Tensor a;
  a.name = "a";
  a.dtype = DataType::kFp32;
  a.shape = {1, 2};
  const std::string a_bytes = Raw(std::vector<float>{0.5f, -1});
  a.data.assign(a_bytes.begin(), a_bytes.end());
  Tensor b;
  b.name = "b";
  b.dtype = DataType::kBytes;
  b.shape = {1, 2};
  const std::string b_bytes = Framed({"0.9:3:Dress", "0.1:0:T-shirt/top"});
  b.data.assign(b_bytes.begin(), b_bytes.end());
  response.outputs = {a, b};
  return response;
}

TEST(BinaryResponseTest, FlaggedOutputsFollowTheJsonInOrder) {
  const InferResponse response = TwoOutputs();
  EncodedInferResponse e = EncodeInferResponse(response, {true, true});
  ASSERT_TRUE(e.binary);
  const json::value v = json::parse(e.body.substr(0, e.json_size));
  EXPECT_EQ(
      json::serialize(v),
      R"({"model_name":"m","model_version":"1","outputs":[)"
      R"({"name":"a","datatype":"FP32","shape":[1,2],"parameters":{"binary_data_size":8}},)"
      R"({"name":"b","datatype":"BYTES","shape":[1,2],"parameters":{"binary_data_size":36}}]})");
  EXPECT_EQ(e.body.substr(e.json_size),
            Bytes(response.outputs[0]) + Framed({"0.9:3:Dress", "0.1:0:T-shirt/top"}));

  // Only "b" in binary; "a" stays JSON.
  e = EncodeInferResponse(response, {false, true});
  ASSERT_TRUE(e.binary);
  EXPECT_EQ(e.body.substr(e.json_size), Bytes(response.outputs[1]));
  EXPECT_THAT(e.body.substr(0, e.json_size), HasSubstr(R"("data":[0.5,-1])"));

  // No flags: the plain JSON response.
  e = EncodeInferResponse(response, {false, false});
  EXPECT_FALSE(e.binary);
  EXPECT_EQ(e.body, EncodeInferResponse(response));
  EXPECT_EQ(e.json_size, e.body.size());
}

TEST(BinaryResponseTest, ZeroByteBinaryOutputStillCountsAsBinary) {
  InferResponse response = TwoOutputs();
  response.outputs[0].shape = {0, 2};
  response.outputs[0].data.clear();
  EncodedInferResponse e = EncodeInferResponse(response, {true, false});
  EXPECT_TRUE(e.binary);
  EXPECT_EQ(e.body.size(), e.json_size);
  EXPECT_THAT(e.body, HasSubstr(R"("parameters":{"binary_data_size":0})"));
}

TEST(BinaryResponseTest, OutputChoicesAreMatchedByName) {
  absl::StatusOr<RestInferRequest> r = DecodeInferHeader(
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],)"
      R"("outputs":[{"name":"b","parameters":{"binary_data":true}},{"name":"a"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  BinaryOutputs binary(*r);
  EXPECT_TRUE(binary.Any());
  EXPECT_THAT(binary.Flags(TwoOutputs()), ElementsAre(false, true));

  r = DecodeInferHeader(
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}],)"
      R"("parameters":{"binary_data_output":true},)"
      R"("outputs":[{"name":"b","parameters":{"binary_data":false}},{"name":"a"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(BinaryOutputs(*r).Flags(TwoOutputs()), ElementsAre(true, false));

  r = DecodeInferHeader(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(BinaryOutputs(*r).Any());
  EXPECT_THAT(BinaryOutputs(*r).Flags(TwoOutputs()), ElementsAre(false, false));
}

// ---- statistics and model control bodies --------------------------------------------------

TEST(StatisticsBodyTest, ShapedAsTheExtensionSays) {
  ModelStatistics s;
  s.name = "m";
  s.version = "2";
  s.last_inference_ms = 1700000000123;
  s.inference_count = 10;
  s.execution_count = 4;
  s.success = {4, 4000};
  s.fail = {1, 50};
  s.queue = {4, 400};
  s.compute_infer = {4, 3000};
  s.batch_stats = {{1, {2, 1000}}, {4, {2, 2000}}};
  const std::string body = EncodeModelStatistics({s});
  const std::string zero = R"({"count":0,"ns":0})";
  EXPECT_EQ(
      json::serialize(json::parse(body)),
      absl::StrCat(R"({"model_stats":[{"name":"m","version":"2","last_inference":1700000000123,)",
                   R"("inference_count":10,"execution_count":4,"inference_stats":{)",
                   R"("success":{"count":4,"ns":4000},"fail":{"count":1,"ns":50},)",
                   R"("queue":{"count":4,"ns":400},"compute_input":)", zero,
                   R"(,"compute_infer":{"count":4,"ns":3000},"compute_output":)", zero,
                   R"(,"cache_hit":)", zero, R"(,"cache_miss":)", zero, "},",
                   R"("batch_stats":[{"batch_size":1,"compute_input":)", zero,
                   R"(,"compute_infer":{"count":2,"ns":1000},"compute_output":)", zero, "},",
                   R"({"batch_size":4,"compute_input":)", zero,
                   R"(,"compute_infer":{"count":2,"ns":2000},"compute_output":)", zero, "}]}]}"));
  EXPECT_EQ(EncodeModelStatistics({}), R"({"model_stats":[]})");
  EXPECT_EQ(EncodeModelControl("m\"x", "load"), R"({"name":"m\"x","load":true})");
}

}  // namespace
}  // namespace ferry
