#include "loadgen/grpc_transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "inference.grpc.pb.h"
#include "loadgen/grpc_codec.h"

namespace ferry::loadgen {
namespace {

namespace asio = boost::asio;
using inference::GRPCInferenceService;

std::string Target(const Endpoint &endpoint) {
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  return ipv6 ? absl::StrCat("[", endpoint.host, "]:", endpoint.port)
              : absl::StrCat(endpoint.host, ":", endpoint.port);
}

// Every transport gets a connection of its own (channels with equal arguments
// would otherwise share one through gRPC's global subchannel pool), and no
// client-side retries: a retry would hide an error from the count and keep a
// copy of every request message.
std::shared_ptr<grpc::Channel> NewChannel(const TransportOptions &options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(options.max_response_bytes, INT_MAX)));
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(Target(options.endpoint), grpc::InsecureChannelCredentials(),
                                   args);
}

// What every transport of one factory shares, read-only.
struct GrpcPool {
  TransportOptions options;
  std::vector<inference::ModelInferRequest> requests;
  std::vector<uint64_t> request_bytes;  // serialized size of each
  std::vector<TensorSpec> outputs;
};

class GrpcTransport final : public Transport {
 public:
  GrpcTransport(std::shared_ptr<const GrpcPool> pool, asio::io_context &io, CompletionSink *sink)
      : pool_(std::move(pool)),
        // Protobuf caches message sizes inside the (const) message while
        // serializing, so each transport's thread serializes its own copy of
        // the pool.
        requests_(pool_->requests),
        io_(io),
        sink_(sink),
        channel_(NewChannel(pool_->options)),
        stub_(GRPCInferenceService::NewStub(channel_)) {
    calls_.reserve(pool_->options.max_connections);
    idle_.reserve(pool_->options.max_connections);
    channel_->GetState(/*try_to_connect=*/true);
    poller_ = std::thread([this] { Poll(); });
  }

  // REQUIRES: the io_context no longer runs this transport's handlers (as the
  // runner guarantees: it stops the io_context first).
  ~GrpcTransport() override {
    for (auto &c : calls_) {
      if (c->busy) c->context->TryCancel();
    }
    cq_.Shutdown();
    poller_.join();  // Next returns false once every call has completed
  }

  size_t capacity() const override { return pool_->options.max_connections; }

  void AsyncInfer(size_t index, uint64_t tag) override {
    Call *c = Acquire();
    if (c == nullptr || closing_) {
      asio::post(io_, [this, tag, closing = closing_] {
        InferCompletion completion;
        completion.tag = tag;
        completion.outcome = Outcome::kConnectionError;
        completion.sent_nanos = completion.done_nanos = Clock::Real()->NowNanos();
        completion.detail = closing ? "the transport is closed"
                                    : "every call slot is busy (more outstanding requests "
                                      "than capacity)";
        sink_->OnInferComplete(completion);
      });
      if (c != nullptr) idle_.push_back(c);
      return;
    }
    c->busy = true;
    c->index = index;
    c->tag = tag;
    c->sent_nanos = Clock::Real()->NowNanos();
    c->context.emplace();
    c->context->set_deadline(std::chrono::system_clock::now() + pool_->options.timeout);
    c->response.Clear();
    ++busy_;
    c->reader = stub_->PrepareAsyncModelInfer(&*c->context, requests_[index], &cq_);
    c->reader->StartCall();
    c->reader->Finish(&c->response, &c->status, c);
  }

  void Close() override {
    closing_ = true;
    for (auto &c : calls_) {
      if (c->busy) c->context->TryCancel();
    }
  }

 private:
  struct Call {
    std::optional<grpc::ClientContext> context;  // a fresh one per call, as gRPC requires
    std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
    inference::ModelInferResponse response;  // reused: parsing keeps its allocations
    grpc::Status status;
    size_t index = 0;
    uint64_t tag = 0;
    int64_t sent_nanos = 0;
    bool busy = false;
  };

  Call *Acquire() {
    if (!idle_.empty()) {
      Call *c = idle_.back();
      idle_.pop_back();
      return c;
    }
    if (calls_.size() >= pool_->options.max_connections) return nullptr;
    calls_.push_back(std::make_unique<Call>());
    return calls_.back().get();
  }

  // The poller thread: gRPC does the channel's I/O inside Next. A finished call
  // is queued for the io_context thread; only the first of a batch posts, so a
  // busy client pays one wake-up for many completions.
  void Poll() {
    void *tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      bool first = false;
      {
        absl::MutexLock lock(&mutex_);
        first = ready_.empty();
        ready_.push_back(static_cast<Call *>(tag));
      }
      if (first) asio::post(io_, [this] { Deliver(); });
    }
  }

  void Deliver() {
    {
      absl::MutexLock lock(&mutex_);
      delivering_.swap(ready_);
    }
    for (Call *c : delivering_) Complete(c);
    delivering_.clear();
  }

  void Complete(Call *c) {
    --busy_;
    InferCompletion completion;
    completion.tag = c->tag;
    completion.sent_nanos = c->sent_nanos;
    completion.done_nanos = Clock::Real()->NowNanos();
    completion.bytes_sent = pool_->request_bytes[c->index];
    const grpc::Status &status = c->status;
    if (status.ok()) {
      completion.bytes_received = c->response.ByteSizeLong();
      completion.outcome = Outcome::kOk;
      if (pool_->options.check_responses) {
        ResponseSummary summary;
        if (absl::Status checked = CheckGrpcInferResponse(c->response, pool_->outputs, &summary);
            !checked.ok()) {
          completion.outcome = Outcome::kBadResponse;
          detail_.assign(checked.message().data(), checked.message().size());
        }
      }
    } else {
      completion.status_code = static_cast<int>(status.error_code());
      detail_ = status.error_message();
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        completion.outcome = Outcome::kTimeout;
        detail_ = absl::StrCat("no response within ", pool_->options.timeout.count(), " ms (",
                               detail_, ")");
      } else if (closing_ && status.error_code() == grpc::StatusCode::CANCELLED) {
        completion.outcome = Outcome::kConnectionError;
        detail_ = "closed with the call in flight";
      } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
                 channel_->GetState(false) != GRPC_CHANNEL_READY) {
        // The server answers UNAVAILABLE itself (e.g. a full queue) over a
        // working connection; without one, gRPC made the status up locally.
        completion.outcome = Outcome::kConnectionError;
      } else {
        completion.outcome = Outcome::kRpcStatus;
      }
    }
    if (completion.outcome != Outcome::kOk) completion.detail = detail_;
    c->reader.reset();
    c->context.reset();
    c->busy = false;
    idle_.push_back(c);
    sink_->OnInferComplete(completion);
  }

  std::shared_ptr<const GrpcPool> pool_;
  const std::vector<inference::ModelInferRequest> requests_;
  asio::io_context &io_;
  CompletionSink *sink_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
  grpc::CompletionQueue cq_;
  // io_context thread only.
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<Call *> idle_;
  std::vector<Call *> delivering_;
  std::string detail_;
  size_t busy_ = 0;
  bool closing_ = false;
  // Finished calls on their way from the poller to the io_context thread.
  absl::Mutex mutex_;
  std::vector<Call *> ready_ ABSL_GUARDED_BY(mutex_);
  std::thread poller_;  // last: started once everything above exists
};

class GrpcTransportFactory final : public TransportFactory {
 public:
  explicit GrpcTransportFactory(std::shared_ptr<const GrpcPool> pool) : pool_(std::move(pool)) {}

  std::unique_ptr<Transport> NewTransport(asio::io_context &io, CompletionSink *sink) override {
    return std::make_unique<GrpcTransport>(pool_, io, sink);
  }
  size_t pool_size() const override { return pool_->requests.size(); }
  uint64_t mean_request_bytes() const override {
    uint64_t total = 0;
    for (uint64_t b : pool_->request_bytes) total += b;
    return pool_->request_bytes.empty() ? 0 : total / pool_->request_bytes.size();
  }

 private:
  std::shared_ptr<const GrpcPool> pool_;
};

absl::Status FromGrpc(const grpc::Status &s, absl::string_view what, const Endpoint &endpoint) {
  const std::string message = absl::StrCat(what, " at ", Target(endpoint), ": ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      return absl::NotFoundError(message);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::UnavailableError(message);
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnimplementedError(message);
    default:
      return absl::FailedPreconditionError(
          absl::StrCat(message, " (gRPC ", RpcCodeName(s.error_code()), ")"));
  }
}

class GrpcControlClient final : public ControlClient {
 public:
  explicit GrpcControlClient(TransportOptions options)
      : options_(std::move(options)), stub_(GRPCInferenceService::NewStub(NewChannel(options_))) {}

  absl::StatusOr<ModelSignature> GetModelMetadata() override {
    inference::ModelMetadataRequest request;
    request.set_name(options_.model);
    request.set_version(options_.version);
    inference::ModelMetadataResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    const grpc::Status s = stub_->ModelMetadata(&context, request, &response);
    if (!s.ok()) return FromGrpc(s, "ModelMetadata", options_.endpoint);
    return SignatureFromGrpc(response);
  }

  absl::StatusOr<std::optional<ModelStats>> GetModelStats() override {
    inference::ModelStatisticsRequest request;
    request.set_name(options_.model);
    request.set_version(options_.version);
    inference::ModelStatisticsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
    const grpc::Status s = stub_->ModelStatistics(&context, request, &response);
    if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) return std::optional<ModelStats>();
    if (!s.ok()) return FromGrpc(s, "ModelStatistics", options_.endpoint);
    absl::StatusOr<ModelStats> stats = StatsFromGrpc(response, options_.model, options_.version);
    if (!stats.ok()) return stats.status();
    return std::optional<ModelStats>(*stats);
  }

 private:
  TransportOptions options_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TransportFactory>> CreateGrpcTransportFactory(
    const TransportOptions &options, const Workload &workload) {
  if (options.protocol != Protocol::kGrpc) {
    return absl::InvalidArgumentError("the gRPC transport takes --protocol grpc");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("--max-connections must be >= 1; was 0");
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout-ms must be > 0; was ", options.timeout.count()));
  }
  auto pool = std::make_shared<GrpcPool>();
  pool->options = options;
  pool->outputs = workload.outputs;
  pool->requests.reserve(workload.requests.size());
  for (const RequestData &request : workload.requests) {
    pool->requests.push_back(EncodeGrpcInferRequest(request, options.model, options.version));
    pool->request_bytes.push_back(pool->requests.back().ByteSizeLong());
  }
  return std::unique_ptr<TransportFactory>(new GrpcTransportFactory(std::move(pool)));
}

absl::StatusOr<std::unique_ptr<ControlClient>> CreateGrpcControlClient(
    const TransportOptions &options) {
  return std::unique_ptr<ControlClient>(new GrpcControlClient(options));
}

}  // namespace ferry::loadgen
