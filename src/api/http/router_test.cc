// The REST routes without sockets: health, metadata, errors and status codes over an empty
// repository, then inference (JSON and binary), statistics and model load / unload over a
// repository holding a copy of models/simple's config, served by a FakeBackend.
#include "api/http/router.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/http/binary_framing.h"
#include "api/http/percent_decode.h"
#include "spdlog/spdlog.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/gate.h"
#include "testing/route.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace json = boost::json;

json::value Parse(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << text;
  return v;
}

// A request with one input whose datatype, shape and data are given as JSON text.
std::string OneInput(const std::string& dtype, const std::string& shape, const std::string& data) {
  return absl::StrCat(R"({"inputs":[{"name":"x","shape":)", shape, R"(,"datatype":")", dtype,
                      R"(","data":)", data, "}]}");
}

// ---- router ----------------------------------------------------------------------------

// A server over a TempRepository (its models on FakeBackends), an admin service and a
// router over both.
class RouterFixture : public ::testing::Test {
 protected:
  void StartServer() {
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    StartAdmin({});
  }
  // Replaces the admin service (and the router over it).
  void StartAdmin(AdminOptions options) {
    router_.reset();
    admin_.reset();
    absl::StatusOr<std::unique_ptr<AdminService>> admin =
        AdminService::Create(std::move(options), server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
    router_ = std::make_unique<Router>(server_.get(), admin_.get(), options_);
  }
  void TearDown() override {
    gate_.Release(1000);  // whatever a failed test left held
    router_.reset();
    admin_.reset();
    server_.reset();
  }

  // Routes a request and waits for its response (infer may answer from another thread).
  // Every error but a "not ready" is a JSON object with an "error".
  HttpResponse Call(std::string_view method, std::string_view target, std::string_view body = "",
                    std::optional<std::string_view> header_length = std::nullopt) {
    std::optional<HttpResponse> r = RouteAndWait(*router_, {method, target, body, header_length});
    EXPECT_TRUE(r.has_value());
    if (!r) return {};
    if (r->status >= 400 && target.find("ready") == std::string_view::npos) {
      EXPECT_EQ(r->content_type, "application/json");
      EXPECT_TRUE(Parse(r->body).as_object().contains("error")) << r->body;
    }
    return *r;
  }

  TempRepository repo_{"ferry_router_test"};
  RouterOptions options_;
  Gate gate_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<Router> router_;
};

// Over a server with an empty repository: every route but a successful infer.
class RouterTest : public RouterFixture {
 protected:
  void SetUp() override { StartServer(); }
};

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST_F(RouterTest, HealthAndServerMetadata) {
  HttpResponse r = Call("GET", "/v2/health/live");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"live":true})");
  r = Call("GET", "/v2/health/ready?verbose=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"ready":true})");
  for (const char* target : {"/v2", "/v2/"}) {
    r = Call("GET", target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(Parse(r.body).at("name").as_string(), "ferry");
  }
  server_->Drain();
  r = Call("GET", "/v2/health/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"ready":false})");
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
}

TEST_F(RouterTest, UnknownModelsAndPaths) {
  EXPECT_EQ(Call("GET", "/v2/models/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/nope/versions/3").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/nope/ready").status, 404);
  EXPECT_EQ(Call("GET", "/v2/models/nope/versions/1/ready").status, 404);
  HttpResponse r = Call("POST", "/v2/models/nope/infer", OneInput("FP32", "[1]", "[1]"));
  EXPECT_EQ(r.status, 404);
  for (const char* target :
       {"/", "/v1/models/x", "/v2/models", "/v2/models/", "/v2/models/x/stats",
        "/v2/models/x/versions", "/v2/models/x/versions/1/infer/more", "/v2/health", "/metrics/"}) {
    r = Call("GET", target);
    EXPECT_EQ(r.status, 404) << target;
  }
  r = Call("GET", "/v2/models/a%20b");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("a b"));
  r = Call("GET", "/v2/models/nope/versions/1.5");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("version '1.5' in the path is not a number"));
  EXPECT_EQ(Call("GET", "/v2/models/bad%zzname").status, 400);
}

TEST_F(RouterTest, WrongMethodGets405WithAllow) {
  HttpResponse r = Call("POST", "/v2/health/live");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET");
  r = Call("GET", "/v2/models/m/versions/2/infer");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "POST");
  EXPECT_THAT(r.body, HasSubstr("method GET is not allowed"));
  r = Call("GET", "/v2/repository/index");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "POST");
  EXPECT_EQ(Call("DELETE", "/metrics").status, 405);
}

TEST_F(RouterTest, BadInferBodiesAre400BeforeTheModelIsLookedUp) {
  HttpResponse r = Call("POST", "/v2/models/nope/infer", "{");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("request body is not valid JSON"));
  r = Call("POST", "/v2/models/nope/versions/1/infer", "");
  EXPECT_EQ(r.status, 400);
}

TEST_F(RouterTest, RepositoryIndexAndMetrics) {
  HttpResponse r = Call("POST", "/v2/repository/index");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "[]");
  EXPECT_EQ(Call("POST", "/v2/repository/index", R"({"ready": true})").body, "[]");
  for (const char* bad : {"{x", "[]", R"({"ready": 1})"}) {
    EXPECT_EQ(Call("POST", "/v2/repository/index", bad).status, 400) << bad;
  }
  Call("GET", "/v2/models/nope");
  r = Call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  // Every response the router made so far was counted by its status code.
  EXPECT_THAT(r.body, HasSubstr("ferry_http_responses_total{code=\"200\"} 2"));
  EXPECT_THAT(r.body, HasSubstr("ferry_http_responses_total{code=\"400\"} 3"));
  EXPECT_THAT(r.body, HasSubstr("ferry_http_responses_total{code=\"404\"} 1"));
}

TEST(RouterStatusTest, StatusMapping) {
  EXPECT_EQ(Router::HttpStatusFor(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(Router::HttpStatusFor(absl::NotFoundError("x")), 404);
  EXPECT_EQ(Router::HttpStatusFor(absl::ResourceExhaustedError("x")), 503);
  EXPECT_EQ(Router::HttpStatusFor(absl::UnavailableError("x")), 503);
  EXPECT_EQ(Router::HttpStatusFor(absl::InternalError("x")), 500);
  EXPECT_EQ(Router::HttpStatusFor(absl::UnknownError("x")), 500);
  HttpResponse r = Router::ErrorResponse(absl::ResourceExhaustedError("queue \"m\" is full"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Header(r, "Retry-After"), "1");
  EXPECT_EQ(Parse(r.body).at("error").as_string(), "queue \"m\" is full");
  EXPECT_EQ(Header(Router::ErrorResponse(absl::UnavailableError("draining")), "Retry-After"), "");
}

TEST_F(RouterTest, ServerMetadataListsTheImplementedExtensions) {
  json::value v = Parse(Call("GET", "/v2").body);
  EXPECT_EQ(json::serialize(v.at("extensions")),
            R"(["classification","binary_tensor_data","model_repository","statistics",)"
            R"("model_configuration","logging","system_shared_memory","sequence"])");
}

TEST(RouterStatusTest, AStatefulModelsSequenceLimitIs409) {
  EXPECT_EQ(Router::HttpStatusFor(absl::FailedPreconditionError("all sequences taken")), 409);
}

TEST_F(RouterTest, StatisticsOfAnEmptyRepositoryAndUnknownModels) {
  HttpResponse r = Call("GET", "/v2/models/stats");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"model_stats":[]})");
  r = Call("GET", "/v2/models/nope/stats");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("nope"));
  EXPECT_EQ(Call("GET", "/v2/models/nope/versions/2/stats").status, 404);
  r = Call("POST", "/v2/models/stats");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET");
}

TEST_F(RouterTest, ModelControlErrors) {
  HttpResponse r = Call("POST", "/v2/repository/models/nope/load");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("nope"));
  r = Call("POST", "/v2/repository/models/nope/unload", "{}");
  EXPECT_EQ(r.status, 404);
  r = Call("GET", "/v2/repository/models/nope/load");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "POST");
  r = Call("POST", "/v2/repository/models/m/load", R"({"parameters":{"config":"{}"}})");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("failed to load 'm', failed to poll from model repository"));
  r = Call("POST", "/v2/repository/models/m/load", R"({"parameters":{"colour":"blue"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("unknown load parameter 'colour'"));
  r = Call("POST", "/v2/repository/models/m/load", R"({"parameters":{"config":"{}","file:1/a":"%%"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'file:1/a' must hold the file's bytes in base64"));
  r = Call("POST", "/v2/repository/models/m/load", R"({"parameters":{"config":{}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("load parameter 'config' must be a string"));
  r = Call("POST", "/v2/repository/models/m/load", "{x");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("not valid JSON"));
  r = Call("POST", "/v2/repository/models/m/unload", R"({"parameters":3})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'parameters' must be an object"));
  for (const char* target : {"/v2/repository/models/m", "/v2/repository/models/m/reload",
                             "/v2/repository/models//load", "/v2/repository/models/m/load/x"}) {
    EXPECT_EQ(Call("POST", target).status, 404) << target;
  }
}

// Over a repository with a copy of models/simple's config (INT32 INPUT0, INPUT1 [-1, 16];
// OUTPUT0 = sum, OUTPUT1 = difference), which the fake backend answers.
class SimpleRouterTest : public RouterFixture {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    dir_ = repo_.path();
    StartServer();
  }

  // {"inputs": [INPUT0 = 0..15, INPUT1 = 1...]} with both inputs in binary.
  static std::string BinaryBody(std::string outputs_json, size_t* json_size) {
    const std::string json = absl::StrCat(
        R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32",)",
        R"("parameters":{"binary_data_size":64}},{"name":"INPUT1","shape":[1,16],)",
        R"("datatype":"INT32","parameters":{"binary_data_size":64}}])", outputs_json, "}");
    *json_size = json.size();
    std::string body = json;
    for (int32_t i = 0; i < 16; ++i) body.append(reinterpret_cast<const char*>(&i), 4);
    const int32_t one = 1;
    for (int i = 0; i < 16; ++i) body.append(reinterpret_cast<const char*>(&one), 4);
    return body;
  }

  std::filesystem::path dir_;
};

std::vector<int32_t> Int32s(std::string_view bytes) {
  std::vector<int32_t> out(bytes.size() / 4);
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

TEST_F(SimpleRouterTest, BinaryInputsAndBinaryOutputs) {
  size_t json_size = 0;
  const std::string body = BinaryBody(
      R"(,"outputs":[{"name":"OUTPUT1","parameters":{"binary_data":true}},{"name":"OUTPUT0"}])",
      &json_size);
  HttpResponse r = Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  const std::string header = Header(r, kInferenceHeaderContentLength);
  ASSERT_FALSE(header.empty());
  const size_t n = std::stoul(header);
  ASSERT_EQ(r.body.size(), n + 64);
  json::value v = Parse(r.body.substr(0, n));
  const json::array& outputs = v.at("outputs").as_array();
  ASSERT_EQ(outputs.size(), 2u);
  EXPECT_EQ(outputs[0].at("name").as_string(), "OUTPUT1");
  EXPECT_EQ(outputs[0].at("parameters").at("binary_data_size").as_int64(), 64);
  EXPECT_FALSE(outputs[0].as_object().contains("data"));
  EXPECT_EQ(outputs[1].at("name").as_string(), "OUTPUT0");
  EXPECT_EQ(json::serialize(outputs[1].at("data")), "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]");
  EXPECT_EQ(Int32s(std::string_view(r.body).substr(n)),
            (std::vector<int32_t>{-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}));
}

TEST_F(SimpleRouterTest, BinaryInputsWithJsonOutputsAndRequestLevelBinaryOutput) {
  size_t json_size = 0;
  std::string body = BinaryBody("", &json_size);
  HttpResponse r = Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(Header(r, kInferenceHeaderContentLength), "");
  EXPECT_EQ(Parse(r.body).at("outputs").as_array().size(), 2u);

  // binary_data_output makes every output binary, unless the output says otherwise.
  body = BinaryBody(R"(,"parameters":{"binary_data_output":true},"outputs":[{"name":"OUTPUT0"},)"
                    R"({"name":"OUTPUT1","parameters":{"binary_data":false}}])",
                    &json_size);
  r = Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  const size_t n = std::stoul(Header(r, kInferenceHeaderContentLength));
  json::value v = Parse(r.body.substr(0, n));
  EXPECT_TRUE(v.at("outputs").at(0).as_object().contains("parameters"));
  EXPECT_TRUE(v.at("outputs").at(1).as_object().contains("data"));
  EXPECT_EQ(Int32s(std::string_view(r.body).substr(n)).at(15), 16);
}

TEST_F(SimpleRouterTest, JsonRequestMayAskForBinaryOutputs) {
  const std::string body =
      R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},)"
      R"({"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],)"
      R"("parameters":{"binary_data_output":true}})";
  HttpResponse r = Call("POST", "/v2/models/simple/infer", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  const size_t n = std::stoul(Header(r, kInferenceHeaderContentLength));
  EXPECT_EQ(r.body.size(), n + 128);
}

TEST_F(SimpleRouterTest, BinaryErrorsAre400) {
  size_t json_size = 0;
  const std::string body = BinaryBody("", &json_size);
  struct Case {
    std::string body;
    std::string header;
    std::string message;
  };
  const std::vector<Case> cases = {
      {body, "abc", "Inference-Header-Content-Length header 'abc' is not a non-negative integer"},
      {body, "-5", "header '-5' is not a non-negative integer"},
      {body, std::to_string(body.size() + 1), "but the body has only"},
      {body.substr(0, body.size() - 1), std::to_string(json_size),
       "add up to 128 bytes ('INPUT0' 64, 'INPUT1' 64), but 127 bytes follow"},
      {body + "x", std::to_string(json_size), "but 129 bytes follow"},
      {body, std::to_string(json_size - 1), "not valid JSON"},
      // The raw request needs a model with one input; simple has two.
      {"0123", "0",
       "needs a model with exactly one input, but model 'simple' has 2 (INPUT0, INPUT1)"},
  };
  for (const Case& c : cases) {
    HttpResponse r = Call("POST", "/v2/models/simple/infer", c.body, c.header);
    EXPECT_EQ(r.status, 400) << c.header;
    EXPECT_THAT(r.body, HasSubstr(c.message)) << c.header;
  }
  // Binary data without the header.
  HttpResponse r = Call("POST", "/v2/models/simple/infer", body.substr(0, json_size));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("input 'INPUT0': 'binary_data_size' is set, but the request has no "
                                "binary part"));
  // A raw request to an unknown model is a 404, as any other.
  r = Call("POST", "/v2/models/nope/infer", "0123", "0");
  EXPECT_EQ(r.status, 404);
}

TEST_F(SimpleRouterTest, StatisticsCountRequests) {
  size_t json_size = 0;
  const std::string body = BinaryBody("", &json_size);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size)).status, 200);
  }
  for (const char* target :
       {"/v2/models/stats", "/v2/models/simple/stats", "/v2/models/simple/versions/1/stats"}) {
    HttpResponse r = Call("GET", target);
    ASSERT_EQ(r.status, 200) << target;
    json::value v = Parse(r.body);
    const json::array& stats = v.at("model_stats").as_array();
    ASSERT_EQ(stats.size(), 1u) << r.body;
    const json::value& s = stats[0];
    EXPECT_EQ(s.at("name").as_string(), "simple");
    EXPECT_EQ(s.at("version").as_string(), "1");
    EXPECT_EQ(s.at("inference_count").as_int64(), 3);
    EXPECT_EQ(s.at("execution_count").as_int64(), 3);
    EXPECT_GT(s.at("last_inference").as_int64(), 1600000000000);
    const json::value& infer = s.at("inference_stats");
    EXPECT_EQ(infer.at("success").at("count").as_int64(), 3);
    EXPECT_GT(infer.at("success").at("ns").as_int64(), 0);
    EXPECT_EQ(infer.at("fail").at("count").as_int64(), 0);
    EXPECT_EQ(infer.at("queue").at("count").as_int64(), 3);
    EXPECT_EQ(infer.at("compute_infer").at("count").as_int64(), 3);
    for (const char* untimed : {"compute_input", "compute_output", "cache_hit", "cache_miss"}) {
      EXPECT_EQ(json::serialize(infer.at(untimed)), R"({"count":0,"ns":0})") << untimed;
    }
    const json::array& batches = s.at("batch_stats").as_array();
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].at("batch_size").as_int64(), 1);
    EXPECT_EQ(batches[0].at("compute_infer").at("count").as_int64(), 3);
  }
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/7/stats").status, 404);
}

TEST_F(SimpleRouterTest, UnloadAndLoadAgain) {
  HttpResponse r = Call("POST", "/v2/repository/models/simple/unload");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"name":"simple","unload":true})");
  size_t json_size = 0;
  const std::string body = BinaryBody("", &json_size);
  EXPECT_EQ(Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size)).status, 404);
  EXPECT_EQ(Call("POST", "/v2/repository/models/simple/unload").status, 404);
  r = Call("POST", "/v2/repository/models/simple/load", R"({"parameters":{}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"name":"simple","load":true})");
  EXPECT_EQ(Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size)).status, 200);
}

TEST_F(SimpleRouterTest, LoadWithABadConfigIs400AndKeepsTheOldVersionServing) {
  {
    std::ofstream config(dir_ / "simple" / "config.toml", std::ios::app);
    config << "\ncolour = \"blue\"\n";
  }
  HttpResponse r = Call("POST", "/v2/repository/models/simple/load");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("colour"));
  size_t json_size = 0;
  const std::string body = BinaryBody("", &json_size);
  EXPECT_EQ(Call("POST", "/v2/models/simple/infer", body, std::to_string(json_size)).status, 200);
}

// The bound belongs to the AdminService, not to HTTP: work another transport started
// (here a direct call, as gRPC makes) fills it for HTTP too.
TEST_F(SimpleRouterTest, AdminWorkFromAnyTransportFillsTheBoundAndLoadsGet503) {
  StartAdmin({.max_pending = 1, .threads = 1, .before_work = gate_.Hook()});
  std::promise<absl::Status> other_transport;
  RequestContext context;
  admin_->UnloadModel(context, "simple",
                      [&other_transport](absl::Status s) { other_transport.set_value(s); });
  gate_.WaitEntered(1);

  HttpResponse r = Call("POST", "/v2/repository/models/simple/load");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Header(r, "Retry-After"), "1");
  EXPECT_THAT(r.body, HasSubstr("too many admin operations"));
  EXPECT_THAT(r.body, HasSubstr("the limit is 1"));

  gate_.Release(2);
  EXPECT_TRUE(other_transport.get_future().get().ok());
  r = Call("POST", "/v2/repository/models/simple/load");
  EXPECT_EQ(r.status, 200) << r.body;
}

// ---- model configuration, logging and trace extensions ----------------------------------

TEST_F(SimpleRouterTest, ModelConfigIsTritonsJson) {
  HttpResponse r = Call("GET", "/v2/models/simple/config");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  // models/simple/config.toml, field by field.
  EXPECT_EQ(
      r.body,
      R"({"name":"simple","platform":"pytorch_libtorch","backend":"pytorch",)"
      R"("version_policy":{"all":{}},"max_batch_size":8,"input":[)"
      R"({"name":"INPUT0","data_type":"TYPE_INT32","format":"FORMAT_NONE","dims":[16],)"
      R"("is_shape_tensor":false,"allow_ragged_batch":false,"optional":false},)"
      R"({"name":"INPUT1","data_type":"TYPE_INT32","format":"FORMAT_NONE","dims":[16],)"
      R"("is_shape_tensor":false,"allow_ragged_batch":false,"optional":false}],"output":[)"
      R"({"name":"OUTPUT0","data_type":"TYPE_INT32","dims":[16],"label_filename":"",)"
      R"("is_shape_tensor":false},)"
      R"({"name":"OUTPUT1","data_type":"TYPE_INT32","dims":[16],"label_filename":"",)"
      R"("is_shape_tensor":false}],)"
      R"("dynamic_batching":{"preferred_batch_size":[],"max_queue_delay_microseconds":0,)"
      R"("default_queue_policy":{"max_queue_size":1024}},)"
      R"("instance_group":[{"name":"simple","count":1,"kind":"KIND_CPU"}],)"
      R"("parameters":{"ferry_platform":{"string_value":"torchscript"}}})");
  EXPECT_EQ(Call("GET", "/v2/models/simple/versions/1/config").body, r.body);
}

TEST_F(SimpleRouterTest, ModelConfigErrors) {
  HttpResponse r = Call("GET", "/v2/models/nope/config");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("Request for unknown model: 'nope' is not found"));
  r = Call("GET", "/v2/models/simple/versions/7/config");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("version 7 is not found"));
  r = Call("GET", "/v2/models/simple/versions/abc/config");  // alias-shaped, and unknown
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("model 'simple' has no version alias 'abc'"));
  r = Call("GET", "/v2/models/simple/versions/Abc/config");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("version 'Abc' in the path is not a number"));
  r = Call("GET", "/v2/models/simple/versions/0/config");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("'0' is not a positive integer"));
  EXPECT_EQ(Call("GET", "/v2/models/bad%zz/config").status, 400);
  EXPECT_EQ(Call("GET", "/v2/models/simple/config/more").status, 404);
  r = Call("POST", "/v2/models/simple/config");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET");
}

TEST_F(RouterTest, LoggingReadsAndChangesTheLogSettings) {
  const spdlog::level::level_enum saved = spdlog::get_level();
  spdlog::set_level(spdlog::level::info);
  constexpr char kInfo[] =
      R"({"log_file":"","log_info":true,"log_warnings":true,"log_errors":true,)"
      R"("log_verbose_level":0,"log_format":"default"})";
  HttpResponse r = Call("GET", "/v2/logging");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kInfo);
  EXPECT_EQ(Call("POST", "/v2/logging", "").body, kInfo);  // nothing to change
  r = Call("POST", "/v2/logging", R"({"log_verbose_level": 1})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("log_verbose_level").as_int64(), 1);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  EXPECT_EQ(Call("GET", "/v2/logging", R"({"log_info": false})").body, r.body)
      << "a GET changes nothing, whatever its body";
  r = Call("POST", "/v2/logging", R"({"log_verbose_level": 0, "log_info": false})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  spdlog::set_level(saved);
}

TEST_F(RouterTest, LoggingRefusesWhatItCannotDo) {
  const spdlog::level::level_enum saved = spdlog::get_level();
  spdlog::set_level(spdlog::level::info);
  struct Case {
    const char* body;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"{", "request body is not valid JSON"},
           {"[]", "request body must be a JSON object"},
           {R"({"log_info": "yes"})", "'log_info' must be a boolean, not a string"},
           {R"({"log_verbose_level": 1.5})", "'log_verbose_level' must be a boolean, an integer or "
                                             "a string, not a fractional number"},
           {R"({"log_verbose_level": -2})", "not -2"},
           {R"({"log_verbose_level": 18446744073709551615})", "an integer beyond int64"},
           {R"({"log_errors": null})", "not null"},
           {R"({"log_info": [true]})", "not an array"},
           {R"({"log_file": "/etc/passwd"})", "'log_file' can only be"},
           {R"({"log_format": "xml"})", "'log_format' must be"},
           {R"({"log_warnings": false})", "cannot be false while log_info is true"},
           {R"({"verbose": 1})", "unknown log setting 'verbose'"},
       }) {
    HttpResponse r = Call("POST", "/v2/logging", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_THAT(r.body, HasSubstr(c.says)) << c.body;
  }
  EXPECT_EQ(spdlog::get_level(), spdlog::level::info) << "refused settings change nothing";
  HttpResponse r = Call("PUT", "/v2/logging");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET, POST");
  spdlog::set_level(saved);
}

TEST_F(SimpleRouterTest, TraceSettingsAreOff) {
  constexpr char kOff[] = R"({"trace_level":["OFF"]})";
  for (const char* target : {"/v2/trace/setting", "/v2/models/simple/trace/setting"}) {
    EXPECT_EQ(Call("GET", target).body, kOff) << target;
    EXPECT_EQ(Call("POST", target, R"({"trace_level": ["OFF"]})").body, kOff) << target;
    EXPECT_EQ(Call("POST", target, R"({"trace_level": "OFF"})").body, kOff) << target;
    EXPECT_EQ(Call("POST", target, R"({"trace_level": null})").body, kOff) << target;
    HttpResponse r = Call("POST", target, R"({"trace_level": ["TIMESTAMPS"]})");
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_THAT(r.body, HasSubstr("Ferry does not trace requests"));
    r = Call("POST", target, R"({"trace_rate": "10"})");
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_THAT(r.body, HasSubstr("'trace_rate' cannot be set"));
    r = Call("POST", target, R"({"trace_level": [1]})");
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_THAT(r.body, HasSubstr("'trace_level' must hold strings, not an integer"));
    r = Call("POST", target, R"({"trace_level": {}})");
    EXPECT_EQ(r.status, 400) << target;
  }
  HttpResponse r = Call("GET", "/v2/models/nope/trace/setting");
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("Request for unknown model: 'nope' is not found"));
  EXPECT_EQ(Call("DELETE", "/v2/trace/setting").status, 405);
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndRefusesMalformedOnes) {
  EXPECT_EQ(PercentDecode("fashion%5Fcnn"), "fashion_cnn");
  EXPECT_EQ(PercentDecode("a%2fb%2F"), "a/b/");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_EQ(PercentDecode("a+b%20c", true), "a b c");
  EXPECT_EQ(PercentDecode(""), "");
  for (const char* bad : {"%", "%2", "a%zz", "%g0", "x%"}) {
    EXPECT_EQ(PercentDecode(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace ferry
