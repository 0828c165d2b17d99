// Registry's release records (registry.h): start, progress and the state changes.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "json/reader.h"
#include "json/writer.h"
#include "registry/audit_chain.h"
#include "registry/names.h"
#include "registry/registry.h"

namespace ferry {
namespace {

absl::Status CheckObject(const std::string& field, const std::string& text) {
  absl::StatusOr<boost::json::value> doc = ParseJsonExact(text);
  if (!doc.ok() || !doc->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected a JSON object"));
  }
  return absl::OkStatus();
}

absl::Status CheckName(const char* field, const std::string& value, bool required) {
  if (value.empty() && !required) return absl::OkStatus();
  bool ok = !value.empty() && value.size() <= 64;
  for (char c : value) {
    ok = ok &&
         ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", JsonString(value), " is not a name; expected 1 to 64 of a-z, 0-9, -, _ and ."));
}

}  // namespace

absl::StatusOr<Release> Registry::StartRelease(const ReleaseSpec& spec, const std::string& actor,
                                               const std::string& reason) {
  FERRY_RETURN_IF_ERROR(ValidateModelName(spec.model));
  if (spec.candidate < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("candidate: expected a version >= 1; was ", spec.candidate));
  }
  if (spec.baseline < 0 || spec.baseline == spec.candidate) {
    return absl::InvalidArgumentError(absl::StrCat(
        "baseline: expected 0 (none) or a version other than the candidate; was ", spec.baseline));
  }
  FERRY_RETURN_IF_ERROR(CheckName("mode", spec.mode, true));
  FERRY_RETURN_IF_ERROR(CheckName("stage", spec.stage, false));
  FERRY_RETURN_IF_ERROR(CheckObject("plan", spec.plan_json));
  for (int64_t v : {spec.candidate, spec.baseline}) {
    if (v == 0) continue;
    FERRY_ASSIGN_OR_RETURN(ModelVersion version, store_->GetVersion(spec.model, v));
    if (version.state == VersionStatus::kArchived) {
      return absl::FailedPreconditionError(absl::StrCat("version ", v, " of model '", spec.model,
                                                        "' is archived: it cannot be released"));
    }
  }
  Release release;
  release.model = spec.model;
  release.candidate = spec.candidate;
  release.baseline = spec.baseline;
  release.mode = spec.mode;
  release.plan_json = spec.plan_json;
  release.state = ReleaseState::kRunning;
  release.stage = spec.stage;
  release.created_ms = release.updated_ms = Now();
  // The store fills in the id it assigns as the audit row's "after" when this is empty.
  FERRY_ASSIGN_OR_RETURN(
      int64_t id, store_->CreateRelease(
                      release, Audit(actor, "release.start", spec.model, "null", "", reason)));
  return store_->GetRelease(id);
}

absl::StatusOr<Release> Registry::GetRelease(int64_t id) { return store_->GetRelease(id); }

absl::StatusOr<std::vector<Release>> Registry::ListReleases(const std::string& model) {
  return store_->ListReleases(model);
}

absl::StatusOr<Release> Registry::AdvanceRelease(int64_t id, const std::string& stage,
                                                 const std::string& evidence_json,
                                                 const std::string& actor,
                                                 const std::string& reason) {
  FERRY_RETURN_IF_ERROR(CheckName("stage", stage, false));
  FERRY_RETURN_IF_ERROR(CheckObject("evidence", evidence_json));
  FERRY_ASSIGN_OR_RETURN(Release current, store_->GetRelease(id));
  if (!IsActive(current.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("release ", id, " is ", ReleaseStateName(current.state), ": it has finished"));
  }
  Release next = current;
  next.stage = stage;
  next.evidence_json = evidence_json;
  next.updated_ms = Now();
  FERRY_RETURN_IF_ERROR(
      store_->UpdateRelease(next, current.state,
                            Audit(actor, "release.update", current.model, ReleaseAuditJson(current),
                                  ReleaseAuditJson(next), reason),
                            {}));
  return store_->GetRelease(id);
}

absl::StatusOr<Release> Registry::TransitionRelease(int64_t id, const char* verb,
                                                    std::vector<ReleaseState> allowed,
                                                    ReleaseState to, const std::string& actor,
                                                    const std::string& reason,
                                                    const std::string& alias, bool to_candidate) {
  if (!alias.empty()) FERRY_RETURN_IF_ERROR(ValidateAliasName(alias));
  FERRY_ASSIGN_OR_RETURN(Release current, store_->GetRelease(id));
  bool ok = false;
  for (ReleaseState s : allowed) ok = ok || s == current.state;
  if (!ok) {
    return absl::FailedPreconditionError(absl::StrCat(
        "release ", id, " is ", ReleaseStateName(current.state), ": it cannot ", verb));
  }
  Release next = current;
  next.state = to;
  next.updated_ms = Now();
  std::vector<AliasChange> changes;
  if (!alias.empty()) {
    // The alias moves in the release's own transaction, from the version read here: a move
    // by someone else meanwhile makes the whole call Aborted, release state included.
    const int64_t target = to_candidate ? current.candidate : current.baseline;
    absl::StatusOr<Alias> now = store_->GetAlias(current.model, alias);
    if (!now.ok() && !absl::IsNotFound(now.status())) return now.status();
    const int64_t from = now.ok() ? now->version : kAliasAbsent;
    if (from != target) {
      changes.push_back(
          {alias, target, from,
           Audit(actor, target == 0 ? "alias.delete" : "alias.set", current.model,
                 AliasAuditJson(alias, from), AliasAuditJson(alias, target),
                 absl::StrCat(verb, " of release ", id, reason.empty() ? "" : ": ", reason))});
    }
  }
  FERRY_RETURN_IF_ERROR(
      store_->UpdateRelease(next, current.state,
                            Audit(actor, absl::StrCat("release.", verb).c_str(), current.model,
                                  ReleaseAuditJson(current), ReleaseAuditJson(next), reason),
                            changes));
  return store_->GetRelease(id);
}

absl::StatusOr<Release> Registry::PauseRelease(int64_t id, const std::string& actor,
                                               const std::string& reason) {
  return TransitionRelease(id, "pause", {ReleaseState::kRunning}, ReleaseState::kPaused, actor,
                           reason, "", false);
}

absl::StatusOr<Release> Registry::ResumeRelease(int64_t id, const std::string& actor,
                                                const std::string& reason) {
  return TransitionRelease(id, "resume", {ReleaseState::kPaused}, ReleaseState::kRunning, actor,
                           reason, "", false);
}

absl::StatusOr<Release> Registry::PromoteRelease(int64_t id, const std::string& actor,
                                                 const std::string& reason,
                                                 const std::string& alias) {
  return TransitionRelease(id, "promote", {ReleaseState::kRunning, ReleaseState::kPaused},
                           ReleaseState::kPromoted, actor, reason, alias, true);
}

absl::StatusOr<Release> Registry::RollbackRelease(int64_t id, const std::string& actor,
                                                  const std::string& reason,
                                                  const std::string& alias) {
  return TransitionRelease(id, "rollback", {ReleaseState::kRunning, ReleaseState::kPaused},
                           ReleaseState::kRolledBack, actor, reason, alias, false);
}

}  // namespace ferry
