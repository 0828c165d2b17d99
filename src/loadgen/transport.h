// The seam between the load generator and the wire. The runner only ever says "send pool
// request i, tag t" and hears back one InferCompletion; everything protocol-specific
// (encoding, connections, parsing, checking) sits behind TransportFactory / Transport.
// Adding gRPC means one more implementation and one line in CreateTransportFactory.
//
// Threading: a Transport belongs to one io_context and is only touched from the thread
// running it. A TransportFactory is immutable after creation and shared by all of them, so
// the pre-encoded request pool exists once however many threads run.
#ifndef FERRY_LOADGEN_TRANSPORT_H_
#define FERRY_LOADGEN_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "core/signature.h"
#include "loadgen/stats.h"
#include "loadgen/workload.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace ferry::loadgen {

// kHttpShm: the inputs go through a POSIX shared-memory region the client registers per
// connection (the server's system_shared_memory extension; client and server on one host),
// the outputs come back as binary tensor data.
enum class Protocol { kHttpJson, kHttpBinary, kHttpShm, kGrpc };

// "http-json", "http-binary", "http-shm", "grpc".
absl::StatusOr<Protocol> ParseProtocol(absl::string_view name);
absl::string_view ProtocolName(Protocol protocol);

// Where to send, from --url. "http://host:port", "host:port" or "http://host" (port 80).
struct Endpoint {
  std::string host;
  std::string port;
};
absl::StatusOr<Endpoint> ParseUrl(absl::string_view url);

struct TransportOptions {
  Protocol protocol = Protocol::kHttpJson;
  Endpoint endpoint;
  std::string model;
  std::string version;  // empty: let the server choose
  // Most connections (HTTP) a Transport opens; also the most requests it has outstanding.
  size_t max_connections = 256;
  // From the moment a request is handed over until its response is complete. Checked
  // every timeout / 10 (clamped to 1..100 ms), so a request may run that much longer.
  std::chrono::milliseconds timeout{30000};
  // Parse and check every response body (counts and sizes against the shape). Off, only the
  // status is looked at, which saves client CPU on large outputs.
  bool check_responses = true;
  // http-shm: outputs written into the region too (BenchOptions::shm_outputs).
  std::vector<std::string> shm_outputs;
  // Responses larger than this are errors (bad response).
  uint64_t max_response_bytes = 256ull << 20;
};

enum class Outcome : uint8_t {
  kOk,
  kHttpStatus,       // the server answered with an HTTP error status
  kRpcStatus,        // the server answered with a non-OK gRPC status
  kConnectionError,  // connect, write or read failed
  kTimeout,          // no complete response within TransportOptions::timeout
  kBadResponse,      // 200 but the body does not check out (or the message is malformed)
};
absl::string_view OutcomeName(Outcome outcome);
// "NOT_FOUND" for gRPC status code 5; "code N" for codes gRPC does not define.
std::string RpcCodeName(int code);

struct InferCompletion {
  uint64_t tag = 0;
  Outcome outcome = Outcome::kOk;
  // The HTTP status when a response arrived, or the gRPC status code of a failed call;
  // else 0.
  int status_code = 0;
  // Clock::Real() nanoseconds (common/clock.h): when the transport started on the request,
  // and when the response completed or the error was seen.
  int64_t sent_nanos = 0;
  int64_t done_nanos = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;  // response body bytes
  // What went wrong, for outcome != kOk (e.g. the server's error body, a parse error).
  // Valid only during OnInferComplete.
  absl::string_view detail;
};

// Receives completions on the transport's io_context thread.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Called exactly once per AsyncInfer, never from inside AsyncInfer itself. May call
  // AsyncInfer again (the closed loop does).
  virtual void OnInferComplete(const InferCompletion& completion) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Starts sending request `index` of the pool; `tag` comes back in the completion.
  // REQUIRES: called on the io_context thread; index < pool size; fewer than capacity()
  // requests outstanding.
  virtual void AsyncInfer(size_t index, uint64_t tag) = 0;
  // How many requests may be outstanding at once.
  virtual size_t capacity() const = 0;
  // Closes every connection. Outstanding requests complete with kConnectionError.
  // REQUIRES: called on the io_context thread.
  virtual void Close() = 0;
};

class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // A transport bound to `io`, delivering to `sink`. Both must outlive it.
  virtual std::unique_ptr<Transport> NewTransport(boost::asio::io_context& io,
                                                  CompletionSink* sink) = 0;
  // Requests in the pre-encoded pool.
  virtual size_t pool_size() const = 0;
  // Mean bytes of one encoded request on the wire (headers included).
  virtual uint64_t mean_request_bytes() const = 0;
};

// Encodes every request of `workload` for `options.protocol`. InvalidArgument for bad
// options; Unimplemented for gRPC in a build without Ferry's gRPC stubs.
absl::StatusOr<std::unique_ptr<TransportFactory>> CreateTransportFactory(
    const TransportOptions& options, const Workload& workload);

// The control calls around a run: blocking, from the main thread, over their own connection.
class ControlClient {
 public:
  virtual ~ControlClient() = default;
  // The model's inputs and outputs from its V2 metadata (see ParseModelMetadata).
  // Unavailable when the server cannot be reached, NotFound for an unknown model,
  // InvalidArgument for a body that is not metadata.
  virtual absl::StatusOr<ModelSignature> GetModelMetadata() = 0;
  // Cumulative statistics; nullopt when the server does not implement the statistics
  // extension (404, 405, 501), an error for anything else that fails.
  virtual absl::StatusOr<std::optional<ModelStats>> GetModelStats() = 0;
};

absl::StatusOr<std::unique_ptr<ControlClient>> CreateControlClient(const TransportOptions& options);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_TRANSPORT_H_
