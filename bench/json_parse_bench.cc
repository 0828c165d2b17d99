// Ferry's infer-request decoder against simdjson's On Demand API on the same request
// bodies codec_bench decodes (bench/codec_bodies.h). The question is DESIGN.md's: would
// simdjson (libsimdjson-dev, 3.0.1 in Debian 12) make the decoder faster? The simdjson side
// does the least a decoder must: it reads id, name, datatype, shape and data into a Tensor
// and checks only types; Ferry's also checks shape against element count, nesting, limits
// and every error path. So the gap it shows is the most simdjson could save.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "api/http/binary_framing.h"
#include "benchmark/benchmark.h"
#include "codec_bodies.h"
#include "core/infer.h"
#include "simdjson.h"

namespace ferry {
namespace {

namespace od = simdjson::ondemand;

// Appends each number of `data` as an FP32 element.
simdjson::error_code ReadFloats(od::array data, std::vector<uint8_t>& out) {
  std::vector<float> floats;
  floats.reserve(784);
  for (simdjson::simdjson_result<od::value> element : data) {
    double d;
    if (auto error = element.get_double().get(d)) return error;
    floats.push_back(static_cast<float>(d));
  }
  const size_t at = out.size();
  out.resize(at + floats.size() * sizeof(float));
  std::memcpy(out.data() + at, floats.data(), floats.size() * sizeof(float));
  return simdjson::SUCCESS;
}

simdjson::error_code ReadInput(od::object input, Tensor& t) {
  for (simdjson::simdjson_result<od::field> field : input) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    od::value value;
    if (auto error = field.value().get(value)) return error;
    if (key == "name") {
      std::string_view name;
      if (auto error = value.get_string().get(name)) return error;
      t.name.assign(name);
    } else if (key == "datatype") {
      std::string_view datatype;
      if (auto error = value.get_string().get(datatype)) return error;
      t.dtype = ParseDataType(absl::string_view(datatype.data(), datatype.size()));
      if (t.dtype != DataType::kFp32) return simdjson::INCORRECT_TYPE;  // enough for this body
    } else if (key == "shape") {
      for (simdjson::simdjson_result<od::value> dim : value.get_array()) {
        int64_t n;
        if (auto error = dim.get_int64().get(n)) return error;
        t.shape.push_back(n);
      }
    } else if (key == "data") {
      od::array data;
      if (auto error = value.get_array().get(data)) return error;
      if (auto error = ReadFloats(data, t.data)) return error;
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code DecodeWithSimdjson(od::parser& parser, simdjson::padded_string_view body,
                                        InferRequest& request) {
  od::document doc;
  if (auto error = parser.iterate(body).get(doc)) return error;
  od::object top;
  if (auto error = doc.get_object().get(top)) return error;
  for (simdjson::simdjson_result<od::field> field : top) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return error;
    if (key == "id") {
      std::string_view id;
      if (auto error = field.value().get_string().get(id)) return error;
      request.id.assign(id);
    } else if (key == "inputs") {
      for (simdjson::simdjson_result<od::value> input : field.value().get_array()) {
        od::object object;
        if (auto error = input.get_object().get(object)) return error;
        request.inputs.emplace_back();
        if (auto error = ReadInput(object, request.inputs.back())) return error;
      }
    }
  }
  return simdjson::SUCCESS;
}

void Ferry(benchmark::State& state, const std::string& body) {
  for (auto _ : state) {
    absl::StatusOr<RestInferRequest> request = DecodeRestInferRequest(body, body.size());
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

void Simdjson(benchmark::State& state, std::string body) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end. A server would reserve that
  // in its body buffer once, so the padding is not copied per request here either.
  const size_t size = body.size();
  body.reserve(size + simdjson::SIMDJSON_PADDING);
  od::parser parser;  // reused, as a server thread would
  for (auto _ : state) {
    InferRequest request;
    const simdjson::error_code error =
        DecodeWithSimdjson(parser, simdjson::padded_string_view(body.data(), size, body.capacity()),
                           request);
    if (error) state.SkipWithError(simdjson::error_message(error));
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

void BM_FerryImage784(benchmark::State& state) { Ferry(state, bench_bodies::ImageRequest()); }
BENCHMARK(BM_FerryImage784);
void BM_SimdjsonImage784(benchmark::State& state) {
  Simdjson(state, bench_bodies::ImageRequest());
}
BENCHMARK(BM_SimdjsonImage784);
void BM_FerryImage784Normalized(benchmark::State& state) {
  Ferry(state, bench_bodies::NormalizedImageRequest());
}
BENCHMARK(BM_FerryImage784Normalized);
void BM_SimdjsonImage784Normalized(benchmark::State& state) {
  Simdjson(state, bench_bodies::NormalizedImageRequest());
}
BENCHMARK(BM_SimdjsonImage784Normalized);

// Both decoders must produce the same tensor, or the comparison means nothing.
void CheckSameTensor(const std::string& body) {
  absl::StatusOr<RestInferRequest> ferry = DecodeRestInferRequest(body, body.size());
  std::string padded = body;
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  od::parser parser;
  InferRequest other;
  const simdjson::error_code error = DecodeWithSimdjson(
      parser, simdjson::padded_string_view(padded.data(), body.size(), padded.capacity()), other);
  if (!ferry.ok() || error || ferry->request.inputs.size() != 1 || other.inputs.size() != 1 ||
      ferry->request.inputs[0].data != other.inputs[0].data ||
      ferry->request.inputs[0].shape != other.inputs[0].shape) {
    std::fprintf(stderr, "json_parse_bench: the decoders disagree on a body\n");
    std::exit(1);
  }
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  std::printf("simdjson On Demand kernel: %s\n", SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION));
  ferry::CheckSameTensor(ferry::bench_bodies::ImageRequest());
  ferry::CheckSameTensor(ferry::bench_bodies::NormalizedImageRequest());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
