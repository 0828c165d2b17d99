#include "registry/sqlite/schema.h"

#include <iterator>

#include "absl/strings/str_cat.h"

namespace ferry {
namespace sqlite {
namespace {

// Never edit a migration that has shipped: add the next one.
const char* const kMigrations[] = {
    // 1: models, versions, aliases, releases and the append-only audit log.
    R"sql(
CREATE TABLE models (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_ms  INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
);
CREATE TABLE model_tags (
  model TEXT NOT NULL REFERENCES models(name),
  key   TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (model, key)
);
CREATE TABLE versions (
  model          TEXT NOT NULL REFERENCES models(name),
  version        INTEGER NOT NULL CHECK (version >= 1),
  state          TEXT NOT NULL CHECK (state IN ('active', 'archived')),
  description    TEXT NOT NULL DEFAULT '',
  lineage        TEXT NOT NULL DEFAULT '{}',
  parent_model   TEXT NOT NULL DEFAULT '',
  parent_version INTEGER NOT NULL DEFAULT 0,
  source         TEXT NOT NULL,
  created_ms     INTEGER NOT NULL,
  created_by     TEXT NOT NULL,
  PRIMARY KEY (model, version)
);
CREATE TABLE version_files (
  model   TEXT NOT NULL,
  version INTEGER NOT NULL,
  path    TEXT NOT NULL,
  sha256  TEXT NOT NULL,
  bytes   INTEGER NOT NULL,
  PRIMARY KEY (model, version, path),
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE TABLE version_tags (
  model   TEXT NOT NULL,
  version INTEGER NOT NULL,
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (model, version, key),
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE TABLE aliases (
  model      TEXT NOT NULL,
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (model, name),
  FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE TABLE releases (
  id         INTEGER PRIMARY KEY,
  model      TEXT NOT NULL REFERENCES models(name),
  candidate  INTEGER NOT NULL,
  baseline   INTEGER NOT NULL,
  mode       TEXT NOT NULL,
  plan       TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('running', 'paused', 'promoted', 'rolled_back')),
  stage      TEXT NOT NULL,
  evidence   TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  FOREIGN KEY (model, candidate) REFERENCES versions(model, version)
);
-- At most one active release per model, whatever the code above does.
CREATE UNIQUE INDEX releases_one_active ON releases(model) WHERE state IN ('running', 'paused');
CREATE TABLE audit (
  id        INTEGER PRIMARY KEY,
  time_ms   INTEGER NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  model     TEXT NOT NULL,
  before    TEXT NOT NULL,
  after     TEXT NOT NULL,
  reason    TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
CREATE INDEX audit_by_model ON audit(model, id);
CREATE INDEX audit_by_time ON audit(time_ms);
-- The audit log is append-only: Ferry never updates or deletes a row, and the database
-- refuses to.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
};

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::StatusOr<int> SchemaVersion(Db& db) {
  absl::StatusOr<Statement> stmt = db.Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>(stmt->Int(0)) : 0;
}

absl::Status Migrate(Db& db) {
  while (true) {
    // Read the version inside the write transaction, so two processes opening the same new
    // file do not both apply migration 1.
    absl::StatusOr<Transaction> tx = Transaction::Begin(db);
    if (!tx.ok()) return tx.status();
    absl::StatusOr<int> current = SchemaVersion(db);
    if (!current.ok()) return current.status();
    if (*current > LatestSchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the registry database has schema version ", *current, ", but this Ferry knows only ",
          LatestSchemaVersion(), ": a newer Ferry wrote it; upgrade Ferry to open it"));
    }
    if (*current == LatestSchemaVersion()) return absl::OkStatus();  // rolls back: nothing done
    absl::Status applied = db.Exec(kMigrations[*current]);
    if (!applied.ok()) {
      return absl::InternalError(absl::StrCat("applying registry schema migration ", *current + 1,
                                              ": ", applied.message()));
    }
    absl::Status stamped = db.Exec(absl::StrCat("PRAGMA user_version = ", *current + 1));
    if (!stamped.ok()) return stamped;
    absl::Status committed = tx->Commit();
    if (!committed.ok()) return committed;
  }
}

}  // namespace sqlite
}  // namespace ferry
