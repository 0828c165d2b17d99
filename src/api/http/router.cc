#include "api/http/router.h"

#include <boost/json/value.hpp>
#include <exception>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/http/admin_api.h"
#include "api/http/binary_framing.h"
#include "api/http/extension_json.h"
#include "api/http/percent_decode.h"

namespace ferry {
namespace {

namespace json = boost::json;

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

bool IsNumber(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

namespace http_internal {

enum class RouteKind {
  kLive,
  kReady,
  kServerMetadata,
  kModelMetadata,
  kModelReady,
  kInfer,
  kMetrics,
  kRepositoryIndex,
  kStats,
  kModelLoad,
  kModelUnload,
  kModelConfig,
  kLogging,       // GET or POST
  kTraceSetting,  // GET or POST; `model` empty for the whole server
  kShmStatus,      // system shared memory; `region` empty for every region
  kShmRegister,
  kShmUnregister,  // `region` empty for every region
  kNotFound,    // `error` says what was not found
  kBadRequest,  // the path is recognizable but malformed; `error` says how
};

struct Route {
  RouteKind kind = RouteKind::kNotFound;
  const char* method = "GET";  // the one method the route accepts, unless get_or_post
  bool get_or_post = false;    // a settings route: GET reads, POST changes
  std::string path;            // without the query, for messages
  std::string model;           // empty for kStats: every model
  std::string version;         // empty: the server picks
  std::string region;          // a shared memory region's name
  std::string error;
};

}  // namespace http_internal

namespace {

using http_internal::Route;
using http_internal::RouteKind;

Route NotFound(std::string_view path) {
  Route r;
  r.kind = RouteKind::kNotFound;
  r.error = absl::StrCat("no route for '", AbslView(path), "'");
  return r;
}

// /v2/models/{model}[/versions/{version}][/ready|/infer|/stats|/config], or
// /v2/models/{model}/trace/setting, given the segments after "models".
Route ParseModelRoute(std::string_view path, const std::vector<std::string_view>& seg) {
  Route r;
  if (seg.empty() || seg[0].empty()) return NotFound(path);
  std::optional<std::string> model = PercentDecode(seg[0]);
  if (!model) {
    r.kind = RouteKind::kBadRequest;
    r.error = absl::StrCat("the model name in '", AbslView(path), "' has a malformed %-escape");
    return r;
  }
  r.model = std::move(*model);
  size_t next = 1;
  if (seg.size() > 1 && seg[1] == "versions") {
    if (seg.size() < 3 || seg[2].empty()) return NotFound(path);
    // A number, or an alias the server resolves (server/alias_table.h).
    if (!IsNumber(seg[2]) && !LooksLikeAlias(seg[2])) {
      r.kind = RouteKind::kBadRequest;
      r.error = absl::StrCat("version '", AbslView(seg[2]),
                             "' in the path is not a number; versions are positive integers "
                             "or aliases");
      return r;
    }
    r.version = std::string(seg[2]);
    next = 3;
  }
  if (seg.size() == next) {
    r.kind = RouteKind::kModelMetadata;
  } else if (seg.size() == next + 1 && seg[next] == "ready") {
    r.kind = RouteKind::kModelReady;
  } else if (seg.size() == next + 1 && seg[next] == "infer") {
    r.kind = RouteKind::kInfer;
    r.method = "POST";
  } else if (seg.size() == next + 1 && seg[next] == "stats") {
    r.kind = RouteKind::kStats;
  } else if (seg.size() == next + 1 && seg[next] == "config") {
    r.kind = RouteKind::kModelConfig;
  } else if (next == 1 && seg.size() == 3 && seg[1] == "trace" && seg[2] == "setting") {
    r.kind = RouteKind::kTraceSetting;
    r.get_or_post = true;
  } else {
    return NotFound(path);
  }
  return r;
}

Route ParseModelControlRoute(std::string_view path, const std::vector<std::string_view>& seg) {
  if (seg.size() != 2 || seg[0].empty() || (seg[1] != "load" && seg[1] != "unload")) {
    return NotFound(path);
  }
  Route r;
  std::optional<std::string> model = PercentDecode(seg[0]);
  if (!model) {
    r.kind = RouteKind::kBadRequest;
    r.error = absl::StrCat("the model name in '", AbslView(path), "' has a malformed %-escape");
    return r;
  }
  r.model = std::move(*model);
  r.kind = seg[1] == "load" ? RouteKind::kModelLoad : RouteKind::kModelUnload;
  r.method = "POST";
  return r;
}

// /v2/systemsharedmemory[/region/{region}]/status|unregister, and
// /v2/systemsharedmemory/region/{region}/register, given what follows "systemsharedmemory/".
Route ParseSharedMemoryRoute(std::string_view path, const std::vector<std::string_view>& seg) {
  Route r;
  std::string_view action;
  if (seg.size() == 1) {
    action = seg[0];
  } else if (seg.size() == 3 && seg[0] == "region" && !seg[1].empty()) {
    std::optional<std::string> region = PercentDecode(seg[1]);
    if (!region) {
      r.kind = RouteKind::kBadRequest;
      r.error = absl::StrCat("the region name in '", AbslView(path), "' has a malformed %-escape");
      return r;
    }
    r.region = std::move(*region);
    action = seg[2];
  } else {
    return NotFound(path);
  }
  if (action == "status") {
    r.kind = RouteKind::kShmStatus;
  } else if (action == "unregister") {
    r.kind = RouteKind::kShmUnregister;
    r.method = "POST";
  } else if (action == "register" && !r.region.empty()) {
    r.kind = RouteKind::kShmRegister;
    r.method = "POST";
  } else {
    return NotFound(path);
  }
  return r;
}

Route ParseTarget(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  Route r;
  if (path == "/metrics") {
    r.kind = RouteKind::kMetrics;
  } else if (path == "/v2" || path == "/v2/") {
    r.kind = RouteKind::kServerMetadata;
  } else if (path == "/v2/health/live") {
    r.kind = RouteKind::kLive;
  } else if (path == "/v2/health/ready") {
    r.kind = RouteKind::kReady;
  } else if (path == "/v2/repository/index") {
    r.kind = RouteKind::kRepositoryIndex;
    r.method = "POST";
  } else if (path == "/v2/logging") {
    r.kind = RouteKind::kLogging;
    r.get_or_post = true;
  } else if (path == "/v2/trace/setting") {
    r.kind = RouteKind::kTraceSetting;
    r.get_or_post = true;
  } else if (path == "/v2/models/stats") {
    // As in Triton: statistics of every model (a model named "stats" cannot be asked
    // for on its own).
    r.kind = RouteKind::kStats;
  } else if (path.substr(0, 22) == "/v2/repository/models/") {
    // /v2/repository/models/{model}/load|unload
    const std::vector<std::string_view> seg = Split(path.substr(22));
    r = ParseModelControlRoute(path, seg);
  } else if (path.substr(0, 23) == "/v2/systemsharedmemory/") {
    r = ParseSharedMemoryRoute(path, Split(path.substr(23)));
  } else if (path.substr(0, 11) == "/v2/models/") {
    const std::vector<std::string_view> seg = Split(path.substr(11));
    r = ParseModelRoute(path, seg);
  } else {
    r = NotFound(path);
  }
  r.path = std::string(path);
  return r;
}

// The body of POST /v2/repository/index: empty, or {"ready": bool}. Returns the "ready"
// filter (false = list every model).
absl::StatusOr<bool> DecodeIndexRequest(std::string_view body) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  if (v->is_null()) return false;
  const json::value* ready = v->get_object().if_contains("ready");
  if (ready == nullptr || ready->is_null()) return false;
  if (!ready->is_bool()) return absl::InvalidArgumentError("request: 'ready' must be true or false");
  return ready->get_bool();
}

// The body of POST /v2/repository/models/{m}/load or /unload: empty, or a JSON object
// whose optional "parameters" is an object. A load's parameters are "config" (a string
// holding the model configuration as JSON) and "file:<version>/<name>" (the file's bytes,
// base64), as Triton's clients send them; AdminService::LoadModel checks what they say.
// Unload parameters (Triton's "unload_dependents") are accepted and have no effect:
// unloading a member leaves its ensembles and cascades loaded, and they answer 503 naming
// the missing member until it is back.
absl::StatusOr<LoadParameters> DecodeModelControlRequest(std::string_view body, bool load) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  LoadParameters out;
  if (v->is_null()) return out;
  const json::value* params = v->get_object().if_contains("parameters");
  if (params == nullptr || params->is_null()) return out;
  const json::object* p = params->if_object();
  if (p == nullptr) return absl::InvalidArgumentError("request: 'parameters' must be an object");
  if (!load) return out;
  for (const auto& [key, value] : *p) {
    const std::string name(key);
    if (!value.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("load parameter '", name, "' must be a string"));
    }
    const std::string_view text(value.get_string().data(), value.get_string().size());
    if (name == "config") {
      out.config = std::string(text);
    } else if (absl::StartsWith(name, "file:")) {
      std::string bytes;
      if (!absl::Base64Unescape(absl::string_view(text.data(), text.size()), &bytes)) {
        return absl::InvalidArgumentError(
            absl::StrCat("load parameter '", name, "' must hold the file's bytes in base64"));
      }
      out.files.emplace_back(name.substr(5), std::move(bytes));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown load parameter '", name, "': a load takes 'config' and 'file:<version>/<name>'"));
    }
  }
  return out;
}

}  // namespace

Router::Router(InferenceServer* server, AdminService* admin, RouterOptions options)
    : server_(server), admin_(admin), options_(std::move(options)) {}

int Router::HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:  // e.g. a stateful model's sequences are all taken
      return 409;
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

HttpResponse Router::ErrorResponse(int http_status, std::string_view message) {
  HttpResponse r;
  r.status = http_status;
  r.body = ErrorBody(message);
  return r;
}

HttpResponse Router::ErrorResponse(const absl::Status& status) {
  const absl::string_view message = status.message();
  HttpResponse r =
      ErrorResponse(HttpStatusFor(status), std::string_view(message.data(), message.size()));
  // A full queue clears quickly; tell well-behaved clients to retry soon.
  if (absl::IsResourceExhausted(status)) r.headers.emplace_back("Retry-After", "1");
  return r;
}

void Router::Handle(const HttpRequest& request, std::shared_ptr<RequestContext> context,
                    Responder respond) {
  MetricsRegistry& metrics = server_->metrics();
  const auto send = [&](HttpResponse response) {
    metrics.CountHttpResponse(response.status);
    respond(std::move(response));
  };
  HttpResponse response;
  try {
    if (IsAdminApiTarget(request.target)) {  // the registry's API: api/http/admin_api.h
      MetricsRegistry* counted = &metrics;
      return HandleAdminApi(request, *context, server_, admin_,
                            [counted, respond = std::move(respond)](std::optional<HttpResponse> r) {
                              if (r) counted->CountHttpResponse(r->status);
                              respond(std::move(r));
                            });
    }
    const Route route = ParseTarget(request.target);
    if (route.kind == RouteKind::kNotFound) return send(ErrorResponse(404, route.error));
    if (route.kind == RouteKind::kBadRequest) return send(ErrorResponse(400, route.error));
    const bool allowed = route.get_or_post
                             ? request.method == "GET" || request.method == "POST"
                             : request.method == route.method;
    if (!allowed) {
      const char* allow = route.get_or_post ? "GET, POST" : route.method;
      response = ErrorResponse(
          405, absl::StrCat("method ", AbslView(request.method), " is not allowed on '", route.path,
                            "'; use ", allow));
      response.headers.emplace_back("Allow", allow);
      return send(std::move(response));
    }
    if (route.kind == RouteKind::kInfer) {
      return StartInfer(route, request, std::move(context), std::move(respond));
    }
    if (route.kind == RouteKind::kModelLoad || route.kind == RouteKind::kModelUnload) {
      return StartModelControl(route, request.body, *context, std::move(respond));
    }
    // A GET reads the settings whatever its body; a POST changes them.
    response = route.get_or_post
                   ? HandleSettings(route, request.method == "GET" ? "" : request.body, *context)
                   : HandleSync(route, request.body, *context);
  } catch (const std::exception& e) {
    // Only the synchronous routes get here: StartInfer answers its own failures.
    response = ErrorResponse(500, absl::StrCat("internal error: ", e.what()));
  }
  send(std::move(response));
}

HttpResponse Router::HandleSync(const Route& route, std::string_view body,
                                const RequestContext& context) {
  HttpResponse r;
  switch (route.kind) {
    case RouteKind::kLive:
      r.body = EncodeLive(server_->IsLive());
      if (!server_->IsLive()) r.status = 503;
      return r;
    case RouteKind::kReady: {
      const bool ready = server_->IsReady();
      r.body = EncodeReady(ready);
      if (!ready) r.status = 503;
      return r;
    }
    case RouteKind::kServerMetadata:
      r.body = EncodeServerMetadata(server_->Metadata());
      return r;
    case RouteKind::kModelMetadata: {
      absl::StatusOr<ModelMetadata> metadata =
          server_->GetModelMetadata(route.model, route.version);
      if (!metadata.ok()) return ErrorResponse(metadata.status());
      r.body = EncodeModelMetadata(*metadata);
      return r;
    }
    case RouteKind::kModelReady: {
      absl::StatusOr<bool> ready = server_->IsModelReady(route.model, route.version);
      if (!ready.ok()) return ErrorResponse(ready.status());
      r.body = EncodeModelReady(route.model, *ready);
      if (!*ready) r.status = 503;
      return r;
    }
    case RouteKind::kMetrics:
      r.content_type = kMetricsContentType;
      r.body = server_->RenderMetrics();
      return r;
    case RouteKind::kRepositoryIndex: {
      absl::StatusOr<bool> ready_only = DecodeIndexRequest(body);
      if (!ready_only.ok()) return ErrorResponse(ready_only.status());
      r.body = EncodeRepositoryIndex(admin_->RepositoryIndex(context, *ready_only));
      return r;
    }
    case RouteKind::kModelConfig: {
      absl::StatusOr<TritonModelConfig> config = server_->GetModelConfig(route.model, route.version);
      if (!config.ok()) return ErrorResponse(config.status());
      r.body = EncodeModelConfig(*config);
      return r;
    }
    case RouteKind::kStats: {
      absl::StatusOr<std::vector<ModelStatistics>> stats =
          server_->Statistics(route.model, route.version);
      if (!stats.ok()) return ErrorResponse(stats.status());
      r.body = EncodeModelStatistics(*stats);
      return r;
    }
    case RouteKind::kShmStatus: {
      absl::StatusOr<std::vector<SharedMemoryRegionStatus>> status =
          server_->shared_memory().Status(route.region);
      if (!status.ok()) return ErrorResponse(status.status());
      r.body = EncodeSharedMemoryStatus(*status);
      return r;
    }
    case RouteKind::kShmRegister: {
      absl::StatusOr<SharedMemoryRegistration> reg = DecodeSharedMemoryRegister(body);
      if (!reg.ok()) return ErrorResponse(reg.status());
      absl::Status s =
          server_->shared_memory().Register(route.region, reg->key, reg->offset, reg->byte_size);
      // A missing key is the request's fault, not a missing route: 400, as any bad field.
      if (absl::IsNotFound(s) || absl::IsPermissionDenied(s)) {
        s = absl::InvalidArgumentError(s.message());
      }
      if (!s.ok()) return ErrorResponse(s);
      r.body = "{}";
      return r;
    }
    case RouteKind::kShmUnregister:
      server_->shared_memory().Unregister(route.region);
      r.body = "{}";
      return r;
    default:
      return ErrorResponse(500, "internal error: unhandled route");
  }
}

HttpResponse Router::HandleSettings(const Route& route, std::string_view body,
                                    const RequestContext& context) {
  HttpResponse r;
  if (route.kind == RouteKind::kLogging) {
    absl::StatusOr<SettingUpdates> updates = DecodeLogSettingsRequest(body);
    if (!updates.ok()) return ErrorResponse(updates.status());
    absl::StatusOr<LogSettings> now = admin_->Logging(context, *updates);
    if (!now.ok()) return ErrorResponse(now.status());
    r.body = EncodeLogSettings(*now);
    return r;
  }
  absl::StatusOr<TraceSettings> updates = DecodeTraceSettingsRequest(body);
  if (!updates.ok()) return ErrorResponse(updates.status());
  absl::StatusOr<TraceSettings> now = admin_->Tracing(context, route.model, *updates);
  if (!now.ok()) return ErrorResponse(now.status());
  r.body = EncodeTraceSettings(*now);
  return r;
}

absl::StatusOr<RestInferRequest> Router::DecodeInfer(const Route& route,
                                                     const HttpRequest& request) {
  if (!request.inference_header_length) {
    return DecodeRestInferRequest(request.body, std::nullopt, options_.decode);
  }
  absl::StatusOr<size_t> json_size =
      ParseInferenceHeaderLength(*request.inference_header_length, request.body.size());
  if (!json_size.ok()) return json_size.status();
  if (*json_size > 0) return DecodeRestInferRequest(request.body, *json_size, options_.decode);
  // The raw request: the model's only input, shaped from its metadata.
  absl::StatusOr<ModelMetadata> model = server_->GetModelMetadata(route.model, route.version);
  if (!model.ok()) return model.status();
  return DecodeRawInferRequest(request.body, *model);
}

void Router::StartInfer(const Route& route, const HttpRequest& http_request,
                        std::shared_ptr<RequestContext> context, Responder respond) {
  MetricsRegistry* metrics = &server_->metrics();
  absl::StatusOr<RestInferRequest> request = DecodeInfer(route, http_request);
  SharedMemoryOutputs shm_outputs;
  if (request.ok() && !request->shared_memory.empty()) {
    absl::StatusOr<SharedMemoryOutputs> resolved = ResolveSharedMemory(
        server_->shared_memory(), request->shared_memory, request->request);
    if (resolved.ok()) {
      shm_outputs = *std::move(resolved);
    } else {
      request = resolved.status();
    }
  }
  absl::StatusOr<std::string> id = ChooseRequestId(
      http_request.request_id, "X-Request-Id header", request.ok() ? request->request.id : "");
  if (!request.ok() || !id.ok()) {
    HttpResponse r = ErrorResponse(request.ok() ? id.status() : request.status());
    // The client's id when it was usable, so the failure can still be matched up.
    r.headers.emplace_back(kRequestIdHeader, id.ok() ? *id : NewRequestId());
    metrics->CountHttpResponse(r.status);
    respond(std::move(r));
    return;
  }
  context->id = std::move(*id);
  if (http_request.routing_key) context->routing_key = std::string(*http_request.routing_key);
  // Shared by the callback and the failure path below so the responder runs exactly once
  // even if Infer throws after taking the callback.
  struct Pending {
    Responder respond;
    std::atomic<bool> done{false};
  };
  auto pending = std::make_shared<Pending>();
  pending->respond = std::move(respond);
  const auto finish = [pending, metrics, context](std::optional<HttpResponse> response) {
    if (pending->done.exchange(true)) return;
    if (response) {
      response->headers.emplace_back(kRequestIdHeader, context->id);
      metrics->CountHttpResponse(response->status);
    }
    // Moved out so whatever the responder holds (the connection) is released as soon as
    // it returns, not whenever the server drops this callback.
    Responder respond = std::move(pending->respond);
    respond(std::move(response));
  };
  try {
    BinaryOutputs binary(*request);
    server_->Infer(context, route.model, route.version, std::move(request->request),
                   [finish, binary = std::move(binary),
                    shm_outputs = std::move(shm_outputs)](absl::StatusOr<InferResponse> result) {
                     // Runs on an inference worker: nothing may escape into it.
                     try {
                       std::vector<std::optional<SharedMemoryRef>> in_shm;
                       if (result.ok() && !shm_outputs.empty()) {
                         auto written = shm_outputs.Write(*result);
                         if (written.ok()) {
                           in_shm = *std::move(written);
                         } else {
                           result = written.status();
                         }
                       }
                       if (result.ok()) {
                         HttpResponse r;
                         if (binary.Any() || !in_shm.empty()) {
                           EncodedInferResponse e =
                               EncodeInferResponse(*result, binary.Flags(*result), in_shm);
                           if (e.binary) {
                             r.content_type = "application/octet-stream";
                             r.headers.emplace_back(kInferenceHeaderContentLength,
                                                    std::to_string(e.json_size));
                           }
                           r.body = std::move(e.body);
                         } else {
                           r.body = EncodeInferResponse(*result);
                         }
                         finish(std::move(r));
                       } else if (absl::IsCancelled(result.status())) {
                         finish(std::nullopt);
                       } else {
                         finish(ErrorResponse(result.status()));
                       }
                     } catch (const std::exception& e) {
                       finish(ErrorResponse(500, absl::StrCat("internal error: ", e.what())));
                     }
                   });
  } catch (const std::exception& e) {
    finish(ErrorResponse(500, absl::StrCat("internal error: ", e.what())));
  }
}

void Router::StartModelControl(const Route& route, std::string_view body,
                               const RequestContext& context, Responder respond) {
  MetricsRegistry* metrics = &server_->metrics();
  const bool load = route.kind == RouteKind::kModelLoad;
  absl::StatusOr<LoadParameters> parameters = DecodeModelControlRequest(body, load);
  if (!parameters.ok()) {
    HttpResponse r = ErrorResponse(parameters.status());
    metrics->CountHttpResponse(r.status);
    return respond(std::move(r));
  }
  // AdminCallback must be copyable; the responder (which holds the connection) is not
  // copied but shared, and moved out when the answer is handed over.
  auto holder = std::make_shared<Responder>(std::move(respond));
  AdminCallback done = [metrics, holder, load, model = route.model](absl::Status s) {
    HttpResponse r;
    try {
      if (s.ok()) {
        r.body = EncodeModelControl(model, load ? "load" : "unload");
      } else {
        r = ErrorResponse(s);  // ResourceExhausted (the admin bound) gets Retry-After
      }
    } catch (const std::exception& e) {
      r = ErrorResponse(500, absl::StrCat("internal error: ", e.what()));
    }
    metrics->CountHttpResponse(r.status);
    const Responder respond = std::move(*holder);
    respond(std::move(r));
  };
  if (load) {
    admin_->LoadModel(context, route.model, std::move(*parameters), std::move(done));
  } else {
    admin_->UnloadModel(context, route.model, std::move(done));
  }
}

}  // namespace ferry
