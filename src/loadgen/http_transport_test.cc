// The HTTP transport and the runner against a small fake V2 server in the same process. The
// fake checks what it is sent (binary header length and sizes included), so these tests
// pin down the client's wire format as well as its accounting.
#include "loadgen/http_transport.h"

#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/json.hpp"
#include "gtest/gtest.h"
#include "loadgen/runner.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

// Model "m": input x FP32 [-1,4], output y FP32 [-1,2].
struct FakeBehavior {
  int status = 200;              // for /infer
  bool close_each = false;       // Connection: close after every response
  int delay_ms = 0;              // before answering /infer
  bool truncate_binary = false;  // send fewer binary bytes than announced
  bool stats = true;             // 404 on /stats when false
};

class FakeServer {
 public:
  explicit FakeServer(FakeBehavior behavior)
      : behavior_(behavior), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    absl::MutexLock lock(&mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& t : threads_) t.join();
  }

  Endpoint endpoint() const {
    return {"127.0.0.1", std::to_string(acceptor_.local_endpoint().port())};
  }
  int infers() const { return infers_.load(); }
  int bad_requests() const { return bad_requests_.load(); }
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      ++connections_;
      absl::MutexLock lock(&mutex_);
      fds_.push_back(socket.native_handle());
      threads_.emplace_back([this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    while (true) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      http::response<http::string_body> response = Handle(request);
      response.keep_alive(!behavior_.close_each);
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec || behavior_.close_each) return;
    }
  }

  http::response<http::string_body> Reply(int status, std::string body) {
    http::response<http::string_body> r(static_cast<http::status>(status), 11);
    r.body() = std::move(body);
    return r;
  }

  http::response<http::string_body> Handle(const http::request<http::string_body>& request) {
    const std::string target(request.target());
    if (request.method() == http::verb::get && target == "/v2/models/m") {
      return Reply(200,
                   R"({"name":"m","versions":["1"],"platform":"fake","inputs":[{"name":"x",)"
                   R"("datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"y","datatype":"FP32",)"
                   R"("shape":[-1,2]}]})");
    }
    if (request.method() == http::verb::get && target == "/v2/models/m/stats") {
      if (!behavior_.stats) return Reply(404, R"({"error":"no stats"})");
      const int64_t n = infers_.load();
      return Reply(
          200, absl::StrCat(R"({"model_stats":[{"name":"m","version":"1",)",
                            R"("inference_count":)", 2 * n, R"(,"execution_count":)", n,
                            R"(,"inference_stats":{"success":{"count":)", n,
                            R"(,"ns":0},"queue":{"count":)", n, R"(,"ns":)", n * 1000,
                            R"(},"compute_infer":{"count":)", n, R"(,"ns":)", n * 5000, "}}}]}"));
    }
    if (request.method() != http::verb::post || target != "/v2/models/m/infer") {
      return Reply(404, R"({"error":"unknown path"})");
    }
    if (behavior_.delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(behavior_.delay_ms));
    if (behavior_.status != 200) return Reply(behavior_.status, R"({"error":"overloaded"})");
    const std::string& body = request.body();
    const auto header_field = request.find("Inference-Header-Content-Length");
    const bool binary = header_field != request.end();
    const size_t header_length =
        binary ? std::stoul(std::string(header_field->value())) : body.size();
    json::error_code ec;
    const json::value header =
        json::parse(json::string_view(body.data(), std::min(header_length, body.size())), ec);
    int64_t batch = 0;
    if (!ec && header.is_object()) {
      const json::value& input = header.at("inputs").at(0);
      batch = input.at("shape").at(0).as_int64();
      const int64_t bytes = batch * 4 * 4;
      if (binary) {
        const json::value* size =
            input.at("parameters").as_object().if_contains("binary_data_size");
        const bool output_binary = header.at("parameters").at("binary_data_output").as_bool();
        if (size == nullptr || size->as_int64() != bytes ||
            static_cast<int64_t>(body.size() - header_length) != bytes || !output_binary) {
          batch = 0;
        }
      } else if (static_cast<int64_t>(input.at("data").as_array().size()) != batch * 4) {
        batch = 0;
      }
    }
    if (batch <= 0) {
      ++bad_requests_;
      return Reply(400, R"({"error":"bad request"})");
    }
    ++infers_;
    if (!binary) {
      json::array data;
      for (int64_t i = 0; i < batch * 2; ++i) data.emplace_back(0.5);
      return Reply(200, json::serialize(json::object{
                            {"model_name", "m"},
                            {"outputs", json::array{json::object{{"name", "y"},
                                                                 {"datatype", "FP32"},
                                                                 {"shape", json::array{batch, 2}},
                                                                 {"data", data}}}}}));
    }
    const int64_t out_bytes = batch * 2 * 4;
    const std::string out_header =
        absl::StrCat(R"({"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[)",
                     batch, R"(,2],"parameters":{"binary_data_size":)", out_bytes, "}}]}");
    const int64_t sent = out_bytes - (behavior_.truncate_binary ? 4 : 0);
    auto r = Reply(200, out_header + std::string(static_cast<size_t>(sent), '\0'));
    r.set("Inference-Header-Content-Length", std::to_string(out_header.size()));
    r.set(http::field::content_type, "application/octet-stream");
    return r;
  }

  FakeBehavior behavior_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> infers_{0}, bad_requests_{0}, connections_{0};
  absl::Mutex mutex_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mutex_);
};

struct Client {
  std::unique_ptr<ControlClient> control;
  std::unique_ptr<TransportFactory> factory;
};

Client Connect(const FakeServer& server, Protocol protocol, int batch = 1, int timeout_ms = 5000,
               size_t max_connections = 256) {
  TransportOptions options;
  options.max_connections = max_connections;
  options.protocol = protocol;
  options.endpoint = server.endpoint();
  options.model = "m";
  options.timeout = std::chrono::milliseconds(timeout_ms);
  Client client;
  client.control = *CreateControlClient(options);
  absl::StatusOr<ModelSignature> signature = client.control->GetModelMetadata();
  EXPECT_TRUE(signature.ok()) << signature.status();
  WorkloadOptions workload_options;
  workload_options.batch = batch;
  workload_options.pool_size = 8;
  absl::StatusOr<Workload> workload = BuildWorkload(*signature, workload_options);
  EXPECT_TRUE(workload.ok()) << workload.status();
  client.factory = *CreateTransportFactory(options, *workload);
  return client;
}

Measurement Drive(Client& client, LoadPoint point, uint64_t requests, int threads = 1) {
  RunnerOptions options;
  options.threads = threads;
  options.warmup_seconds = 0.05;
  options.requests = requests;
  auto runner = LoadRunner::Create(options, client.factory.get(), client.control.get());
  EXPECT_TRUE(runner.ok()) << runner.status();
  absl::StatusOr<Measurement> m = (*runner)->Measure(point);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(HttpTransportTest, ClosedLoopJsonCountsEveryRequest) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpJson);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 3}, 300);
  EXPECT_EQ(m.requests, 300u);
  EXPECT_EQ(m.ok, 300u) << (m.errors.examples.empty() ? "" : m.errors.examples[0]);
  EXPECT_EQ(m.latency_ns.count(), 300u);
  EXPECT_GT(m.throughput_rps, 0);
  EXPECT_GT(m.latency_ns.Percentile(50), 0u);
  EXPECT_EQ(server.bad_requests(), 0);
  // Keep-alive: one connection per outstanding request, plus one per control call
  // (metadata, statistics before and after).
  EXPECT_EQ(server.connections(), 3 + 3);
  ASSERT_TRUE(m.server.has_value()) << m.server_note;
  EXPECT_NEAR(m.server->queue_us, 1.0, 1e-9);
  EXPECT_NEAR(m.server->compute_us, 5.0, 1e-9);
  EXPECT_NEAR(m.server->avg_batch, 2.0, 1e-9);
  EXPECT_GT(m.client_cpu_us_per_request, 0);
}

TEST(HttpTransportTest, BinaryProtocolRoundTrip) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpBinary, /*batch=*/4);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 100);
  EXPECT_EQ(m.ok, 100u) << (m.errors.examples.empty() ? "" : m.errors.examples[0]);
  EXPECT_EQ(server.bad_requests(), 0);
  // 4 rows x 2 FP32 = 32 bytes after each response's JSON header.
  EXPECT_GT(m.bytes_received, 100u * 32);
}

TEST(HttpTransportTest, TruncatedBinaryResponsesAreBadResponses) {
  FakeBehavior behavior;
  behavior.truncate_binary = true;
  FakeServer server(behavior);
  Client client = Connect(server, Protocol::kHttpBinary);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 1}, 20);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.errors.bad_response, 20u);
  ASSERT_FALSE(m.errors.examples.empty());
  EXPECT_NE(m.errors.examples[0].find("truncated"), std::string::npos) << m.errors.examples[0];
}

TEST(HttpTransportTest, HttpErrorsAreCountedByStatus) {
  FakeBehavior behavior;
  behavior.status = 503;
  FakeServer server(behavior);
  Client client = Connect(server, Protocol::kHttpJson);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 40);
  EXPECT_EQ(m.ok, 0u);
  EXPECT_EQ(m.errors.http_status.at(503), 40u);
  EXPECT_NE(m.errors.examples[0].find("overloaded"), std::string::npos);
}

TEST(HttpTransportTest, SlowResponsesTimeOut) {
  FakeBehavior behavior;
  behavior.delay_ms = 300;
  FakeServer server(behavior);
  Client client = Connect(server, Protocol::kHttpJson, 1, /*timeout_ms=*/50);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 4);
  EXPECT_EQ(m.errors.timeout, 4u);
}

TEST(HttpTransportTest, ServerClosingConnectionsIsNotAnError) {
  FakeBehavior behavior;
  behavior.close_each = true;
  behavior.stats = false;
  FakeServer server(behavior);
  Client client = Connect(server, Protocol::kHttpJson);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 50);
  EXPECT_EQ(m.ok, 50u) << (m.errors.examples.empty() ? "" : m.errors.examples[0]);
  EXPECT_FALSE(m.server.has_value());
  EXPECT_NE(m.server_note.find("404"), std::string::npos) << m.server_note;
}

TEST(HttpTransportTest, RefusedConnectionsAreConnectionErrors) {
  Endpoint closed;
  {
    FakeServer server({});
    closed = server.endpoint();
  }
  TransportOptions options;
  options.endpoint = closed;
  options.model = "m";
  Workload workload;
  workload.requests.resize(1);
  Client client;
  client.factory = *CreateTransportFactory(options, workload);
  client.control = *CreateControlClient(options);
  EXPECT_EQ(client.control->GetModelMetadata().status().code(), absl::StatusCode::kUnavailable);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 1}, 5);
  EXPECT_EQ(m.errors.connection, 5u);
}

TEST(HttpTransportTest, OpenLoopIssuesThePoissonRate) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpJson);
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
  EXPECT_EQ(m->ok, m->requests);
}

// With every connection held by a slow server, arrivals wait for one: that is counted as a
// pool wait, and their latency still runs from the schedule, but it is not the client's
// own lateness.
TEST(HttpTransportTest, OpenLoopCountsWaitsForConnectionsApartFromLateness) {
  FakeBehavior behavior;
  behavior.delay_ms = 50;
  FakeServer server(behavior);
  Client client = Connect(server, Protocol::kHttpJson, 1, 5000, /*max_connections=*/2);
  RunnerOptions options;
  options.warmup_seconds = 0;
  options.requests = 20;
  auto runner = LoadRunner::Create(options, client.factory.get(), nullptr);
  ASSERT_TRUE(runner.ok());
  absl::StatusOr<Measurement> m = (*runner)->Measure({LoadMode::kRate, 200});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->ok, 20u);
  EXPECT_GT(m->pool_waits, 10u);
  // Only the two requests that found a free connection can have been late.
  EXPECT_LE(m->late, 2u);
  // 20 requests through 2 connections at 50 ms each take 500 ms; the last ones were
  // scheduled about 100 ms in, so they waited about 400 ms.
  EXPECT_GT(m->latency_ns.max(), 300'000'000u);
}

TEST(HttpTransportTest, SeveralThreadsSplitTheLoad) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpJson);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 4}, 101, /*threads=*/2);
  EXPECT_EQ(m.ok, 101u);
}

// A worker whose share of --requests is 0 must measure nothing, not fall back to a duration.
TEST(HttpTransportTest, FewerRequestsThanThreads) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpJson);
  const Measurement m = Drive(client, {LoadMode::kConcurrency, 2}, 1, /*threads=*/2);
  EXPECT_EQ(m.requests, 1u);
  EXPECT_LT(m.seconds, 1.0);
}

TEST(HttpTransportTest, ConcurrencyAboveCapacityIsRejected) {
  FakeServer server({});
  Client client = Connect(server, Protocol::kHttpJson);
  RunnerOptions options;
  auto runner = LoadRunner::Create(options, client.factory.get(), nullptr);
  ASSERT_TRUE(runner.ok());
  EXPECT_FALSE((*runner)->Measure({LoadMode::kConcurrency, 100000}).ok());
  EXPECT_FALSE((*runner)->Measure({LoadMode::kConcurrency, 0}).ok());
  EXPECT_FALSE((*runner)->Measure({LoadMode::kRate, 0}).ok());
}

}  // namespace
}  // namespace ferry::loadgen
