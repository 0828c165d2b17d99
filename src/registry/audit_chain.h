// The audit log's hash chain, defined once for every store.
//
//   hash(row) = SHA-256( prev_hash || "\n" || canonical(row) )   as 64 lowercase hex
//   canonical(row) = the JSON array [id, time_ms, actor, action, model, before, after, reason]
//                    written by json/writer.h (ints as decimal, strings escaped, no spaces)
//   prev_hash of row 1 = 64 zeros; row ids are 1, 2, 3, ... with no gaps
//
// So editing any field of a row changes its hash, and since each row carries the previous
// row's hash, editing, deleting or reordering any row but the last breaks the chain at the
// next row. Cutting rows off the end leaves a shorter valid chain: keep the head hash
// (AuditVerification::head_hash) somewhere else to detect that.
//
// Actions Ferry writes: model.register (version added), version.archive, version.metadata,
// model.metadata, alias.set, alias.delete, release.start, release.update (stage or evidence),
// release.pause, release.resume, release.promote, release.rollback, registry.import.
#ifndef FERRY_REGISTRY_AUDIT_CHAIN_H_
#define FERRY_REGISTRY_AUDIT_CHAIN_H_

#include <string>

#include "absl/status/statusor.h"
#include "registry/types.h"

namespace ferry {

// The prev_hash of the first row.
extern const char kAuditGenesisHash[];

// canonical(row) as above (prev_hash and hash are not part of it).
std::string CanonicalAuditRow(const AuditEntry& row);

// SHA-256(prev_hash || "\n" || canonical(row)), from row.prev_hash.
absl::StatusOr<std::string> AuditRowHash(const AuditEntry& row);

// An alias as audit rows show it: {"alias":"production","version":3}, or null when
// `version` is 0 (kAliasAbsent: the alias does not exist).
std::string AliasAuditJson(const std::string& alias, int64_t version);

// A release as audit rows show it: {"release":id,"candidate":..,"baseline":..,"mode":..,
// "state":..,"stage":..} (plan and evidence are in the release record, not repeated here).
std::string ReleaseAuditJson(const Release& release);

// Checks one row against the row before it (nullptr for the first row): id follows,
// prev_hash matches, hash recomputes. Returns "" when it verifies, else the problem.
std::string CheckAuditRow(const AuditEntry* previous, const AuditEntry& row);

}  // namespace ferry

#endif  // FERRY_REGISTRY_AUDIT_CHAIN_H_
