// The registry's records as plain values: what a store keeps and what the registry and
// (later) the /api/v1 handlers pass around. No behaviour here beyond small helpers.
#ifndef FERRY_REGISTRY_TYPES_H_
#define FERRY_REGISTRY_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ferry {

using Tags = std::map<std::string, std::string>;

// A registered model: a name with versions, aliases, tags and a description.
struct RegisteredModel {
  std::string name;
  std::string description;
  Tags tags;
  int64_t created_ms = 0;  // wall clock, milliseconds since the Unix epoch
  int64_t updated_ms = 0;
};

// One file of a version's artifact, relative to the version folder ("model.pt").
struct ArtifactFile {
  std::string path;
  std::string sha256;  // 64 lowercase hex digits
  int64_t bytes = 0;
};

enum class VersionStatus { kActive, kArchived };
const char* VersionStatusName(VersionStatus state);  // "active", "archived"

// A registered version. Immutable once registered, except its state (archive), tags and
// description.
struct ModelVersion {
  std::string model;
  int64_t version = 0;  // >= 1
  VersionStatus state = VersionStatus::kActive;
  std::string description;
  Tags tags;
  std::vector<ArtifactFile> files;  // sorted by path
  // The lineage document (registry/lineage.h) as JSON text: "{}" when there is none.
  std::string lineage_json = "{}";
  // The version this one was derived from (fine-tuned, quantized, ...), if any; the
  // lineage chain follows it. parent_model is the same model unless it says otherwise.
  std::string parent_model;
  int64_t parent_version = 0;  // 0: no parent
  std::string source;          // "registered" (copied in) or "imported" (found on disk)
  int64_t created_ms = 0;
  std::string created_by;
};

// An alias names one version of one model ("production" -> 3).
struct Alias {
  std::string model;
  std::string name;
  int64_t version = 0;
  int64_t updated_ms = 0;
};

// Release states. kRunning and kPaused are active: a model has at most one active release.
enum class ReleaseState { kRunning, kPaused, kPromoted, kRolledBack };
const char* ReleaseStateName(ReleaseState state);  // "running", "paused", "promoted", "rolled_back"
std::optional<ReleaseState> ParseReleaseState(const std::string& name);
inline bool IsActive(ReleaseState s) {
  return s == ReleaseState::kRunning || s == ReleaseState::kPaused;
}

// One release of a candidate version against a baseline (shadow, canary, A/B). The store
// keeps it; the rollout controller owns what plan, stage and evidence mean.
struct Release {
  int64_t id = 0;  // assigned by the store, from 1
  std::string model;
  int64_t candidate = 0;
  int64_t baseline = 0;  // 0: none (the model's first version)
  std::string mode;      // "shadow", "canary", "ab", ...
  std::string plan_json = "{}";
  ReleaseState state = ReleaseState::kRunning;
  std::string stage;  // e.g. "canary-5"; the controller names the stages
  std::string evidence_json = "{}";
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// One row of the audit log. The caller of a store mutation fills actor .. reason and
// time_ms; the store assigns id, prev_hash and hash (registry/audit_chain.h).
struct AuditEntry {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string actor;
  std::string action;  // registry/audit_chain.h lists the actions Ferry writes
  std::string model;   // "" for actions on no model
  std::string before;  // JSON text: the state the action replaced ("null": none)
  std::string after;   // JSON text: the state it left
  std::string reason;
  std::string prev_hash;  // the previous row's hash; 64 zeros for the first row
  std::string hash;
};

// Which audit rows to read: every field is a filter that is off when empty / zero.
struct AuditFilter {
  std::string model;
  std::string action;
  int64_t from_ms = 0;   // time_ms >= from_ms
  int64_t to_ms = 0;     // time_ms < to_ms (0: no upper bound)
  int64_t after_id = 0;  // id > after_id: for paging
  int limit = 1000;      // at most this many rows, ascending by id (1..10000)
};

// The outcome of walking the audit chain.
struct AuditVerification {
  bool ok = true;
  int64_t rows = 0;          // rows that verified
  int64_t head_id = 0;       // the last verified row (0: empty log)
  std::string head_hash;     // its hash: keep it elsewhere to detect a cut tail
  int64_t first_bad_id = 0;  // when !ok: the first row that does not verify
  std::string problem;       // when !ok: what is wrong with it
};

}  // namespace ferry

#endif  // FERRY_REGISTRY_TYPES_H_
