#include "loadgen/http_transport.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "loadgen/http_codec.h"

namespace ferry::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// Reads one response keeping only what the benchmark needs: the status, the binary
// extension's header length and the body, appended into a string the connection reuses.
// Beast's own message parser would allocate every header field of every response.
class ResponseParser final : public http::basic_parser<false> {
 public:
  explicit ResponseParser(std::string* body) : body_(body) { body_->clear(); }

  int status() const { return status_; }
  std::optional<uint64_t> header_length() const { return header_length_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override { status_ = code; }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     error_code& ec) override {
    if (!beast::iequals(name, "inference-header-content-length")) return;
    uint64_t length = 0;
    if (!absl::SimpleAtoi(absl::string_view(value.data(), value.size()), &length)) {
      ec = http::error::bad_field;  // a malformed message: reported as a bad response
      return;
    }
    header_length_ = length;
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) body_->reserve(static_cast<size_t>(*length));
  }
  size_t on_body_impl(beast::string_view data, error_code&) override {
    body_->append(data.data(), data.size());
    return data.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view data, error_code&) override {
    body_->append(data.data(), data.size());
    return data.size();
  }
  void on_finish_impl(error_code&) override {}

  std::string* body_;
  int status_ = 0;
  std::optional<uint64_t> header_length_;
};

// What every transport of one factory shares, read-only.
struct SharedPool {
  TransportOptions options;
  tcp::endpoint endpoint;
  std::vector<std::string> wire;  // complete HTTP request messages (not for http-shm)
  std::vector<TensorSpec> outputs;
  // http-shm: the requests, whose inputs each connection copies into its region and
  // whose messages it encodes naming that region; and the region size they need.
  std::vector<RequestData> requests;
  uint64_t shm_bytes = 0;
  // Per request: the outputs to write into the region, with their byte sizes.
  std::vector<std::vector<std::pair<std::string, uint64_t>>> shm_outputs;
};

// http-shm: a POSIX shared-memory object of one connection, registered with the server as
// a region of the same name. Unregistered, unmapped and unlinked when destroyed.
class ClientRegion {
 public:
  static absl::StatusOr<std::unique_ptr<ClientRegion>> Create(const TransportOptions& options,
                                                             std::string name, uint64_t size) {
    auto region = std::unique_ptr<ClientRegion>(new ClientRegion(options, std::move(name)));
    const std::string key = "/" + region->name_;
    region->fd_ = shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (region->fd_ < 0) {
      return absl::InternalError(absl::StrCat("shm_open ", key, ": ", std::strerror(errno)));
    }
    region->size_ = static_cast<size_t>(std::max<uint64_t>(size, 1));
    if (ftruncate(region->fd_, static_cast<off_t>(region->size_)) != 0) {
      return absl::InternalError(absl::StrCat("ftruncate ", key, ": ", std::strerror(errno)));
    }
    void* base = mmap(nullptr, region->size_, PROT_READ | PROT_WRITE, MAP_SHARED, region->fd_, 0);
    if (base == MAP_FAILED) {
      return absl::InternalError(absl::StrCat("mmap ", key, ": ", std::strerror(errno)));
    }
    region->base_ = static_cast<uint8_t*>(base);
    absl::StatusOr<HttpResult> r = HttpPost(
        options.endpoint, absl::StrCat("/v2/systemsharedmemory/region/", region->name_, "/register"),
        absl::StrCat("{\"key\":\"", key, "\",\"offset\":0,\"byte_size\":", region->size_, "}"),
        options.timeout);
    if (!r.ok()) return r.status();
    if (r->status != 200) {
      return absl::FailedPreconditionError(
          absl::StrCat("registering shared memory region ", region->name_, " -> ", r->status,
                       ": ", r->body));
    }
    region->registered_ = true;
    return region;
  }

  ~ClientRegion() {
    if (registered_) {
      (void)HttpPost(options_.endpoint,
                     absl::StrCat("/v2/systemsharedmemory/region/", name_, "/unregister"), "",
                     options_.timeout);
    }
    if (base_ != nullptr) munmap(base_, size_);
    if (fd_ >= 0) {
      close(fd_);
      shm_unlink(("/" + name_).c_str());
    }
  }

  const std::string& name() const { return name_; }
  uint8_t* data() { return base_; }

 private:
  ClientRegion(const TransportOptions& options, std::string name)
      : options_(options), name_(std::move(name)) {}

  const TransportOptions& options_;  // the SharedPool's, which outlives every region
  std::string name_;
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool registered_ = false;
};

std::atomic<uint64_t> region_counter{0};

class HttpTransport final : public Transport {
 public:
  HttpTransport(std::shared_ptr<const SharedPool> pool, asio::io_context& io, CompletionSink* sink)
      : pool_(std::move(pool)),
        io_(io),
        sink_(sink),
        checker_(pool_->outputs),
        sweep_(io),
        timeout_nanos_(std::chrono::nanoseconds(pool_->options.timeout).count()),
        sweep_period_(std::clamp<std::chrono::nanoseconds>(pool_->options.timeout / 10,
                                                           std::chrono::milliseconds(1),
                                                           std::chrono::milliseconds(100))) {
    connections_.reserve(pool_->options.max_connections);
    idle_.reserve(pool_->options.max_connections);
  }

  ~HttpTransport() override {
    for (auto& c : connections_) {
      error_code ignored;
      c->socket.close(ignored);
    }
  }

  size_t capacity() const override { return pool_->options.max_connections; }

  void AsyncInfer(size_t index, uint64_t tag) override {
    Connection* c = Acquire();
    if (c == nullptr) {
      asio::post(io_, [this, tag] {
        InferCompletion completion;
        completion.tag = tag;
        completion.outcome = Outcome::kConnectionError;
        completion.sent_nanos = completion.done_nanos = Clock::Real()->NowNanos();
        completion.detail = "every connection is busy (more outstanding requests than capacity)";
        sink_->OnInferComplete(completion);
      });
      return;
    }
    c->busy = true;
    c->index = index;
    c->tag = tag;
    c->retried = false;
    c->timed_out = false;
    c->parser.reset();
    c->sent_nanos = Clock::Real()->NowNanos();
    c->deadline_nanos = c->sent_nanos + timeout_nanos_;
    ++busy_;
    if (!sweep_armed_) ArmSweep();
    if (pool_->options.protocol == Protocol::kHttpShm && !c->region) {
      if (absl::Status s = PrepareRegion(c); !s.ok()) {
        detail_.assign(s.message().data(), s.message().size());
        asio::post(io_, [this, c] { Finish(c, Outcome::kConnectionError, 0, detail_); });
        return;
      }
    }
    if (c->socket.is_open()) {
      Write(c);
    } else {
      Connect(c);
    }
  }

  void Close() override {
    closing_ = true;
    sweep_.cancel();
    for (auto& c : connections_) {
      error_code ignored;
      c->socket.close(ignored);
    }
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::string body;
    std::optional<ResponseParser> parser;
    size_t index = 0;
    uint64_t tag = 0;
    int64_t sent_nanos = 0;
    int64_t deadline_nanos = 0;
    bool busy = false;
    bool reused = false;  // has completed a request since it connected
    bool retried = false;
    bool timed_out = false;
    // http-shm: this connection's region and its request messages, one per pool request.
    std::unique_ptr<ClientRegion> region;
    std::vector<std::string> shm_wire;
  };

  const std::string& WireOf(const Connection* c) const {
    return c->region ? c->shm_wire[c->index] : pool_->wire[c->index];
  }

  // http-shm: makes and registers the connection's region on its first request (blocking,
  // so during the warm-up) and encodes the messages that name it.
  absl::Status PrepareRegion(Connection* c) {
    absl::StatusOr<std::unique_ptr<ClientRegion>> region = ClientRegion::Create(
        pool_->options,
        absl::StrCat("ferry_bench_", getpid(), "_", region_counter.fetch_add(1)),
        pool_->shm_bytes);
    if (!region.ok()) return region.status();
    c->region = *std::move(region);
    const std::string target = ModelPath(pool_->options.model, pool_->options.version, "/infer");
    const std::string host = pool_->options.endpoint.host + ":" + pool_->options.endpoint.port;
    c->shm_wire.reserve(pool_->requests.size());
    for (const RequestData& request : pool_->requests) {
      const size_t i = c->shm_wire.size();
      c->shm_wire.push_back(BuildHttpPost(
          target, host, "application/json",
          EncodeShmInferRequest(request, c->region->name(), pool_->shm_outputs[i]),
          std::nullopt));
    }
    return absl::OkStatus();
  }

  // Timeouts are enforced by one periodic sweep rather than a timer per request: arming and
  // cancelling a timer for every request costs system calls (timerfd) on the hot path. A
  // request may so run up to one sweep period past its timeout.
  void ArmSweep() {
    sweep_armed_ = true;
    sweep_.expires_after(sweep_period_);
    sweep_.async_wait([this](error_code ec) {
      sweep_armed_ = false;
      if (ec) return;
      const int64_t now = Clock::Real()->NowNanos();
      for (auto& c : connections_) {
        if (c->busy && !c->timed_out && now >= c->deadline_nanos) {
          c->timed_out = true;
          error_code ignored;
          c->socket.close(ignored);  // the pending operation then fails with operation_aborted
        }
      }
      if (busy_ > 0) ArmSweep();
    });
  }

  Connection* Acquire() {
    // Last in, first out: the most recently used connection is the one surely still open.
    if (!idle_.empty()) {
      Connection* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    if (connections_.size() >= pool_->options.max_connections) return nullptr;
    connections_.push_back(std::make_unique<Connection>(io_));
    return connections_.back().get();
  }

  void Connect(Connection* c) {
    c->reused = false;
    c->buffer.clear();
    c->socket.async_connect(pool_->endpoint, [this, c](error_code ec) {
      if (ec) return OnIoError(c, ec, "connect");
      error_code ignored;
      c->socket.set_option(tcp::no_delay(true), ignored);
      Write(c);
    });
  }

  void Write(Connection* c) {
    if (c->region) {
      // What a shared-memory client does per request: put the inputs in the region.
      uint8_t* out = c->region->data();
      for (const Tensor& input : pool_->requests[c->index].inputs) {
        std::memcpy(out, input.data.data(), input.data.size());
        out += input.data.size();
      }
    }
    asio::async_write(
        c->socket, asio::buffer(WireOf(c)), [this, c](error_code ec, size_t) {
          if (ec) return OnIoError(c, ec, "write");
          c->parser.emplace(&c->body);
          c->parser->body_limit(pool_->options.max_response_bytes);
          http::async_read(c->socket, c->buffer, *c->parser, [this, c](error_code ec, size_t) {
            if (ec) return OnIoError(c, ec, "read");
            OnResponse(c);
          });
        });
  }

  void OnIoError(Connection* c, error_code ec, absl::string_view stage) {
    error_code ignored;
    c->socket.close(ignored);
    c->buffer.clear();
    if (c->timed_out) {
      return Finish(c, Outcome::kTimeout, 0,
                    absl::StrCat("no complete response within ", pool_->options.timeout.count(),
                                 " ms (", stage, ")"));
    }
    // A server may close an idle keep-alive connection at any time; the request then dies
    // before a byte of response comes back. Resend once on a fresh connection, as HTTP
    // clients do, rather than count the server's housekeeping as an error.
    const bool nothing_received = !c->parser || !c->parser->got_some();
    if (!closing_ && c->reused && !c->retried && nothing_received) {
      c->retried = true;
      return Connect(c);
    }
    // Beast's HTTP errors (other than the peer closing) mean the message was malformed.
    const bool malformed =
        ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream;
    Finish(c, malformed ? Outcome::kBadResponse : Outcome::kConnectionError, 0,
           absl::StrCat(stage, ": ", ec.message()));
  }

  void OnResponse(Connection* c) {
    const int status = c->parser->status();
    if (!c->parser->keep_alive()) {
      error_code ignored;
      c->socket.close(ignored);
    }
    c->reused = true;
    if (status != 200) {
      return Finish(c, Outcome::kHttpStatus, status, absl::string_view(c->body).substr(0, 300));
    }
    if (pool_->options.check_responses) {
      ResponseSummary summary;
      absl::Status checked = checker_.Check(c->body, c->parser->header_length(), &summary);
      if (!checked.ok()) return Finish(c, Outcome::kBadResponse, status, checked.message());
    }
    Finish(c, Outcome::kOk, status, {});
  }

  void Finish(Connection* c, Outcome outcome, int status, absl::string_view detail) {
    --busy_;
    InferCompletion completion;
    completion.tag = c->tag;
    completion.outcome = outcome;
    completion.status_code = status;
    completion.sent_nanos = c->sent_nanos;
    completion.done_nanos = Clock::Real()->NowNanos();
    completion.bytes_sent = WireOf(c).size();
    completion.bytes_received = c->body.size();
    if (!detail.empty()) {
      // Copied: the sink may reuse this connection, and so its body, before returning.
      detail_.assign(detail.data(), detail.size());
      completion.detail = detail_;
    }
    c->busy = false;
    idle_.push_back(c);
    sink_->OnInferComplete(completion);
  }

  std::shared_ptr<const SharedPool> pool_;
  asio::io_context& io_;
  CompletionSink* sink_;
  ResponseChecker checker_;  // one per transport: checks run on its single thread
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> idle_;
  std::string detail_;
  bool closing_ = false;
  asio::steady_timer sweep_;
  const int64_t timeout_nanos_;
  const std::chrono::nanoseconds sweep_period_;
  bool sweep_armed_ = false;
  size_t busy_ = 0;
};

class HttpTransportFactory final : public TransportFactory {
 public:
  explicit HttpTransportFactory(std::shared_ptr<const SharedPool> pool) : pool_(std::move(pool)) {}

  std::unique_ptr<Transport> NewTransport(asio::io_context& io, CompletionSink* sink) override {
    return std::make_unique<HttpTransport>(pool_, io, sink);
  }
  size_t pool_size() const override {
    return pool_->requests.empty() ? pool_->wire.size() : pool_->requests.size();
  }
  uint64_t mean_request_bytes() const override {
    if (!pool_->requests.empty()) {
      // The message naming the region (its name's length is about that of the example).
      uint64_t total = 0;
      for (const RequestData& r : pool_->requests) {
        total += EncodeShmInferRequest(r, "ferry_bench_00000_0").size() + 200;
      }
      return total / pool_->requests.size();
    }
    uint64_t total = 0;
    for (const std::string& w : pool_->wire) total += w.size();
    return pool_->wire.empty() ? 0 : total / pool_->wire.size();
  }

 private:
  std::shared_ptr<const SharedPool> pool_;
};

absl::StatusOr<tcp::endpoint> Resolve(const Endpoint& endpoint) {
  asio::io_context io;
  tcp::resolver resolver(io);
  error_code ec;
  const auto results = resolver.resolve(endpoint.host, endpoint.port, ec);
  if (ec || results.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", endpoint.host, ":", endpoint.port, ": ", ec.message()));
  }
  return results.begin()->endpoint();
}

class HttpControlClient final : public ControlClient {
 public:
  explicit HttpControlClient(TransportOptions options) : options_(std::move(options)) {}

  absl::StatusOr<ModelSignature> GetModelMetadata() override {
    const std::string target = ModelPath(options_.model, options_.version, "");
    absl::StatusOr<HttpResult> result = HttpGet(options_.endpoint, target, options_.timeout);
    if (!result.ok()) return result.status();
    if (result->status == 404) {
      return absl::NotFoundError(absl::StrCat("GET ", target, " -> 404: ", result->body));
    }
    if (result->status != 200) {
      return absl::FailedPreconditionError(
          absl::StrCat("GET ", target, " -> ", result->status, ": ", result->body));
    }
    return ParseModelMetadata(result->body);
  }

  absl::StatusOr<std::optional<ModelStats>> GetModelStats() override {
    const std::string target = ModelPath(options_.model, options_.version, "/stats");
    absl::StatusOr<HttpResult> result = HttpGet(options_.endpoint, target, options_.timeout);
    if (!result.ok()) return result.status();
    if (result->status == 404 || result->status == 405 || result->status == 501) {
      return std::optional<ModelStats>();
    }
    if (result->status != 200) {
      return absl::FailedPreconditionError(
          absl::StrCat("GET ", target, " -> ", result->status, ": ", result->body));
    }
    absl::StatusOr<ModelStats> stats =
        ParseModelStats(result->body, options_.model, options_.version);
    if (!stats.ok()) return stats.status();
    return std::optional<ModelStats>(*stats);
  }

 private:
  TransportOptions options_;
};

}  // namespace

absl::StatusOr<HttpResult> HttpGet(const Endpoint& endpoint, absl::string_view target,
                                   std::chrono::milliseconds timeout) {
  return HttpCall(endpoint, "GET", target, "", timeout);
}

absl::StatusOr<HttpResult> HttpPost(const Endpoint& endpoint, absl::string_view target,
                                    absl::string_view body, std::chrono::milliseconds timeout) {
  return HttpCall(endpoint, "POST", target, body, timeout);
}

absl::StatusOr<HttpResult> HttpCall(const Endpoint& endpoint, absl::string_view method,
                                    absl::string_view target, absl::string_view body,
                                    std::chrono::milliseconds timeout) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  http::request<http::string_body> request;
  request.method_string(beast::string_view(method.data(), method.size()));
  request.target(beast::string_view(target.data(), target.size()));
  request.version(11);
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.prepare_payload();
  request.set(http::field::host, endpoint.host + ":" + endpoint.port);
  request.set(http::field::user_agent, "ferry-bench");
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  error_code result;
  bool done = false;

  error_code ec;
  const auto endpoints = resolver.resolve(endpoint.host, endpoint.port, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", endpoint.host, ":", endpoint.port, ": ", ec.message()));
  }
  stream.expires_after(timeout);
  stream.async_connect(endpoints, [&](error_code ec, const tcp::endpoint&) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    http::async_write(stream, request, [&](error_code ec, size_t) {
      if (ec) {
        result = ec;
        done = true;
        return;
      }
      http::async_read(stream, buffer, response, [&](error_code ec, size_t) {
        result = ec;
        done = true;
      });
    });
  });
  io.run();
  if (!done || result) {
    return absl::UnavailableError(absl::StrCat(method, " http://", endpoint.host, ":", endpoint.port,
                                               target, ": ", result.message()));
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return HttpResult{static_cast<int>(response.result_int()), std::move(response.body())};
}

absl::StatusOr<std::unique_ptr<TransportFactory>> CreateHttpTransportFactory(
    const TransportOptions& options, const Workload& workload) {
  if (options.protocol != Protocol::kHttpJson && options.protocol != Protocol::kHttpBinary &&
      options.protocol != Protocol::kHttpShm) {
    return absl::InvalidArgumentError("the HTTP transport takes http-json, http-binary or http-shm");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("--max-connections must be >= 1; was 0");
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout-ms must be > 0; was ", options.timeout.count()));
  }
  absl::StatusOr<tcp::endpoint> endpoint = Resolve(options.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  auto pool = std::make_shared<SharedPool>();
  pool->options = options;
  pool->endpoint = *endpoint;
  pool->outputs = workload.outputs;
  const std::string target = ModelPath(options.model, options.version, "/infer");
  const std::string host = options.endpoint.host + ":" + options.endpoint.port;
  if (options.protocol == Protocol::kHttpShm) {
    pool->requests = workload.requests;
    for (const RequestData& request : workload.requests) {
      // Outputs in the region: their size from the metadata, the batch dimension (-1)
      // taken from the first input.
      std::vector<std::pair<std::string, uint64_t>> outputs;
      uint64_t bytes = ShmInputBytes(request);
      for (const std::string& name : options.shm_outputs) {
        const TensorSpec* spec = nullptr;
        for (const TensorSpec& s : workload.outputs) {
          if (s.name == name) spec = &s;
        }
        if (spec == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("--shm-outputs: the model has no output '", name, "'"));
        }
        uint64_t size = DataTypeByteSize(spec->dtype);
        bool batch_used = false;
        for (int64_t d : spec->shape) {
          if (d < 0 && !batch_used && !request.inputs.empty() && !request.inputs[0].shape.empty()) {
            d = request.inputs[0].shape[0];
            batch_used = true;
          }
          if (d < 0 || size == 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                "--shm-outputs: output '", name, "' has no fixed byte size (shape ",
                ShapeToString(spec->shape), ", ", DataTypeName(spec->dtype), ")"));
          }
          size *= static_cast<uint64_t>(d);
        }
        outputs.emplace_back(name, size);
        bytes += size;
      }
      pool->shm_outputs.push_back(std::move(outputs));
      pool->shm_bytes = std::max(pool->shm_bytes, bytes);
    }
    return std::unique_ptr<TransportFactory>(new HttpTransportFactory(std::move(pool)));
  }
  pool->wire.reserve(workload.requests.size());
  for (const RequestData& request : workload.requests) {
    if (options.protocol == Protocol::kHttpJson) {
      pool->wire.push_back(BuildHttpPost(target, host, "application/json",
                                         EncodeJsonInferRequest(request), std::nullopt));
    } else {
      BinaryInferRequest binary = EncodeBinaryInferRequest(request);
      pool->wire.push_back(BuildHttpPost(target, host, "application/octet-stream", binary.body,
                                         binary.header_length));
    }
  }
  return std::unique_ptr<TransportFactory>(new HttpTransportFactory(std::move(pool)));
}

absl::StatusOr<std::unique_ptr<ControlClient>> CreateHttpControlClient(
    const TransportOptions& options) {
  return std::unique_ptr<ControlClient>(new HttpControlClient(options));
}

}  // namespace ferry::loadgen
