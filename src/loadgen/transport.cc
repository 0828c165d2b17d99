#include "loadgen/transport.h"

#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "loadgen/http_transport.h"
#if FERRY_LOADGEN_GRPC
#include "loadgen/grpc_transport.h"
#endif

namespace ferry::loadgen {
namespace {

#if !FERRY_LOADGEN_GRPC
constexpr absl::string_view kGrpcNotBuilt =
    "--protocol grpc is not in this build (it was configured without Ferry's gRPC stubs); "
    "use http-json or http-binary";
#endif

}  // namespace

absl::StatusOr<Protocol> ParseProtocol(absl::string_view name) {
  if (name == "http-json") return Protocol::kHttpJson;
  if (name == "http-binary") return Protocol::kHttpBinary;
  if (name == "http-shm") return Protocol::kHttpShm;
  if (name == "grpc") return Protocol::kGrpc;
  return absl::InvalidArgumentError(
      absl::StrCat("--protocol '", name, "': expected http-json, http-binary, http-shm or grpc"));
}

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHttpJson:
      return "http-json";
    case Protocol::kHttpBinary:
      return "http-binary";
    case Protocol::kHttpShm:
      return "http-shm";
    case Protocol::kGrpc:
      return "grpc";
  }
  return "?";
}

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kHttpStatus:
      return "http status";
    case Outcome::kRpcStatus:
      return "grpc status";
    case Outcome::kConnectionError:
      return "connection error";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kBadResponse:
      return "bad response";
  }
  return "?";
}

std::string RpcCodeName(int code) {
  // Indexed by code, as grpc::StatusCode numbers them.
  static constexpr const char* kNames[] = {
      "OK",         "CANCELLED",          "UNKNOWN",       "INVALID_ARGUMENT",  "DEADLINE_EXCEEDED",
      "NOT_FOUND",  "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",   "OUT_OF_RANGE",  "UNIMPLEMENTED",     "INTERNAL",
      "UNAVAILABLE", "DATA_LOSS",         "UNAUTHENTICATED"};
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return absl::StrCat("code ", code);
}

absl::StatusOr<Endpoint> ParseUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (absl::StartsWithIgnoreCase(rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url '", url, "': https is not supported; use http://host:port"));
  }
  if (absl::StartsWithIgnoreCase(rest, "http://")) rest.remove_prefix(7);
  if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--url '", url, "': give only scheme, host and port (the V2 paths are added)"));
    }
    rest = rest.substr(0, slash);
  }
  Endpoint endpoint;
  absl::string_view host = rest;
  absl::string_view port = "80";
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--url '", url, "': unclosed '['"));
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("--url '", url, "': expected ':' after ']'"));
      }
      port = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != absl::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url '", url, "': expected http://HOST:PORT, e.g. http://127.0.0.1:8000"));
  }
  endpoint.host = std::string(host);
  endpoint.port = std::string(port);
  return endpoint;
}

absl::StatusOr<std::unique_ptr<TransportFactory>> CreateTransportFactory(
    const TransportOptions& options, const Workload& workload) {
  switch (options.protocol) {
    case Protocol::kHttpJson:
    case Protocol::kHttpBinary:
    case Protocol::kHttpShm:
      return CreateHttpTransportFactory(options, workload);
    case Protocol::kGrpc:
#if FERRY_LOADGEN_GRPC
      return CreateGrpcTransportFactory(options, workload);
#else
      return absl::UnimplementedError(kGrpcNotBuilt);
#endif
  }
  return absl::InvalidArgumentError("unknown protocol");
}

absl::StatusOr<std::unique_ptr<ControlClient>> CreateControlClient(
    const TransportOptions& options) {
  switch (options.protocol) {
    case Protocol::kHttpJson:
    case Protocol::kHttpBinary:
    case Protocol::kHttpShm:
      return CreateHttpControlClient(options);
    case Protocol::kGrpc:
#if FERRY_LOADGEN_GRPC
      return CreateGrpcControlClient(options);
#else
      return absl::UnimplementedError(kGrpcNotBuilt);
#endif
  }
  return absl::InvalidArgumentError("unknown protocol");
}

}  // namespace ferry::loadgen
