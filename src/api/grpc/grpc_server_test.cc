// GrpcServer in process: a real InferenceServer over the bundled `simple` model's config
// (answered by a FakeBackend), a real gRPC client on a loopback port. Covers what the
// codec tests cannot: status codes on the wire, the asynchronous completion path, health,
// limits and shutdown with calls in flight.
#include "api/grpc/grpc_server.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <cstring>
#include <future>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "api/grpc/grpc_service.h"
#include "api/http/extension_json.h"
#include "api/http/router.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "health.grpc.pb.h"
#include "inference.grpc.pb.h"
#include "testing/gate.h"
#include "testing/temp_repository.h"
#include "spdlog/spdlog.h"
#include "testing/wait.h"

namespace ferry {
namespace {

using inference::GRPCInferenceService;
using testing::HasSubstr;

std::string Raw(const std::vector<int32_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
}

std::vector<int32_t> Ints(const std::string& raw) {
  std::vector<int32_t> v(raw.size() / 4);
  std::memcpy(v.data(), raw.data(), v.size() * 4);
  return v;
}

class GrpcServerTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    // Holds each request in the queue for 300 ms, so a test can act while it is in flight.
    repo_.AddSimple("slow", "max_queue_delay_us = 300000\npreferred_batch_sizes = [8]\n");
    auto server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    StartAdmin({});
  }
  void TearDown() override {
    gate_.Release(1000);  // whatever a failed test left held
    grpc_.reset();
    admin_.reset();
    server_.reset();
  }

  // Before StartGrpc: the service the gRPC server will hand repository calls to.
  void StartAdmin(AdminOptions options) {
    auto admin = AdminService::Create(std::move(options), server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
  }

  void StartGrpc(GrpcOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    auto grpc = GrpcServer::Create(options, server_.get(), admin_.get());
    ASSERT_TRUE(grpc.ok()) << grpc.status();
    grpc_ = std::move(*grpc);
    ASSERT_GT(grpc_->port(), 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = GRPCInferenceService::NewStub(channel_);
  }

  static inference::ModelInferRequest SimpleRequest(const std::string& model = "simple") {
    inference::ModelInferRequest r;
    r.set_model_name(model);
    r.set_id("grpc-1");
    std::vector<int32_t> a(16), b(16, 2);
    for (int i = 0; i < 16; ++i) a[i] = i;
    for (const char* name : {"INPUT0", "INPUT1"}) {
      auto* in = r.add_inputs();
      in->set_name(name);
      in->set_datatype("INT32");
      in->add_shape(1);
      in->add_shape(16);
    }
    r.add_raw_input_contents(Raw(a));
    r.add_raw_input_contents(Raw(b));
    return r;
  }

  grpc::Status Infer(const inference::ModelInferRequest& req, inference::ModelInferResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->ModelInfer(&ctx, req, resp);
  }

  // The model's ferry_queue_depth gauge; -1 when absent.
  int QueueDepth(const std::string& model) {
    const std::string prefix = absl::StrCat("ferry_queue_depth{model=\"", model, "\"");
    std::istringstream metrics(server_->RenderMetrics());
    for (std::string line; std::getline(metrics, line);) {
      if (line.rfind(prefix, 0) == 0) return std::stoi(line.substr(line.rfind(' ') + 1));
    }
    return -1;
  }

  TempRepository repo_{"ferry_grpc_test"};
  Gate gate_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<GrpcServer> grpc_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

TEST(GrpcOptionsTest, CreateChecksOptions) {
  GrpcOptions bad_port;
  bad_port.port = 70000;
  EXPECT_EQ(GrpcServer::Create(bad_port, reinterpret_cast<InferenceServer*>(8),
                               reinterpret_cast<AdminService*>(8))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  GrpcOptions bad_size;
  bad_size.max_message_bytes = 0;
  EXPECT_EQ(GrpcServer::Create(bad_size, reinterpret_cast<InferenceServer*>(8),
                               reinterpret_cast<AdminService*>(8))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServer::Create(GrpcOptions{}, reinterpret_cast<InferenceServer*>(8), nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GrpcServer::Create(GrpcOptions{}, nullptr, reinterpret_cast<AdminService*>(8))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StatusMappingTest, KeepsCodesAndMessages) {
  using grpc::StatusCode;
  const struct {
    absl::Status in;
    StatusCode out;
  } kCases[] = {
      {absl::InvalidArgumentError("m"), StatusCode::INVALID_ARGUMENT},
      {absl::NotFoundError("m"), StatusCode::NOT_FOUND},
      {absl::UnavailableError("m"), StatusCode::UNAVAILABLE},
      {absl::ResourceExhaustedError("m"), StatusCode::UNAVAILABLE},
      {absl::CancelledError("m"), StatusCode::CANCELLED},
      {absl::InternalError("m"), StatusCode::INTERNAL},
      {absl::FailedPreconditionError("m"), StatusCode::FAILED_PRECONDITION},
      {absl::DataLossError("m"), StatusCode::UNKNOWN},
  };
  for (const auto& c : kCases) {
    grpc::Status s = grpc_api::ToGrpcStatus(c.in);
    EXPECT_EQ(s.error_code(), c.out) << c.in;
    EXPECT_EQ(s.error_message(), "m");
  }
  EXPECT_TRUE(grpc_api::ToGrpcStatus(absl::OkStatus()).ok());
}

TEST_F(GrpcServerTest, InfersWithRawAndTypedContents) {
  StartGrpc();
  inference::ModelInferResponse resp;
  grpc::Status s = Infer(SimpleRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.model_name(), "simple");
  EXPECT_EQ(resp.model_version(), "1");
  EXPECT_EQ(resp.id(), "grpc-1");
  ASSERT_EQ(resp.outputs_size(), 2);
  ASSERT_EQ(resp.raw_output_contents_size(), 2);
  EXPECT_EQ(resp.outputs(0).name(), "OUTPUT0");
  EXPECT_EQ(resp.outputs(0).datatype(), "INT32");
  EXPECT_THAT(resp.outputs(0).shape(), testing::ElementsAre(1, 16));
  std::vector<int32_t> sum = Ints(resp.raw_output_contents(0));
  std::vector<int32_t> diff = Ints(resp.raw_output_contents(1));
  ASSERT_EQ(sum.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(sum[i], i + 2);
    EXPECT_EQ(diff[i], i - 2);
  }

  inference::ModelInferRequest typed = SimpleRequest();
  typed.clear_raw_input_contents();
  for (int i = 0; i < 16; ++i) {
    typed.mutable_inputs(0)->mutable_contents()->add_int_contents(100 * i);
    typed.mutable_inputs(1)->mutable_contents()->add_int_contents(i);
  }
  typed.add_outputs()->set_name("OUTPUT1");
  inference::ModelInferResponse typed_resp;
  s = Infer(typed, &typed_resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(typed_resp.outputs_size(), 1);
  EXPECT_EQ(typed_resp.outputs(0).name(), "OUTPUT1");
  EXPECT_EQ(Ints(typed_resp.raw_output_contents(0))[3], 297);
}

TEST_F(GrpcServerTest, ErrorsCarryTheirCodes) {
  StartGrpc();
  inference::ModelInferResponse resp;
  inference::ModelInferRequest unknown = SimpleRequest("nope");
  grpc::Status s = Infer(unknown, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));

  inference::ModelInferRequest short_raw = SimpleRequest();
  short_raw.mutable_raw_input_contents(1)->resize(60);
  s = Infer(short_raw, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("raw_input_contents[1]"));

  inference::ModelInferRequest wrong_dtype = SimpleRequest();
  wrong_dtype.mutable_inputs(0)->set_datatype("FP32");
  s = Infer(wrong_dtype, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("INPUT0"));

  grpc::ClientContext ctx;
  inference::ModelMetadataRequest meta_req;
  meta_req.set_name("nope");
  inference::ModelMetadataResponse meta;
  EXPECT_EQ(stub_->ModelMetadata(&ctx, meta_req, &meta).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, MessageLimitIsEnforced) {
  GrpcOptions options;
  options.max_message_bytes = 1024;
  StartGrpc(options);
  inference::ModelInferRequest big = SimpleRequest();
  big.set_id(std::string(4096, 'x'));
  inference::ModelInferResponse resp;
  EXPECT_EQ(Infer(big, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Infer(SimpleRequest(), &resp).ok());
}

TEST_F(GrpcServerTest, TakenPortIsAnError) {
  StartGrpc();
  GrpcOptions same;
  same.host = "127.0.0.1";
  same.port = grpc_->port();
  EXPECT_EQ(GrpcServer::Create(same, server_.get(), admin_.get()).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(GrpcServerTest, HealthFollowsReadiness) {
  StartGrpc();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  auto check = [&](const std::string& service, grpc::health::v1::HealthCheckResponse* resp) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    return health->Check(&ctx, req, resp);
  };
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(check("", &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(check("inference.GRPCInferenceService", &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("other.Service", &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  server_->Drain();
  ASSERT_TRUE(check("", &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  grpc::ClientContext ctx;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&ctx, inference::ServerReadyRequest(), &ready).ok());
  EXPECT_FALSE(ready.ready());
  inference::ModelInferResponse infer;
  EXPECT_EQ(Infer(SimpleRequest(), &infer).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcServerTest, StatisticsAndRepository) {
  StartGrpc();
  inference::ModelInferResponse resp;
  ASSERT_TRUE(Infer(SimpleRequest(), &resp).ok());

  grpc::ClientContext ctx;
  inference::ModelStatisticsRequest req;
  req.set_name("simple");
  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(stub_->ModelStatistics(&ctx, req, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  EXPECT_EQ(stats.model_stats(0).name(), "simple");
  EXPECT_EQ(stats.model_stats(0).version(), "1");
  EXPECT_EQ(stats.model_stats(0).inference_count(), 1u);
  EXPECT_EQ(stats.model_stats(0).inference_stats().success().count(), 1u);
  EXPECT_GT(stats.model_stats(0).last_inference(), 0u);

  grpc::ClientContext unload_ctx;
  inference::RepositoryModelUnloadRequest unload;
  unload.set_model_name("simple");
  inference::RepositoryModelUnloadResponse unloaded;
  ASSERT_TRUE(stub_->RepositoryModelUnload(&unload_ctx, unload, &unloaded).ok());
  EXPECT_EQ(Infer(SimpleRequest(), &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext load_ctx;
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("simple");
  inference::RepositoryModelLoadResponse loaded;
  grpc::Status s = stub_->RepositoryModelLoad(&load_ctx, load, &loaded);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(Infer(SimpleRequest(), &resp).ok());

  grpc::ClientContext index_ctx;
  inference::RepositoryIndexRequest index_req;
  index_req.set_ready(true);
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub_->RepositoryIndex(&index_ctx, index_req, &index).ok());
  ASSERT_EQ(index.models_size(), 2);
  EXPECT_EQ(index.models(0).name(), "simple");
  EXPECT_EQ(index.models(0).state(), "READY");
}

// One bound for both transports: a load sent over HTTP holds the only admin slot, so a
// gRPC load is refused (UNAVAILABLE, as a full queue) until the HTTP one is done.
TEST_F(GrpcServerTest, AdminBoundIsSharedWithHttp) {
  StartAdmin({.max_pending = 1, .threads = 1, .before_work = gate_.Hook()});
  StartGrpc();
  Router http(server_.get(), admin_.get());
  std::promise<std::optional<HttpResponse>> http_done;
  HttpRequest request;
  request.method = "POST";
  request.target = "/v2/repository/models/simple/load";
  http.Handle(request, std::make_shared<RequestContext>(),
              [&http_done](std::optional<HttpResponse> r) { http_done.set_value(std::move(r)); });
  gate_.WaitEntered(1);

  inference::RepositoryModelLoadRequest load;
  load.set_model_name("simple");
  inference::RepositoryModelLoadResponse loaded;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->RepositoryModelLoad(&ctx, load, &loaded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(), HasSubstr("too many admin operations"));
  }
  gate_.Release(2);
  std::optional<HttpResponse> r = http_done.get_future().get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->RepositoryModelLoad(&ctx, load, &loaded);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(GrpcServerTest, ShutdownLetsInFlightCallsFinish) {
  StartGrpc();
  inference::ModelInferResponse resp;
  grpc::Status status(grpc::StatusCode::UNKNOWN, "not run");
  std::thread client([&] { status = Infer(SimpleRequest("slow"), &resp); });
  // Shutdown starts while the request sits in the slow model's batching window.
  ASSERT_TRUE(WaitUntil([&] { return QueueDepth("slow") == 1; }));
  grpc_->Shutdown();
  client.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Ints(resp.raw_output_contents(0)).size(), 16u);
  EXPECT_EQ(Infer(SimpleRequest(), &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcServerTest, ClientCancellationReachesTheBatcher) {
  StartGrpc();
  grpc::ClientContext ctx;
  inference::ModelInferRequest req = SimpleRequest("slow");
  inference::ModelInferResponse resp;
  std::promise<grpc::Status> done;
  stub_->async()->ModelInfer(&ctx, &req, &resp, [&done](grpc::Status s) { done.set_value(s); });
  ASSERT_TRUE(WaitUntil([&] { return QueueDepth("slow") == 1; }));
  ctx.TryCancel();
  EXPECT_EQ(done.get_future().get().error_code(), grpc::StatusCode::CANCELLED);
  // The batcher drops the request when the window closes: answered Cancelled (a failure
  // in the statistics) and never computed.
  auto stats = [&] { return server_->Statistics("slow", "").value().at(0); };
  ASSERT_TRUE(WaitUntil([&] { return stats().fail.count == 1; })) << stats().fail.count;
  EXPECT_EQ(stats().execution_count, 0u);
  EXPECT_TRUE(Infer(SimpleRequest("slow"), &resp).ok());
  // Shutdown must not hang on the abandoned call's reactor.
  grpc_->Shutdown();
}

// ---- model configuration, logging, trace and the RPCs Ferry refuses ---------------------

// 64-bit integers are strings in proto3's JSON and numbers in Triton's (and Ferry's).
void NumbersFromStrings(boost::json::value& v) {
  if (boost::json::object* o = v.if_object()) {
    for (auto& kv : *o) {
      const std::string key(kv.key().data(), kv.key().size());
      if (key == "dims" || key == "model_version" || key == "max_queue_delay_microseconds") {
        if (kv.value().is_string()) {
          const boost::json::string& text = kv.value().get_string();
          kv.value() = std::stoll(std::string(text.data(), text.size()));
        } else if (kv.value().is_array()) {
          for (auto& item : kv.value().get_array()) {
            const boost::json::string& text = item.get_string();
            item = std::stoll(std::string(text.data(), text.size()));
          }
        }
      } else {
        NumbersFromStrings(kv.value());
      }
    }
  } else if (boost::json::array* a = v.if_array()) {
    for (auto& item : *a) NumbersFromStrings(item);
  }
}

TEST_F(GrpcServerTest, ModelConfigIsTheSameConfigAsOverHttp) {
  StartGrpc();
  for (const std::string version : {"", "1"}) {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest req;
    req.set_name("simple");
    req.set_version(version);
    inference::ModelConfigResponse resp;
    grpc::Status s = stub_->ModelConfig(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const inference::ModelConfig& c = resp.config();
    EXPECT_EQ(c.name(), "simple");
    EXPECT_EQ(c.platform(), "pytorch_libtorch");
    EXPECT_EQ(c.backend(), "pytorch");
    EXPECT_EQ(c.max_batch_size(), 8);
    ASSERT_EQ(c.input_size(), 2);
    EXPECT_EQ(c.input(0).name(), "INPUT0");
    EXPECT_EQ(c.input(0).data_type(), inference::TYPE_INT32);
    EXPECT_THAT(c.input(0).dims(), testing::ElementsAre(16));
    ASSERT_EQ(c.output_size(), 2);
    EXPECT_EQ(c.output(1).name(), "OUTPUT1");
    EXPECT_TRUE(c.has_dynamic_batching());
    EXPECT_EQ(c.dynamic_batching().default_queue_policy().max_queue_size(), 1024u);
    EXPECT_TRUE(c.version_policy().has_all());
    ASSERT_EQ(c.instance_group_size(), 1);
    EXPECT_EQ(c.instance_group(0).kind(), inference::ModelInstanceGroup::KIND_CPU);
    EXPECT_EQ(c.instance_group(0).count(), 1);
    EXPECT_EQ(c.parameters().at("ferry_platform").string_value(), "torchscript");

    // The HTTP route's JSON is what protobuf's own JSON printer makes of this message.
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string proto_json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(c, &proto_json, options).ok());
    boost::json::value from_proto = boost::json::parse(proto_json);
    NumbersFromStrings(from_proto);
    absl::StatusOr<TritonModelConfig> config = server_->GetModelConfig("simple", version);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(boost::json::parse(EncodeModelConfig(*config)), from_proto) << proto_json;
  }
}

TEST_F(GrpcServerTest, ModelConfigErrors) {
  StartGrpc();
  struct Case {
    std::string name, version;
    grpc::StatusCode code;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"nope", "", grpc::StatusCode::NOT_FOUND, "Request for unknown model: 'nope' is not found"},
           {"simple", "3", grpc::StatusCode::NOT_FOUND, "Request for unknown model: 'simple' version 3 is not found"},
           {"simple", "Abc", grpc::StatusCode::INVALID_ARGUMENT, "'Abc' is not a positive integer"},
           {"simple", "abc", grpc::StatusCode::NOT_FOUND, "model 'simple' has no version alias 'abc'"},
           {"simple", "1.0", grpc::StatusCode::INVALID_ARGUMENT, "not a positive integer"},
           {"", "", grpc::StatusCode::INVALID_ARGUMENT, "a model name is required"},
       }) {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest req;
    req.set_name(c.name);
    req.set_version(c.version);
    inference::ModelConfigResponse resp;
    grpc::Status s = stub_->ModelConfig(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.name << "/" << c.version << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.says));
  }
}

TEST_F(GrpcServerTest, LogSettingsRoundTrip) {
  StartGrpc();
  const spdlog::level::level_enum saved = spdlog::get_level();
  spdlog::set_level(spdlog::level::info);
  const auto call = [&](const inference::LogSettingsRequest& req,
                        inference::LogSettingsResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->LogSettings(&ctx, req, resp);
  };
  inference::LogSettingsResponse now;
  ASSERT_TRUE(call({}, &now).ok());
  EXPECT_TRUE(now.settings().at("log_info").bool_param());
  EXPECT_TRUE(now.settings().at("log_warnings").bool_param());
  EXPECT_TRUE(now.settings().at("log_errors").bool_param());
  EXPECT_EQ(now.settings().at("log_verbose_level").uint32_param(), 0u);
  EXPECT_EQ(now.settings().at("log_format").string_param(), "default");
  EXPECT_EQ(now.settings().at("log_file").string_param(), "");

  inference::LogSettingsRequest set;
  (*set.mutable_settings())["log_info"].set_bool_param(false);
  ASSERT_TRUE(call(set, &now).ok());
  EXPECT_FALSE(now.settings().at("log_info").bool_param());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  set.Clear();
  (*set.mutable_settings())["log_info"].set_bool_param(true);
  (*set.mutable_settings())["log_verbose_level"].set_uint32_param(2);
  ASSERT_TRUE(call(set, &now).ok());
  EXPECT_EQ(now.settings().at("log_verbose_level").uint32_param(), 2u);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::trace);
  spdlog::set_level(spdlog::level::info);

  struct Case {
    std::string name;
    std::function<void(inference::LogSettingsRequest::SettingValue&)> set;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"log_info", [](auto& v) { v.set_uint32_param(1); }, "must be a boolean, not an integer"},
           {"log_verbose_level", [](auto& v) { v.set_string_param("1"); },
            "must be a non-negative integer, not a string"},
           {"log_errors", [](auto&) {}, "log setting 'log_errors' has no value"},
           {"log_file", [](auto& v) { v.set_string_param("/tmp/x"); }, "'log_file' can only be"},
           {"log_level", [](auto& v) { v.set_string_param("debug"); },
            "unknown log setting 'log_level'"},
       }) {
    inference::LogSettingsRequest bad;
    c.set((*bad.mutable_settings())[c.name]);
    grpc::Status s = call(bad, &now);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_THAT(s.error_message(), HasSubstr(c.says));
  }
  EXPECT_EQ(spdlog::get_level(), spdlog::level::info);
  spdlog::set_level(saved);
}

TEST_F(GrpcServerTest, TraceSettingReportsTracingOff) {
  StartGrpc();
  const auto call = [&](const inference::TraceSettingRequest& req) {
    grpc::ClientContext ctx;
    inference::TraceSettingResponse resp;
    grpc::Status s = stub_->TraceSetting(&ctx, req, &resp);
    return std::make_pair(s, resp);
  };
  inference::TraceSettingRequest req;
  auto [s, resp] = call(req);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.settings_size(), 1);
  EXPECT_THAT(resp.settings().at("trace_level").value(), testing::ElementsAre("OFF"));
  req.set_model_name("simple");
  (*req.mutable_settings())["trace_level"].add_value("OFF");
  EXPECT_TRUE(call(req).first.ok());
  (*req.mutable_settings())["trace_level"].add_value("TENSORS");
  s = call(req).first;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("Ferry does not trace requests"));
  req.clear_settings();
  (*req.mutable_settings())["log_frequency"].add_value("10");
  s = call(req).first;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'log_frequency' cannot be set"));
  req.clear_settings();
  req.set_model_name("nope");
  EXPECT_EQ(call(req).first.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, UnservedRpcsSayWhy) {
  StartGrpc();
  {
    grpc::ClientContext ctx;
    inference::CudaSharedMemoryRegisterResponse resp;
    grpc::Status s = stub_->CudaSharedMemoryRegister(&ctx, {}, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(s.error_message(), HasSubstr("CUDA shared memory is not supported"));
  }
  {
    grpc::ClientContext ctx;
    inference::CudaSharedMemoryStatusResponse resp;
    EXPECT_EQ(stub_->CudaSharedMemoryStatus(&ctx, {}, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    inference::CudaSharedMemoryUnregisterResponse resp;
    EXPECT_EQ(stub_->CudaSharedMemoryUnregister(&ctx, {}, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  // System shared memory is served: bad registrations name what is wrong.
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryRegisterResponse resp;
    grpc::Status s = stub_->SystemSharedMemoryRegister(&ctx, {}, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("name must be set"));
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryStatusResponse resp;
    EXPECT_TRUE(stub_->SystemSharedMemoryStatus(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.regions_size(), 0);
  }
  {
    grpc::ClientContext ctx;
    inference::SystemSharedMemoryUnregisterResponse resp;
    EXPECT_TRUE(stub_->SystemSharedMemoryUnregister(&ctx, {}, &resp).ok());
  }
  // The server still serves after all of them.
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(SimpleRequest(), &resp).ok());
}

// ModelStreamInfer: responses in request order with their ids, an error in the middle
// carried in error_message without ending the stream, OK once the client half-closes.
TEST_F(GrpcServerTest, StreamAnswersInOrderAndKeepsGoingAfterAnError) {
  StartGrpc();
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  for (int i = 0; i < 6; ++i) {
    inference::ModelInferRequest req = SimpleRequest(i == 3 ? "nope" : "simple");
    req.set_id(absl::StrCat("s", i));
    ASSERT_TRUE(stream->Write(req));
  }
  ASSERT_TRUE(stream->WritesDone());
  for (int i = 0; i < 6; ++i) {
    inference::ModelStreamInferResponse resp;
    ASSERT_TRUE(stream->Read(&resp)) << i;
    EXPECT_EQ(resp.infer_response().id(), absl::StrCat("s", i));
    if (i == 3) {
      EXPECT_THAT(resp.error_message(), HasSubstr("nope"));
      EXPECT_EQ(resp.infer_response().outputs_size(), 0);
    } else {
      EXPECT_EQ(resp.error_message(), "");
      ASSERT_EQ(resp.infer_response().raw_output_contents_size(), 2);
      EXPECT_EQ(Ints(resp.infer_response().raw_output_contents(0))[5], 7);
    }
  }
  inference::ModelStreamInferResponse extra;
  EXPECT_FALSE(stream->Read(&extra));
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(GrpcServerTest, ACancelledStreamEndsCleanly) {
  StartGrpc();
  for (int round = 0; round < 3; ++round) {
    grpc::ClientContext ctx;
    auto stream = stub_->ModelStreamInfer(&ctx);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(stream->Write(SimpleRequest()));
    inference::ModelStreamInferResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    ctx.TryCancel();
    while (stream->Read(&resp)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  inference::ModelInferResponse resp;
  EXPECT_TRUE(Infer(SimpleRequest(), &resp).ok());
}

}  // namespace
}  // namespace ferry
