#include "loadgen/grpc_codec.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ferry::loadgen {
namespace {

std::vector<TensorSpec> Outputs() { return {{"y", DataType::kFp32, {-1, 2}}}; }

inference::ModelInferResponse Response(int64_t rows, size_t raw_bytes) {
  inference::ModelInferResponse r;
  auto* y = r.add_outputs();
  y->set_name("y");
  y->set_datatype("FP32");
  y->add_shape(rows);
  y->add_shape(2);
  r.add_raw_output_contents(std::string(raw_bytes, '\0'));
  return r;
}

std::string Check(const inference::ModelInferResponse& r,
                  const std::vector<TensorSpec>& expected = Outputs()) {
  ResponseSummary summary;
  const absl::Status s = CheckGrpcInferResponse(r, expected, &summary);
  return s.ok() ? "ok" : std::string(s.message());
}

TEST(GrpcCodecTest, EncodesInputsAsRawContents) {
  RequestData data;
  data.inputs.push_back({"a", DataType::kFp32, {2, 3}, std::vector<uint8_t>(24, 'x')});
  data.inputs.push_back({"b", DataType::kInt64, {2}, std::vector<uint8_t>(16, 'y')});
  const inference::ModelInferRequest r = EncodeGrpcInferRequest(data, "m", "3");
  EXPECT_EQ(r.model_name(), "m");
  EXPECT_EQ(r.model_version(), "3");
  ASSERT_EQ(r.inputs_size(), 2);
  EXPECT_EQ(r.inputs(0).name(), "a");
  EXPECT_EQ(r.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(r.inputs(0).shape().begin(), r.inputs(0).shape().end()),
            (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(r.inputs(0).has_contents());
  EXPECT_EQ(r.inputs(1).datatype(), "INT64");
  ASSERT_EQ(r.raw_input_contents_size(), 2);
  EXPECT_EQ(r.raw_input_contents(0), std::string(24, 'x'));
  EXPECT_EQ(r.raw_input_contents(1), std::string(16, 'y'));
  EXPECT_EQ(r.outputs_size(), 0);  // the server returns every output
  EXPECT_TRUE(EncodeGrpcInferRequest(data, "m", "").model_version().empty());
}

TEST(GrpcCodecTest, AcceptsRawOutputsOfTheRightSize) {
  ResponseSummary summary;
  ASSERT_TRUE(CheckGrpcInferResponse(Response(3, 24), Outputs(), &summary).ok());
  EXPECT_EQ(summary.outputs, 1u);
  EXPECT_EQ(summary.elements, 6u);
  EXPECT_EQ(summary.binary_bytes, 24u);
  // No expectations: any well-formed output passes.
  EXPECT_EQ(Check(Response(3, 24), {}), "ok");
}

TEST(GrpcCodecTest, RejectsWrongRawSizes) {
  EXPECT_EQ(Check(Response(3, 20)),
            "response output 'y': 20 raw bytes but shape needs 6 x 4 = 24 bytes");
  inference::ModelInferResponse two_raw = Response(1, 8);
  two_raw.add_raw_output_contents("extra");
  EXPECT_EQ(Check(two_raw), "response has 1 outputs but 2 raw_output_contents");
}

TEST(GrpcCodecTest, RejectsOutputsThatDoNotMatchTheModel) {
  inference::ModelInferResponse wrong_type = Response(1, 8);
  wrong_type.mutable_outputs(0)->set_datatype("FP64");
  EXPECT_EQ(Check(wrong_type), "response output 'y' is FP64; the model's metadata says FP32");

  inference::ModelInferResponse unknown = Response(1, 8);
  unknown.mutable_outputs(0)->set_name("z");
  EXPECT_EQ(Check(unknown), "response has output 'z', not in the model's metadata");

  inference::ModelInferResponse none;
  EXPECT_EQ(Check(none), "response has no outputs");

  inference::ModelInferResponse twice = Response(1, 8);
  *twice.add_outputs() = twice.outputs(0);
  twice.add_raw_output_contents(std::string(8, '\0'));
  EXPECT_EQ(Check(twice), "response has output 'y' twice");

  inference::ModelInferResponse bad_dim = Response(1, 8);
  bad_dim.mutable_outputs(0)->set_shape(0, -1);
  EXPECT_EQ(Check(bad_dim), "response output 'y' has a bad shape dim -1");

  inference::ModelInferResponse bad_type = Response(1, 8);
  bad_type.mutable_outputs(0)->set_datatype("FLOAT");
  EXPECT_NE(Check(bad_type, {}).find("V2 datatype"), std::string::npos);
}

TEST(GrpcCodecTest, TypedContentsWhenNoRawContents) {
  inference::ModelInferResponse r = Response(2, 0);
  r.clear_raw_output_contents();
  for (int i = 0; i < 4; ++i) r.mutable_outputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  EXPECT_EQ(Check(r), "ok");
  r.mutable_outputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  EXPECT_EQ(Check(r), "response output 'y' has 5 elements; its shape needs 4");

  inference::ModelInferResponse half;
  auto* h = half.add_outputs();
  h->set_name("h");
  h->set_datatype("FP16");
  h->add_shape(1);
  EXPECT_NE(Check(half, {}).find("travels only as raw_output_contents"), std::string::npos);
}

TEST(GrpcCodecTest, RawBytesElementsAreLengthPrefixed) {
  inference::ModelInferResponse r;
  auto* s = r.add_outputs();
  s->set_name("s");
  s->set_datatype("BYTES");
  s->add_shape(2);
  // "ab" and "" as 4-byte little-endian lengths and bytes.
  r.add_raw_output_contents(
      std::string("\x02\x00\x00\x00"
                  "ab"
                  "\x00\x00\x00\x00",
                  10));
  EXPECT_EQ(Check(r, {}), "ok");
  r.set_raw_output_contents(0, std::string("\x02\x00\x00\x00"
                                           "ab",
                                           6));
  EXPECT_NE(Check(r, {}).find("are not 2 length-prefixed elements"), std::string::npos);
  r.set_raw_output_contents(0, std::string("\x09\x00\x00\x00"
                                           "ab"
                                           "\x00\x00\x00\x00",
                                           10));
  EXPECT_NE(Check(r, {}).find("length-prefixed"), std::string::npos);
}

TEST(GrpcCodecTest, SignatureFromMetadata) {
  inference::ModelMetadataResponse m;
  m.set_name("fashion");
  m.add_versions("1");
  m.set_platform("torchscript");
  auto* in = m.add_inputs();
  in->set_name("image");
  in->set_datatype("FP32");
  for (int64_t d : {-1, 1, 28, 28}) in->add_shape(d);
  auto* out = m.add_outputs();
  out->set_name("logits");
  out->set_datatype("FP32");
  out->add_shape(-1);
  out->add_shape(10);
  absl::StatusOr<ModelSignature> s = SignatureFromGrpc(m);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->inputs.size(), 1u);
  EXPECT_EQ(s->inputs[0].name, "image");
  EXPECT_EQ(s->inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(s->inputs[0].shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ(s->outputs.size(), 1u);
  EXPECT_EQ(s->outputs[0].name, "logits");
  EXPECT_EQ(s->outputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(s->outputs[0].shape, (std::vector<int64_t>{-1, 10}));

  in->set_datatype("float32");
  EXPECT_EQ(SignatureFromGrpc(m).status().code(), absl::StatusCode::kInvalidArgument);
  m.clear_inputs();
  EXPECT_EQ(SignatureFromGrpc(m).status().message(), "model metadata lists no inputs");
}

TEST(GrpcCodecTest, StatsSumTheModelsEntries) {
  inference::ModelStatisticsResponse r;
  for (const char* version : {"1", "2"}) {
    inference::ModelStatistics* s = r.add_model_stats();
    s->set_name("m");
    s->set_version(version);
    s->set_inference_count(10);
    s->set_execution_count(5);
    s->mutable_inference_stats()->mutable_success()->set_count(10);
    s->mutable_inference_stats()->mutable_queue()->set_count(10);
    s->mutable_inference_stats()->mutable_queue()->set_ns(1000);
    s->mutable_inference_stats()->mutable_compute_infer()->set_count(10);
    s->mutable_inference_stats()->mutable_compute_infer()->set_ns(7000);
  }
  r.add_model_stats()->set_name("other");
  absl::StatusOr<ModelStats> all = StatsFromGrpc(r, "m", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->inference_count, 20u);
  EXPECT_EQ(all->execution_count, 10u);
  EXPECT_EQ(all->queue_ns, 2000u);
  EXPECT_EQ(all->compute_infer_ns, 14000u);
  absl::StatusOr<ModelStats> v2 = StatsFromGrpc(r, "m", "2");
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->success_count, 10u);
  EXPECT_EQ(StatsFromGrpc(r, "nope", "").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry::loadgen
