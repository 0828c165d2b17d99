#include "repository/repository.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "repository/model_config.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

class RepositoryTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ferry_repo_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
};

TEST(ParseVersionTest, PositiveDecimalOnly) {
  EXPECT_EQ(ParseVersion("1"), 1);
  EXPECT_EQ(ParseVersion("42"), 42);
  EXPECT_EQ(ParseVersion("0"), 0);
  EXPECT_EQ(ParseVersion("007"), 0);
  EXPECT_EQ(ParseVersion("-1"), 0);
  EXPECT_EQ(ParseVersion("v2"), 0);
  EXPECT_EQ(ParseVersion(""), 0);
  EXPECT_EQ(ParseVersion("99999999999999999999"), 0);
}

TEST_F(RepositoryTest, FindsModelsAndVersionsSorted) {
  Write("b/config.toml", "");
  Write("b/10/model.pt", "");
  Write("b/2/model.pt", "");
  Write("b/notes/readme.txt", "");
  Write("a/config.toml", "");
  Write("a/1/model.pt", "");
  Write("README.md", "");
  Write(".hidden/1/model.pt", "");
  absl::StatusOr<std::vector<ModelDir>> models = ScanRepository(root_.string());
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name, "a");
  EXPECT_EQ((*models)[1].name, "b");
  ASSERT_EQ((*models)[1].versions.size(), 2u);
  EXPECT_EQ((*models)[1].versions[0].version, 2);
  EXPECT_EQ((*models)[1].versions[1].version, 10);
  ASSERT_EQ((*models)[1].warnings.size(), 1u);
  EXPECT_NE((*models)[1].warnings[0].find("notes"), std::string::npos);
}

TEST_F(RepositoryTest, MissingRootIsNotFound) {
  EXPECT_EQ(ScanRepository((root_ / "nope").string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RepositoryTest, LoadModelConfigReadsLabels) {
  Write("m/config.toml",
        "platform = \"torchscript\"\nlabels = \"labels.txt\"\n"
        "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n"
        "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 3]\n");
  Write("m/labels.txt", "cat\ndog \nbird\n");
  absl::StatusOr<ModelConfig> c = LoadModelConfig((root_ / "m").string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signature.labels, (std::vector<std::string>{"cat", "dog", "bird"}));
}

TEST_F(RepositoryTest, LoadModelConfigNamesMissingFiles) {
  absl::StatusOr<ModelConfig> missing = LoadModelConfig((root_ / "m").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("config.toml"), absl::string_view::npos);
  Write("m/config.toml",
        "platform = \"torchscript\"\nlabels = \"gone.txt\"\n"
        "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n"
        "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 3]\n");
  absl::StatusOr<ModelConfig> no_labels = LoadModelConfig((root_ / "m").string());
  EXPECT_EQ(no_labels.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(no_labels.status().message().find("gone.txt"), absl::string_view::npos);
}

}  // namespace
}  // namespace ferry
