#include "registry/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/audit_chain.h"
#include "registry/sqlite/schema.h"
#include "registry/temp_dir.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// Raw SQL against the file, as someone with the file (not Ferry) could run it.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  // SQLite's error message, "" on success.
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    return message;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

AuditEntry Row(const std::string& action, const std::string& model = "m") {
  AuditEntry row;
  row.time_ms = 1000;
  row.actor = "tester";
  row.action = action;
  row.model = model;
  return row;
}

ModelVersion Version(const std::string& model, int64_t number) {
  ModelVersion v;
  v.model = model;
  v.version = number;
  v.files = {{"model.pt", std::string(64, 'a'), 10}};
  v.source = "registered";
  v.created_ms = 1000;
  v.created_by = "tester";
  return v;
}

class RegistryStoreTest : public ::testing::Test {
 protected:
  RegistryStoreTest() : dir_("registry_store_test") { Reopen(); }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<RegistryStore>> store = OpenSqliteStore({.path = path()});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::string path() const { return dir_ / "registry.db"; }
  int64_t AuditRows() {
    absl::StatusOr<AuditVerification> v = store_->VerifyAudit();
    EXPECT_TRUE(v.ok() && v->ok);
    return v.ok() ? v->rows : -1;
  }
  void AddVersions(const std::string& model, int64_t count) {
    for (int64_t v = 1; v <= count; ++v) {
      ASSERT_TRUE(store_->AddVersion(Version(model, v), Row("model.register", model)).ok());
    }
  }

  TempDir dir_;
  std::unique_ptr<RegistryStore> store_;
};

TEST_F(RegistryStoreTest, CreatesTheLatestSchemaInWalModeAndKeepsDataAcrossReopen) {
  {
    RawDb raw(path());
    EXPECT_EQ(raw.Text("PRAGMA user_version"), std::to_string(sqlite::LatestSchemaVersion()));
    EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  }
  AddVersions("m", 2);
  ASSERT_TRUE(store_->SetAlias("m", "production", 2, kAliasAbsent, Row("alias.set")).ok());
  Reopen();  // migrations find nothing to do
  absl::StatusOr<std::vector<ModelVersion>> versions = store_->ListVersions("m");
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[1].files[0].path, "model.pt");
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 2);
  EXPECT_EQ(AuditRows(), 3);
  RawDb raw(path());
  EXPECT_EQ(raw.Text("PRAGMA user_version"), std::to_string(sqlite::LatestSchemaVersion()));
}

TEST_F(RegistryStoreTest, RefusesAFileWithANewerSchema) {
  store_.reset();
  {
    RawDb raw(path());
    EXPECT_EQ(raw.Exec("PRAGMA user_version = 99"), "");
  }
  absl::StatusOr<std::unique_ptr<RegistryStore>> store = OpenSqliteStore({.path = path()});
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema version 99"));
  RawDb raw(path());
  EXPECT_EQ(raw.Text("PRAGMA user_version"), "99");  // untouched
}

TEST_F(RegistryStoreTest, MigratesAnEmptyFileCreatedElsewhere) {
  store_.reset();
  const std::string other = dir_ / "empty.db";
  {
    RawDb raw(other);
    EXPECT_EQ(raw.Exec("CREATE TABLE unrelated (x INTEGER)"), "");
  }
  absl::StatusOr<std::unique_ptr<RegistryStore>> store = OpenSqliteStore({.path = other});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->ListModels()->empty());
  EXPECT_EQ(OpenSqliteStore({.path = ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryStoreTest, AFileThatIsNotADatabaseIsDataLoss) {
  const std::string garbage = dir_.Write("garbage.db", std::string(8192, 'x'));
  absl::StatusOr<std::unique_ptr<RegistryStore>> store = OpenSqliteStore({.path = garbage});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

// Another connection holding the write lock past the busy timeout: Unavailable (503),
// and nothing half-written.
TEST_F(RegistryStoreTest, ALockedDatabaseIsUnavailable) {
  AddVersions("m", 1);
  absl::StatusOr<std::unique_ptr<RegistryStore>> impatient =
      OpenSqliteStore({.path = path(), .busy_timeout_ms = 50});
  ASSERT_TRUE(impatient.ok());
  RawDb raw(path());
  EXPECT_EQ(raw.Exec("BEGIN IMMEDIATE"), "");
  absl::Status s = (*impatient)->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(raw.Exec("ROLLBACK"), "");
  EXPECT_TRUE((*impatient)->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set")).ok());
  EXPECT_EQ(AuditRows(), 2);
}

TEST_F(RegistryStoreTest, VersionsAreUniqueAndReadBack) {
  ModelVersion v = Version("m", 1);
  v.tags = {{"team", "vision"}};
  v.lineage_json = R"({"code_revision":"abc"})";
  v.parent_model = "base";
  v.parent_version = 4;
  ASSERT_TRUE(store_->AddVersion(v, Row("model.register")).ok());
  EXPECT_EQ(store_->AddVersion(v, Row("model.register")).code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<ModelVersion> read = store_->GetVersion("m", 1);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->tags.at("team"), "vision");
  EXPECT_EQ(read->lineage_json, v.lineage_json);
  EXPECT_EQ(read->parent_model, "base");
  EXPECT_EQ(read->parent_version, 4);
  EXPECT_EQ(read->state, VersionStatus::kActive);
  EXPECT_EQ(*store_->MaxVersion("m"), 1);
  EXPECT_EQ(*store_->MaxVersion("other"), 0);
  EXPECT_EQ(store_->GetVersion("m", 2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetModel("other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListVersions("other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddVersion(Version("m", 0), Row("model.register")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AuditRows(), 1);  // the refused ones left no audit row
}

TEST_F(RegistryStoreTest, AliasesAreCompareAndSet) {
  AddVersions("m", 3);
  const int64_t rows = AuditRows();
  EXPECT_TRUE(store_->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set")).ok());
  absl::Status again = store_->SetAlias("m", "production", 2, kAliasAbsent, Row("alias.set"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(again.message(), HasSubstr("at version 1, not absent"));
  EXPECT_TRUE(store_->SetAlias("m", "production", 2, 1, Row("alias.set")).ok());
  EXPECT_EQ(store_->SetAlias("m", "production", 3, 1, Row("alias.set")).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->SetAlias("m", "production", 3, std::nullopt, Row("alias.set")).ok());
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 3);
  EXPECT_EQ(store_->SetAlias("m", "canary", 9, std::nullopt, Row("alias.set")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->SetAlias("x", "canary", 1, std::nullopt, Row("alias.set")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteAlias("m", "production", 2, Row("alias.delete")).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->DeleteAlias("m", "production", 3, Row("alias.delete")).ok());
  EXPECT_EQ(store_->DeleteAlias("m", "production", std::nullopt, Row("alias.delete")).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetAlias("m", "production").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AuditRows(), rows + 4);  // three sets and one delete; no row for a refusal
}

TEST_F(RegistryStoreTest, ArchivedVersionsTakeNoAliasAndAliasedOnesCannotBeArchived) {
  AddVersions("m", 2);
  ASSERT_TRUE(store_->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set")).ok());
  absl::Status refused =
      store_->SetVersionState("m", 1, VersionStatus::kArchived, Row("version.archive"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("aliased as 'production'"));
  ASSERT_TRUE(
      store_->SetVersionState("m", 2, VersionStatus::kArchived, Row("version.archive")).ok());
  EXPECT_EQ(store_->GetVersion("m", 2)->state, VersionStatus::kArchived);
  EXPECT_EQ(store_->SetAlias("m", "production", 2, 1, Row("alias.set")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 1);
}

TEST_F(RegistryStoreTest, OneActiveReleasePerModel) {
  AddVersions("m", 2);
  Release r;
  r.model = "m";
  r.candidate = 2;
  r.baseline = 1;
  r.mode = "canary";
  r.stage = "canary-5";
  absl::StatusOr<int64_t> id = store_->CreateRelease(r, Row("release.start"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 1);
  EXPECT_EQ(store_->CreateRelease(r, Row("release.start")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->SetVersionState("m", 2, VersionStatus::kArchived, Row("version.archive")).code(),
            absl::StatusCode::kFailedPrecondition);
  Release next = *store_->GetRelease(1);
  next.state = ReleaseState::kPromoted;
  EXPECT_EQ(store_->UpdateRelease(next, ReleaseState::kPaused, Row("release.promote"), {}).code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(store_->UpdateRelease(next, ReleaseState::kRunning, Row("release.promote"), {}).ok());
  EXPECT_EQ(store_->GetRelease(1)->state, ReleaseState::kPromoted);
  absl::StatusOr<int64_t> second = store_->CreateRelease(r, Row("release.start"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 2);
  EXPECT_EQ(store_->ListReleases("m")->size(), 2u);
  EXPECT_EQ(store_->ListReleases("")->size(), 2u);
  EXPECT_TRUE(store_->ListReleases("other")->empty());
  EXPECT_EQ(store_->GetRelease(7).status().code(), absl::StatusCode::kNotFound);
  // Reviving the finished release while another is active is refused.
  Release revived = *store_->GetRelease(1);
  revived.state = ReleaseState::kRunning;
  EXPECT_EQ(
      store_->UpdateRelease(revived, ReleaseState::kPromoted, Row("release.resume"), {}).code(),
      absl::StatusCode::kFailedPrecondition);
}

// A release update and its alias changes commit together or not at all.
TEST_F(RegistryStoreTest, ReleaseUpdateAndAliasChangesAreOneTransaction) {
  AddVersions("m", 2);
  ASSERT_TRUE(store_->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set")).ok());
  Release r;
  r.model = "m";
  r.candidate = 2;
  r.baseline = 1;
  r.mode = "canary";
  ASSERT_TRUE(store_->CreateRelease(r, Row("release.start")).ok());
  const int64_t rows = AuditRows();
  Release promoted = *store_->GetRelease(1);
  promoted.state = ReleaseState::kPromoted;
  // The alias part is stale: nothing of the call happens.
  absl::Status stale =
      store_->UpdateRelease(promoted, ReleaseState::kRunning, Row("release.promote"),
                            {{"production", 2, 2, Row("alias.set")}});
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store_->GetRelease(1)->state, ReleaseState::kRunning);
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 1);
  EXPECT_EQ(AuditRows(), rows);
  // Fresh: the release is promoted, production moves and canary goes, with three rows.
  ASSERT_TRUE(store_->SetAlias("m", "canary", 2, kAliasAbsent, Row("alias.set")).ok());
  ASSERT_TRUE(store_
                  ->UpdateRelease(promoted, ReleaseState::kRunning, Row("release.promote"),
                                  {{"production", 2, 1, Row("alias.set")},
                                   {"canary", 0, 2, Row("alias.delete")}})
                  .ok());
  EXPECT_EQ(store_->GetRelease(1)->state, ReleaseState::kPromoted);
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 2);
  EXPECT_EQ(store_->GetAlias("m", "canary").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AuditRows(), rows + 1 + 3);
}

TEST_F(RegistryStoreTest, MetadataOfModelsAndVersions) {
  AddVersions("m", 1);
  MetadataUpdate update;
  update.description = "digits";
  update.set_tags = {{"owner", "ana"}, {"tier", "1"}};
  ASSERT_TRUE(store_->UpdateMetadata("m", 0, update, Row("model.metadata")).ok());
  ASSERT_TRUE(store_->UpdateMetadata("m", 1, update, Row("version.metadata")).ok());
  MetadataUpdate remove;
  remove.remove_tags = {"tier", "absent"};
  ASSERT_TRUE(store_->UpdateMetadata("m", 0, remove, Row("model.metadata")).ok());
  absl::StatusOr<RegisteredModel> model = store_->GetModel("m");
  EXPECT_EQ(model->description, "digits");
  EXPECT_EQ(model->tags, (Tags{{"owner", "ana"}}));
  EXPECT_EQ(store_->GetVersion("m", 1)->tags.size(), 2u);
  EXPECT_EQ(store_->UpdateMetadata("m", 5, update, Row("version.metadata")).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryStoreTest, AuditReadFilters) {
  AddVersions("a", 1);
  AddVersions("b", 1);
  AuditEntry late = Row("alias.set", "b");
  late.time_ms = 5000;
  ASSERT_TRUE(store_->SetAlias("b", "production", 1, kAliasAbsent, late).ok());
  EXPECT_EQ(store_->ReadAudit({})->size(), 3u);
  EXPECT_EQ(store_->ReadAudit({.model = "b"})->size(), 2u);
  EXPECT_EQ(store_->ReadAudit({.action = "alias.set"})->size(), 1u);
  EXPECT_EQ(store_->ReadAudit({.from_ms = 2000})->size(), 1u);
  EXPECT_EQ(store_->ReadAudit({.to_ms = 2000})->size(), 2u);
  std::vector<AuditEntry> page = *store_->ReadAudit({.after_id = 1, .limit = 1});
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, 2);
  EXPECT_EQ(page[0].before, "null");
  EXPECT_EQ(store_->ReadAudit({.limit = 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryStoreTest, TheDatabaseRefusesToUpdateOrDeleteAuditRows) {
  AddVersions("m", 2);
  RawDb raw(path());
  EXPECT_THAT(raw.Exec("UPDATE audit SET reason = 'x' WHERE id = 1"), HasSubstr("append-only"));
  EXPECT_THAT(raw.Exec("DELETE FROM audit WHERE id = 1"), HasSubstr("append-only"));
  EXPECT_EQ(AuditRows(), 2);
}

TEST_F(RegistryStoreTest, VerifyFindsAnEditedRow) {
  AddVersions("m", 4);
  absl::StatusOr<AuditVerification> clean = store_->VerifyAudit();
  ASSERT_TRUE(clean->ok);
  EXPECT_EQ(clean->rows, 4);
  EXPECT_EQ(clean->head_id, 4);
  EXPECT_EQ(clean->head_hash.size(), 64u);
  RawDb raw(path());
  // Someone with the file drops the guard and edits a row.
  EXPECT_EQ(raw.Exec("DROP TRIGGER audit_no_update"), "");
  EXPECT_EQ(raw.Exec("UPDATE audit SET actor = 'mallory' WHERE id = 2"), "");
  absl::StatusOr<AuditVerification> tampered = store_->VerifyAudit();
  ASSERT_TRUE(tampered.ok());
  EXPECT_FALSE(tampered->ok);
  EXPECT_EQ(tampered->first_bad_id, 2);
  EXPECT_EQ(tampered->rows, 1);
  EXPECT_THAT(tampered->problem, HasSubstr("edited"));
  // Recomputing that row's hash as well moves the break to the next row.
  AuditEntry row2 = *store_->ReadAudit({.after_id = 1, .limit = 1}).value().begin();
  const std::string rehashed = *AuditRowHash(row2);
  EXPECT_EQ(raw.Exec("UPDATE audit SET hash = '" + rehashed + "' WHERE id = 2"), "");
  EXPECT_EQ(store_->VerifyAudit()->first_bad_id, 3);
}

TEST_F(RegistryStoreTest, VerifyFindsADeletedRow) {
  AddVersions("m", 4);
  RawDb raw(path());
  EXPECT_EQ(raw.Exec("DROP TRIGGER audit_no_delete"), "");
  EXPECT_EQ(raw.Exec("DELETE FROM audit WHERE id = 3"), "");
  absl::StatusOr<AuditVerification> v = store_->VerifyAudit();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_id, 4);
  EXPECT_THAT(v->problem, HasSubstr("missing"));
}

TEST_F(RegistryStoreTest, VerifyFindsSwappedRows) {
  AddVersions("m", 3);
  RawDb raw(path());
  EXPECT_EQ(raw.Exec("DROP TRIGGER audit_no_update"), "");
  // Swap the contents of rows 1 and 2 (ids stay in order).
  EXPECT_EQ(raw.Exec("UPDATE audit SET id = -1 WHERE id = 1; UPDATE audit SET id = 1 WHERE id = 2;"
                     " UPDATE audit SET id = 2 WHERE id = -1"),
            "");
  absl::StatusOr<AuditVerification> v = store_->VerifyAudit();
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad_id, 1);
}

// A server and a `ferry` command share the file through two connections.
TEST_F(RegistryStoreTest, TwoConnectionsShareOneFile) {
  AddVersions("m", 3);
  absl::StatusOr<std::unique_ptr<RegistryStore>> other = OpenSqliteStore({.path = path()});
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->SetAlias("m", "production", 2, kAliasAbsent, Row("alias.set")).ok());
  EXPECT_EQ(store_->GetAlias("m", "production")->version, 2);
  EXPECT_EQ(store_->SetAlias("m", "production", 3, kAliasAbsent, Row("alias.set")).code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(store_->SetAlias("m", "production", 3, 2, Row("alias.set")).ok());
  EXPECT_EQ((*other)->SetAlias("m", "production", 1, 2, Row("alias.set")).code(),
            absl::StatusCode::kAborted);
  // Both append to one chain.
  absl::StatusOr<AuditVerification> v = (*other)->VerifyAudit();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->rows, 5);
}

// Every thread tries to move the alias from the same expected version at once: exactly
// one wins each round, the others learn they were stale.
TEST_F(RegistryStoreTest, ConcurrentCompareAndSetHasOneWinnerPerExpectedValue) {
  constexpr int kThreads = 6;
  AddVersions("m", kThreads + 1);
  ASSERT_TRUE(store_->SetAlias("m", "production", 1, kAliasAbsent, Row("alias.set")).ok());
  for (int round = 0; round < 15; ++round) {
    const int64_t expected = store_->GetAlias("m", "production")->version;
    std::atomic<int> ready{0}, won{0}, stale{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();
        const int64_t target = t + 1 >= expected ? t + 2 : t + 1;  // never `expected`
        absl::Status s = store_->SetAlias("m", "production", target, expected, Row("alias.set"));
        if (s.ok()) ++won;
        if (absl::IsAborted(s)) ++stale;
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(stale.load(), kThreads - 1) << "round " << round;
  }
  // The audit rows of the moves form one unbroken sequence.
  std::vector<AuditEntry> moves = *store_->ReadAudit({.action = "alias.set"});
  EXPECT_EQ(moves.size(), 16u);
  EXPECT_TRUE(store_->VerifyAudit()->ok);
}

}  // namespace
}  // namespace ferry
