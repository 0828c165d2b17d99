#include "registry/audit_chain.h"

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "json/writer.h"

namespace ferry {

const char kAuditGenesisHash[] = "0000000000000000000000000000000000000000000000000000000000000000";

const char* VersionStatusName(VersionStatus state) {
  return state == VersionStatus::kArchived ? "archived" : "active";
}

const char* ReleaseStateName(ReleaseState state) {
  switch (state) {
    case ReleaseState::kRunning:
      return "running";
    case ReleaseState::kPaused:
      return "paused";
    case ReleaseState::kPromoted:
      return "promoted";
    case ReleaseState::kRolledBack:
      return "rolled_back";
  }
  return "running";
}

std::optional<ReleaseState> ParseReleaseState(const std::string& name) {
  for (ReleaseState s : {ReleaseState::kRunning, ReleaseState::kPaused, ReleaseState::kPromoted,
                         ReleaseState::kRolledBack}) {
    if (name == ReleaseStateName(s)) return s;
  }
  return std::nullopt;
}

std::string CanonicalAuditRow(const AuditEntry& row) {
  std::string out = "[";
  json_writer::AppendInt(out, row.id);
  out.push_back(',');
  json_writer::AppendInt(out, row.time_ms);
  for (const std::string* field :
       {&row.actor, &row.action, &row.model, &row.before, &row.after, &row.reason}) {
    out.push_back(',');
    json_writer::AppendString(out, *field);
  }
  out.push_back(']');
  return out;
}

std::string AliasAuditJson(const std::string& alias, int64_t version) {
  if (version == 0) return "null";
  return absl::StrCat("{\"alias\":", JsonString(alias), ",\"version\":", version, "}");
}

std::string ReleaseAuditJson(const Release& r) {
  std::string out;
  json_writer::Object o(out);
  json_writer::AppendInt(o.Key("release"), r.id);
  json_writer::AppendInt(o.Key("candidate"), r.candidate);
  json_writer::AppendInt(o.Key("baseline"), r.baseline);
  o.String("mode", r.mode);
  o.String("state", ReleaseStateName(r.state));
  o.String("stage", r.stage);
  o.Close();
  return out;
}

absl::StatusOr<std::string> AuditRowHash(const AuditEntry& row) {
  return Sha256Hex(absl::StrCat(row.prev_hash, "\n", CanonicalAuditRow(row)));
}

std::string CheckAuditRow(const AuditEntry* previous, const AuditEntry& row) {
  const int64_t expected_id = previous == nullptr ? 1 : previous->id + 1;
  if (row.id != expected_id) {
    return absl::StrCat("row id ", row.id, " where ", expected_id,
                        " was expected: rows are missing or reordered");
  }
  const std::string expected_prev = previous == nullptr ? kAuditGenesisHash : previous->hash;
  if (row.prev_hash != expected_prev) {
    return "prev_hash is not the previous row's hash: the previous row was changed or removed";
  }
  absl::StatusOr<std::string> hash = AuditRowHash(row);
  if (!hash.ok()) return std::string(hash.status().message());
  if (*hash != row.hash) return "hash does not match the row's fields: the row was edited";
  return "";
}

}  // namespace ferry
