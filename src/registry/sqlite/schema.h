// The SQLite store's schema, as numbered migrations. The database's PRAGMA user_version is
// the number of migrations applied; Migrate applies the missing ones at open, each in its
// own transaction together with the user_version it reaches, so a crash leaves the file at
// one whole version or the next. docs/registry.md shows the resulting schema.
#ifndef FERRY_REGISTRY_SQLITE_SCHEMA_H_
#define FERRY_REGISTRY_SQLITE_SCHEMA_H_

#include "absl/status/status.h"
#include "registry/sqlite/sqlite_db.h"

namespace ferry {
namespace sqlite {

// The schema version this binary writes (the number of migrations it knows).
int LatestSchemaVersion();

// Brings `db` up to LatestSchemaVersion(). FailedPrecondition when the file's schema is
// newer than this binary knows (a newer Ferry wrote it): it is left untouched.
absl::Status Migrate(Db& db);

// The file's schema version (PRAGMA user_version).
absl::StatusOr<int> SchemaVersion(Db& db);

}  // namespace sqlite
}  // namespace ferry

#endif  // FERRY_REGISTRY_SQLITE_SCHEMA_H_
