// The per-request cost of the V2 gRPC codec on the server: parsing a ModelInferRequest
// that carries one Fashion-MNIST image as raw_input_contents and decoding it into Ferry's
// request, then encoding the logits into a ModelInferResponse and serializing it. The
// parse and serialize steps are what gRPC's generated code does around every call.
#include <random>
#include <string>
#include <vector>

#include "api/grpc/tensor_codec.h"
#include "benchmark/benchmark.h"
#include "inference.pb.h"

namespace ferry {
namespace {

std::string SerializedImageRequest() {
  inference::ModelInferRequest request;
  request.set_model_name("fashion_cnn");
  request.set_id("bench");
  auto* input = request.add_inputs();
  input->set_name("image");
  input->set_datatype("FP32");
  for (int64_t d : {1, 1, 28, 28}) input->add_shape(d);
  std::mt19937 rng(7);
  std::vector<float> pixels(784);
  for (float& p : pixels) p = static_cast<float>(rng() % 256);
  request.add_raw_input_contents(std::string(reinterpret_cast<const char*>(pixels.data()),
                                             pixels.size() * sizeof(float)));
  return request.SerializeAsString();
}

void BM_GrpcParseAndDecodeImage784(benchmark::State& state) {
  const std::string wire = SerializedImageRequest();
  inference::ModelInferRequest message;
  for (auto _ : state) {
    if (!message.ParseFromString(wire)) state.SkipWithError("parse failed");
    absl::StatusOr<InferRequest> request = grpc_api::DecodeInferRequest(message);
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_GrpcParseAndDecodeImage784);

void BM_GrpcEncodeAndSerializeLogits10(benchmark::State& state) {
  InferResponse response;
  response.model_name = "fashion_cnn";
  response.model_version = "1";
  response.id = "bench";
  Tensor logits;
  logits.name = "logits";
  logits.dtype = DataType::kFp32;
  logits.shape = {1, 10};
  logits.data.resize(10 * sizeof(float));
  response.outputs.push_back(std::move(logits));
  std::string wire;
  for (auto _ : state) {
    inference::ModelInferResponse message;
    grpc_api::EncodeInferResponse(response, &message);
    message.SerializeToString(&wire);
    benchmark::DoNotOptimize(wire);
  }
}
BENCHMARK(BM_GrpcEncodeAndSerializeLogits10);

}  // namespace
}  // namespace ferry

BENCHMARK_MAIN();
