#include "repository/model_folder_update.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

std::string Read(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

// Every entry under `root` (hidden ones too), relative, with file contents.
std::string Listing(const fs::path& root) {
  std::vector<std::string> lines;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    std::string line = fs::relative(e.path(), root).string();
    if (e.is_regular_file()) line += " = " + Read(e.path());
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

class ModelFolderUpdateTest : public testing::Test {
 protected:
  void SetUp() override {
    Write(root() / "m" / "config.toml", "old config");
    Write(root() / "m" / "1" / "model.pt", "weights one");
    Write(root() / "m" / "labels.txt", "a\nb\n");
  }
  const fs::path& root() const { return repo_.path(); }
  TempRepository repo_{"ferry_folder_update_test"};
};

TEST_F(ModelFolderUpdateTest, CommitReplacesTheFolderAndLeavesNoStaging) {
  ModelFolderChange change;
  change.config_toml = "new config";
  change.files = {{"2/model.pt", "weights two"}, {"1/model.pt", "weights one, retrained"}};
  {
    absl::StatusOr<ModelFolderUpdate> update = ModelFolderUpdate::Apply(root().string(), "m", change);
    ASSERT_TRUE(update.ok()) << update.status();
  }  // the destructor commits
  EXPECT_EQ(Listing(root()),
            "m\nm/1\nm/1/model.pt = weights one, retrained\nm/2\nm/2/model.pt = weights two\n"
            "m/config.toml = new config\nm/labels.txt = a\nb\n\n");
}

TEST_F(ModelFolderUpdateTest, RevertPutsBackExactlyTheOldFolder) {
  const std::string before = Listing(root());
  ModelFolderChange change;
  change.config_toml = "new config";
  change.files = {{"1/model.pt", "replaced"}, {"3/extra.bin", "x"}};
  absl::StatusOr<ModelFolderUpdate> update = ModelFolderUpdate::Apply(root().string(), "m", change);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(Read(root() / "m" / "1" / "model.pt"), "replaced");
  ASSERT_TRUE(update->Revert().ok());
  // Unchanged files were hard-linked into the new folder; writing the new ones must not
  // have written through those links into the old folder.
  EXPECT_EQ(Listing(root()), before);
  update->Commit();  // after a revert: nothing left to delete, nothing changes
  EXPECT_EQ(Listing(root()), before);
}

TEST_F(ModelFolderUpdateTest, ANewModelIsCreatedAndRevertRemovesIt) {
  const std::string before = Listing(root());
  ModelFolderChange change;
  change.config_toml = "c";
  change.files = {{"1/model.json", "{}"}};
  absl::StatusOr<ModelFolderUpdate> update = ModelFolderUpdate::Apply(root().string(), "fresh", change);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(Read(root() / "fresh" / "1" / "model.json"), "{}");
  EXPECT_EQ(Read(root() / "fresh" / "config.toml"), "c");
  ASSERT_TRUE(update->Revert().ok());
  EXPECT_EQ(Listing(root()), before);
}

TEST_F(ModelFolderUpdateTest, BadNamesAreRefusedBeforeAnythingChanges) {
  const std::string before = Listing(root());
  for (const std::string& model : std::vector<std::string>{"", ".hidden", "a/b", "..", std::string(256, 'x')}) {
    absl::StatusOr<ModelFolderUpdate> u = ModelFolderUpdate::Apply(root().string(), model, {});
    EXPECT_TRUE(absl::IsInvalidArgument(u.status())) << model;
  }
  ModelFolderChange change;
  change.files = {{"1/ok.pt", "x"}, {"../escape", "x"}};
  absl::StatusOr<ModelFolderUpdate> u = ModelFolderUpdate::Apply(root().string(), "m", change);
  EXPECT_TRUE(absl::IsInvalidArgument(u.status()));
  EXPECT_THAT(u.status().message(), HasSubstr("../escape"));
  EXPECT_TRUE(absl::IsNotFound(
      ModelFolderUpdate::Apply((root() / "missing").string(), "m", {}).status()));
  EXPECT_EQ(Listing(root()), before);
}

TEST(CheckArtifactPathTest, AcceptsVersionSlashFileOnly) {
  EXPECT_TRUE(CheckArtifactPath("1/model.pt").ok());
  EXPECT_TRUE(CheckArtifactPath("12/calibration.json").ok());
  for (const std::string& bad : std::vector<std::string>
       {"model.pt", "0/model.pt", "-1/model.pt", "01/model.pt", "v1/model.pt", "1/", "1/.hidden",
        "1/a/b", "1/a\\b", "1/..", "1/config.toml", "/1/model.pt", "",
        "1/" + std::string(256, 'x'), std::string("1/a\0b", 5)}) {
    absl::Status s = CheckArtifactPath(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << "'" << bad << "'";
  }
  EXPECT_THAT(CheckArtifactPath("1/config.toml").message(), HasSubstr("'config' parameter"));
}

}  // namespace
}  // namespace ferry
