// SqliteStore: the registry's embedded store, one SQLite file (RegistryStore's contract is
// in registry/store.h).
//
// Durability: the file runs in WAL mode with synchronous=FULL, so a commit returns only
// after its WAL frames are fsynced: a mutation that returned OK survives kill -9 and power
// loss. Foreign keys are on; a busy timeout lets another process (`ferry` CLI beside a
// server) wait for the write lock instead of failing.
//
// Concurrency: one connection behind one mutex: every call, reads included, runs alone.
// Registry writes are rare and small, so this is not a bottleneck; the request path never
// calls the store (it routes on an in-memory snapshot).
#ifndef FERRY_REGISTRY_SQLITE_SQLITE_STORE_H_
#define FERRY_REGISTRY_SQLITE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "registry/store.h"

namespace ferry {

struct SqliteStoreOptions {
  std::string path;  // the database file; created when missing. Required.
  // How long a write waits for another connection's lock before failing Unavailable.
  int busy_timeout_ms = 5000;
};

// Opens (or creates) the file and applies the schema migrations it lacks.
// FailedPrecondition when the file's schema is newer than this binary knows;
// InvalidArgument for an empty path; Internal/DataLoss when SQLite fails.
absl::StatusOr<std::unique_ptr<RegistryStore>> OpenSqliteStore(const SqliteStoreOptions& options);

}  // namespace ferry

#endif  // FERRY_REGISTRY_SQLITE_SQLITE_STORE_H_
