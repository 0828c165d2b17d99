// `ferry bench --protocol grpc` against Ferry's own GrpcServer in process, serving the
// bundled `simple` model's config on a FakeBackend (OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 =
// INPUT0 - INPUT1, INT32 [-1,16]): the accounting of the client agrees with the server's statistics, and the
// server's error statuses come back counted by code.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "api/grpc/grpc_server.h"
#include "boost/json.hpp"
#include "gtest/gtest.h"
#include "loadgen/bench.h"
#include "loadgen/runner.h"
#include "loadgen/transport.h"
#include "server/inference_server.h"
#include "testing/temp_repository.h"

namespace ferry::loadgen {
namespace {

namespace fs = std::filesystem;

class GrpcFerryTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    root_ = repo_.path();
    auto server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    GrpcOptions grpc;
    grpc.host = "127.0.0.1";
    grpc.port = 0;
    auto admin = AdminService::Create({}, server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    auto created = GrpcServer::Create(grpc, server_.get(), admin_.get());
    ASSERT_TRUE(created.ok()) << created.status();
    grpc_ = std::move(*created);
  }

  void TearDown() override {
    grpc_.reset();
    admin_.reset();
    server_.reset();
  }

  TransportOptions Options(const std::string& model) const {
    TransportOptions options;
    options.protocol = Protocol::kGrpc;
    options.endpoint = {"127.0.0.1", std::to_string(grpc_->port())};
    options.model = model;
    return options;
  }

  // Measures `requests` requests at `concurrency`, no warm-up, sending `model` requests
  // shaped after `signature`.
  Measurement Drive(const std::string& model, const ModelSignature& signature, int concurrency,
                    uint64_t requests) {
    const TransportOptions options = Options(model);
    std::unique_ptr<ControlClient> control = *CreateControlClient(Options("simple"));
    WorkloadOptions workload_options;
    workload_options.pool_size = 16;
    absl::StatusOr<Workload> workload = BuildWorkload(signature, workload_options);
    EXPECT_TRUE(workload.ok()) << workload.status();
    absl::StatusOr<std::unique_ptr<TransportFactory>> factory =
        CreateTransportFactory(options, *workload);
    EXPECT_TRUE(factory.ok()) << factory.status();
    RunnerOptions runner_options;
    runner_options.warmup_seconds = 0;
    runner_options.requests = requests;
    auto runner = LoadRunner::Create(runner_options, factory->get(), control.get());
    EXPECT_TRUE(runner.ok()) << runner.status();
    absl::StatusOr<Measurement> m =
        (*runner)->Measure({LoadMode::kConcurrency, static_cast<double>(concurrency)});
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }

  ModelSignature SimpleSignature() {
    absl::StatusOr<ModelSignature> signature =
        (*CreateControlClient(Options("simple")))->GetModelMetadata();
    EXPECT_TRUE(signature.ok()) << signature.status();
    return *signature;
  }

  TempRepository repo_{"ferry_loadgen_grpc"};
  fs::path root_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<GrpcServer> grpc_;
};

TEST_F(GrpcFerryTest, EveryRequestSucceedsAndTheServerAgrees) {
  const ModelSignature signature = SimpleSignature();
  ASSERT_EQ(signature.inputs.size(), 2u);
  ASSERT_EQ(signature.outputs.size(), 2u);
  const Measurement m = Drive("simple", signature, 4, 1000);
  EXPECT_EQ(m.requests, 1000u);
  EXPECT_EQ(m.ok, 1000u) << (m.errors.examples.empty() ? "" : m.errors.examples[0]);
  EXPECT_EQ(m.errors.total(), 0u);
  // Two outputs of 16 INT32 each come back as raw contents.
  EXPECT_GT(m.bytes_received, 1000u * 2 * 64);
  ASSERT_TRUE(m.server.has_value()) << m.server_note;
  // The statistics snapshots are taken while load runs (after the window opens, after the
  // last measured request), so the requests served while each snapshot is fetched fall
  // outside it: under `ctest -j2` that was 50 of 200 once, so the run is long enough for
  // the edges to stay small against it.
  EXPECT_NEAR(static_cast<double>(m.server->requests), 1000, 100);
  EXPECT_GE(m.server->avg_batch, 1.0);
  EXPECT_GT(m.server->compute_us, 0);
}

TEST_F(GrpcFerryTest, UnknownModelIsNotFoundCountedByCode) {
  TransportOptions options = Options("nope");
  EXPECT_EQ((*CreateControlClient(options))->GetModelMetadata().status().code(),
            absl::StatusCode::kNotFound);
  const Measurement m = Drive("nope", SimpleSignature(), 2, 30);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.requests, 30u);
  EXPECT_EQ(m.errors.grpc_status.at(5), 30u);  // NOT_FOUND
  EXPECT_EQ(m.errors.total(), 30u);
  ASSERT_FALSE(m.errors.examples.empty());
  EXPECT_EQ(m.errors.examples[0].rfind("gRPC NOT_FOUND: ", 0), 0u) << m.errors.examples[0];
  EXPECT_NE(m.errors.examples[0].find("nope"), std::string::npos) << m.errors.examples[0];
}

TEST_F(GrpcFerryTest, WrongDatatypeIsInvalidArgument) {
  ModelSignature signature = SimpleSignature();
  signature.inputs[0].dtype = DataType::kFp32;  // the model takes INT32
  const Measurement m = Drive("simple", signature, 1, 10);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.errors.grpc_status.at(3), 10u);  // INVALID_ARGUMENT
}

TEST_F(GrpcFerryTest, RunBenchWritesItsReport) {
  const fs::path json_path = root_ / "out.json";
  BenchOptions options;
  options.url = "127.0.0.1:" + std::to_string(grpc_->port());
  options.model = "simple";
  options.protocol = "grpc";
  options.concurrency = {1, 3};
  options.warmup_seconds = 0.05;
  options.requests = 50;
  options.json_path = json_path.string();
  const absl::Status status = RunBench(options);
  ASSERT_TRUE(status.ok()) << status;
  std::ifstream in(json_path);
  std::stringstream text;
  text << in.rdbuf();
  const boost::json::value report = boost::json::parse(text.str());
  EXPECT_EQ(report.at("config").at("protocol").as_string(), "grpc");
  const boost::json::array& runs = report.at("measurements").as_array();
  ASSERT_EQ(runs.size(), 2u);
  for (const boost::json::value& run : runs) {
    EXPECT_EQ(run.at("ok").to_number<int64_t>(), 50);
    EXPECT_EQ(run.at("errors").at("total").to_number<int64_t>(), 0);
    EXPECT_TRUE(run.at("server").is_object()) << boost::json::serialize(run);
    EXPECT_GT(run.at("client_cpu_us_per_request").to_number<double>(), 0);
  }
}

}  // namespace
}  // namespace ferry::loadgen
