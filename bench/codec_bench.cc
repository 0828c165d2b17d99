// The per-request cost of the V2 REST codecs: decoding one Fashion-MNIST sized image and
// encoding the logits that come back, alone and as a batch of 64, in JSON and with the
// binary tensor data extension (JSON header + raw bytes).
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/http/binary_framing.h"
#include "api/http/json_codec.h"
#include "api/http/request_handler.h"
#include "benchmark/benchmark.h"
#include "codec_bodies.h"
#include "core/classification.h"

namespace ferry {
namespace {

// A response from fashion_mnist with the one output `t`.
InferResponse ResponseWith(Tensor t) {
  InferResponse response;
  response.model_name = "fashion_mnist";
  response.model_version = "1";
  response.id = "bench";
  response.outputs.push_back(std::move(t));
  return response;
}

InferResponse LogitsResponse(int rows) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> logits(static_cast<size_t>(rows) * 10);
  for (float& v : logits) v = normal(rng);
  Tensor t;
  t.name = "logits";
  t.dtype = DataType::kFp32;
  t.shape = {rows, 10};
  t.data.resize(logits.size() * sizeof(float));
  std::memcpy(t.data.data(), logits.data(), t.data.size());
  return ResponseWith(std::move(t));
}

// A BYTES output of 64 classification labels ("<score>:<index>:<label>", as the
// classification extension writes them): plain ASCII text, so encoding it measures the
// string escaper rather than float formatting.
InferResponse LabelsResponse() {
  static const char* const kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::mt19937 rng(13);
  Tensor t;
  t.name = "labels";
  t.dtype = DataType::kBytes;
  t.shape = {64, 1};
  for (int i = 0; i < 64; ++i) {
    const int label = static_cast<int>(rng() % 10);
    AppendBytesElement(absl::StrCat(0.5 + (rng() % 500) / 1000.0, ":", label, ":", kNames[label]),
                       t.data);
  }
  return ResponseWith(std::move(t));
}

void Decode(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    absl::StatusOr<InferRequest> request = DecodeInferRequest(body);
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void BM_DecodeImage784(benchmark::State& state) { Decode(state, bench_bodies::ImageRequest()); }
BENCHMARK(BM_DecodeImage784);

// The same without the scanner that converts "data" numbers ahead of the JSON parser
// (api/http/number_scanner.h): the general path, for comparison.
void BM_DecodeImage784GeneralPath(benchmark::State& state) {
  const std::string body = bench_bodies::ImageRequest();
  for (auto _ : state) {
    absl::StatusOr<RestInferRequest> request =
        json_decode::DecodeInferHeaderWith(body, {}, /*scan_numbers=*/false);
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_DecodeImage784GeneralPath);

void BM_DecodeImage784Normalized(benchmark::State& state) {
  Decode(state, bench_bodies::NormalizedImageRequest());
}
BENCHMARK(BM_DecodeImage784Normalized);

void Encode(benchmark::State& state, const InferResponse& response) {
  size_t bytes = 0;
  for (auto _ : state) {
    std::string body = EncodeInferResponse(response);
    bytes = body.size();
    benchmark::DoNotOptimize(body);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_EncodeLogits10(benchmark::State& state) { Encode(state, LogitsResponse(1)); }
BENCHMARK(BM_EncodeLogits10);

void BM_EncodeLogits64x10(benchmark::State& state) { Encode(state, LogitsResponse(64)); }
BENCHMARK(BM_EncodeLogits64x10);

void BM_EncodeLabels64(benchmark::State& state) { Encode(state, LabelsResponse()); }
BENCHMARK(BM_EncodeLabels64);

// The same image with the binary extension: a JSON header naming the input's
// binary_data_size, then the 784 floats as raw little-endian bytes.
void BM_DecodeBinaryImage784(benchmark::State& state) {
  const std::string header =
      R"({"id":"bench","inputs":[{"name":"image","shape":[1,1,28,28],"datatype":"FP32",)"
      R"("parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}})";
  std::mt19937 rng(7);
  std::vector<float> pixels(784);
  for (float& p : pixels) p = static_cast<float>(rng() % 256);
  std::string body = header;
  body.append(reinterpret_cast<const char*>(pixels.data()), pixels.size() * sizeof(float));
  for (auto _ : state) {
    absl::StatusOr<RestInferRequest> request = DecodeRestInferRequest(body, header.size());
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_DecodeBinaryImage784);

void BM_EncodeLogits10Binary(benchmark::State& state) {
  const InferResponse response = LogitsResponse(1);
  const std::vector<bool> binary = {true};
  size_t bytes = 0;
  for (auto _ : state) {
    EncodedInferResponse encoded = EncodeInferResponse(response, binary);
    bytes = encoded.body.size();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_EncodeLogits10Binary);

}  // namespace
}  // namespace ferry

BENCHMARK_MAIN();
