// The gRPC wire rules for tensors: typed contents for every datatype, raw contents, and
// every way a client can get them wrong.
#include "api/grpc/tensor_codec.h"

#include <cstring>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace grpc_api {
namespace {

using inference::ModelInferRequest;
using testing::HasSubstr;
using Input = ModelInferRequest::InferInputTensor;

Input MakeInput(const std::string& name, const std::string& datatype, std::vector<int64_t> shape) {
  Input in;
  in.set_name(name);
  in.set_datatype(datatype);
  for (int64_t d : shape) in.add_shape(d);
  return in;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> out(t.data.size() / sizeof(T));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

template <typename T>
std::string RawOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void ExpectInvalid(const absl::Status& s, const std::string& mentions) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(mentions));
}

// ---- typed contents, one test per datatype ---------------------------------------------

TEST(TypedContents, Bool) {
  Input in = MakeInput("b", "BOOL", {1, 3});
  for (bool v : {true, false, true}) in.mutable_contents()->add_bool_contents(v);
  absl::StatusOr<Tensor> t = DecodeTypedInput(in);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype, DataType::kBool);
  EXPECT_EQ(t->data, (std::vector<uint8_t>{1, 0, 1}));
}

TEST(TypedContents, SignedIntegersNarrowFromInt32) {
  Input i8 = MakeInput("a", "INT8", {3});
  for (int v : {-128, 0, 127}) i8.mutable_contents()->add_int_contents(v);
  absl::StatusOr<Tensor> t8 = DecodeTypedInput(i8);
  ASSERT_TRUE(t8.ok()) << t8.status();
  EXPECT_EQ(Values<int8_t>(*t8), (std::vector<int8_t>{-128, 0, 127}));

  Input i16 = MakeInput("a", "INT16", {2});
  for (int v : {-32768, 32767}) i16.mutable_contents()->add_int_contents(v);
  absl::StatusOr<Tensor> t16 = DecodeTypedInput(i16);
  ASSERT_TRUE(t16.ok()) << t16.status();
  EXPECT_EQ(Values<int16_t>(*t16), (std::vector<int16_t>{-32768, 32767}));

  Input i32 = MakeInput("a", "INT32", {2});
  for (int v : {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
    i32.mutable_contents()->add_int_contents(v);
  }
  absl::StatusOr<Tensor> t32 = DecodeTypedInput(i32);
  ASSERT_TRUE(t32.ok()) << t32.status();
  EXPECT_EQ(Values<int32_t>(*t32), (std::vector<int32_t>{std::numeric_limits<int32_t>::min(),
                                                         std::numeric_limits<int32_t>::max()}));
}

TEST(TypedContents, Int64) {
  Input in = MakeInput("a", "INT64", {2});
  in.mutable_contents()->add_int64_contents(std::numeric_limits<int64_t>::min());
  in.mutable_contents()->add_int64_contents(42);
  absl::StatusOr<Tensor> t = DecodeTypedInput(in);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Values<int64_t>(*t), (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 42}));
}

TEST(TypedContents, UnsignedIntegersNarrowFromUint32) {
  Input u8 = MakeInput("a", "UINT8", {2});
  for (unsigned v : {0u, 255u}) u8.mutable_contents()->add_uint_contents(v);
  absl::StatusOr<Tensor> t8 = DecodeTypedInput(u8);
  ASSERT_TRUE(t8.ok()) << t8.status();
  EXPECT_EQ(Values<uint8_t>(*t8), (std::vector<uint8_t>{0, 255}));

  Input u16 = MakeInput("a", "UINT16", {1});
  u16.mutable_contents()->add_uint_contents(65535);
  absl::StatusOr<Tensor> t16 = DecodeTypedInput(u16);
  ASSERT_TRUE(t16.ok()) << t16.status();
  EXPECT_EQ(Values<uint16_t>(*t16), (std::vector<uint16_t>{65535}));

  Input u32 = MakeInput("a", "UINT32", {1});
  u32.mutable_contents()->add_uint_contents(4294967295u);
  absl::StatusOr<Tensor> t32 = DecodeTypedInput(u32);
  ASSERT_TRUE(t32.ok()) << t32.status();
  EXPECT_EQ(Values<uint32_t>(*t32), (std::vector<uint32_t>{4294967295u}));
}

TEST(TypedContents, Uint64) {
  Input in = MakeInput("a", "UINT64", {1});
  in.mutable_contents()->add_uint64_contents(std::numeric_limits<uint64_t>::max());
  absl::StatusOr<Tensor> t = DecodeTypedInput(in);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(Values<uint64_t>(*t), (std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()}));
}

TEST(TypedContents, FloatsAreBitExact) {
  Input f32 = MakeInput("a", "FP32", {3});
  for (float v : {0.1f, -3.5f, std::numeric_limits<float>::denorm_min()}) {
    f32.mutable_contents()->add_fp32_contents(v);
  }
  absl::StatusOr<Tensor> t32 = DecodeTypedInput(f32);
  ASSERT_TRUE(t32.ok()) << t32.status();
  EXPECT_EQ(Values<float>(*t32),
            (std::vector<float>{0.1f, -3.5f, std::numeric_limits<float>::denorm_min()}));

  Input f64 = MakeInput("a", "FP64", {2});
  for (double v : {0.1, 1e300}) f64.mutable_contents()->add_fp64_contents(v);
  absl::StatusOr<Tensor> t64 = DecodeTypedInput(f64);
  ASSERT_TRUE(t64.ok()) << t64.status();
  EXPECT_EQ(Values<double>(*t64), (std::vector<double>{0.1, 1e300}));
}

TEST(TypedContents, BytesBecomeLengthPrefixed) {
  Input in = MakeInput("s", "BYTES", {3});
  in.mutable_contents()->add_bytes_contents("ab");
  in.mutable_contents()->add_bytes_contents("");
  in.mutable_contents()->add_bytes_contents(std::string("\0\xff", 2));
  absl::StatusOr<Tensor> t = DecodeTypedInput(in);
  ASSERT_TRUE(t.ok()) << t.status();
  const std::vector<uint8_t> want = {2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0, 2, 0, 0, 0, 0, 0xff};
  EXPECT_EQ(t->data, want);
  EXPECT_TRUE(CheckByteSize(*t).ok());
}

TEST(TypedContents, EmptyTensorNeedsNoValues) {
  absl::StatusOr<Tensor> t = DecodeTypedInput(MakeInput("a", "FP32", {0, 4}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->data.empty());
}

// ---- typed contents, errors --------------------------------------------------------------

TEST(TypedContents, RejectsOutOfRangeNarrowing) {
  Input i8 = MakeInput("x", "INT8", {2});
  i8.mutable_contents()->add_int_contents(1);
  i8.mutable_contents()->add_int_contents(300);
  ExpectInvalid(DecodeTypedInput(i8).status(), "int_contents[1] = 300 is out of range for INT8");

  Input i16 = MakeInput("x", "INT16", {1});
  i16.mutable_contents()->add_int_contents(-32769);
  ExpectInvalid(DecodeTypedInput(i16).status(), "out of range for INT16");

  Input u8 = MakeInput("x", "UINT8", {1});
  u8.mutable_contents()->add_uint_contents(256);
  ExpectInvalid(DecodeTypedInput(u8).status(), "uint_contents[0] = 256 is out of range for UINT8");

  Input u16 = MakeInput("x", "UINT16", {1});
  u16.mutable_contents()->add_uint_contents(70000);
  ExpectInvalid(DecodeTypedInput(u16).status(), "out of range for UINT16");
}

TEST(TypedContents, RejectsTheWrongField) {
  Input in = MakeInput("x", "INT32", {2});
  in.mutable_contents()->add_fp32_contents(1);
  in.mutable_contents()->add_fp32_contents(2);
  ExpectInvalid(DecodeTypedInput(in).status(),
                "INT32 takes int_contents, but fp32_contents was set");

  Input two = MakeInput("x", "INT64", {1});
  two.mutable_contents()->add_int64_contents(1);
  two.mutable_contents()->add_int_contents(1);
  ExpectInvalid(DecodeTypedInput(two).status(), "int_contents was set");
}

TEST(TypedContents, RejectsWrongCounts) {
  Input few = MakeInput("x", "FP32", {2, 2});
  for (int i = 0; i < 3; ++i) few.mutable_contents()->add_fp32_contents(i);
  ExpectInvalid(DecodeTypedInput(few).status(),
                "shape [2, 2] needs 4 values, but fp32_contents has 3");

  Input many = MakeInput("x", "BOOL", {1});
  many.mutable_contents()->add_bool_contents(true);
  many.mutable_contents()->add_bool_contents(false);
  ExpectInvalid(DecodeTypedInput(many).status(), "needs 1 values");

  ExpectInvalid(DecodeTypedInput(MakeInput("x", "FP32", {1, 4})).status(), "input 'x' has no data");
}

TEST(TypedContents, HalfFloatsOnlyTravelRaw) {
  for (const char* dtype : {"FP16", "BF16"}) {
    Input in = MakeInput("h", dtype, {1});
    in.mutable_contents()->add_fp32_contents(1);
    ExpectInvalid(DecodeTypedInput(in).status(), "raw_input_contents");
  }
}

TEST(TypedContents, RejectsBadDatatypeAndShape) {
  ExpectInvalid(DecodeTypedInput(MakeInput("x", "FLOAT32", {1})).status(),
                "unknown datatype 'FLOAT32'");
  ExpectInvalid(DecodeTypedInput(MakeInput("x", "fp32", {1})).status(), "unknown datatype");
  ExpectInvalid(DecodeTypedInput(MakeInput("x", "FP32", {1, -1})).status(), "negative dimension");
  ExpectInvalid(DecodeTypedInput(MakeInput("x", "FP32", {1LL << 40, 1LL << 40})).status(),
                "too large");
}

// ---- raw contents -------------------------------------------------------------------

TEST(RawContents, EveryFixedSizeDatatype) {
  const struct {
    const char* dtype;
    size_t size;
  } kTypes[] = {{"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
                {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
                {"BF16", 2}, {"FP32", 4},  {"FP64", 8}};
  for (const auto& type : kTypes) {
    std::string raw(3 * type.size, '\0');
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i + 1);
    absl::StatusOr<Tensor> t = DecodeRawInput(MakeInput("r", type.dtype, {1, 3}), raw, 0);
    ASSERT_TRUE(t.ok()) << type.dtype << ": " << t.status();
    EXPECT_EQ(DataTypeName(t->dtype), type.dtype);
    EXPECT_EQ(std::string(t->data.begin(), t->data.end()), raw) << type.dtype;
  }
}

TEST(RawContents, RejectsSizeMismatch) {
  ExpectInvalid(
      DecodeRawInput(MakeInput("INPUT1", "INT32", {1, 16}), std::string(60, 'x'), 1).status(),
      "raw_input_contents[1] for input 'INPUT1' has 60 bytes, but shape [1, 16] of INT32 "
      "needs 64");
  ExpectInvalid(DecodeRawInput(MakeInput("h", "FP16", {2}), std::string(5, 'x'), 0).status(),
                "needs 4");
}

TEST(RawContents, Bytes) {
  const std::string ok("\x01\0\0\0a\x00\0\0\0", 9);
  absl::StatusOr<Tensor> t = DecodeRawInput(MakeInput("s", "BYTES", {2}), ok, 0);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data.size(), 9u);

  ExpectInvalid(DecodeRawInput(MakeInput("s", "BYTES", {3}), ok, 2).status(),
                "raw_input_contents[2]: input 's': BYTES data holds fewer");
  ExpectInvalid(DecodeRawInput(MakeInput("s", "BYTES", {1}), ok, 0).status(), "longer than");
  ExpectInvalid(
      DecodeRawInput(MakeInput("s", "BYTES", {1}), std::string("\x09\0\0\0abc", 7), 0).status(),
      "truncated");
}

// ---- whole requests -------------------------------------------------------------------

ModelInferRequest TwoInputRequest() {
  ModelInferRequest r;
  r.set_model_name("simple");
  r.set_id("req-1");
  *r.add_inputs() = MakeInput("INPUT0", "INT32", {1, 2});
  *r.add_inputs() = MakeInput("INPUT1", "INT32", {1, 2});
  return r;
}

TEST(DecodeInferRequest, TypedInputsAndId) {
  ModelInferRequest r = TwoInputRequest();
  for (int v : {1, 2}) r.mutable_inputs(0)->mutable_contents()->add_int_contents(v);
  for (int v : {3, 4}) r.mutable_inputs(1)->mutable_contents()->add_int_contents(v);
  absl::StatusOr<InferRequest> req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->id, "req-1");
  ASSERT_EQ(req->inputs.size(), 2u);
  EXPECT_EQ(req->inputs[1].name, "INPUT1");
  EXPECT_EQ(Values<int32_t>(req->inputs[1]), (std::vector<int32_t>{3, 4}));
  EXPECT_TRUE(req->outputs.empty());
}

TEST(DecodeInferRequest, RequestParametersKeepTheirWireKind) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  (*r.mutable_parameters())["alpha"].set_double_param(0.1);
  (*r.mutable_parameters())["top"].set_int64_param(-3);
  (*r.mutable_parameters())["n"].set_uint64_param(7);
  (*r.mutable_parameters())["tag"].set_string_param("x");
  (*r.mutable_parameters())["strict"].set_bool_param(true);
  absl::StatusOr<InferRequest> req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok()) << req.status();
  ASSERT_EQ(req->parameters.size(), 5u);
  EXPECT_EQ(std::get<double>(req->parameters.at("alpha")), 0.1);
  EXPECT_EQ(std::get<int64_t>(req->parameters.at("top")), -3);
  EXPECT_EQ(std::get<int64_t>(req->parameters.at("n")), 7);
  EXPECT_EQ(std::get<std::string>(req->parameters.at("tag")), "x");
  EXPECT_EQ(std::get<bool>(req->parameters.at("strict")), true);

  (*r.mutable_parameters())["n"].set_uint64_param(uint64_t{1} << 63);
  ExpectInvalid(DecodeInferRequest(r).status(), "request parameter 'n' is too large");
  (*r.mutable_parameters())["n"].set_int64_param(1);
  (*r.mutable_parameters())["empty"];
  ExpectInvalid(DecodeInferRequest(r).status(), "request parameter 'empty' has no value");
}

TEST(DecodeInferRequest, SequenceParametersAreTyped) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  (*r.mutable_parameters())["sequence_id"].set_uint64_param(~uint64_t{0});
  (*r.mutable_parameters())["sequence_start"].set_bool_param(true);
  absl::StatusOr<InferRequest> req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->sequence.id, ~uint64_t{0});
  EXPECT_TRUE(req->sequence.start);
  EXPECT_TRUE(req->parameters.empty());
  (*r.mutable_parameters())["sequence_id"].set_string_param("s-1");
  req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->sequence.string_id, "s-1");
  (*r.mutable_parameters())["sequence_id"].set_int64_param(-4);
  ExpectInvalid(DecodeInferRequest(r).status(), "parameter 'sequence_id' must be an unsigned integer");
  (*r.mutable_parameters())["sequence_id"].set_int64_param(4);
  (*r.mutable_parameters())["sequence_end"].set_string_param("true");
  ExpectInvalid(DecodeInferRequest(r).status(), "parameter 'sequence_end' must be true or false");
}

TEST(DecodeInferRequest, RawInputsInInputOrder) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  absl::StatusOr<InferRequest> req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(Values<int32_t>(req->inputs[0]), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(Values<int32_t>(req->inputs[1]), (std::vector<int32_t>{3, 4}));
}

TEST(DecodeInferRequest, RejectsMixingContentsAndRaw) {
  ModelInferRequest r = TwoInputRequest();
  for (int v : {1, 2}) r.mutable_inputs(1)->mutable_contents()->add_int_contents(v);
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  ExpectInvalid(DecodeInferRequest(r).status(),
                "contents field must not be specified when using raw_input_contents for "
                "'INPUT1' for model 'simple'");
}

TEST(DecodeInferRequest, RejectsWrongRawEntryCount) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2, 3, 4}));
  ExpectInvalid(DecodeInferRequest(r).status(), "raw_input_contents has 1 entries for 2 inputs");

  ModelInferRequest three = TwoInputRequest();
  for (int i = 0; i < 3; ++i) three.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  ExpectInvalid(DecodeInferRequest(three).status(), "3 entries for 2 inputs");
}

TEST(DecodeInferRequest, ReportsTheBadRawEntry) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3}));
  ExpectInvalid(DecodeInferRequest(r).status(), "raw_input_contents[1] for input 'INPUT1'");
}

TEST(DecodeInferRequest, RequestedOutputsAndClassification) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  r.add_outputs()->set_name("OUTPUT1");
  auto* top = r.add_outputs();
  top->set_name("OUTPUT0");
  (*top->mutable_parameters())["classification"].set_int64_param(3);
  (*top->mutable_parameters())["binary_data"].set_bool_param(true);  // HTTP-only; ignored
  auto* unsigned_top = r.add_outputs();
  unsigned_top->set_name("OUTPUT2");
  (*unsigned_top->mutable_parameters())["classification"].set_uint64_param(2);
  absl::StatusOr<InferRequest> req = DecodeInferRequest(r);
  ASSERT_TRUE(req.ok()) << req.status();
  ASSERT_EQ(req->outputs.size(), 3u);
  EXPECT_EQ(req->outputs[0].name, "OUTPUT1");
  EXPECT_EQ(req->outputs[0].classification, 0);
  EXPECT_EQ(req->outputs[1].classification, 3);
  EXPECT_EQ(req->outputs[2].classification, 2);
}

TEST(DecodeInferRequest, RejectsBadClassification) {
  ModelInferRequest r = TwoInputRequest();
  r.add_raw_input_contents(RawOf<int32_t>({1, 2}));
  r.add_raw_input_contents(RawOf<int32_t>({3, 4}));
  auto* out = r.add_outputs();
  out->set_name("OUTPUT0");
  (*out->mutable_parameters())["classification"].set_string_param("3");
  ExpectInvalid(DecodeInferRequest(r).status(),
                "output 'OUTPUT0': parameter 'classification' must be an integer");
  (*out->mutable_parameters())["classification"].set_int64_param(-1);
  ExpectInvalid(DecodeInferRequest(r).status(), "must be >= 0");
}

// ---- responses --------------------------------------------------------------------------

TEST(EncodeInferResponse, RawOutputsOnePerOutput) {
  InferResponse resp;
  resp.model_name = "simple";
  resp.model_version = "1";
  resp.id = "req-9";
  Tensor a{"OUTPUT0", DataType::kInt32, {1, 2}, {}};
  a.data.resize(8);
  const int32_t v[2] = {7, -7};
  std::memcpy(a.data.data(), v, 8);
  Tensor empty{"EMPTY", DataType::kFp32, {0, 3}, {}};
  Tensor labels{"TOP", DataType::kBytes, {1, 1}, {1, 0, 0, 0, 'z'}};
  resp.outputs = {a, empty, labels};

  inference::ModelInferResponse out;
  EncodeInferResponse(resp, &out);
  EXPECT_EQ(out.model_name(), "simple");
  EXPECT_EQ(out.model_version(), "1");
  EXPECT_EQ(out.id(), "req-9");
  ASSERT_EQ(out.outputs_size(), 3);
  ASSERT_EQ(out.raw_output_contents_size(), 3);
  EXPECT_EQ(out.outputs(0).name(), "OUTPUT0");
  EXPECT_EQ(out.outputs(0).datatype(), "INT32");
  EXPECT_THAT(out.outputs(0).shape(), testing::ElementsAre(1, 2));
  EXPECT_FALSE(out.outputs(0).has_contents());
  EXPECT_EQ(out.raw_output_contents(0), RawOf<int32_t>({7, -7}));
  EXPECT_EQ(out.raw_output_contents(1), "");
  EXPECT_EQ(out.outputs(2).datatype(), "BYTES");
  EXPECT_EQ(out.raw_output_contents(2), std::string("\x01\0\0\0z", 5));
}

}  // namespace
}  // namespace grpc_api
}  // namespace ferry
