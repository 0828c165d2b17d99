// The gRPC transport and the runner against a fake GRPCInferenceService in the same
// process (a real gRPC server on a loopback port). The fake checks what it is sent
// (raw_input_contents sizes against the shapes) and can answer with errors, wrong sizes or
// late, so these tests pin down the request encoding as well as the accounting.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio.hpp"
#include "gtest/gtest.h"
#include "inference.grpc.pb.h"
#include "loadgen/runner.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {
namespace {

using inference::GRPCInferenceService;

// Model "m": input x FP32 [-1,4], output y FP32 [-1,2].
struct FakeBehavior {
  grpc::StatusCode status = grpc::StatusCode::OK;  // for ModelInfer
  int delay_ms = 0;                                // before answering ModelInfer
  bool short_output = false;                       // 4 raw bytes fewer than the shape needs
  bool stats = true;                               // UNIMPLEMENTED statistics when false
};

class FakeService final : public GRPCInferenceService::Service {
 public:
  explicit FakeService(FakeBehavior behavior) : behavior_(behavior) {}

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (request->name() != "m") return {grpc::StatusCode::NOT_FOUND, "unknown model"};
    response->set_name("m");
    response->add_versions("1");
    response->set_platform("fake");
    auto* x = response->add_inputs();
    x->set_name("x");
    x->set_datatype("FP32");
    x->add_shape(-1);
    x->add_shape(4);
    auto* y = response->add_outputs();
    y->set_name("y");
    y->set_datatype("FP32");
    y->add_shape(-1);
    y->add_shape(2);
    return grpc::Status::OK;
  }

  grpc::Status ModelStatistics(grpc::ServerContext*, const inference::ModelStatisticsRequest*,
                               inference::ModelStatisticsResponse* response) override {
    if (!behavior_.stats) return {grpc::StatusCode::UNIMPLEMENTED, "no statistics"};
    const uint64_t n = infers_.load();
    inference::ModelStatistics* s = response->add_model_stats();
    s->set_name("m");
    s->set_version("1");
    s->set_inference_count(2 * n);
    s->set_execution_count(n);
    s->mutable_inference_stats()->mutable_success()->set_count(n);
    s->mutable_inference_stats()->mutable_queue()->set_count(n);
    s->mutable_inference_stats()->mutable_queue()->set_ns(n * 1000);
    s->mutable_inference_stats()->mutable_compute_infer()->set_count(n);
    s->mutable_inference_stats()->mutable_compute_infer()->set_ns(n * 5000);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    {
      absl::MutexLock lock(&mutex_);
      peers_.insert(context->peer());
    }
    if (behavior_.delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(behavior_.delay_ms));
    }
    grpc::Status status = Answer(*request, response);
    --in_flight_;
    return status;
  }

  int infers() const { return static_cast<int>(infers_.load()); }
  int bad_requests() const { return bad_requests_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::set<std::string> peers() {
    absl::MutexLock lock(&mutex_);
    return peers_;
  }

 private:
  grpc::Status Answer(const inference::ModelInferRequest& request,
                      inference::ModelInferResponse* response) {
    if (behavior_.status != grpc::StatusCode::OK) return {behavior_.status, "fake says no"};
    const bool good = request.model_name() == "m" && request.inputs_size() == 1 &&
                      request.raw_input_contents_size() == 1 && request.inputs(0).name() == "x" &&
                      request.inputs(0).datatype() == "FP32" &&
                      request.inputs(0).shape_size() == 2 && request.inputs(0).shape(1) == 4 &&
                      !request.inputs(0).has_contents();
    const int64_t batch = good ? request.inputs(0).shape(0) : 0;
    if (batch < 1 || static_cast<int64_t>(request.raw_input_contents(0).size()) != batch * 4 * 4) {
      ++bad_requests_;
      return {grpc::StatusCode::INVALID_ARGUMENT, "bad request"};
    }
    ++infers_;
    response->set_model_name("m");
    response->set_model_version("1");
    auto* y = response->add_outputs();
    y->set_name("y");
    y->set_datatype("FP32");
    y->add_shape(batch);
    y->add_shape(2);
    const size_t bytes = static_cast<size_t>(batch * 2 * 4) - (behavior_.short_output ? 4 : 0);
    response->add_raw_output_contents(std::string(bytes, '\0'));
    return grpc::Status::OK;
  }

  FakeBehavior behavior_;
  std::atomic<uint64_t> infers_{0};
  std::atomic<int> bad_requests_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  absl::Mutex mutex_;
  std::set<std::string> peers_ ABSL_GUARDED_BY(mutex_);
};

class FakeServer {
 public:
  explicit FakeServer(FakeBehavior behavior) : service_(behavior) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(std::chrono::system_clock::now()); }

  Endpoint endpoint() const { return {"127.0.0.1", std::to_string(port_)}; }
  FakeService& service() { return service_; }

 private:
  FakeService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

struct Client {
  std::unique_ptr<ControlClient> control;
  std::unique_ptr<TransportFactory> factory;
};

Client Connect(const Endpoint& endpoint, int batch = 1, int timeout_ms = 5000,
               size_t max_connections = 256) {
  TransportOptions options;
  options.protocol = Protocol::kGrpc;
  options.endpoint = endpoint;
  options.model = "m";
  options.timeout = std::chrono::milliseconds(timeout_ms);
  options.max_connections = max_connections;
  Client client;
  client.control = *CreateControlClient(options);
  absl::StatusOr<ModelSignature> signature = client.control->GetModelMetadata();
  EXPECT_TRUE(signature.ok()) << signature.status();
  if (!signature.ok()) return client;
  WorkloadOptions workload_options;
  workload_options.batch = batch;
  workload_options.pool_size = 8;
  absl::StatusOr<Workload> workload = BuildWorkload(*signature, workload_options);
  EXPECT_TRUE(workload.ok()) << workload.status();
  absl::StatusOr<std::unique_ptr<TransportFactory>> factory =
      CreateTransportFactory(options, *workload);
  EXPECT_TRUE(factory.ok()) << factory.status();
  client.factory = std::move(*factory);
  return client;
}

Measurement Drive(Client& client, LoadPoint point, uint64_t requests, int threads = 1,
                  double warmup_seconds = 0.05) {
  RunnerOptions options;
  options.threads = threads;
  options.warmup_seconds = warmup_seconds;
  options.requests = requests;
  auto runner = LoadRunner::Create(options, client.factory.get(), client.control.get());
  EXPECT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<Measurement> m = (*runner)->Measure(point);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

std::string FirstError(const Measurement& m) {
  return m.errors.examples.empty() ? "" : m.errors.examples[0];
}

TEST(GrpcTransportTest, ClosedLoopCountsEveryRequest) {
  FakeServer server({});
  Client client = Connect(server.endpoint());
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 3}, 1000, 1, /*warmup=*/0);
  EXPECT_EQ(m.requests, 1000u);
  EXPECT_EQ(m.ok, 1000u) << FirstError(m);
  EXPECT_EQ(m.errors.total(), 0u);
  EXPECT_EQ(m.latency_ns.count(), 1000u);
  EXPECT_GT(m.latency_ns.Percentile(50), 0u);
  EXPECT_GT(m.throughput_rps, 0);
  // The server saw the measured requests (and the few of the runner's start-up slack),
  // all well-formed.
  EXPECT_GE(server.service().infers(), 1000);
  EXPECT_LE(server.service().infers(), 1100);
  EXPECT_EQ(server.service().bad_requests(), 0);
  EXPECT_EQ(m.bytes_sent, 1000 * client.factory->mean_request_bytes());
  // Each response carries 1 x 2 FP32 = 8 raw bytes plus its header fields.
  EXPECT_GT(m.bytes_received, 1000u * 8);
  ASSERT_TRUE(m.server.has_value()) << m.server_note;
  // The statistics that open the window are read while requests are already in flight,
  // so a busy machine shifts a few dozen either way (the run is long enough for that to
  // stay small against it).
  EXPECT_NEAR(static_cast<double>(m.server->requests), 1000, 100);
  EXPECT_NEAR(m.server->queue_us, 1.0, 1e-9);
  EXPECT_NEAR(m.server->compute_us, 5.0, 1e-9);
  EXPECT_NEAR(m.server->avg_batch, 2.0, 1e-9);
  EXPECT_GT(m.client_cpu_us_per_request, 0);
}

TEST(GrpcTransportTest, BatchedRequestsCarryTheirRows) {
  FakeServer server({});
  Client client = Connect(server.endpoint(), /*batch=*/4);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 50);
  EXPECT_EQ(m.ok, 50u) << FirstError(m);
  EXPECT_EQ(server.service().bad_requests(), 0);
  // 4 rows x 4 FP32 inputs in every request.
  EXPECT_GE(client.factory->mean_request_bytes(), 64u);
}

// N outstanding requests are N concurrent calls on the server, multiplexed over one
// connection per client thread.
TEST(GrpcTransportTest, ConcurrencyIsRealAndSharesOneConnectionPerThread) {
  FakeBehavior behavior;
  behavior.delay_ms = 20;
  {
    FakeServer server(behavior);
    Client client = Connect(server.endpoint());
    const Measurement m = Drive(client, {LoadMode::kConcurrency, 8}, 48);
    EXPECT_EQ(m.ok, 48u) << FirstError(m);
    EXPECT_EQ(server.service().max_in_flight(), 8);
    EXPECT_EQ(server.service().peers().size(), 1u);
    // 48 requests of 20 ms each, 8 at a time: about 120 ms, far below 960 ms in series.
    EXPECT_LT(m.seconds, 0.6);
  }
  {
    FakeServer server(behavior);
    Client client = Connect(server.endpoint());
    const Measurement m = Drive(client, {LoadMode::kConcurrency, 4}, 20, /*threads=*/2);
    EXPECT_EQ(m.ok, 20u) << FirstError(m);
    EXPECT_EQ(server.service().peers().size(), 2u);
  }
}

TEST(GrpcTransportTest, ServerStatusesAreCountedByCode) {
  FakeBehavior behavior;
  behavior.status = grpc::StatusCode::NOT_FOUND;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint());
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 40);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.requests, 40u);
  EXPECT_EQ(m.errors.grpc_status.at(static_cast<int>(grpc::StatusCode::NOT_FOUND)), 40u);
  EXPECT_EQ(m.errors.total(), 40u);
  ASSERT_FALSE(m.errors.examples.empty());
  EXPECT_EQ(m.errors.examples[0], "gRPC NOT_FOUND: fake says no");
}

// UNAVAILABLE sent by a reachable server (e.g. a full queue) is the server's answer, not a
// connection failure.
TEST(GrpcTransportTest, UnavailableFromALiveServerIsAStatus) {
  FakeBehavior behavior;
  behavior.status = grpc::StatusCode::UNAVAILABLE;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint());
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 1}, 10);
  EXPECT_EQ(m.errors.grpc_status.at(static_cast<int>(grpc::StatusCode::UNAVAILABLE)), 10u);
  EXPECT_EQ(m.errors.connection, 0u);
}

TEST(GrpcTransportTest, WrongOutputSizesAreBadResponses) {
  FakeBehavior behavior;
  behavior.short_output = true;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint());
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 1}, 20);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.errors.bad_response, 20u);
  EXPECT_NE(FirstError(m).find("raw bytes but shape needs"), std::string::npos) << FirstError(m);
}

TEST(GrpcTransportTest, SlowResponsesTimeOut) {
  FakeBehavior behavior;
  behavior.delay_ms = 300;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint(), 1, /*timeout_ms=*/50);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 4);
  EXPECT_EQ(m.errors.timeout, 4u);
  EXPECT_EQ(m.ok, 0u);
}

TEST(GrpcTransportTest, UnreachableServerGivesConnectionErrors) {
  Endpoint closed;
  {
    FakeServer server({});
    closed = server.endpoint();
  }
  TransportOptions options;
  options.protocol = Protocol::kGrpc;
  options.endpoint = closed;
  options.model = "m";
  Client client;
  client.control = *CreateControlClient(options);
  EXPECT_EQ(client.control->GetModelMetadata().status().code(), absl::StatusCode::kUnavailable);
  Workload workload;
  workload.requests.resize(1);
  client.factory = *CreateTransportFactory(options, workload);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 1}, 5);
  EXPECT_EQ(m.errors.connection, 5u) << FirstError(m);
  EXPECT_EQ(m.ok, 0u);
}

TEST(GrpcTransportTest, ControlCalls) {
  FakeBehavior behavior;
  behavior.stats = false;
  FakeServer server(behavior);
  TransportOptions options;
  options.protocol = Protocol::kGrpc;
  options.endpoint = server.endpoint();
  options.model = "m";
  std::unique_ptr<ControlClient> control = *CreateControlClient(options);
  absl::StatusOr<ModelSignature> signature = control->GetModelMetadata();
  ASSERT_TRUE(signature.ok()) << signature.status();
  ASSERT_EQ(signature->inputs.size(), 1u);
  EXPECT_EQ(signature->inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(signature->inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  ASSERT_EQ(signature->outputs.size(), 1u);
  EXPECT_EQ(signature->outputs[0].name, "y");
  // Statistics not implemented: no split, not an error.
  absl::StatusOr<std::optional<ModelStats>> stats = control->GetModelStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_FALSE(stats->has_value());

  options.model = "other";
  std::unique_ptr<ControlClient> unknown = *CreateControlClient(options);
  EXPECT_EQ(unknown->GetModelMetadata().status().code(), absl::StatusCode::kNotFound);
}

TEST(GrpcTransportTest, OpenLoopIssuesThePoissonRate) {
  FakeServer server({});
  Client client = Connect(server.endpoint());
  RunnerOptions options;
  options.warmup_seconds = 0.1;
  options.duration_seconds = 1.0;
  auto runner = LoadRunner::Create(options, client.factory.get(), client.control.get());
  ASSERT_TRUE(runner.ok());
  absl::StatusOr<Measurement> m = (*runner)->Measure({LoadMode::kRate, 1000});
  ASSERT_TRUE(m.ok()) << m.status();
  // 1000 Poisson arrivals: the count's standard deviation is ~32.
  EXPECT_NEAR(static_cast<double>(m->requests), 1000, 150);
  EXPECT_NEAR(m->offered_rps, 1000, 150);
  EXPECT_EQ(m->ok, m->requests) << FirstError(*m);
}

// With every call slot held by a slow server, arrivals wait for one; their latency still
// runs from the schedule.
TEST(GrpcTransportTest, OpenLoopWaitsForCallSlots) {
  FakeBehavior behavior;
  behavior.delay_ms = 50;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint(), 1, 5000, /*max_connections=*/2);
  RunnerOptions options;
  options.warmup_seconds = 0;
  options.requests = 20;
  auto runner = LoadRunner::Create(options, client.factory.get(), nullptr);
  ASSERT_TRUE(runner.ok());
  absl::StatusOr<Measurement> m = (*runner)->Measure({LoadMode::kRate, 200});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->ok, 20u) << FirstError(*m);
  EXPECT_GT(m->pool_waits, 10u);
  EXPECT_LE(server.service().max_in_flight(), 2);
  EXPECT_GT(m->latency_ns.max(), 300'000'000u);
}

// A runner torn down while calls are in flight must not hang or crash.
TEST(GrpcTransportTest, StoppingWithCallsInFlight) {
  // Calls take 400 ms and the stop comes at 500 ms. The runner passes a stop on within
  // 100 ms, so it lands inside the second round of calls with 200 ms to spare either side
  // (with 200 ms calls and a stop at 300 ms it could land on the third round's start).
  FakeBehavior behavior;
  behavior.delay_ms = 400;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint());
  std::atomic<bool> stop{false};
  RunnerOptions options;
  options.warmup_seconds = 0;
  options.duration_seconds = 30;
  options.stop = &stop;
  auto runner = LoadRunner::Create(options, client.factory.get(), nullptr);
  ASSERT_TRUE(runner.ok());
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stop = true;
  });
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Measurement> m = (*runner)->Measure({LoadMode::kConcurrency, 4});
  stopper.join();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->interrupted);
  // The first four (issued in the start-up slack, unmeasured) came back at 400 ms; the
  // next four were in flight at the stop and were waited for.
  EXPECT_EQ(m->ok, 4u) << FirstError(*m);
  EXPECT_EQ(m->requests, 4u);
  runner->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// Close() cuts the calls in flight short: each completes once, as a connection error.
TEST(GrpcTransportTest, CloseCutsCallsInFlight) {
  FakeBehavior behavior;
  behavior.delay_ms = 500;
  FakeServer server(behavior);
  Client client = Connect(server.endpoint());
  struct Sink final : CompletionSink {
    std::vector<Outcome> outcomes;
    void OnInferComplete(const InferCompletion& c) override { outcomes.push_back(c.outcome); }
  } sink;
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::unique_ptr<Transport> transport = client.factory->NewTransport(io, &sink);
  boost::asio::post(io, [&] {
    for (uint64_t i = 0; i < 3; ++i) transport->AsyncInfer(i, i);
  });
  boost::asio::steady_timer timer(io, std::chrono::milliseconds(100));
  timer.async_wait([&](boost::system::error_code) { transport->Close(); });
  const auto start = std::chrono::steady_clock::now();
  while (sink.outcomes.size() < 3 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    io.run_one_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  EXPECT_EQ(sink.outcomes, std::vector<Outcome>(3, Outcome::kConnectionError));
  transport.reset();
}

}  // namespace
}  // namespace ferry::loadgen
