// HTTP/1.1 implementations of the transport seam: keep-alive connections driven by
// Boost.Asio, one request in flight per connection, requests written from a pre-serialized
// pool (headers and body in one buffer) and responses parsed without storing headers.
#ifndef FERRY_LOADGEN_HTTP_TRANSPORT_H_
#define FERRY_LOADGEN_HTTP_TRANSPORT_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {

// REQUIRES: options.protocol is kHttpJson, kHttpBinary or kHttpShm. Resolves the host
// (blocking). With kHttpShm each connection makes a POSIX shared-memory object and
// registers it as a region on its first request (blocking), copies each request's inputs
// into it and sends JSON that names it; the region is unregistered and unlinked with the
// transport.
absl::StatusOr<std::unique_ptr<TransportFactory>> CreateHttpTransportFactory(
    const TransportOptions& options, const Workload& workload);

absl::StatusOr<std::unique_ptr<ControlClient>> CreateHttpControlClient(
    const TransportOptions& options);

struct HttpResult {
  int status = 0;
  std::string body;
};

// One blocking GET on a fresh connection. Unavailable when the server cannot be reached or
// does not answer within `timeout`.
absl::StatusOr<HttpResult> HttpGet(const Endpoint& endpoint, absl::string_view target,
                                   std::chrono::milliseconds timeout);
// The same with POST and a JSON body.
absl::StatusOr<HttpResult> HttpPost(const Endpoint& endpoint, absl::string_view target,
                                    absl::string_view body, std::chrono::milliseconds timeout);

// One blocking request with `method` ("GET", "PUT", ...) and a JSON `body` ("" for none)
// on a fresh connection; errors as HttpGet.
absl::StatusOr<HttpResult> HttpCall(const Endpoint& endpoint, absl::string_view method,
                                    absl::string_view target, absl::string_view body,
                                    std::chrono::milliseconds timeout);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_HTTP_TRANSPORT_H_
