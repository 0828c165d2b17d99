#include "registry/registry.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/names.h"
#include "registry/sqlite/sqlite_store.h"
#include "registry/temp_dir.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : dir_("registry_test") {
    fs::create_directories(repository());
    Reopen();
  }

  std::string repository() const { return dir_ / "models"; }

  void Reopen() {
    registry_.reset();
    RegistryOptions options;
    options.repository = repository();
    options.wall_clock_ms = [this] { return now_ms_; };
    absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Open(options);
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::move(*registry);
  }

  // An artifact folder with a model file and a nested file.
  std::string Artifact(const std::string& name, const std::string& bytes) {
    dir_.Write("src/" + name + "/model.pt", bytes);
    dir_.Write("src/" + name + "/extra/notes.txt", "notes for " + name);
    return dir_ / ("src/" + name);
  }

  absl::StatusOr<ModelVersion> Register(const std::string& model, const std::string& lineage = "",
                                        const std::string& actor = "ana") {
    RegisterRequest request;
    request.model = model;
    request.artifact_path = Artifact(model + std::to_string(++artifacts_), "weights");
    request.lineage_json = lineage;
    return registry_->RegisterVersion(request, actor);
  }

  int64_t AuditRows() {
    absl::StatusOr<AuditVerification> v = registry_->VerifyAudit();
    EXPECT_TRUE(v.ok() && v->ok);
    return v.ok() ? v->rows : -1;
  }

  // Entries in the model folder whose names start with '.' (staging left behind).
  int HiddenEntries(const std::string& model) {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(repository()) / model, ec)) {
      n += e.path().filename().string()[0] == '.';
    }
    return n;
  }

  TempDir dir_;
  int64_t now_ms_ = 1'700'000'000'000;
  int artifacts_ = 0;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, DatabaseSitsNextToTheRepository) {
  EXPECT_EQ(DefaultDatabasePath("/srv/models"), "/srv/models.registry.db");
  EXPECT_EQ(DefaultDatabasePath("/srv/models/"), "/srv/models.registry.db");
  EXPECT_TRUE(fs::exists(dir_ / "models.registry.db"));
}

TEST_F(RegistryTest, RegisterCopiesTheArtifactAndRecordsDigests) {
  RegisterRequest request;
  request.model = "digits";
  request.artifact_path = Artifact("a", "the weights");
  request.tags = {{"team", "vision"}};
  request.description = "first";
  request.reason = "trained on new data";
  absl::StatusOr<ModelVersion> v = registry_->RegisterVersion(request, "ana");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->version, 1);
  EXPECT_EQ(v->source, "registered");
  EXPECT_EQ(v->created_by, "ana");
  EXPECT_EQ(v->created_ms, now_ms_);
  const fs::path folder = fs::path(repository()) / "digits" / "1";
  ASSERT_EQ(v->files.size(), 2u);
  EXPECT_EQ(v->files[0].path, "extra/notes.txt");
  EXPECT_EQ(v->files[1].path, "model.pt");
  EXPECT_EQ(v->files[1].sha256, *Sha256FileHex((folder / "model.pt").string()));
  EXPECT_EQ(v->files[1].bytes, 11);
  EXPECT_EQ(HiddenEntries("digits"), 0);
  EXPECT_TRUE(registry_->VerifyArtifact("digits", 1).ok());

  std::vector<AuditEntry> audit = *registry_->ReadAudit({});
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "model.register");
  EXPECT_EQ(audit[0].actor, "ana");
  EXPECT_EQ(audit[0].time_ms, now_ms_);
  EXPECT_EQ(audit[0].reason, "trained on new data");
  EXPECT_THAT(audit[0].after, HasSubstr(v->files[1].sha256));

  // The load-time check notices a changed or missing file.
  std::ofstream(folder / "model.pt", std::ios::app) << "x";
  absl::Status changed = registry_->VerifyArtifact("digits", 1);
  EXPECT_EQ(changed.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(changed.message(), HasSubstr("model.pt"));
  fs::remove(folder / "extra" / "notes.txt");
  EXPECT_EQ(registry_->VerifyArtifact("digits", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->VerifyArtifact("digits", 2).code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, RegistersASingleFileUnderItsName) {
  RegisterRequest request;
  request.model = "xgb";
  request.artifact_path = dir_.Write("loose/model.ubj", "trees");
  absl::StatusOr<ModelVersion> v = registry_->RegisterVersion(request, "");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->files.size(), 1u);
  EXPECT_EQ(v->files[0].path, "model.ubj");
  EXPECT_TRUE(fs::is_regular_file(fs::path(repository()) / "xgb" / "1" / "model.ubj"));
  EXPECT_EQ(v->created_by, LocalUserName());  // no actor: the local user
  EXPECT_EQ((*registry_->ReadAudit({}))[0].actor, LocalUserName());
}

TEST_F(RegistryTest, VersionNumbersSkipFoldersAlreadyOnDisk) {
  for (const char* v : {"1", "2", "5"}) fs::create_directories(fs::path(repository()) / "m" / v);
  absl::StatusOr<ModelVersion> first = Register("m");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version, 6);
  EXPECT_EQ(Register("m")->version, 7);
  // A folder that appears by hand meanwhile is skipped too.
  fs::create_directories(fs::path(repository()) / "m" / "8");
  EXPECT_EQ(Register("m")->version, 9);
  EXPECT_EQ(registry_->ListVersions("m")->size(), 3u);
  EXPECT_EQ(registry_->UnregisteredFolders("m"), (std::vector<int64_t>{1, 2, 5, 8}));
  EXPECT_TRUE(registry_->UnregisteredFolders("nope").empty());
}

TEST_F(RegistryTest, RegisterRemovesStagingFoldersOfDeadProcessesOnly) {
  const fs::path model = fs::path(repository()) / "m";
  // pid 0x7ffffff0 is above Linux's pid limit (2^22), so no process has it.
  fs::create_directories(model / ".register-2147483632-abcdef" / "sub");
  fs::create_directories(model / absl::StrCat(".register-", getpid(), "-busy00"));
  ASSERT_TRUE(Register("m").ok());
  EXPECT_FALSE(fs::exists(model / ".register-2147483632-abcdef"));
  EXPECT_TRUE(fs::exists(model / absl::StrCat(".register-", getpid(), "-busy00")));
  EXPECT_EQ(HiddenEntries("m"), 1);
}

TEST_F(RegistryTest, RegisterRefusesBadRequestsAndLeavesNothingBehind) {
  RegisterRequest request;
  request.model = "../escape";
  request.artifact_path = Artifact("x", "w");
  EXPECT_EQ(registry_->RegisterVersion(request, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  request.model = "m";
  request.artifact_path = dir_ / "no/such/file";
  EXPECT_EQ(registry_->RegisterVersion(request, "").status().code(), absl::StatusCode::kNotFound);
  request.artifact_path = "";
  EXPECT_THAT(registry_->RegisterVersion(request, "").status().message(), HasSubstr("artifact"));
  request.artifact_path = Artifact("y", "w");
  request.lineage_json = R"({"parent":{"version":3}})";
  absl::Status parent = registry_->RegisterVersion(request, "").status();
  EXPECT_EQ(parent.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parent.message(), HasSubstr("lineage.parent"));
  request.lineage_json = R"({"metrics":7})";
  EXPECT_THAT(registry_->RegisterVersion(request, "").status().message(),
              HasSubstr("lineage.metrics"));
  request.lineage_json = "";
  request.tags = {{"bad key", "v"}};
  EXPECT_THAT(registry_->RegisterVersion(request, "").status().message(), HasSubstr("tags"));
  request.tags = {};
  fs::create_symlink(dir_ / "src/y/model.pt", dir_ / "src/y/link.pt");
  EXPECT_EQ(registry_->RegisterVersion(request, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HiddenEntries("m"), 0);  // the staging folder went away
  EXPECT_FALSE(fs::exists(fs::path(repository()) / "m" / "1"));
  EXPECT_EQ(AuditRows(), 0);
}

TEST_F(RegistryTest, AliasesResolveAndMoveWithExpectedVersions) {
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(Register("m").ok());
  for (const char* bad : {"3", "Production", "", "-a"}) {
    EXPECT_EQ(registry_->SetAlias("m", bad, 1, std::nullopt, "", "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  absl::StatusOr<Alias> set = registry_->SetAlias("m", "production", 1, kAliasAbsent, "bo", "go");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->version, 1);
  EXPECT_EQ(*registry_->ResolveAlias("m", "production"), 1);
  EXPECT_EQ(*registry_->ResolveVersion("m", "production"), 1);
  EXPECT_EQ(*registry_->ResolveVersion("m", "2"), 2);
  EXPECT_EQ(registry_->ResolveVersion("m", "3").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->ResolveVersion("m", "07").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->ResolveVersion("m", "canary").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->ResolveAlias("nope", "production").status().code(),
            absl::StatusCode::kNotFound);

  EXPECT_EQ(registry_->SetAlias("m", "production", 2, 2, "bo", "").status().code(),
            absl::StatusCode::kAborted);
  // Without an expectation the move records exactly what it replaced.
  ASSERT_TRUE(registry_->SetAlias("m", "production", 2, std::nullopt, "bo", "why").ok());
  AuditEntry last = registry_->ReadAudit({.action = "alias.set"})->back();
  EXPECT_EQ(last.before, R"({"alias":"production","version":1})");
  EXPECT_EQ(last.after, R"({"alias":"production","version":2})");
  EXPECT_EQ(last.reason, "why");
  EXPECT_EQ(registry_->SetAlias("m", "canary", 1, std::nullopt, "", "").status().code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(registry_->ListAliases("m")->size(), 2u);
  EXPECT_EQ(registry_->DeleteAlias("m", "canary", 2, "", "").code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(registry_->DeleteAlias("m", "canary", std::nullopt, "", "").ok());
  EXPECT_EQ(registry_->DeleteAlias("m", "canary", std::nullopt, "", "").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->SetAlias("m", "canary", 0, std::nullopt, "", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, ArchivedVersionsCannotBeAliasedOrReleased) {
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(registry_->SetAlias("m", "production", 1, kAliasAbsent, "", "").ok());
  EXPECT_EQ(registry_->ArchiveVersion("m", 1, "", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<ModelVersion> archived = registry_->ArchiveVersion("m", 2, "", "old");
  ASSERT_TRUE(archived.ok()) << archived.status();
  EXPECT_EQ(archived->state, VersionStatus::kArchived);
  const int64_t rows = AuditRows();
  EXPECT_TRUE(registry_->ArchiveVersion("m", 2, "", "again").ok());
  EXPECT_EQ(AuditRows(), rows);  // archiving twice changes nothing
  absl::Status alias = registry_->SetAlias("m", "canary", 2, std::nullopt, "", "").status();
  EXPECT_EQ(alias.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(alias.message(), HasSubstr("archived"));
  EXPECT_EQ(
      registry_
          ->StartRelease({.model = "m", .candidate = 2, .baseline = 1, .mode = "canary"}, "", "")
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(registry_->VerifyArtifact("m", 2).ok());  // files stay
  EXPECT_EQ(registry_->ArchiveVersion("m", 9, "", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, LineageChainFollowsParentsAcrossModels) {
  ASSERT_TRUE(
      Register("base", R"({"code_revision":"r1","training_data":[{"uri":"s3://d/a"}]})").ok());
  ASSERT_TRUE(
      Register("tuned", R"({"parent":{"model":"base","version":1},"metrics":{"accuracy":0.9}})")
          .ok());
  ASSERT_TRUE(Register("tuned", R"({"parent":{"version":1},"code_revision":"r3"})").ok());
  absl::StatusOr<std::vector<ModelVersion>> chain = registry_->LineageChain("tuned", 2);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[0].model, "tuned");
  EXPECT_EQ((*chain)[0].version, 2);
  EXPECT_EQ((*chain)[1].version, 1);
  EXPECT_EQ((*chain)[2].model, "base");
  const std::string text = FormatLineageChain(*chain);
  EXPECT_THAT(text, HasSubstr("tuned version 2"));
  EXPECT_THAT(text, HasSubstr("derived from\nbase version 1"));
  EXPECT_THAT(text, HasSubstr("data        s3://d/a"));
  EXPECT_THAT(text, HasSubstr("metrics     {\"accuracy\":0.9}"));
  EXPECT_EQ(registry_->LineageChain("tuned", 5).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, ReleasesMoveThroughTheirStates) {
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(Register("m").ok());
  ReleaseSpec spec{.model = "m",
                   .candidate = 2,
                   .baseline = 1,
                   .mode = "canary",
                   .plan_json = R"({"steps":[5,25,100]})",
                   .stage = "canary-5"};
  absl::StatusOr<Release> r = registry_->StartRelease(spec, "ana", "ship it");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state, ReleaseState::kRunning);
  EXPECT_EQ(r->plan_json, spec.plan_json);
  const AuditEntry started = registry_->ReadAudit({.action = "release.start"})->back();
  EXPECT_EQ(started.after, absl::StrCat(R"({"release":)", r->id,
                                        R"(,"candidate":2,"baseline":1,"mode":"canary",)"
                                        R"("state":"running","stage":"canary-5"})"));
  EXPECT_EQ(started.reason, "ship it");
  EXPECT_EQ(registry_->StartRelease(spec, "ana", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_->ResumeRelease(r->id, "", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(registry_->PauseRelease(r->id, "", "")->state, ReleaseState::kPaused);
  ASSERT_EQ(registry_->ResumeRelease(r->id, "", "")->state, ReleaseState::kRunning);
  absl::StatusOr<Release> advanced =
      registry_->AdvanceRelease(r->id, "canary-25", R"({"errors":0})", "controller", "healthy");
  ASSERT_TRUE(advanced.ok()) << advanced.status();
  EXPECT_EQ(advanced->stage, "canary-25");
  EXPECT_EQ(advanced->evidence_json, R"({"errors":0})");
  ASSERT_EQ(registry_->PromoteRelease(r->id, "", "")->state, ReleaseState::kPromoted);
  EXPECT_EQ(registry_->RollbackRelease(r->id, "", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(registry_->AdvanceRelease(r->id, "x", "{}", "", "").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Release> next = registry_->StartRelease(spec, "", "");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(registry_->RollbackRelease(next->id, "", "")->state, ReleaseState::kRolledBack);
  EXPECT_EQ(registry_->ListReleases("m")->size(), 2u);
  EXPECT_EQ(registry_->GetRelease(99).status().code(), absl::StatusCode::kNotFound);

  std::vector<std::string> actions;
  const std::vector<AuditEntry> audit = *registry_->ReadAudit({.model = "m"});
  for (const AuditEntry& e : audit) actions.push_back(e.action);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"model.register", "model.register", "release.start",
                                      "release.pause", "release.resume", "release.update",
                                      "release.promote", "release.start", "release.rollback"}));

  // Bad fields are named.
  EXPECT_THAT(registry_->StartRelease({.model = "m", .candidate = 0, .mode = "canary"}, "", "")
                  .status()
                  .message(),
              HasSubstr("candidate"));
  EXPECT_THAT(registry_->StartRelease({.model = "m", .candidate = 2, .mode = ""}, "", "")
                  .status()
                  .message(),
              HasSubstr("mode"));
  EXPECT_THAT(registry_
                  ->StartRelease(
                      {.model = "m", .candidate = 2, .mode = "canary", .plan_json = "[1]"}, "", "")
                  .status()
                  .message(),
              HasSubstr("plan"));
  EXPECT_EQ(registry_->StartRelease({.model = "m", .candidate = 7, .mode = "canary"}, "", "")
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, PromoteAndRollbackCanMoveAnAliasInTheSameTransaction) {
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(registry_->SetAlias("m", "production", 1, kAliasAbsent, "", "").ok());
  ReleaseSpec spec{.model = "m", .candidate = 2, .baseline = 1, .mode = "canary"};
  absl::StatusOr<Release> r = registry_->StartRelease(spec, "", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(registry_->PromoteRelease(r->id, "", "", "Bad").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Release> promoted =
      registry_->PromoteRelease(r->id, "judge", "p < 0.01", "production");
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  EXPECT_EQ(promoted->state, ReleaseState::kPromoted);
  EXPECT_EQ(*registry_->ResolveAlias("m", "production"), 2);
  const AuditEntry moved = registry_->ReadAudit({.action = "alias.set"})->back();
  EXPECT_EQ(moved.before, R"({"alias":"production","version":1})");
  EXPECT_EQ(moved.after, R"({"alias":"production","version":2})");
  EXPECT_EQ(moved.actor, "judge");
  EXPECT_EQ(moved.reason, "promote of release 1: p < 0.01");

  // Rollback points the alias back at the baseline; with no baseline it is deleted.
  absl::StatusOr<Release> second = registry_->StartRelease(spec, "", "");
  ASSERT_TRUE(registry_->SetAlias("m", "canary", 2, std::nullopt, "", "").ok());
  ASSERT_TRUE(registry_->RollbackRelease(second->id, "", "", "production").ok());
  EXPECT_EQ(*registry_->ResolveAlias("m", "production"), 1);
  absl::StatusOr<Release> third =
      registry_->StartRelease({.model = "m", .candidate = 2, .mode = "shadow"}, "", "");
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_TRUE(registry_->RollbackRelease(third->id, "", "", "canary").ok());
  EXPECT_EQ(registry_->ResolveAlias("m", "canary").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry_->VerifyAudit()->ok);
}

TEST_F(RegistryTest, MetadataChangesAreAudited) {
  ASSERT_TRUE(Register("m").ok());
  MetadataUpdate update;
  update.description = "a classifier";
  update.set_tags = {{"owner", "ana"}};
  ASSERT_TRUE(registry_->UpdateMetadata("m", 0, update, "ana").ok());
  ASSERT_TRUE(registry_->UpdateMetadata("m", 1, update, "ana").ok());
  EXPECT_EQ(registry_->GetModel("m")->description, "a classifier");
  EXPECT_EQ(registry_->GetVersion("m", 1)->tags.at("owner"), "ana");
  update.set_tags = {{"", "x"}};
  EXPECT_EQ(registry_->UpdateMetadata("m", 0, update, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->ReadAudit({.action = "model.metadata"})->size(), 1u);
  const std::vector<AuditEntry> rows = *registry_->ReadAudit({.action = "version.metadata"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].after,
            R"({"version":1,"description":"a classifier","set_tags":{"owner":"ana"}})");
}

TEST_F(RegistryTest, StatePersistsAcrossReopen) {
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(Register("m").ok());
  ASSERT_TRUE(registry_->SetAlias("m", "production", 2, kAliasAbsent, "", "").ok());
  ASSERT_TRUE(
      registry_
          ->StartRelease({.model = "m", .candidate = 2, .baseline = 1, .mode = "shadow"}, "", "")
          .ok());
  Reopen();
  EXPECT_EQ(*registry_->ResolveAlias("m", "production"), 2);
  EXPECT_EQ(registry_->ListReleases("m")->at(0).mode, "shadow");
  EXPECT_EQ(registry_->ListReleases("m")->at(0).state, ReleaseState::kRunning);
  EXPECT_EQ(Register("m")->version, 3);
  EXPECT_EQ(AuditRows(), 5);
}

// A copy of a few bundled models, small files only: the fakes need no model weights.
class RegistryImportTest : public RegistryTest {
 protected:
  void CopyBundled(const std::string& model, const std::vector<std::string>& files) {
    for (const std::string& rel : files) {
      const fs::path from = fs::path("models") / model / rel;
      const fs::path to = fs::path(repository()) / model / rel;
      fs::create_directories(to.parent_path());
      fs::copy_file(from, to);
    }
  }
};

TEST_F(RegistryImportTest, ImportsBundledModelsOnceWithTheirLineage) {
  CopyBundled("simple", {"config.toml", "1/lineage.json", "1/model.pt"});
  CopyBundled("fashion_cnn", {"config.toml", "labels.txt", "1/lineage.json", "1/calibration.json"});
  CopyBundled("fashion_cnn_int8", {"config.toml", "1/lineage.json"});
  fs::create_directories(fs::path(repository()) / ".hidden" / "1");

  absl::StatusOr<ImportReport> first = registry_->ImportBundled("");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->already_done);
  EXPECT_EQ(first->versions_imported, 3);
  EXPECT_EQ(first->aliases_set, 3);
  EXPECT_EQ(registry_->ListModels()->size(), 3u);
  EXPECT_EQ(*registry_->ResolveAlias("fashion_cnn", "production"), 1);

  absl::StatusOr<ModelVersion> simple = registry_->GetVersion("simple", 1);
  ASSERT_TRUE(simple.ok());
  EXPECT_EQ(simple->source, "imported");
  ASSERT_EQ(simple->files.size(), 2u);
  EXPECT_EQ(simple->files[1].path, "model.pt");
  // The digest the training script recorded is the one Ferry computes.
  EXPECT_EQ(simple->files[1].sha256,
            "9e57ceea8837da7d177e9b2c59d0072382e7eef518cb27c34385e328afe497c1");
  EXPECT_TRUE(registry_->VerifyArtifact("simple", 1).ok());

  absl::StatusOr<Lineage> cnn = ParseLineage(registry_->GetVersion("fashion_cnn", 1)->lineage_json);
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  EXPECT_EQ(cnn->training_data.size(), 2u);
  ASSERT_EQ(cnn->calibration.size(), 1u);
  EXPECT_EQ(cnn->calibration[0].sha256,
            *Sha256FileHex((fs::path(repository()) / "fashion_cnn/1/calibration.json").string()));
  absl::StatusOr<std::vector<ModelVersion>> chain = registry_->LineageChain("fashion_cnn_int8", 1);
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[1].model, "fashion_cnn");

  const int64_t rows = AuditRows();
  EXPECT_EQ(rows, 3 + 3 + 1);  // versions, production aliases, the import itself
  // A second start, in a new process as far as the database can tell, imports nothing.
  Reopen();
  absl::StatusOr<ImportReport> second = registry_->ImportBundled("");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->already_done);
  EXPECT_EQ(second->versions_imported, 0);
  EXPECT_EQ(AuditRows(), rows);
}

// Forwards to a real store, but fails AddVersion after `adds_left` successes: an import
// cut short, as a crash would cut it.
class FailingStore : public RegistryStore {
 public:
  FailingStore(RegistryStore* base, int adds_left) : base_(base), adds_left_(adds_left) {}
  absl::StatusOr<std::vector<RegisteredModel>> ListModels() override { return base_->ListModels(); }
  absl::StatusOr<RegisteredModel> GetModel(const std::string& m) override {
    return base_->GetModel(m);
  }
  absl::StatusOr<std::vector<ModelVersion>> ListVersions(const std::string& m) override {
    return base_->ListVersions(m);
  }
  absl::StatusOr<ModelVersion> GetVersion(const std::string& m, int64_t v) override {
    return base_->GetVersion(m, v);
  }
  absl::StatusOr<int64_t> MaxVersion(const std::string& m) override { return base_->MaxVersion(m); }
  absl::StatusOr<std::vector<Alias>> ListAliases(const std::string& m) override {
    return base_->ListAliases(m);
  }
  absl::StatusOr<Alias> GetAlias(const std::string& m, const std::string& a) override {
    return base_->GetAlias(m, a);
  }
  absl::StatusOr<Release> GetRelease(int64_t id) override { return base_->GetRelease(id); }
  absl::StatusOr<std::vector<Release>> ListReleases(const std::string& m) override {
    return base_->ListReleases(m);
  }
  absl::StatusOr<std::vector<AuditEntry>> ReadAudit(const AuditFilter& f) override {
    return base_->ReadAudit(f);
  }
  absl::StatusOr<AuditVerification> VerifyAudit() override { return base_->VerifyAudit(); }
  absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& k) override {
    return base_->GetMeta(k);
  }
  absl::Status AddVersion(const ModelVersion& v, const AuditEntry& a) override {
    if (adds_left_-- <= 0) return absl::UnavailableError("injected failure");
    return base_->AddVersion(v, a);
  }
  absl::Status SetVersionState(const std::string& m, int64_t v, VersionStatus s,
                               const AuditEntry& a) override {
    return base_->SetVersionState(m, v, s, a);
  }
  absl::Status UpdateMetadata(const std::string& m, int64_t v, const MetadataUpdate& u,
                              const AuditEntry& a) override {
    return base_->UpdateMetadata(m, v, u, a);
  }
  absl::Status SetAlias(const std::string& m, const std::string& al, int64_t v,
                        std::optional<int64_t> e, const AuditEntry& a) override {
    return base_->SetAlias(m, al, v, e, a);
  }
  absl::Status DeleteAlias(const std::string& m, const std::string& al, std::optional<int64_t> e,
                           const AuditEntry& a) override {
    return base_->DeleteAlias(m, al, e, a);
  }
  absl::StatusOr<int64_t> CreateRelease(const Release& r, const AuditEntry& a) override {
    return base_->CreateRelease(r, a);
  }
  absl::Status UpdateRelease(const Release& r, ReleaseState e, const AuditEntry& a,
                             const std::vector<AliasChange>& c) override {
    return base_->UpdateRelease(r, e, a, c);
  }
  absl::Status AppendAudit(const AuditEntry& a) override { return base_->AppendAudit(a); }
  absl::Status SetMeta(const std::string& k, const std::string& v, const AuditEntry& a) override {
    return base_->SetMeta(k, v, a);
  }

 private:
  RegistryStore* base_;
  int adds_left_;
};

TEST_F(RegistryImportTest, AnInterruptedImportFinishesWithoutDuplicates) {
  CopyBundled("simple", {"config.toml", "1/lineage.json", "1/model.pt"});
  CopyBundled("fashion_cnn", {"config.toml", "1/lineage.json"});
  fs::create_directories(fs::path(repository()) / "fashion_cnn" / "2");
  registry_.reset();
  const std::string db = dir_ / "models.registry.db";
  absl::StatusOr<std::unique_ptr<RegistryStore>> real = OpenSqliteStore({.path = db});
  ASSERT_TRUE(real.ok());
  {
    RegistryOptions options;
    options.repository = repository();
    absl::StatusOr<std::unique_ptr<Registry>> cut =
        Registry::Create(options, std::make_unique<FailingStore>(real->get(), 1));
    ASSERT_TRUE(cut.ok());
    EXPECT_EQ((*cut)->ImportBundled("").status().code(), absl::StatusCode::kUnavailable);
  }
  real->reset();
  Reopen();
  EXPECT_EQ(registry_->ListVersions("fashion_cnn")->size(), 1u);  // the one before the cut
  absl::StatusOr<ImportReport> report = registry_->ImportBundled("");
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->already_done);
  EXPECT_EQ(report->versions_imported, 2);
  EXPECT_EQ(registry_->ListVersions("fashion_cnn")->size(), 2u);
  EXPECT_EQ(registry_->ListVersions("simple")->size(), 1u);
  EXPECT_EQ(*registry_->ResolveAlias("fashion_cnn", "production"), 2);
  EXPECT_EQ(registry_->ReadAudit({.action = "model.register"})->size(), 3u);
  EXPECT_TRUE(registry_->ImportBundled("")->already_done);
}

}  // namespace
}  // namespace ferry
