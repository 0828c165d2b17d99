// grpc_round_trip: the latency floor of one gRPC call at a time against a running
// `ferry serve`, from a synchronous C++ client (no load generator around it).
//
//   build/grpc_round_trip [--target 127.0.0.1:8001] [--calls 20000]
//
// Prints p50/p90/p99 in µs of three calls, each repeated `calls` times after a tenth as
// many warm-up calls: ServerLive (gRPC's own round trip), ModelInfer on `simple` (a few
// µs of compute) and ModelInfer on `fashion_cnn` with a zero image.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "inference.grpc.pb.h"

namespace {

using Call = std::function<grpc::Status(grpc::ClientContext*)>;

// Runs `call` warmup + calls times; prints its percentiles, or the first error.
bool Measure(const char* name, int calls, const Call& call) {
  std::vector<double> us;
  us.reserve(calls);
  const int warmup = std::max(calls / 10, 1);
  for (int i = 0; i < warmup + calls; ++i) {
    grpc::ClientContext ctx;
    const auto t0 = std::chrono::steady_clock::now();
    const grpc::Status status = call(&ctx);
    const auto t1 = std::chrono::steady_clock::now();
    if (!status.ok()) {
      std::fprintf(stderr, "grpc_round_trip: %s: %s\n", name, status.error_message().c_str());
      return false;
    }
    if (i >= warmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<size_t>(q * (us.size() - 1))]; };
  std::printf("%-22s p50 %6.0f  p90 %6.0f  p99 %6.0f us  (%d calls)\n", name, at(0.5), at(0.9),
              at(0.99), calls);
  return true;
}

inference::ModelInferRequest Request(const std::string& model,
                                     const std::vector<std::pair<std::string, std::vector<int64_t>>>& inputs,
                                     const std::string& datatype, size_t element_bytes) {
  inference::ModelInferRequest req;
  req.set_model_name(model);
  for (const auto& [name, shape] : inputs) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype(datatype);
    size_t elements = 1;
    for (int64_t d : shape) {
      in->add_shape(d);
      elements *= static_cast<size_t>(d);
    }
    req.add_raw_input_contents(std::string(elements * element_bytes, '\0'));
  }
  return req;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One gRPC call at a time against ferry serve: ServerLive and ModelInfer latency"};
  std::string target = "127.0.0.1:8001";
  int calls = 20000;
  app.add_option("--target", target, "HOST:PORT of the gRPC port")->capture_default_str();
  app.add_option("--calls", calls, "measured calls of each kind")
      ->check(CLI::Range(10, 10000000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  const inference::ModelInferRequest simple =
      Request("simple", {{"INPUT0", {1, 16}}, {"INPUT1", {1, 16}}}, "INT32", 4);
  const inference::ModelInferRequest cnn = Request("fashion_cnn", {{"image", {1, 1, 28, 28}}}, "FP32", 4);
  const bool ok =
      Measure("ServerLive", calls, [&](grpc::ClientContext* ctx) {
        inference::ServerLiveResponse r;
        return stub->ServerLive(ctx, inference::ServerLiveRequest(), &r);
      }) &&
      Measure("ModelInfer simple", calls, [&](grpc::ClientContext* ctx) {
        inference::ModelInferResponse r;
        return stub->ModelInfer(ctx, simple, &r);
      }) &&
      Measure("ModelInfer fashion_cnn", calls, [&](grpc::ClientContext* ctx) {
        inference::ModelInferResponse r;
        return stub->ModelInfer(ctx, cnn, &r);
      });
  return ok ? 0 : 1;
}
