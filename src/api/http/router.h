// The V2 REST routes (Open Inference Protocol, see shared/PROTOCOL.md §1 and §5) on top of
// InferenceServer. Independent of the HTTP library: it takes a method, a target and a body
// and produces a status, a content type, a body and extra headers, so it can be tested
// without sockets.
#ifndef FERRY_API_HTTP_ROUTER_H_
#define FERRY_API_HTTP_ROUTER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "api/http/json_codec.h"
#include "server/admin_service.h"
#include "server/inference_server.h"

namespace ferry {

namespace http_internal {
struct Route;  // a parsed request target; defined in router.cc
}  // namespace http_internal

struct HttpRequest {
  std::string_view method;  // "GET", "POST", ... (case-sensitive, as HTTP says)
  std::string_view target;  // origin form: path and optional "?query"
  std::string_view body;
  // The Inference-Header-Content-Length header when present (binary tensor data
  // extension): the body is that many bytes of JSON followed by tensor bytes.
  std::optional<std::string_view> inference_header_length;
  // The X-Request-Id header and the routing-key header (HttpOptions::routing_key_header)
  // when present; for an inference they fill the RequestContext.
  std::optional<std::string_view> request_id;
  std::optional<std::string_view> routing_key;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Beyond Content-Type and Content-Length, e.g. {"Allow", "GET"} or {"Retry-After", "1"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

// The header that names a request, both ways: a client's names its request; every
// inference response (and error) carries the server's request id in it.
inline constexpr char kRequestIdHeader[] = "X-Request-Id";

// Receives the response to one request, exactly once. std::nullopt means the request was
// cancelled because its client went away: send nothing and close the connection.
using Responder = std::function<void(std::optional<HttpResponse>)>;

struct RouterOptions {
  DecodeOptions decode;
};

class Router {
 public:
  // Neither is owned. `server` must outlive the router and every pending infer; `admin`
  // (which answers the model repository routes, under the bound it shares with the other
  // transports) must outlive the router and every pending load or unload.
  Router(InferenceServer* server, AdminService* admin, RouterOptions options = {});

  // Routes one request. `respond` runs before Handle returns for every route except infer,
  // whose response comes later on an inference worker thread (or at once, for errors
  // found before queueing), and model load and unload and a registry registration
  // (/api/v1, api/http/admin_api.h), whose response comes from an admin thread
  // (AdminService). The views in `request` need only live until Handle returns.
  // `context` (made by the transport, which may Cancel it) is filled with the request id
  // and routing key and handed to InferenceServer::Infer. Every response is counted in
  // the server's metrics by status code; a cancelled one is not.
  void Handle(const HttpRequest& request, std::shared_ptr<RequestContext> context,
              Responder respond);

  // The HTTP status for a failed absl::Status: InvalidArgument 400, NotFound 404,
  // ResourceExhausted and Unavailable 503, DeadlineExceeded 504, Unimplemented 501,
  // anything else 500.
  // (Cancelled has no status: there is nobody to send it to.)
  static int HttpStatusFor(const absl::Status& status);
  // {"error": message} with that status (and Retry-After: 1 for ResourceExhausted).
  static HttpResponse ErrorResponse(const absl::Status& status);
  static HttpResponse ErrorResponse(int http_status, std::string_view message);

 private:
  using Route = http_internal::Route;
  HttpResponse HandleSync(const Route& route, std::string_view body, const RequestContext& context);
  // The logging and trace settings routes: `body` empty reads them (GET), else changes them.
  HttpResponse HandleSettings(const Route& route, std::string_view body,
                              const RequestContext& context);
  void StartInfer(const Route& route, const HttpRequest& request,
                  std::shared_ptr<RequestContext> context, Responder respond);
  // The infer body, whichever of JSON, JSON + binary or raw binary it is.
  absl::StatusOr<RestInferRequest> DecodeInfer(const Route& route, const HttpRequest& request);
  void StartModelControl(const Route& route, std::string_view body, const RequestContext& context,
                         Responder respond);

  InferenceServer* server_;
  AdminService* admin_;
  RouterOptions options_;
};

}  // namespace ferry

#endif  // FERRY_API_HTTP_ROUTER_H_
