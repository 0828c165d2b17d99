#include "api/http/json_codec.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/classification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace json = boost::json;

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

template <typename T>
Tensor MakeTensor(std::string name, DataType dtype, std::vector<int64_t> shape,
                  const std::vector<T>& values) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

// A request with one input whose datatype, shape and data are given as JSON text.
std::string OneInput(const std::string& dtype, const std::string& shape, const std::string& data) {
  return absl::StrCat(R"({"inputs":[{"name":"x","shape":)", shape, R"(,"datatype":")", dtype,
                      R"(","data":)", data, "}]}");
}

absl::StatusOr<Tensor> DecodeOne(const std::string& dtype, const std::string& shape,
                                 const std::string& data) {
  absl::StatusOr<InferRequest> r = DecodeInferRequest(OneInput(dtype, shape, data));
  if (!r.ok()) return r.status();
  if (r->inputs.size() != 1) return absl::InternalError("expected one input");
  return std::move(r->inputs[0]);
}

// The error message of a request that must fail with InvalidArgument.
std::string DecodeError(const std::string& body) {
  absl::StatusOr<InferRequest> r = DecodeInferRequest(body);
  if (r.ok()) return "<decoded fine>";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

// ---- decoding: good requests ---------------------------------------------------------

TEST(DecodeInferRequestTest, FlatFp32WithIdAndOutputs) {
  absl::StatusOr<InferRequest> r = DecodeInferRequest(R"({
    "id": "req-7", "parameters": {"priority": 1},
    "inputs": [{"name": "image", "shape": [1, 4], "datatype": "FP32",
                "parameters": {"content_type": "np", "nested": {"a": [1, {"b": null}]}},
                "data": [0.5, -1, 2e3, 255]}],
    "outputs": [{"name": "logits", "parameters": {"classification": 3, "binary_data": false}},
                {"name": "raw"}],
    "unknown_field": {"ignored": true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "req-7");
  ASSERT_EQ(r->parameters.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(r->parameters.at("priority")), 1);
  ASSERT_EQ(r->inputs.size(), 1u);
  const Tensor& t = r->inputs[0];
  EXPECT_EQ(t.name, "image");
  EXPECT_EQ(t.dtype, DataType::kFp32);
  EXPECT_THAT(t.shape, ElementsAre(1, 4));
  EXPECT_THAT(Values<float>(t), ElementsAre(0.5f, -1.0f, 2000.0f, 255.0f));
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].name, "logits");
  EXPECT_EQ(r->outputs[0].classification, 3);
  EXPECT_EQ(r->outputs[1].name, "raw");
  EXPECT_EQ(r->outputs[1].classification, 0);
}

TEST(DecodeInferRequestTest, IdIsOptionalAndOutputsMayBeEmpty) {
  absl::StatusOr<InferRequest> r =
      DecodeInferRequest(" \n" + OneInput("INT32", "[1]", "[5]") + " \n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "");
  EXPECT_TRUE(r->outputs.empty());
  r = DecodeInferRequest(
      R"({"id": null, "inputs": [{"name":"x","shape":[1],"datatype":"INT8","data":[1]}],
          "outputs": []})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->outputs.empty());
}

TEST(DecodeInferRequestTest, NestedDataIsFlattenedRowMajor) {
  absl::StatusOr<Tensor> t = DecodeOne("INT32", "[2, 3]", "[[1, 2, 3], [4, 5, 6]]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int32_t>(*t), ElementsAre(1, 2, 3, 4, 5, 6));
  t = DecodeOne("INT32", "[2, 2, 2]", "[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int32_t>(*t), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
  // Nesting shallower than the shape is fine as long as the count matches.
  t = DecodeOne("INT32", "[1, 1, 2, 2]", "[[1, 2], [3, 4]]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int32_t>(*t), ElementsAre(1, 2, 3, 4));
}

TEST(DecodeInferRequestTest, DataBeforeDatatypeAndNameGivesTheSameTensor) {
  absl::StatusOr<InferRequest> r = DecodeInferRequest(
      R"({"inputs":[{"data":[[1,2],[3,4]],"shape":[2,2],"datatype":"UINT16","name":"x"},
                    {"data":["a","bc"],"name":"s","datatype":"BYTES","shape":[2]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "x");
  EXPECT_THAT(Values<uint16_t>(r->inputs[0]), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(BytesElements(r->inputs[1]), ElementsAre("a", "bc"));
  // Range errors are still found, and name the input.
  EXPECT_THAT(DecodeError(R"({"inputs":[{"data":[1,70000],"shape":[2],"datatype":"UINT16",
                                         "name":"late"}]})"),
              HasSubstr("input 'late': value 70000 at element 1 is out of range for UINT16"));
}

TEST(DecodeInferRequestTest, EveryIntegerTypeAtItsLimits) {
  absl::StatusOr<Tensor> t = DecodeOne("UINT8", "[3]", "[0, 7, 255]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<uint8_t>(*t), ElementsAre(0, 7, 255));
  t = DecodeOne("UINT16", "[2]", "[0, 65535]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<uint16_t>(*t), ElementsAre(0, 65535));
  t = DecodeOne("UINT32", "[2]", "[0, 4294967295]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<uint32_t>(*t), ElementsAre(0u, 4294967295u));
  t = DecodeOne("UINT64", "[3]", "[0, 9223372036854775807, 18446744073709551615]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<uint64_t>(*t),
              ElementsAre(0u, 9223372036854775807u, std::numeric_limits<uint64_t>::max()));
  t = DecodeOne("INT8", "[2]", "[-128, 127]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int8_t>(*t), ElementsAre(-128, 127));
  t = DecodeOne("INT16", "[2]", "[-32768, 32767]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int16_t>(*t), ElementsAre(-32768, 32767));
  t = DecodeOne("INT32", "[2]", "[-2147483648, 2147483647]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int32_t>(*t), ElementsAre(std::numeric_limits<int32_t>::min(), 2147483647));
  t = DecodeOne("INT64", "[2]", "[-9223372036854775808, 9223372036854775807]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int64_t>(*t), ElementsAre(std::numeric_limits<int64_t>::min(),
                                               std::numeric_limits<int64_t>::max()));
  // Integers written as floats (numpy does this) are accepted when exact.
  t = DecodeOne("INT32", "[3]", "[3.0, 1e2, -0.0]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<int32_t>(*t), ElementsAre(3, 100, 0));
}

TEST(DecodeInferRequestTest, IntegerRangeErrorsNameTheInputAndValue) {
  struct Case {
    const char* dtype;
    const char* data;
    const char* message;
  };
  const Case cases[] = {
      {"UINT8", "[1, 300]", "input 'x': value 300 at element 1 is out of range for UINT8"},
      {"UINT8", "[-1]", "value -1 at element 0 is out of range for UINT8"},
      {"UINT16", "[65536]", "value 65536 at element 0 is out of range for UINT16"},
      {"UINT32", "[4294967296]", "value 4294967296 at element 0 is out of range for UINT32"},
      {"UINT64", "[-5]", "value -5 at element 0 is out of range for UINT64"},
      {"UINT64", "[18446744073709551616]", "out of range for UINT64"},
      {"INT8", "[128]", "value 128 at element 0 is out of range for INT8"},
      {"INT8", "[-129]", "value -129 at element 0 is out of range for INT8"},
      {"INT16", "[40000]", "out of range for INT16"},
      {"INT32", "[2147483648]", "out of range for INT32"},
      {"INT64", "[9223372036854775808]", "out of range for INT64"},
      {"INT64", "[-9223372036854775809]", "out of range for INT64"},
      {"INT64", "[1e19]", "out of range for INT64"},
      {"INT32", "[1.5]", "value 1.5 at element 0 is not an integer, as INT32 requires"},
      {"INT32", "[true]", "element 0 is a boolean (true) but INT32 needs an integer"},
      {"INT32", R"(["7"])", R"(element 0 is a string ("7") but INT32 needs an integer)"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(DecodeError(OneInput(c.dtype, "[1]", c.data)), HasSubstr(c.message))
        << c.dtype << " " << c.data;
  }
}

TEST(DecodeInferRequestTest, FloatsAreCorrectlyRounded) {
  // Boost.JSON 1.81's own double parsing is one ULP off for some of these.
  const double expected[] = {0.1,
                             -97.57019231092363,
                             1.3927926388013963e-143,
                             1.7161392603081718e+277,
                             1.7976931348623157e308,
                             5e-324};
  absl::StatusOr<Tensor> t =
      DecodeOne("FP64", "[6]",
                "[0.1, -97.57019231092363, 1.3927926388013963e-143, 1.7161392603081718e+277, "
                "1.7976931348623157e308, 5e-324]");
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<double> got = Values<double>(*t);
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], expected[i]) << i;

  t = DecodeOne("FP32", "[6]", "[0.1, 3.4028235e38, 1e-50, 16777217, -0.0, 0.10000000149011612]");
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<float> f = Values<float>(*t);
  ASSERT_EQ(f.size(), 6u);
  EXPECT_EQ(f[0], 0.1f);
  EXPECT_EQ(f[1], std::numeric_limits<float>::max());
  EXPECT_EQ(f[2], 0.0f);  // underflow rounds to zero rather than failing
  EXPECT_EQ(f[3], 16777216.0f);
  EXPECT_TRUE(std::signbit(f[4]));
  EXPECT_EQ(f[5], 0.1f);
}

TEST(DecodeInferRequestTest, Fp32MatchesFromCharsIncludingNearHalfwayValues) {
  // Random floats and doubles in their shortest text, plus exact and near halfway points
  // between adjacent floats, where a double-rounding shortcut would go wrong.
  std::mt19937 rng(3);
  std::vector<std::string> texts;
  char buf[128];
  for (int i = 0; i < 2000; ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    if (!std::isfinite(f)) continue;
    texts.emplace_back(buf, std::to_chars(buf, buf + sizeof(buf), f).ptr);
    const double d = std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    texts.emplace_back(buf, std::to_chars(buf, buf + sizeof(buf), d).ptr);
    const float next = std::nextafter(f, std::numeric_limits<float>::infinity());
    if (!std::isfinite(next)) continue;
    const double mid = 0.5 * (static_cast<double>(f) + static_cast<double>(next));
    std::snprintf(buf, sizeof(buf), "%.60g", mid);  // exact: a dyadic rational
    texts.emplace_back(buf);
    std::snprintf(buf, sizeof(buf), "%.17g", std::nextafter(mid, 0.0));
    texts.emplace_back(buf);
  }
  std::string data = "[";
  for (size_t i = 0; i < texts.size(); ++i) absl::StrAppend(&data, i == 0 ? "" : ",", texts[i]);
  data += "]";
  absl::StatusOr<Tensor> t = DecodeOne("FP32", absl::StrCat("[", texts.size(), "]"), data);
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<float> got = Values<float>(*t);
  ASSERT_EQ(got.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    float want = 0;
    std::from_chars(texts[i].data(), texts[i].data() + texts[i].size(), want);
    EXPECT_EQ(std::memcmp(&got[i], &want, sizeof(float)), 0) << texts[i];
  }
}

TEST(DecodeInferRequestTest, NonFiniteAndOverflowingFloatsAreRejected) {
  EXPECT_THAT(DecodeError(OneInput("FP32", "[2]", "[1, 1e999]")),
              HasSubstr("input 'x': value 1e999 at element 1 is not a finite FP32 number"));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", "[-1e999]")), HasSubstr("NaN or Infinity"));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", "[1e39]")),
              HasSubstr("value 1e39 at element 0 is not a finite FP32 number"));
  EXPECT_THAT(DecodeError(OneInput("FP64", "[1]", "[1e400]")),
              HasSubstr("is not a finite FP64 number"));
  // JSON has no NaN or Infinity literals.
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", "[NaN]")),
              HasSubstr("request body is not valid JSON"));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", "[Infinity]")),
              HasSubstr("request body is not valid JSON"));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", R"(["1.5"])")),
              HasSubstr("element 0 is a string (\"1.5\") but FP32 needs a number"));
}

TEST(DecodeInferRequestTest, BoolAndBytes) {
  absl::StatusOr<Tensor> t = DecodeOne("BOOL", "[1, 3]", "[[true, false, true]]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<uint8_t>(*t), ElementsAre(1, 0, 1));
  EXPECT_THAT(DecodeError(OneInput("BOOL", "[1]", "[1]")),
              HasSubstr("element 0 is a number (1) but BOOL needs true or false"));

  t = DecodeOne("BYTES", "[2, 2]",
                R"([["", "hello"], ["quote \" and \\ and \n", "caf\u00e9 \ud83d\ude00"]])");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(BytesElements(*t),
              ElementsAre("", "hello", "quote \" and \\ and \n", "caf\xc3\xa9 \xf0\x9f\x98\x80"));
  // The layout is a 4-byte little-endian length before each element.
  ASSERT_GE(t->data.size(), 9u);
  EXPECT_THAT(std::vector<uint8_t>(t->data.begin(), t->data.begin() + 9),
              ElementsAre(0, 0, 0, 0, 5, 0, 0, 0, 'h'));
  EXPECT_TRUE(CheckByteSize(*t).ok());
  EXPECT_THAT(DecodeError(OneInput("BYTES", "[1]", "[12]")),
              HasSubstr("element 0 is a number (12) but BYTES needs a string"));
}

TEST(DecodeInferRequestTest, ScalarAndEmptyTensors) {
  absl::StatusOr<Tensor> t = DecodeOne("FP32", "[]", "[7]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->shape.empty());
  EXPECT_THAT(Values<float>(*t), ElementsAre(7.0f));
  t = DecodeOne("FP32", "[0, 3]", "[]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->data.empty());
  t = DecodeOne("INT32", "[2, 0]", "[[], []]");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->data.empty());
}

TEST(DecodeInferRequestTest, SeveralInputsKeepTheirOrder) {
  absl::StatusOr<InferRequest> r = DecodeInferRequest(
      R"({"inputs":[{"name":"INPUT0","shape":[1,2],"datatype":"INT32","data":[1,2]},
                    {"name":"INPUT1","shape":[1,2],"datatype":"INT32","data":[[3,4]]}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "INPUT0");
  EXPECT_EQ(r->inputs[1].name, "INPUT1");
  EXPECT_THAT(Values<int32_t>(r->inputs[1]), ElementsAre(3, 4));
}

// ---- decoding: malformed bodies -------------------------------------------------------

TEST(DecodeInferRequestTest, BodiesThatAreNotJson) {
  EXPECT_EQ(DecodeError(""), "request body is not valid JSON: the body is empty");
  EXPECT_EQ(DecodeError("  \r\n "), "request body is not valid JSON: the body is empty");
  EXPECT_THAT(DecodeError(R"({"inputs": [{"name": "x", "shape": [1)"),
              HasSubstr("request body is not valid JSON: "));
  EXPECT_THAT(DecodeError("{inputs: 1}"), HasSubstr("request body is not valid JSON: "));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", "[1]") + " {}"),
              HasSubstr("request body is not valid JSON: unexpected data after"));
  EXPECT_THAT(DecodeError("[1, 2]"), HasSubstr("request body must be a JSON object, not an array"));
  EXPECT_THAT(DecodeError("\"inputs\""), HasSubstr("must be a JSON object, not a string"));
  EXPECT_THAT(DecodeError(std::string("{\"id\": \"\xff\"}")),
              HasSubstr("request body is not valid JSON"));
}

TEST(DecodeInferRequestTest, DeepNestingFailsCleanly) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  EXPECT_THAT(DecodeError(R"({"inputs":[{"parameters":{"a":)" + deep + "}}]}"),
              HasSubstr("nesting is deeper than the limit of 64 levels"));
  EXPECT_THAT(DecodeError(OneInput("FP32", "[1]", deep)), HasSubstr("deeper than the limit"));
  EXPECT_THAT(DecodeError(deep), HasSubstr("must be a JSON object"));
  EXPECT_THAT(DecodeError(R"({"inputs":)" + deep + "}"), HasSubstr("must be an array of objects"));
  // Deep but within the limit: a consistent [1,...,1] tensor of rank 50.
  const std::string nested = std::string(50, '[') + "1" + std::string(50, ']');
  std::string shape = "[1";
  for (int i = 1; i < 50; ++i) shape += ",1";
  shape += "]";
  absl::StatusOr<Tensor> t = DecodeOne("FP32", shape, nested);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(Values<float>(*t), ElementsAre(1.0f));
  // A smaller limit applies to the whole body.
  absl::StatusOr<InferRequest> r =
      DecodeInferRequest(OneInput("FP32", "[1]", "[[[[1]]]]"), DecodeOptions{.max_depth = 5});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("deeper than the limit of 5"));
}

TEST(DecodeInferRequestTest, MissingOrMistypedFields) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::string x = R"("name":"x","shape":[1],"datatype":"FP32")";
  const Case cases[] = {
      {"{}", "request: 'inputs' is required"},
      {R"({"id":"a","outputs":[]})", "request: 'inputs' is required"},
      {R"({"inputs":[]})", "request: 'inputs' must not be empty"},
      {R"({"inputs":{}})", "request: 'inputs' must be an array, not an object"},
      {R"({"inputs":[1]})", "request: 'inputs' must be an array of objects, but element 0 is"},
      {R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})",
       "inputs[0]: 'name' is required"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})",
       "input 'x': 'shape' is required"},
      {R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", "input 'x': 'datatype' is required"},
      {"{\"inputs\":[{" + x + "}]}", "input 'x': 'data' is required"},
      {R"({"inputs":[{"name":7,"shape":[1],"datatype":"FP32","data":[1]}]})",
       "inputs[0]: 'name' must be a string, not a number"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":["FP32"],"data":[1]}]})",
       "input 'x': 'datatype' must be a string, not an array"},
      {"{\"inputs\":[{" + x + ",\"data\":5}]}", "input 'x': 'data' must be an array, not a number"},
      {"{\"inputs\":[{" + x + ",\"data\":\"1\"}]}", "input 'x': 'data' must be an array"},
      {"{\"inputs\":[{" + x + ",\"data\":[null]}]}", "input 'x': element 0 of 'data' is null"},
      {"{\"inputs\":[{" + x + ",\"data\":[{}]}]}", "element 0 of 'data' is an object"},
      {R"({"inputs":[{"name":"x","shape":"1","datatype":"FP32","data":[1]}]})",
       "input 'x': 'shape' must be an array of non-negative integers, not a string"},
      {R"({"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]})",
       "input 'x': 'shape' must be an array of non-negative integers, but holds a number"},
      {R"({"inputs":[{"name":"x","shape":[[1]],"datatype":"FP32","data":[1]}]})",
       "'shape' must be an array of non-negative integers"},
      {R"({"inputs":[{"name":"x","shape":[2,-1],"datatype":"FP32","data":[1,2]}]})",
       "input 'x': 'shape' has a negative dimension -1"},
      {R"({"inputs":[{"name":"x","shape":[18446744073709551615],"datatype":"FP32","data":[]}]})",
       "input 'x': 'shape' dimension 18446744073709551615 is too large"},
      {R"({"inputs":[{"name":"x","shape":[4294967296,4294967296,4],"datatype":"FP32",
                      "data":[1]}]})",
       "input 'x': shape [4294967296, 4294967296, 4] has too many elements"},
      {R"({"id":5,"inputs":[]})", "request: 'id' must be a string, not a number"},
      {R"({"parameters":[],"inputs":[]})", "request: 'parameters' must be an object"},
      {"{\"inputs\":[{" + x + ",\"parameters\":1,\"data\":[1]}]}",
       "input 'x': 'parameters' must be an object"},
      {"{\"inputs\":[{" + x + ",\"data\":[1]}],\"outputs\":{}}",
       "request: 'outputs' must be an array, not an object"},
      {"{\"inputs\":[{" + x + ",\"data\":[1]}],\"outputs\":[\"y\"]}",
       "request: 'outputs' must be an array of objects, but element 0 is a string"},
      {"{\"inputs\":[{" + x + ",\"data\":[1]}],\"outputs\":[{}]}",
       "outputs[0]: 'name' is required"},
      {"{\"inputs\":[{" + x +
           ",\"data\":[1]}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"classification\":-2}}]}",
       "output 'y': parameter 'classification' must be a non-negative integer, not -2"},
      {"{\"inputs\":[{" + x +
           ",\"data\":[1]}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"classification\":\"3\"}}"
           "]}",
       "output 'y': parameter 'classification' must be a non-negative integer, not a string"},
      {"{\"inputs\":[{" + x + ",\"data\":[1]},{" + x + ",\"data\":[2]}]}",
       "request: input 'x' appears more than once"},
      {"{\"inputs\":[{" + x + ",\"data\":[1],\"data\":[2]}]}",
       "input 'x': key 'data' appears more than once"},
      {"{\"inputs\":[{" + x + ",\"parameters\":{\"binary_data_size\":4}}]}",
       "input 'x': 'binary_data_size' is set, but the request has no binary part"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(DecodeError(c.body), HasSubstr(c.message)) << c.body;
  }
}

TEST(DecodeInferRequestTest, UnknownAndHalfDatatypes) {
  EXPECT_THAT(DecodeError(R"({"inputs":[{"name":"image","shape":[1],"datatype":"FP33",
                                         "data":[1]}]})"),
              HasSubstr("input 'image': datatype \"FP33\" is not a known datatype"));
  // Names are case-sensitive, and the check does not depend on key order.
  EXPECT_THAT(DecodeError(R"({"inputs":[{"data":[1],"datatype":"fp32","shape":[1],
                                         "name":"image"}]})"),
              HasSubstr("input 'image': datatype \"fp32\" is not a known datatype"));
  EXPECT_THAT(DecodeError(OneInput("FP16", "[1]", "[1]")),
              HasSubstr("input 'x': FP16 values cannot be sent as JSON numbers; send this input "
                        "as binary tensor data"));
  EXPECT_THAT(DecodeError(OneInput("BF16", "[1]", "[1]")), HasSubstr("BF16 values cannot"));
}

TEST(DecodeInferRequestTest, ElementCountMustMatchTheShape) {
  std::string data = "[";
  for (int i = 0; i < 783; ++i) absl::StrAppend(&data, i == 0 ? "" : ",", i % 256);
  data += "]";
  EXPECT_EQ(DecodeError(R"({"inputs":[{"name":"image","shape":[1,1,28,28],"datatype":"FP32",
                                       "data":)" +
                        data + "}]}"),
            "input 'image': expected 784 elements for shape [1, 1, 28, 28] but data has 783");
  EXPECT_EQ(DecodeError(OneInput("INT32", "[2, 2]", "[[1, 2], [3, 4], [5, 6]]")),
            "input 'x': expected 4 elements for shape [2, 2] but data has 6");
  EXPECT_THAT(DecodeError(OneInput("FP32", "[0]", "[1]")),
              HasSubstr("expected 0 elements for shape [0] but data has 1"));
}

TEST(DecodeInferRequestTest, InconsistentNestingIsRejected) {
  const char* bad[] = {
      "[[1, 2], [3]]", "[[1], 2]",  "[1, [2]]",     "[[1, 2], [3, [4]]]",
      "[[[1]], [2]]",  "[[], [1]]", "[[1, 2], []]", "[[], 1]",
  };
  for (const char* data : bad) {
    EXPECT_THAT(DecodeError(OneInput("INT32", "[2]", data)),
                HasSubstr("input 'x': 'data' is not a consistent nested array"))
        << data;
  }
  // Nesting as deep as the shape must agree with it, so a transposed array is caught.
  EXPECT_EQ(DecodeError(OneInput("INT32", "[2, 3]", "[[1, 2], [3, 4], [5, 6]]")),
            "input 'x': nested 'data' has shape [3, 2] but 'shape' is [2, 3]");
}

// ---- encoding ----------------------------------------------------------------------------

json::value Parse(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << text;
  return v;
}

TEST(EncodeInferResponseTest, RoundTripsThroughAJsonParser) {
  InferResponse response;
  response.model_name = "mnist";
  response.model_version = "2";
  response.id = "req \"1\"";
  const std::vector<float> logits = {0.1f, -3.4028235e38f, 1e-45f, 123456.789f, 0.0f, 1.0f / 3};
  response.outputs.push_back(MakeTensor("logits", DataType::kFp32, {1, 6}, logits));
  response.outputs.push_back(MakeTensor<double>("d", DataType::kFp64, {2}, {0.1, -2.5e300}));
  response.outputs.push_back(MakeTensor<int64_t>(
      "i", DataType::kInt64, {2},
      {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}));
  response.outputs.push_back(
      MakeTensor<uint64_t>("u", DataType::kUint64, {1}, {std::numeric_limits<uint64_t>::max()}));
  response.outputs.push_back(MakeTensor<int8_t>("s8", DataType::kInt8, {2}, {-128, 127}));
  response.outputs.push_back(MakeTensor<uint8_t>("b", DataType::kBool, {3}, {1, 0, 1}));

  const json::value v = Parse(EncodeInferResponse(response));
  const json::object& o = v.as_object();
  EXPECT_EQ(o.at("model_name").as_string(), "mnist");
  EXPECT_EQ(o.at("model_version").as_string(), "2");
  EXPECT_EQ(o.at("id").as_string(), "req \"1\"");
  const json::array& outs = o.at("outputs").as_array();
  ASSERT_EQ(outs.size(), 6u);
  const json::object& l = outs[0].as_object();
  EXPECT_EQ(l.at("name").as_string(), "logits");
  EXPECT_EQ(l.at("datatype").as_string(), "FP32");
  EXPECT_EQ(json::serialize(l.at("shape")), "[1,6]");
  const json::array& ld = l.at("data").as_array();
  ASSERT_EQ(ld.size(), logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    // Shortest round-trip text parses back to the very same float.
    EXPECT_EQ(static_cast<float>(ld[i].to_number<double>()), logits[i]) << i;
  }
  EXPECT_EQ(outs[1].at("data").as_array()[0].as_double(), 0.1);
  EXPECT_EQ(outs[2].at("data").as_array()[0].as_int64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(outs[2].at("data").as_array()[1].as_int64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(outs[3].at("data").as_array()[0].as_uint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(json::serialize(outs[4].at("data")), "[-128,127]");
  EXPECT_EQ(json::serialize(outs[5].at("data")), "[true,false,true]");
}

TEST(EncodeInferResponseTest, ShortestFloatTextAndNoIdWhenEmpty) {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "1";
  response.outputs.push_back(MakeTensor<float>("y", DataType::kFp32, {3}, {0.1f, 1.0f, -2.5f}));
  EXPECT_EQ(EncodeInferResponse(response),
            R"({"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32",)"
            R"("shape":[3],"data":[0.1,1,-2.5]}]})");
}

TEST(EncodeInferResponseTest, NonFiniteFloatsBecomeNull) {
  InferResponse response;
  response.model_name = "m";
  response.outputs.push_back(MakeTensor<float>(
      "y", DataType::kFp32, {3},
      {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 2.0f}));
  const json::value v = Parse(EncodeInferResponse(response));
  EXPECT_EQ(json::serialize(v.at("outputs").as_array()[0].at("data")), "[null,null,2]");
}

TEST(EncodeInferResponseTest, BytesAreEscapedAndKeptValidUtf8) {
  Tensor t;
  t.name = "labels";
  t.dtype = DataType::kBytes;
  t.shape = {5};
  for (const char* s :
       {"0.9:3:cat", "tab\tquote\"back\\slash", "caf\xc3\xa9", "bad\xff\xfe", "\x01"}) {
    AppendBytesElement(s, t.data);
  }
  InferResponse response;
  response.model_name = "m";
  response.outputs.push_back(t);
  const json::value v = Parse(EncodeInferResponse(response));
  const json::array& data = v.at("outputs").as_array()[0].at("data").as_array();
  ASSERT_EQ(data.size(), 5u);
  EXPECT_EQ(data[0].as_string(), "0.9:3:cat");
  EXPECT_EQ(data[1].as_string(), "tab\tquote\"back\\slash");
  EXPECT_EQ(data[2].as_string(), "caf\xc3\xa9");
  EXPECT_EQ(data[3].as_string(), "bad\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(data[4].as_string(), "\x01");
}

TEST(EncodeInferResponseTest, HalfPrecisionOutputsAreWidened) {
  // FP16 1.0 = 0x3c00, -2.0 = 0xc000, smallest subnormal = 0x0001; BF16 1.5 = 0x3fc0.
  InferResponse response;
  response.model_name = "m";
  response.outputs.push_back(
      MakeTensor<uint16_t>("h", DataType::kFp16, {3}, {0x3c00, 0xc000, 0x0001}));
  response.outputs.push_back(MakeTensor<uint16_t>("b", DataType::kBf16, {1}, {0x3fc0}));
  const json::value v = Parse(EncodeInferResponse(response));
  const json::array& h = v.at("outputs").as_array()[0].at("data").as_array();
  EXPECT_EQ(h[0].to_number<double>(), 1.0);
  EXPECT_EQ(h[1].to_number<double>(), -2.0);
  EXPECT_EQ(static_cast<float>(h[2].to_number<double>()), std::ldexp(1.0f, -24));
  EXPECT_EQ(v.at("outputs").as_array()[1].at("data").as_array()[0].to_number<double>(), 1.5);
}

TEST(EncodeTest, ErrorBodyEscapes) {
  const std::string message = "input 'x': datatype \"FP33\" \\ bad\n\x02";
  const json::value v = Parse(ErrorBody(message));
  EXPECT_EQ(v.as_object().size(), 1u);
  EXPECT_EQ(v.at("error").as_string(), message);
}

TEST(EncodeTest, MetadataBodies) {
  json::value v = Parse(EncodeServerMetadata({"ferry", "0.1.0", {"classification", "statistics"}}));
  EXPECT_EQ(json::serialize(v),
            R"({"name":"ferry","version":"0.1.0","extensions":["classification","statistics"]})");

  ModelMetadata m;
  m.name = "mnist";
  m.versions = {"1", "2"};
  m.platform = "pytorch_torchscript";
  m.inputs = {{"image", DataType::kFp32, {-1, 1, 28, 28}}};
  m.outputs = {{"logits", DataType::kFp32, {-1, 10}}};
  v = Parse(EncodeModelMetadata(m));
  EXPECT_EQ(json::serialize(v),
            R"({"name":"mnist","versions":["1","2"],"platform":"pytorch_torchscript",)"
            R"("inputs":[{"name":"image","datatype":"FP32","shape":[-1,1,28,28]}],)"
            R"("outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]}]})");

  EXPECT_EQ(EncodeModelReady("mnist", true), R"({"name":"mnist","ready":true})");
  EXPECT_EQ(EncodeModelReady("m", false), R"({"name":"m","ready":false})");
  EXPECT_EQ(EncodeLive(true), R"({"live":true})");
  EXPECT_EQ(EncodeReady(false), R"({"ready":false})");
}

TEST(EncodeTest, RepositoryIndexIsABareArrayWithoutEmptyFields) {
  const std::vector<ModelIndexEntry> entries = {
      {"mnist", "1", "READY", ""}, {"broken", "", "UNAVAILABLE", "config.toml: bad \"x\""}};
  const json::value v = Parse(EncodeRepositoryIndex(entries));
  EXPECT_EQ(json::serialize(v),
            R"([{"name":"mnist","version":"1","state":"READY"},)"
            R"({"name":"broken","state":"UNAVAILABLE","reason":"config.toml: bad \"x\""}])");
  EXPECT_EQ(EncodeRepositoryIndex({}), "[]");
}

// System shared memory: inputs and outputs that name a region are collected, not decoded.
TEST(SharedMemoryParamsTest, InputsAndOutputsNamingARegion) {
  absl::StatusOr<RestInferRequest> r = DecodeInferHeader(
      R"({"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":)"
      R"({"shared_memory_region":"r","shared_memory_offset":8,"shared_memory_byte_size":8}},)"
      R"({"name":"b","shape":[1],"datatype":"FP32","data":[1]}],)"
      R"("outputs":[{"name":"y","parameters":{"shared_memory_region":"o",)"
      R"("shared_memory_byte_size":40}},{"name":"z"}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->request.inputs.size(), 2u);
  EXPECT_TRUE(r->request.inputs[0].data.empty());
  EXPECT_EQ(r->request.inputs[1].data.size(), 4u);
  ASSERT_EQ(r->shared_memory.inputs.size(), 1u);
  EXPECT_EQ(r->shared_memory.inputs[0].first, 0u);
  EXPECT_EQ(r->shared_memory.inputs[0].second, (SharedMemoryRef{"r", 8, 8}));
  ASSERT_EQ(r->shared_memory.outputs.size(), 1u);
  EXPECT_EQ(r->shared_memory.outputs[0].first, "y");
  EXPECT_EQ(r->shared_memory.outputs[0].second, (SharedMemoryRef{"o", 0, 40}));
  EXPECT_EQ(r->binary_data_size, (std::vector<int64_t>{-1, -1}));
}

TEST(SharedMemoryParamsTest, BadParametersNameTheTensor) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":)"
       R"({"shared_memory_region":"r","shared_memory_byte_size":4}}]})",
       "input 'a': has both 'data' and 'shared_memory_region'"},
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":)"
       R"({"shared_memory_region":"r","shared_memory_byte_size":4,"binary_data_size":4}}]})",
       "has both 'binary_data_size' and 'shared_memory_region'"},
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":)"
       R"({"shared_memory_byte_size":4}}]})",
       "input 'a': parameter 'shared_memory_byte_size' needs 'shared_memory_region'"},
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":)"
       R"({"shared_memory_region":"r"}}]})",
       "parameter 'shared_memory_region' needs 'shared_memory_byte_size'"},
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":)"
       R"({"shared_memory_region":"r","shared_memory_byte_size":-4}}]})",
       "'shared_memory_byte_size' must be a non-negative integer, not -4"},
      {R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":)"
       R"({"shared_memory_region":1,"shared_memory_byte_size":4}}]})",
       "'shared_memory_region' must be a string, not a number"},
      {R"({"inputs":[{"name":"a","datatype":"FP32","parameters":)"
       R"({"shared_memory_region":"r","shared_memory_byte_size":4}}]})",
       "input 'a': 'shape' is required"},
      {R"({"inputs":[],"outputs":[{"name":"y","parameters":{"shared_memory_offset":4}}]})",
       "output 'y': parameter 'shared_memory_offset' needs 'shared_memory_region'"},
      {R"({"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":true,)"
       R"("shared_memory_region":"r","shared_memory_byte_size":4}}]})",
       "output 'y': has both 'binary_data' and 'shared_memory_region'"},
  };
  for (const auto& [body, message] : cases) {
    absl::StatusOr<RestInferRequest> r = DecodeInferHeader(body);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << body;
    EXPECT_THAT(std::string(r.status().message()), testing::HasSubstr(message)) << body;
  }
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace json_decode_sequence_test {

TEST(DecodeInferRequestSequenceTest, SequenceParametersAreTyped) {
  const std::string inputs = R"("inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1]}])";
  absl::StatusOr<InferRequest> r = DecodeInferRequest(
      "{\"parameters\": {\"sequence_id\": 18446744073709551615, \"sequence_start\": true, "
      "\"sequence_end\": false}, " + inputs + "}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequence.id, 18446744073709551615u);
  EXPECT_TRUE(r->sequence.start);
  EXPECT_FALSE(r->sequence.end);
  r = DecodeInferRequest("{\"parameters\": {\"sequence_id\": \"abc\"}, " + inputs + "}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sequence.string_id, "abc");
  for (const auto& [params, want] : std::vector<std::pair<std::string, std::string>>{
           {R"("sequence_id": -1)", "parameter 'sequence_id' must be an unsigned integer or a string; was -1"},
           {R"("sequence_id": 2.5)", "parameter 'sequence_id'"},
           {R"("sequence_start": "true")", "parameter 'sequence_start' must be true or false"},
           {R"("sequence_end": 0)", "parameter 'sequence_end' must be true or false; was 0"},
           {R"("sequence_id": null)", "parameter 'sequence_id' must be a string, number or boolean"},
           {R"("sequence_id": 1, "sequence_id": 2)", "'sequence_id' appears more than once"}}) {
    absl::StatusOr<InferRequest> bad = DecodeInferRequest("{\"parameters\": {" + params + "}, " + inputs + "}");
    ASSERT_FALSE(bad.ok()) << params;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(bad.status().message()), testing::HasSubstr(want)) << params;
  }
}

}  // namespace json_decode_sequence_test
}  // namespace ferry
