// Tests of the small pure pieces: model metadata, shapes, the request pool, element
// conversion, URLs and server statistics.
#include "loadgen/workload.h"

#include <cstring>

#include "core/float16.h"
#include "gtest/gtest.h"
#include "loadgen/elements.h"
#include "loadgen/stats.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {
namespace {

constexpr char kFashionMetadata[] =
    R"({"name":"fashion_cnn","versions":["1"],"platform":"pytorch_torchscript",)"
    R"("inputs":[{"name":"image","datatype":"FP32","shape":[-1,1,28,28]}],)"
    R"("outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]}]})";

TEST(ModelMetadataTest, ParsesSignature) {
  absl::StatusOr<ModelSignature> s = ParseModelMetadata(kFashionMetadata);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->inputs.size(), 1u);
  EXPECT_EQ(s->inputs[0].name, "image");
  EXPECT_EQ(s->inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(s->inputs[0].shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ(s->outputs.size(), 1u);
  EXPECT_EQ(s->outputs[0].name, "logits");
  EXPECT_EQ(s->outputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(s->outputs[0].shape, (std::vector<int64_t>{-1, 10}));
}

TEST(ModelMetadataTest, RejectsWhatCannotBeBenchmarked) {
  EXPECT_FALSE(ParseModelMetadata("{").ok());
  EXPECT_FALSE(ParseModelMetadata(R"({"name":"m","inputs":[]})").ok());
  EXPECT_FALSE(
      ParseModelMetadata(R"({"inputs":[{"name":"x","datatype":"FP8","shape":[1]}]})").ok());
  // Datatype names are case-sensitive, as the protocol spells them.
  EXPECT_FALSE(
      ParseModelMetadata(R"({"inputs":[{"name":"x","datatype":"fp32","shape":[1]}]})").ok());
  EXPECT_FALSE(ParseModelMetadata(R"({"inputs":[{"name":"x","datatype":"FP32"}]})").ok());
  EXPECT_FALSE(
      ParseModelMetadata(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1.5]}]})").ok());
}

TEST(ResolveShapeTest, BatchDimAndOverrides) {
  const TensorSpec image{"image", DataType::kFp32, {-1, 1, 28, 28}};
  EXPECT_EQ(*ResolveShape(image, 8, nullptr), (std::vector<int64_t>{8, 1, 28, 28}));
  const TensorSpec text{"text", DataType::kInt64, {-1, -1}};
  EXPECT_EQ(*ResolveShape(text, 2, nullptr), (std::vector<int64_t>{2, 1}));
  const std::vector<int64_t> without_batch{128};
  EXPECT_EQ(*ResolveShape(text, 2, &without_batch), (std::vector<int64_t>{2, 128}));
  const std::vector<int64_t> full{-1, 64};
  EXPECT_EQ(*ResolveShape(text, 4, &full), (std::vector<int64_t>{4, 64}));
  const std::vector<int64_t> against_fixed{1, 14, 28};
  EXPECT_FALSE(ResolveShape(image, 1, &against_fixed).ok());
  const std::vector<int64_t> wrong_rank{1};
  EXPECT_FALSE(ResolveShape(image, 1, &wrong_rank).ok());
  const TensorSpec fixed{"x", DataType::kFp32, {3, 4}};
  EXPECT_EQ(*ResolveShape(fixed, 1, nullptr), (std::vector<int64_t>{3, 4}));
  EXPECT_FALSE(ResolveShape(fixed, 2, nullptr).ok());  // no batch dim to put 2 in
}

TEST(ShapeOverrideTest, Parses) {
  auto parsed = ParseShapeOverride("image:1,28,28");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->first, "image");
  EXPECT_EQ(parsed->second, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_FALSE(ParseShapeOverride("image").ok());
  EXPECT_FALSE(ParseShapeOverride("image:1,x").ok());
  EXPECT_FALSE(ParseShapeOverride(":1").ok());
}

TEST(BuildWorkloadTest, ImagesFillTheInputAsFp32CyclingThroughRows) {
  IdxArray images;
  images.type = 0x08;
  images.dims = {3, 28, 28};
  for (int i = 0; i < 3 * 784; ++i) images.data.push_back(static_cast<char>(i / 784 * 100 + 1));
  WorkloadOptions options;
  options.batch = 2;
  options.data = &images;
  absl::StatusOr<Workload> w = BuildWorkload(*ParseModelMetadata(kFashionMetadata), options);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 2u);  // ceil(3 images / batch 2)
  const Tensor& second = w->requests[1].inputs[0];
  EXPECT_EQ(second.shape, (std::vector<int64_t>{2, 1, 28, 28}));
  ASSERT_EQ(second.data.size(), 2u * 784 * 4);
  float first_pixel, last_pixel;
  std::memcpy(&first_pixel, second.data.data(), 4);                          // image 2
  std::memcpy(&last_pixel, second.data.data() + second.data.size() - 4, 4);  // image 0 again
  EXPECT_EQ(first_pixel, 201.0f);
  EXPECT_EQ(last_pixel, 1.0f);
}

TEST(BuildWorkloadTest, RandomInputsFollowEveryInputsSignature) {
  ModelSignature simple;
  simple.inputs = {{"INPUT0", DataType::kInt32, {-1, 16}}, {"INPUT1", DataType::kInt32, {-1, 16}}};
  WorkloadOptions options;
  options.pool_size = 5;
  absl::StatusOr<Workload> w = BuildWorkload(simple, options);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->requests.size(), 5u);
  for (const RequestData& r : w->requests) {
    ASSERT_EQ(r.inputs.size(), 2u);
    EXPECT_EQ(r.inputs[1].name, "INPUT1");
    EXPECT_EQ(r.inputs[1].dtype, DataType::kInt32);
    EXPECT_EQ(r.inputs[1].shape, (std::vector<int64_t>{1, 16}));
    EXPECT_EQ(r.inputs[1].data.size(), 64u);
  }
  EXPECT_NE(w->requests[0].inputs[0].data, w->requests[1].inputs[0].data);
  // Same seed, same pool.
  EXPECT_EQ(BuildWorkload(simple, options)->requests[3].inputs[0].data,
            w->requests[3].inputs[0].data);
}

// The pool's tensors are what the server will check them against: exactly the bytes their
// shape and datatype call for, length-prefixed BYTES elements included.
TEST(BuildWorkloadTest, EveryDatatypeGivesTensorsOfTheirExactByteSize) {
  ModelSignature signature;
  for (DataType type :
       {DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
        DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64, DataType::kFp16,
        DataType::kBf16, DataType::kFp32, DataType::kFp64, DataType::kBytes}) {
    signature.inputs.push_back({std::string(DataTypeName(type)), type, {-1, 3}});
  }
  WorkloadOptions options;
  options.batch = 2;
  options.pool_size = 3;
  absl::StatusOr<Workload> w = BuildWorkload(signature, options);
  ASSERT_TRUE(w.ok()) << w.status();
  for (const RequestData& r : w->requests) {
    ASSERT_EQ(r.inputs.size(), signature.inputs.size());
    for (const Tensor& t : r.inputs) {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3})) << t.name;
      EXPECT_TRUE(CheckByteSize(t).ok()) << CheckByteSize(t);
    }
  }
}

TEST(BuildWorkloadTest, MismatchesAreExplained) {
  IdxArray images;
  images.type = 0x08;
  images.dims = {1, 10};
  images.data.assign(10, '\0');
  WorkloadOptions options;
  options.data = &images;
  absl::StatusOr<Workload> w = BuildWorkload(*ParseModelMetadata(kFashionMetadata), options);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("10 elements"), absl::string_view::npos) << w.status();
  options.data = nullptr;
  options.shape_overrides["nope"] = {1};
  EXPECT_FALSE(BuildWorkload(*ParseModelMetadata(kFashionMetadata), options).ok());
  options.shape_overrides.clear();
  options.batch = 0;
  EXPECT_FALSE(BuildWorkload(*ParseModelMetadata(kFashionMetadata), options).ok());
}

TEST(BuildWorkloadTest, PoolIsCappedByMemory) {
  WorkloadOptions options;
  options.pool_size = 1000;
  options.max_pool_bytes = 10 * 784 * 4;
  EXPECT_EQ(BuildWorkload(*ParseModelMetadata(kFashionMetadata), options)->requests.size(), 10u);
}

TEST(ElementsTest, NumbersRoundTripThroughEveryNumericDatatype) {
  for (DataType type : {DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
                        DataType::kInt8, DataType::kInt16, DataType::kInt32, DataType::kInt64,
                        DataType::kFp16, DataType::kBf16, DataType::kFp32, DataType::kFp64}) {
    std::vector<uint8_t> bytes;
    AppendNumber(type, 100, &bytes);
    AppendNumber(type, 3, &bytes);
    ASSERT_EQ(bytes.size(), 2 * DataTypeByteSize(type)) << DataTypeName(type);
    EXPECT_EQ(ReadNumber(type, bytes.data()), 100) << DataTypeName(type);
    EXPECT_EQ(ReadNumber(type, bytes.data() + DataTypeByteSize(type)), 3) << DataTypeName(type);
  }
  std::vector<uint8_t> bytes;
  AppendNumber(DataType::kInt16, -300, &bytes);
  EXPECT_EQ(bytes, (std::vector<uint8_t>{0xD4, 0xFE}));  // little-endian two's complement
  bytes.clear();
  AppendNumber(DataType::kBool, 5, &bytes);
  EXPECT_EQ(bytes, std::vector<uint8_t>{1});
  bytes.clear();
  // 16-bit floats round to nearest even, the way core converts them.
  AppendNumber(DataType::kFp16, 0.1, &bytes);
  EXPECT_EQ(ReadNumber(DataType::kFp16, bytes.data()), HalfToFloat(FloatToHalf(0.1f)));
  EXPECT_NE(ReadNumber(DataType::kFp16, bytes.data()), 0.1f);
}

TEST(ParseUrlTest, Forms) {
  auto e = ParseUrl("http://127.0.0.1:8000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, "8000");
  EXPECT_EQ(ParseUrl("localhost:9")->port, "9");
  EXPECT_EQ(ParseUrl("http://example.com/")->port, "80");
  EXPECT_EQ(ParseUrl("http://[::1]:8000")->host, "::1");
  EXPECT_FALSE(ParseUrl("https://x:1").ok());
  EXPECT_FALSE(ParseUrl("http://x:1/v2").ok());
  EXPECT_FALSE(ParseUrl("http://x:99999").ok());
  EXPECT_FALSE(ParseUrl("").ok());
}

TEST(ProtocolTest, GrpcIsBuiltAndChecksItsOptions) {
  TransportOptions options;
  options.protocol = *ParseProtocol("grpc");
  EXPECT_EQ(ProtocolName(options.protocol), "grpc");
  EXPECT_TRUE(CreateControlClient(options).ok());
  EXPECT_TRUE(CreateTransportFactory(options, Workload{}).ok());
  options.max_connections = 0;
  EXPECT_EQ(CreateTransportFactory(options, Workload{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.max_connections = 1;
  options.timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(CreateTransportFactory(options, Workload{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseProtocol("http").ok());
}

TEST(ProtocolTest, RpcCodeNames) {
  EXPECT_EQ(RpcCodeName(0), "OK");
  EXPECT_EQ(RpcCodeName(5), "NOT_FOUND");
  EXPECT_EQ(RpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(RpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(RpcCodeName(17), "code 17");
  EXPECT_EQ(RpcCodeName(-1), "code -1");
}

constexpr char kStats[] = R"({"model_stats":[
  {"name":"m","version":"1","inference_count":40,"execution_count":10,
   "inference_stats":{"success":{"count":20,"ns":2000000},"fail":{"count":0,"ns":0},
     "queue":{"count":20,"ns":400000},"compute_infer":{"count":20,"ns":1000000}}},
  {"name":"m","version":"2","inference_count":2,"execution_count":2,
   "inference_stats":{"queue":{"count":2,"ns":0}}},
  {"name":"other","inference_count":999}]})";

TEST(ModelStatsTest, ParsesAndSumsMatchingVersions) {
  absl::StatusOr<ModelStats> all = ParseModelStats(kStats, "m", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->inference_count, 42u);
  EXPECT_EQ(all->queue_count, 22u);
  absl::StatusOr<ModelStats> v1 = ParseModelStats(kStats, "m", "1");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->inference_count, 40u);
  EXPECT_EQ(v1->compute_infer_ns, 1000000u);
  EXPECT_FALSE(ParseModelStats(kStats, "absent", "").ok());
  EXPECT_FALSE(ParseModelStats(R"({"error":"x"})", "m", "").ok());
}

TEST(ModelStatsTest, SplitIsPerRequestAverages) {
  ModelStats before;
  ModelStats after = *ParseModelStats(kStats, "m", "1");
  std::optional<ServerSplit> split = ComputeServerSplit(before, after);
  ASSERT_TRUE(split.has_value());
  EXPECT_DOUBLE_EQ(split->queue_us, 20.0);    // 400000 ns / 20
  EXPECT_DOUBLE_EQ(split->compute_us, 50.0);  // 1000000 ns / 20
  EXPECT_DOUBLE_EQ(split->avg_batch, 4.0);    // 40 / 10
  EXPECT_EQ(split->requests, 20u);
  EXPECT_FALSE(ComputeServerSplit(after, after).has_value());
}

}  // namespace
}  // namespace ferry::loadgen
