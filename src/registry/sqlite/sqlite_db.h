// Small RAII wrappers over SQLite's C API for the registry's store: a connection, a
// prepared statement, and a transaction that rolls back unless committed. Errors become
// absl::Status carrying SQLite's message. Not thread-safe: SqliteStore serializes use.
#ifndef FERRY_REGISTRY_SQLITE_SQLITE_DB_H_
#define FERRY_REGISTRY_SQLITE_SQLITE_DB_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ferry {
namespace sqlite {

class Statement;

class Db {
 public:
  // Opens (creating if needed) the database file at `path`. Internal naming the path on
  // failure.
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements that return no rows of interest.
  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // The status for SQLite result `rc` from the last call, with `what` in the message.
  absl::Status Error(int rc, absl::string_view what) const;
  sqlite3* handle() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Parameters are numbered from 1. Chainable; errors surface at Step().
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view value);
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, absl::string_view(value));
  }
  Statement& Bind(int index, const char* value) { return Bind(index, absl::string_view(value)); }
  Statement& BindNull(int index);
  // The highest parameter index in the statement.
  int parameters() const;

  // Advances: true with a row, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, ignoring rows.
  absl::Status Run();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Db;
  Statement(const Db* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  const Db* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = 0;
};

// BEGIN IMMEDIATE on construction (Begin()); ROLLBACK in the destructor unless Commit()
// succeeded. IMMEDIATE takes the write lock up front, so a read-then-write transaction
// never fails half way with SQLITE_BUSY.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Db& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  absl::Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
};

}  // namespace sqlite
}  // namespace ferry

#endif  // FERRY_REGISTRY_SQLITE_SQLITE_DB_H_
