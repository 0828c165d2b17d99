// The HTTP transport over real sockets: keep-alive, concurrency, limits and bad input.
// Serves a copy of models/simple's config (INT32 sum and difference, answered by a
// FakeBackend) so inference is exercised too.
#include "api/http/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_repository.h"
#include "testing/wait.h"

namespace ferry {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;

constexpr char kSimpleRequest[] =
    R"({"id":"t","inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32",)"
    R"("data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},{"name":"INPUT1","shape":[1,16],)"
    R"("datatype":"INT32","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]})";

// A blocking client connection with a receive timeout, so a broken server fails the test
// instead of hanging it.
class Client {
 public:
  explicit Client(int port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  http::response<http::string_body> Request(http::verb verb, const std::string& target,
                                            const std::string& body = "") {
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "localhost");
    req.body() = body;
    req.prepare_payload();
    http::write(socket_, req);
    return Read();
  }

  http::response<http::string_body> Read() {
    http::response_parser<http::string_body> parser;
    parser.skip(head_);
    beast::error_code ec;
    http::read(socket_, buffer_, parser, ec);
    EXPECT_FALSE(ec) << ec.message();
    return parser.release();
  }

  void SendRaw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // True once the server has closed the connection (reads hit end of stream).
  bool Closed() {
    char c;
    beast::error_code ec;
    if (buffer_.size() > 0) return false;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  void set_head(bool head) { head_ = head; }
  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  bool head_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    admin_ = *AdminService::Create({}, server_.get());
  }

  void StartHttp(HttpOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Create(options, server_.get(), admin_.get());
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
    http_->Start();
  }

  void TearDown() override {
    if (http_) http_->Stop();
    http_.reset();
    admin_.reset();
    server_.reset();
  }

  TempRepository repo_{"ferry_http_test"};
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<HttpServer> http_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartHttp();
  Client client(http_->port());
  for (int i = 0; i < 3; ++i) {
    auto res = client.Request(http::verb::get, "/v2/health/ready");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), R"({"ready":true})");
    EXPECT_EQ(res[http::field::server], "ferry");
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_TRUE(res.keep_alive());

    res = client.Request(http::verb::post, "/v2/models/simple/infer", kSimpleRequest);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    const boost::json::value v = boost::json::parse(res.body());
    EXPECT_EQ(v.at("model_name").as_string(), "simple");
    EXPECT_EQ(v.at("model_version").as_string(), "1");
    EXPECT_EQ(v.at("id").as_string(), "t");
    EXPECT_EQ(boost::json::serialize(v.at("outputs").as_array()[0].at("data")),
              "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]");
  }
  auto res = client.Request(http::verb::get, "/metrics");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_THAT(res.body(), HasSubstr("ferry_http_responses_total{code=\"200\"} 6"));
}

TEST_F(HttpServerTest, ErrorsOverTheWire) {
  StartHttp();
  Client client(http_->port());
  auto res = client.Request(http::verb::get, "/v2/models/nope");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_THAT(res.body(), HasSubstr("\"error\""));
  res = client.Request(http::verb::post, "/v2/models/simple/infer", "{\"inputs\": [");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_THAT(res.body(), HasSubstr("not valid JSON"));
  res = client.Request(http::verb::put, "/v2/health/live");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[http::field::allow], "GET");
  // The connection is still usable after errors the router produced.
  EXPECT_EQ(client.Request(http::verb::get, "/v2/health/live").result_int(), 200);
}

TEST_F(HttpServerTest, HeadHasHeadersButNoBody) {
  StartHttp();
  Client client(http_->port());
  client.set_head(true);
  auto res = client.Request(http::verb::head, "/v2/health/ready");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_length], "14");
  EXPECT_TRUE(res.body().empty());
  client.set_head(false);
  EXPECT_EQ(client.Request(http::verb::get, "/v2/health/live").body(), R"({"live":true})");
}

TEST_F(HttpServerTest, GarbageGets400AndTheConnectionCloses) {
  StartHttp();
  for (const char* garbage : {"NOT HTTP AT ALL\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                              "GET /v2 HTTP/1.1\r\nBad Header\r\n\r\n",
                              "POST /v2 HTTP/1.1\r\nContent-Length: -5\r\n\r\n"}) {
    Client client(http_->port());
    client.SendRaw(garbage);
    auto res = client.Read();
    EXPECT_EQ(res.result_int(), 400) << garbage;
    EXPECT_THAT(res.body(), HasSubstr("malformed HTTP request")) << garbage;
    EXPECT_FALSE(res.keep_alive());
    EXPECT_TRUE(client.Closed()) << garbage;
  }
}

TEST_F(HttpServerTest, LargeBodyGets413) {
  HttpOptions options;
  options.max_body_bytes = 1000;
  StartHttp(options);
  Client client(http_->port());
  auto res = client.Request(http::verb::post, "/v2/models/simple/infer", std::string(5000, ' '));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(res.body(), R"({"error":"request body is larger than the limit of 1000 bytes"})");
  EXPECT_TRUE(client.Closed());
  // A body under the limit is fine.
  Client other(http_->port());
  EXPECT_EQ(other.Request(http::verb::post, "/v2/repository/index", "{}").result_int(), 200);
}

TEST_F(HttpServerTest, ExpectContinueIsHonoured) {
  StartHttp();
  Client client(http_->port());
  const std::string body = kSimpleRequest;
  client.SendRaw(absl::StrCat("POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n",
                              "Expect: 100-continue\r\nContent-Length: ", body.size(), "\r\n\r\n"));
  auto interim = client.Read();
  EXPECT_EQ(interim.result_int(), 100);
  client.SendRaw(body);
  EXPECT_EQ(client.Read().result_int(), 200);
}

// `clients` connections at once, each sending `requests` inferences; how many answers
// were a 200 with the model's output.
int InferFromManyClients(int port, int clients, int requests) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&] {
      Client client(port);
      for (int i = 0; i < requests; ++i) {
        auto res = client.Request(http::verb::post, "/v2/models/simple/infer", kSimpleRequest);
        if (res.result_int() == 200 && res.body().find("\"OUTPUT1\"") != std::string::npos) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  return ok.load();
}

TEST_F(HttpServerTest, ManyConcurrentClients) {
  StartHttp();
  EXPECT_EQ(InferFromManyClients(http_->port(), 8, 25), 200);
}

// One I/O thread for eight clients: a request that ran inline would keep the other seven
// unread, so every batch would be one row. Their requests go to the worker instead, where
// some share a batch.
TEST_F(HttpServerTest, OneThreadWithManyConnectionsStillBatches) {
  HttpOptions options;
  options.threads = 1;
  StartHttp(options);
  EXPECT_EQ(InferFromManyClients(http_->port(), 8, 25), 200);
  const ModelStatistics stats = server_->Statistics("simple", "").value().at(0);
  EXPECT_EQ(stats.inference_count, 200u);
  EXPECT_LT(stats.execution_count, stats.inference_count);
}

// The value of ferry_inline_execution_count_total for `simple`, read over `client`.
uint64_t InlineBatches(Client& client) {
  const std::string body = client.Request(http::verb::get, "/metrics").body();
  const std::string key = "ferry_inline_execution_count_total{model=\"simple\",version=\"1\"} ";
  const size_t at = body.find(key);
  EXPECT_NE(at, std::string::npos) << body;
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + key.size()));
}

// A connection that only GETs (a metrics scraper, a health check) does not turn inline off
// for the client that shares its thread; a second connection that POSTs does.
TEST_F(HttpServerTest, OnlyConnectionsThatPostCountAgainstInline) {
  HttpOptions options;
  options.threads = 1;
  StartHttp(options);
  Client scraper(http_->port());
  const uint64_t before = InlineBatches(scraper);
  Client first(http_->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(first.Request(http::verb::post, "/v2/models/simple/infer", kSimpleRequest)
                  .result_int(), 200);
  }
  EXPECT_EQ(InlineBatches(scraper), before + 3);  // one client, one at a time: all inline
  Client second(http_->port());
  for (Client* c : {&second, &first, &second}) {
    ASSERT_EQ(c->Request(http::verb::post, "/v2/models/simple/infer", kSimpleRequest)
                  .result_int(), 200);
  }
  EXPECT_EQ(InlineBatches(scraper), before + 3);  // two posting clients: none inline
}

// Every test above serves with the default idle poll; these run the same load with it off
// and with a window so long that a thread is polling nearly all the time, Stop included.
TEST_F(HttpServerTest, ManyConcurrentClientsWithoutAndWithAlwaysOnIdlePoll) {
  for (int poll_us : {0, 10'000'000}) {
    HttpOptions options;
    options.idle_poll_us = poll_us;
    StartHttp(options);
    EXPECT_EQ(InferFromManyClients(http_->port(), 4, 25), 100) << "idle_poll_us " << poll_us;
    http_->Stop();
    http_.reset();
  }
}

// Milliseconds of CPU time of this process (the server runs in it) over `wall` of doing
// nothing.
double CpuMsOver(std::chrono::milliseconds wall) {
  auto cpu = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(wall);
  return std::chrono::duration<double, std::milli>(cpu() - before).count();
}

TEST_F(HttpServerTest, AThreadPollsOnlyWithinTheWindowAfterAResponse) {
  using std::chrono::milliseconds;
  HttpOptions options;
  options.idle_poll_us = 400'000;
  StartHttp(options);
  Client client(http_->port());
  ASSERT_EQ(client.Request(http::verb::get, "/v2/health/live").result_int(), 200);
  // Inside the window one thread polls: it takes CPU although no request comes. It yields
  // on every turn, so a machine busy with other tests may give it far less than the whole
  // 300 ms (under ctest -j2 it has had under 60); what it must show is that it polls at
  // all, and far more than once the window has ended.
  const double inside_ms = CpuMsOver(milliseconds(300));
  std::this_thread::sleep_for(milliseconds(200));  // the window ends
  const double after_ms = CpuMsOver(milliseconds(300));
  EXPECT_GT(inside_ms, 15);
  EXPECT_GT(inside_ms, 3 * after_ms) << "after the window: " << after_ms << " ms";
  EXPECT_LT(after_ms, 30);
}

TEST_F(HttpServerTest, WithIdlePollOffAnIdleServerTakesNoCpu) {
  HttpOptions options;
  options.idle_poll_us = 0;
  StartHttp(options);
  Client client(http_->port());
  ASSERT_EQ(client.Request(http::verb::get, "/v2/health/live").result_int(), 200);
  EXPECT_LT(CpuMsOver(std::chrono::milliseconds(300)), 30);
}

TEST_F(HttpServerTest, StalledClientsDoNotBlockOthersAndTimeOut) {
  HttpOptions options;
  options.threads = 1;  // the worst case: one thread for everyone
  options.idle_timeout_seconds = 1;
  StartHttp(options);
  Client stalled(http_->port());
  stalled.SendRaw("POST /v2/models/simple/infer HTTP/1.1\r\nContent-Length: 100\r\n\r\n{");
  Client idle(http_->port());
  Client busy(http_->port());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(busy.Request(http::verb::get, "/v2/health/live").result_int(), 200);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  // Past the timeout the server hangs up on both.
  EXPECT_TRUE(stalled.Closed());
  EXPECT_TRUE(idle.Closed());
}

TEST_F(HttpServerTest, StopAcceptingKeepsOpenConnectionsServing) {
  StartHttp();
  Client client(http_->port());
  EXPECT_EQ(client.Request(http::verb::get, "/v2/health/live").result_int(), 200);
  const int port = http_->port();
  http_->StopAccepting();
  EXPECT_EQ(
      client.Request(http::verb::post, "/v2/models/simple/infer", kSimpleRequest).result_int(),
      200);
  asio::io_context ioc;
  tcp::socket refused(ioc);
  beast::error_code ec;
  refused.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_TRUE(ec) << "connected after StopAccepting";
  http_->Stop();
  EXPECT_TRUE(client.Closed());
}

// A copy of simple whose one-row requests wait `delay_us` in the queue for a batch.
void AddSlowSimple(const TempRepository& repo, int delay_us) {
  repo.AddSimple("slow", absl::StrCat("max_queue_delay_us = ", delay_us, "\n"));
}

// Polls the metrics until "slow" holds one queued request; false after 10 s.
bool WaitForOneQueued(InferenceServer& server) {
  return WaitUntil([&server] {
    return server.RenderMetrics().find("ferry_queue_depth{model=\"slow\",version=\"1\"} 1") !=
           std::string::npos;
  });
}

TEST_F(HttpServerTest, StopLetsAResponseStillBeingComputedReachItsClient) {
  AddSlowSimple(repo_, 300'000);
  ASSERT_TRUE(server_->LoadModel("slow").ok());
  StartHttp();
  Client client(http_->port());
  http::request<http::string_body> req(http::verb::post, "/v2/models/slow/infer", 11);
  req.set(http::field::host, "localhost");
  req.body() = kSimpleRequest;
  req.prepare_payload();
  http::write(client.socket(), req);
  // Stop arrives while the request waits for its batch; it must wait for the answer.
  ASSERT_TRUE(WaitForOneQueued(*server_)) << server_->RenderMetrics();
  http_->Stop();
  const http::response<http::string_body> res = client.Read();
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_THAT(res.body(), HasSubstr("\"OUTPUT0\""));
  EXPECT_TRUE(client.Closed());
}

TEST_F(HttpServerTest, StopGivesUpOnResponsesAfterTheDrainTimeout) {
  AddSlowSimple(repo_, 1'000'000);
  ASSERT_TRUE(server_->LoadModel("slow").ok());
  HttpOptions options;
  options.drain_timeout_seconds = 0;
  StartHttp(options);
  Client client(http_->port());
  client.SendRaw(absl::StrCat("POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                              std::strlen(kSimpleRequest), "\r\n\r\n", kSimpleRequest));
  ASSERT_TRUE(WaitForOneQueued(*server_)) << server_->RenderMetrics();
  http_->Stop();
  // Closed before any answer: Stop did not wait the second the batch needs.
  EXPECT_TRUE(client.Closed());
}

TEST_F(HttpServerTest, CreateFailsOnAPortInUse) {
  StartHttp();
  HttpOptions options;
  options.host = "127.0.0.1";
  options.port = http_->port();
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Create(options, server_.get(), admin_.get());
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(),
              HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", options.port)));
  options.threads = 0;
  EXPECT_EQ(HttpServer::Create(options, server_.get(), admin_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.threads = 1;
  options.idle_poll_us = -1;
  absl::StatusOr<std::unique_ptr<HttpServer>> bad_poll =
      HttpServer::Create(options, server_.get(), admin_.get());
  ASSERT_FALSE(bad_poll.ok());
  EXPECT_EQ(bad_poll.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_poll.status().message(), HasSubstr("idle_poll_us"));
  EXPECT_THAT(HttpServer::Create(options, server_.get(), nullptr).status().message(),
              HasSubstr("no admin service"));
}

}  // namespace
}  // namespace ferry
