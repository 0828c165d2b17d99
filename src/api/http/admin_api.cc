#include "api/http/admin_api.h"

#include <boost/json.hpp>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/http/extension_json.h"
#include "api/http/json_codec.h"
#include "api/http/percent_decode.h"
#include "core/version_number.h"
#include "registry/names.h"
#include "server/registry_service.h"

namespace ferry {
namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "/api/v1";

std::string Str(json::string_view s) { return std::string(s.data(), s.size()); }

// The HTTP status for a registry error (registry/registry.h has the mapping).
int StatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kDataLoss:
      return 500;
    default:
      return Router::HttpStatusFor(s);
  }
}

HttpResponse Error(const absl::Status& s) {
  return Router::ErrorResponse(StatusFor(s), std::string_view(s.message().data(), s.message().size()));
}

HttpResponse Error(int status, const std::string& message) {
  return Router::ErrorResponse(status, message);
}

HttpResponse Json(json::value v, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

// JSON text stored by the registry (lineage, audit before/after) as a value; text that
// does not parse is kept as a string rather than lost.
json::value Embed(const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

json::object TagsJson(const Tags& tags) {
  json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return o;
}

json::object AliasesJson(const std::vector<Alias>& aliases) {
  json::object o;
  for (const Alias& a : aliases) o[a.name] = a.version;
  return o;
}

json::object VersionJson(const ModelVersion& v, const std::vector<Alias>& aliases) {
  json::object o;
  o["model"] = v.model;
  o["version"] = v.version;
  o["state"] = VersionStatusName(v.state);
  o["description"] = v.description;
  o["tags"] = TagsJson(v.tags);
  json::array names;
  for (const Alias& a : aliases) {
    if (a.version == v.version) names.emplace_back(a.name);
  }
  o["aliases"] = std::move(names);
  json::array files;
  for (const ArtifactFile& f : v.files) {
    files.push_back(json::object{{"path", f.path}, {"sha256", f.sha256}, {"bytes", f.bytes}});
  }
  o["files"] = std::move(files);
  o["lineage"] = Embed(v.lineage_json);
  if (v.parent_version > 0) {
    o["parent"] = json::object{{"model", v.parent_model.empty() ? v.model : v.parent_model},
                               {"version", v.parent_version}};
  } else {
    o["parent"] = nullptr;
  }
  o["source"] = v.source;
  o["created_ms"] = v.created_ms;
  o["created_by"] = v.created_by;
  return o;
}

json::object AuditJson(const AuditEntry& e) {
  return json::object{{"id", e.id},           {"time_ms", e.time_ms},   {"actor", e.actor},
                      {"action", e.action},   {"model", e.model},       {"before", Embed(e.before)},
                      {"after", Embed(e.after)}, {"reason", e.reason},  {"prev_hash", e.prev_hash},
                      {"hash", e.hash}};
}

// One parsed /api/v1 request.
struct Call {
  std::string_view method;
  std::string path;
  std::vector<std::string> seg;  // decoded segments after /api/v1/
  std::map<std::string, std::string> query;
  std::string_view body;
  std::string actor;  // the principal; "" is the local user
};

absl::StatusOr<json::object> BodyObject(std::string_view body) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  if (v->is_null()) return json::object();
  return std::move(v->get_object());
}

// Refuses members other than `known`.
absl::Status OnlyMembers(const json::object& o, std::initializer_list<const char*> known) {
  for (const auto& kv : o) {
    bool ok = false;
    for (const char* k : known) ok |= (std::string_view(kv.key().data(), kv.key().size()) == k);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field '", Str(kv.key()),
                                                     "'; this call takes ",
                                                     absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> OptionalString(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return absl::InvalidArgumentError(absl::StrCat("'", name, "' must be a string"));
  return Str(v->get_string());
}

// A positive version number in a JSON member.
absl::StatusOr<int64_t> VersionMember(const json::value& v, const char* name) {
  if (v.is_int64() && v.get_int64() > 0) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() > 0 && v.get_uint64() <= INT64_MAX) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' must be a positive integer version number, not ", json::serialize(v)));
}

// "expected_version": absent -> no check; null -> the alias must not exist; N -> it must be at N.
absl::StatusOr<std::optional<int64_t>> Expected(const json::object& o) {
  const json::value* v = o.if_contains("expected_version");
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_null()) return std::optional<int64_t>(kAliasAbsent);
  absl::StatusOr<int64_t> n = VersionMember(*v, "expected_version");
  if (!n.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        n.status().message(), " (null: the alias must not exist yet; leave it out: no check)"));
  }
  return std::optional<int64_t>(*n);
}

HttpResponse MethodNotAllowed(const Call& call, const char* allow) {
  HttpResponse r = Error(405, absl::StrCat("method ", std::string(call.method), " is not allowed on '",
                                           call.path, "'; use ", allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

absl::Status NoQuery(const Call& call) {
  if (call.query.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown query parameter '", call.query.begin()->first, "' on '", call.path, "'"));
}

// ---- handlers ----

HttpResponse ListModels(RegistryService& rs) {
  Registry& reg = rs.registry();
  absl::StatusOr<std::vector<RegisteredModel>> models = reg.ListModels();
  if (!models.ok()) return Error(models.status());
  json::array out;
  for (const RegisteredModel& m : *models) {
    absl::StatusOr<std::vector<Alias>> aliases = reg.ListAliases(m.name);
    if (!aliases.ok()) return Error(aliases.status());
    absl::StatusOr<std::vector<ModelVersion>> versions = reg.ListVersions(m.name);
    if (!versions.ok()) return Error(versions.status());
    json::array numbers;
    for (const ModelVersion& v : *versions) numbers.emplace_back(v.version);
    out.push_back(json::object{{"name", m.name},
                               {"description", m.description},
                               {"tags", TagsJson(m.tags)},
                               {"aliases", AliasesJson(*aliases)},
                               {"versions", std::move(numbers)},
                               {"updated_ms", m.updated_ms}});
  }
  return Json(json::object{{"models", std::move(out)}});
}

HttpResponse ShowModel(RegistryService& rs, const std::string& name) {
  Registry& reg = rs.registry();
  absl::StatusOr<RegisteredModel> m = reg.GetModel(name);
  if (!m.ok()) return Error(m.status());
  absl::StatusOr<std::vector<Alias>> aliases = reg.ListAliases(name);
  if (!aliases.ok()) return Error(aliases.status());
  absl::StatusOr<std::vector<ModelVersion>> versions = reg.ListVersions(name);
  if (!versions.ok()) return Error(versions.status());
  json::array vs;
  for (const ModelVersion& v : *versions) {
    json::array names;
    for (const Alias& a : *aliases) {
      if (a.version == v.version) names.emplace_back(a.name);
    }
    vs.push_back(json::object{{"version", v.version},
                              {"state", VersionStatusName(v.state)},
                              {"aliases", std::move(names)},
                              {"description", v.description},
                              {"tags", TagsJson(v.tags)},
                              {"source", v.source},
                              {"created_ms", v.created_ms},
                              {"created_by", v.created_by}});
  }
  return Json(json::object{{"name", m->name},
                           {"description", m->description},
                           {"tags", TagsJson(m->tags)},
                           {"aliases", AliasesJson(*aliases)},
                           {"versions", std::move(vs)},
                           {"created_ms", m->created_ms},
                           {"updated_ms", m->updated_ms}});
}

// A version by number or alias, with its lineage chain when `lineage` is set.
HttpResponse ShowVersion(RegistryService& rs, const std::string& name, const std::string& segment,
                         int status = 200) {
  Registry& reg = rs.registry();
  absl::StatusOr<int64_t> number = reg.ResolveVersion(name, segment);
  if (!number.ok()) return Error(number.status());
  absl::StatusOr<ModelVersion> v = reg.GetVersion(name, *number);
  if (!v.ok()) return Error(v.status());
  absl::StatusOr<std::vector<Alias>> aliases = reg.ListAliases(name);
  if (!aliases.ok()) return Error(aliases.status());
  json::object o = VersionJson(*v, *aliases);
  absl::StatusOr<std::vector<ModelVersion>> chain = reg.LineageChain(name, *number);
  if (!chain.ok()) return Error(chain.status());
  json::array ancestors;
  for (size_t i = 1; i < chain->size(); ++i) {
    ancestors.push_back(json::object{{"model", (*chain)[i].model}, {"version", (*chain)[i].version}});
  }
  o["ancestors"] = std::move(ancestors);
  o["lineage_text"] = FormatLineageChain(*chain);
  return Json(std::move(o), status);
}

HttpResponse PutAlias(RegistryService& rs, const Call& call, const std::string& model,
                      const std::string& alias) {
  absl::StatusOr<json::object> body = BodyObject(call.body);
  if (!body.ok()) return Error(body.status());
  if (absl::Status s = OnlyMembers(*body, {"version", "expected_version", "reason"}); !s.ok()) {
    return Error(s);
  }
  const json::value* version = body->if_contains("version");
  if (version == nullptr) return Error(400, "'version' is required: the version the alias is to name");
  absl::StatusOr<int64_t> number = VersionMember(*version, "version");
  if (!number.ok()) return Error(number.status());
  absl::StatusOr<std::optional<int64_t>> expected = Expected(*body);
  if (!expected.ok()) return Error(expected.status());
  absl::StatusOr<std::string> reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  absl::StatusOr<Alias> set = rs.SetAlias(model, alias, *number, *expected, call.actor, *reason);
  if (!set.ok()) return Error(set.status());
  return Json(json::object{{"model", set->model},
                           {"alias", set->name},
                           {"version", set->version},
                           {"updated_ms", set->updated_ms}});
}

HttpResponse DeleteAlias(RegistryService& rs, const Call& call, const std::string& model,
                         const std::string& alias) {
  absl::StatusOr<json::object> body = BodyObject(call.body);
  if (!body.ok()) return Error(body.status());
  if (absl::Status s = OnlyMembers(*body, {"expected_version", "reason"}); !s.ok()) return Error(s);
  absl::StatusOr<std::optional<int64_t>> expected = Expected(*body);
  if (!expected.ok()) return Error(expected.status());
  absl::StatusOr<std::string> reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  absl::Status s = rs.DeleteAlias(model, alias, *expected, call.actor, *reason);
  if (!s.ok()) return Error(s);
  return Json(json::object{{"model", model}, {"alias", alias}, {"deleted", true}});
}

HttpResponse Archive(RegistryService& rs, const Call& call, const std::string& model,
                     const std::string& segment) {
  absl::StatusOr<json::object> body = BodyObject(call.body);
  if (!body.ok()) return Error(body.status());
  if (absl::Status s = OnlyMembers(*body, {"reason"}); !s.ok()) return Error(s);
  absl::StatusOr<std::string> reason = OptionalString(*body, "reason");
  if (!reason.ok()) return Error(reason.status());
  // By number only: an alias names an active version, which archiving would refuse anyway.
  const int64_t number = ParseVersion(segment);
  if (number == 0) {
    return Error(400, absl::StrCat("version '", segment, "' must be a version number to archive"));
  }
  absl::StatusOr<ModelVersion> v = rs.registry().ArchiveVersion(model, number, call.actor, *reason);
  if (!v.ok()) return Error(v.status());
  return Json(VersionJson(*v, {}));
}

absl::StatusOr<int64_t> QueryInt(const Call& call, const std::string& name, int64_t min,
                                 int64_t max) {
  const std::string& text = call.query.at(name);
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter '", name, "' must be an integer from ",
                                                   min, " to ", max, ", not '", text, "'"));
  }
  return n;
}

HttpResponse ReadAudit(RegistryService& rs, const Call& call) {
  AuditFilter filter;
  for (const auto& [key, value] : call.query) {
    if (key == "model") {
      filter.model = value;
    } else if (key == "action") {
      filter.action = value;
    } else if (key == "since" || key == "until" || key == "after" || key == "limit") {
      const int64_t max = key == "limit" ? 10000 : INT64_MAX;
      absl::StatusOr<int64_t> n = QueryInt(call, key, key == "limit" ? 1 : 0, max);
      if (!n.ok()) return Error(n.status());
      if (key == "since") filter.from_ms = *n;
      if (key == "until") filter.to_ms = *n;
      if (key == "after") filter.after_id = *n;
      if (key == "limit") filter.limit = static_cast<int>(*n);
    } else {
      return Error(400, absl::StrCat("unknown query parameter '", key,
                                     "'; the audit log takes model, action, since, until, after, limit"));
    }
  }
  absl::StatusOr<std::vector<AuditEntry>> rows = rs.registry().ReadAudit(filter);
  if (!rows.ok()) return Error(rows.status());
  json::array out;
  for (const AuditEntry& e : *rows) out.push_back(AuditJson(e));
  return Json(json::object{{"entries", std::move(out)}});
}

HttpResponse VerifyAudit(RegistryService& rs) {
  absl::StatusOr<AuditVerification> v = rs.registry().VerifyAudit();
  if (!v.ok()) return Error(v.status());
  return Json(json::object{{"ok", v->ok},
                           {"rows", v->rows},
                           {"head_id", v->head_id},
                           {"head_hash", v->head_hash},
                           {"first_bad_id", v->first_bad_id},
                           {"problem", v->problem}});
}

// POST /api/v1/models/{m}/versions: registers, then loads; answers from the load's callback.
void Register(AdminService* admin, InferenceServer* server, RegistryService& rs, const Call& call,
              const std::string& model, const RequestContext& context, Responder respond) {
  const auto fail = [&](HttpResponse r) { respond(std::move(r)); };
  absl::StatusOr<json::object> body = BodyObject(call.body);
  if (!body.ok()) return fail(Error(body.status()));
  if (absl::Status s = OnlyMembers(*body, {"artifact_path", "lineage", "tags", "description", "reason"});
      !s.ok()) {
    return fail(Error(s));
  }
  RegisterRequest request;
  request.model = model;
  const json::value* artifact = body->if_contains("artifact_path");
  if (artifact == nullptr || !artifact->is_string() || artifact->get_string().empty()) {
    return fail(Error(400, "'artifact_path' is required: a file or folder on the server host, as a string"));
  }
  request.artifact_path = Str(artifact->get_string());
  if (const json::value* lineage = body->if_contains("lineage"); lineage != nullptr && !lineage->is_null()) {
    if (!lineage->is_object()) return fail(Error(400, "'lineage' must be a JSON object"));
    request.lineage_json = json::serialize(*lineage);
  }
  if (const json::value* tags = body->if_contains("tags"); tags != nullptr && !tags->is_null()) {
    if (!tags->is_object()) return fail(Error(400, "'tags' must be an object of strings"));
    for (const auto& kv : tags->get_object()) {
      if (!kv.value().is_string()) {
        return fail(Error(400, absl::StrCat("tags: the value of '", Str(kv.key()), "' must be a string")));
      }
      request.tags[Str(kv.key())] = Str(kv.value().get_string());
    }
  }
  absl::StatusOr<std::string> description = OptionalString(*body, "description");
  if (!description.ok()) return fail(Error(description.status()));
  request.description = *description;
  absl::StatusOr<std::string> reason = OptionalString(*body, "reason");
  if (!reason.ok()) return fail(Error(reason.status()));
  request.reason = *reason;
  absl::StatusOr<ModelVersion> registered = rs.registry().RegisterVersion(request, call.actor);
  if (!registered.ok()) return fail(Error(registered.status()));
  auto holder = std::make_shared<Responder>(std::move(respond));
  const int64_t number = registered->version;
  const std::string actor = call.actor;
  RegistryService* service = &rs;
  admin->LoadModel(context, model, [holder, service, server, model, number, actor](absl::Status s) {
    HttpResponse r;
    try {
      // The load reports the model's first failure, which may be another version's (one
      // that failed earlier and still does): what counts is whether this one is ready.
      std::string why(s.message());
      bool ready = false;
      for (const ModelIndexEntry& e : server->Index()) {
        if (e.name != model || e.version != std::to_string(number)) continue;
        ready = e.state == "READY";
        if (!ready && !e.reason.empty()) why = e.reason;
      }
      if (ready) {
        r = ShowVersion(*service, model, std::to_string(number), 201);
      } else {
        // The version stays registered (its files are in the repository) but failed: it
        // takes no traffic, and archiving it keeps any alias from naming it.
        if (why.empty()) why = "it is not ready";
        absl::StatusOr<ModelVersion> archived = service->registry().ArchiveVersion(
            model, number, actor, absl::StrCat("failed to load: ", why));
        json::object o{{"error", absl::StrCat("version ", number, " of model '", model,
                                              "' was registered but failed to load: ", why)},
                       {"model", model},
                       {"version", number},
                       {"state", archived.ok() ? "archived" : "active"}};
        r = Json(std::move(o), absl::IsResourceExhausted(s) || absl::IsUnavailable(s) ? 503 : 422);
        if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
      }
    } catch (const std::exception& e) {
      r = Error(500, absl::StrCat("internal error: ", e.what()));
    }
    const Responder respond = std::move(*holder);
    respond(std::move(r));
  });
}

}  // namespace

bool IsAdminApiTarget(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == kPrefix || (path.size() > kPrefix.size() && path.substr(0, kPrefix.size()) == kPrefix &&
                             path[kPrefix.size()] == '/');
}

void HandleAdminApi(const HttpRequest& request, const RequestContext& context,
                    InferenceServer* server, AdminService* admin, Responder respond) {
  try {
    Call call;
    call.method = request.method;
    call.body = request.body;
    call.actor = context.principal;
    const size_t q = request.target.find('?');
    call.path = std::string(request.target.substr(0, q));
    if (q != std::string_view::npos) {
      std::string_view query = request.target.substr(q + 1);
      while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        std::optional<std::string> key = PercentDecode(pair.substr(0, eq), true);
        std::optional<std::string> value =
            PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!key || !value) {
          return respond(Error(400, absl::StrCat("the query has a malformed %-escape in '",
                                                 std::string(pair), "'")));
        }
        if (call.query.count(*key) > 0) {
          return respond(Error(400, absl::StrCat("query parameter '", *key, "' is given twice")));
        }
        call.query[*key] = *value;
      }
    }
    std::string_view rest = std::string_view(call.path).substr(kPrefix.size());
    if (!rest.empty()) rest.remove_prefix(1);
    while (!rest.empty()) {
      const size_t slash = rest.find('/');
      std::optional<std::string> seg = PercentDecode(rest.substr(0, slash));
      if (!seg) {
        return respond(Error(400, absl::StrCat("'", call.path, "' has a malformed %-escape")));
      }
      call.seg.push_back(std::move(*seg));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
      if (rest.empty()) call.seg.emplace_back();  // a trailing slash: an empty segment
    }
    const std::vector<std::string>& s = call.seg;
    const auto not_found = [&] {
      return Error(404, absl::StrCat("no such endpoint '", call.path,
                                     "' (docs/registry.md lists the /api/v1 endpoints)"));
    };
    for (const std::string& part : s) {
      if (part.empty()) return respond(not_found());
    }
    RegistryService* rs = admin->registry();
    if (rs == nullptr) {
      return respond(Error(404, absl::StrCat("no such endpoint '", call.path,
                                             "': this server runs without a model registry")));
    }
    const std::string_view m = call.method;
    const auto reply = [&](HttpResponse r) { respond(std::move(r)); };
    const auto query_free = [&]() -> bool {
      if (absl::Status st = NoQuery(call); !st.ok()) {
        reply(Error(st));
        return false;
      }
      return true;
    };
    if (s.size() == 1 && s[0] == "models") {
      if (m != "GET") return reply(MethodNotAllowed(call, "GET"));
      if (!query_free()) return;
      return reply(ListModels(*rs));
    }
    if (s.size() == 1 && s[0] == "audit") {
      if (m != "GET") return reply(MethodNotAllowed(call, "GET"));
      return reply(ReadAudit(*rs, call));
    }
    if (s.size() == 2 && s[0] == "audit" && s[1] == "verify") {
      if (m != "GET") return reply(MethodNotAllowed(call, "GET"));
      if (!query_free()) return;
      return reply(VerifyAudit(*rs));
    }
    if (s.size() < 2 || s[0] != "models") return reply(not_found());
    const std::string& model = s[1];
    if (s.size() == 2) {
      if (m != "GET") return reply(MethodNotAllowed(call, "GET"));
      if (!query_free()) return;
      return reply(ShowModel(*rs, model));
    }
    if (s.size() == 3 && s[2] == "versions") {
      if (m != "POST") return reply(MethodNotAllowed(call, "POST"));
      if (!query_free()) return;
      return Register(admin, server, *rs, call, model, context, std::move(respond));
    }
    if (s.size() == 4 && s[2] == "versions") {
      if (m != "GET") return reply(MethodNotAllowed(call, "GET"));
      if (!query_free()) return;
      return reply(ShowVersion(*rs, model, s[3]));
    }
    if (s.size() == 5 && s[2] == "versions" && s[4] == "archive") {
      if (m != "POST") return reply(MethodNotAllowed(call, "POST"));
      if (!query_free()) return;
      return reply(Archive(*rs, call, model, s[3]));
    }
    if (s.size() == 4 && s[2] == "aliases") {
      if (m != "PUT" && m != "DELETE") return reply(MethodNotAllowed(call, "PUT, DELETE"));
      if (!query_free()) return;
      return reply(m == "PUT" ? PutAlias(*rs, call, model, s[3]) : DeleteAlias(*rs, call, model, s[3]));
    }
    return reply(not_found());
  } catch (const std::exception& e) {
    respond(Error(500, absl::StrCat("internal error: ", e.what())));
  }
}

}  // namespace ferry
