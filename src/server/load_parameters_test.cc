// AdminService::LoadModel with parameters (a "config" override and "file:" artifacts) over a
// real InferenceServer on FakeBackends and a real repository folder: what lands on disk,
// what serves, and that a refused or failed load leaves both as they were.
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/admin_service.h"
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

constexpr char kNewModelConfig[] = R"({"name": "fresh", "backend": "pytorch", "max_batch_size": 4,
  "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [2]}],
  "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [2]}]})";

class LoadParametersTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    auto server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto admin = AdminService::Create({}, server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
  }
  absl::Status Load(const std::string& model, LoadParameters parameters) {
    std::promise<absl::Status> done;
    admin_->LoadModel(RequestContext(), model, std::move(parameters),
                      [&done](absl::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }
  int32_t MaxBatchSize(const std::string& model) {
    absl::StatusOr<TritonModelConfig> c = server_->GetModelConfig(model, "");
    return c.ok() ? c->max_batch_size : -1;
  }
  // Every file under the repository with its contents.
  std::string Disk() {
    std::string out;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(repo_.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) out += f.string() + "=" + (fs::is_regular_file(f) ? Read(f) : "") + "\n";
    return out;
  }

  TempRepository repo_{"ferry_load_parameters_test"};
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
};

TEST_F(LoadParametersTest, AConfigOverrideLandsInTheRepositoryAndServes) {
  ASSERT_EQ(MaxBatchSize("simple"), 8);
  LoadParameters p;
  p.config = R"({"max_batch_size": 4, "dynamic_batching": {"max_queue_delay_microseconds": 50}})";
  ASSERT_TRUE(Load("simple", p).ok());
  EXPECT_EQ(MaxBatchSize("simple"), 4);
  const std::string toml = Read(repo_.path() / "simple" / "config.toml");
  EXPECT_THAT(toml, HasSubstr("max_batch_size = 4"));
  EXPECT_THAT(toml, HasSubstr("max_queue_delay_us = 50"));
  // A plain load afterwards serves the same: the repository says what serves.
  std::promise<absl::Status> done;
  admin_->LoadModel(RequestContext(), "simple", [&done](absl::Status s) { done.set_value(s); });
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_EQ(MaxBatchSize("simple"), 4);
}

TEST_F(LoadParametersTest, ABadOverrideChangesNothing) {
  const std::string before = Disk();
  LoadParameters p;
  p.config = R"({"max_batch_size": 4, "instance_group": [{"kind": "KIND_GPU"}]})";
  absl::Status s = Load("simple", p);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("config.instance_group[0].kind"));
  EXPECT_EQ(MaxBatchSize("simple"), 8);
  EXPECT_EQ(Disk(), before);
}

TEST_F(LoadParametersTest, AFailedLoadPutsTheFolderBackAndTheOldVersionServes) {
  const std::string before = Disk();
  repo_.fakes().FailLoad("simple", 2, absl::InvalidArgumentError("corrupt weights"));
  LoadParameters p;
  p.config = R"({"max_batch_size": 4})";
  p.files = {{"2/model.pt", "not a model"}};
  absl::Status s = Load("simple", p);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("corrupt weights"));
  EXPECT_EQ(Disk(), before);
  EXPECT_EQ(MaxBatchSize("simple"), 8);  // version 1 was rebuilt with the old config
  absl::StatusOr<bool> ready = server_->IsModelReady("simple", "1");
  EXPECT_TRUE(ready.ok() && *ready);
}

TEST_F(LoadParametersTest, ANewModelArrivesWithItsFiles) {
  LoadParameters p;
  p.config = kNewModelConfig;
  p.files = {{"1/model.pt", "weights"}};
  ASSERT_TRUE(Load("fresh", p).ok());
  EXPECT_EQ(MaxBatchSize("fresh"), 4);
  EXPECT_EQ(Read(repo_.path() / "fresh" / "1" / "model.pt"), "weights");
}

TEST_F(LoadParametersTest, RefusedCallsNameTheProblem) {
  LoadParameters files_only;
  files_only.files = {{"1/model.pt", "w"}};
  absl::Status s = Load("fresh", files_only);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("'config' parameter"));

  LoadParameters bad_path;
  bad_path.config = kNewModelConfig;
  bad_path.files = {{"../../etc/passwd", "w"}};
  s = Load("fresh", bad_path);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("../../etc/passwd"));

  LoadParameters config_only;
  config_only.config = kNewModelConfig;
  s = Load("fresh", config_only);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_FALSE(fs::exists(repo_.path() / "fresh"));

  LoadParameters wrong_name;
  wrong_name.config = kNewModelConfig;  // names "fresh"
  s = Load("simple", wrong_name);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("config.name"));
}

}  // namespace
}  // namespace ferry
