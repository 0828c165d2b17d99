// The request path below decoding, in process, on the bundled `simple` model.
#include "server/inference_server.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

Tensor Int32(const std::string& name, const std::vector<int32_t>& v) {
  Tensor t{name, DataType::kInt32, {1, static_cast<int64_t>(v.size())}, {}};
  t.data.resize(v.size() * 4);
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

class InferenceServerTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ferry_server_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    CopySimple("simple");
    CopySimple("other");
    fs::create_directories(root_ / "broken" / "1");
    std::ofstream(root_ / "broken" / "config.toml") << "platform = \"torchscript\"\nmax_batch_size = 0\n";
    ServerOptions options;
    options.model_repository = root_.string();
    auto server = InferenceServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(root_);
  }
  void CopySimple(const std::string& name) {
    fs::create_directories(root_ / name / "1");
    fs::copy_file("models/simple/config.toml", root_ / name / "config.toml");
    fs::copy_file("models/simple/1/model.pt", root_ / name / "1" / "model.pt");
  }
  InferRequest SimpleRequest() {
    std::vector<int32_t> a(16), b(16, 1);
    for (int i = 0; i < 16; ++i) a[i] = i;
    InferRequest r;
    r.id = "req-7";
    r.inputs = {Int32("INPUT1", b), Int32("INPUT0", a)};  // order must not matter
    return r;
  }
  absl::StatusOr<InferResponse> Infer(const std::string& model, InferRequest request,
                                      const std::string& version = "") {
    std::promise<absl::StatusOr<InferResponse>> done;
    server_->Infer(std::make_shared<RequestContext>(), model, version, std::move(request),
                   [&done](absl::StatusOr<InferResponse> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  fs::path root_;
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(InferenceServerTest, InfersAndEchoesId) {
  absl::StatusOr<InferResponse> r = Infer("simple", SimpleRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model_name, "simple");
  EXPECT_EQ(r->model_version, "1");
  EXPECT_EQ(r->id, "req-7");
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].name, "OUTPUT0");
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(r->outputs[0].data_as<int32_t>()[i], i + 1);
    EXPECT_EQ(r->outputs[1].data_as<int32_t>()[i], i - 1);
  }
}

TEST_F(InferenceServerTest, MayRunInlineDecidesWhoseThreadComputesAtAnIdleModel) {
  for (bool may : {true, false}) {
    auto context = std::make_shared<RequestContext>();
    context->may_run_inline = may;
    std::promise<std::thread::id> ran_on;
    server_->Infer(context, "simple", "", SimpleRequest(),
                   [&ran_on](absl::StatusOr<InferResponse> r) {
                     EXPECT_TRUE(r.ok()) << r.status();
                     ran_on.set_value(std::this_thread::get_id());
                   });
    const std::thread::id id = ran_on.get_future().get();
    if (may) {
      EXPECT_EQ(id, std::this_thread::get_id());  // inline, on the caller
    } else {
      EXPECT_NE(id, std::this_thread::get_id());  // on the model's worker
    }
  }
}

TEST_F(InferenceServerTest, HonoursRequestedOutputsAndClassification) {
  InferRequest request = SimpleRequest();
  request.outputs = {{"OUTPUT1", 2}};
  absl::StatusOr<InferResponse> r = Infer("simple", std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].name, "OUTPUT1");
  EXPECT_EQ(r->outputs[0].dtype, DataType::kBytes);
  EXPECT_EQ(r->outputs[0].shape, (std::vector<int64_t>{1, 2}));
}

TEST_F(InferenceServerTest, ErrorsCarryTheRightCodes) {
  EXPECT_EQ(Infer("nope", SimpleRequest()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Infer("simple", SimpleRequest(), "2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Infer("simple", SimpleRequest(), "abc").status().code(), absl::StatusCode::kInvalidArgument);
  InferRequest bad = SimpleRequest();
  bad.inputs.pop_back();
  absl::StatusOr<InferResponse> r = Infer("simple", std::move(bad));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("missing input 'INPUT0'"));
  absl::StatusOr<InferResponse> broken = Infer("broken", SimpleRequest());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("max_batch_size: must be at least 1"));
}

TEST_F(InferenceServerTest, BrokenModelDoesNotStopTheOthers) {
  EXPECT_TRUE(*server_->IsModelReady("simple", ""));
  EXPECT_FALSE(*server_->IsModelReady("broken", ""));
  EXPECT_EQ(server_->IsModelReady("nope", "").status().code(), absl::StatusCode::kNotFound);
  bool saw_broken = false;
  for (const ModelIndexEntry& e : server_->Index()) {
    if (e.name == "broken") {
      saw_broken = true;
      EXPECT_EQ(e.state, "UNAVAILABLE");
      EXPECT_THAT(e.reason, HasSubstr("config.toml"));
    }
  }
  EXPECT_TRUE(saw_broken);
}

TEST_F(InferenceServerTest, MetadataAndStatistics) {
  absl::StatusOr<ModelMetadata> meta = server_->GetModelMetadata("simple", "");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->platform, "pytorch_torchscript");
  EXPECT_EQ(meta->versions, (std::vector<std::string>{"1"}));
  EXPECT_EQ(meta->inputs.size(), 2u);
  EXPECT_EQ(server_->GetModelMetadata("simple", "3").status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(Infer("simple", SimpleRequest()).ok());
  ASSERT_TRUE(Infer("simple", SimpleRequest()).ok());
  absl::StatusOr<std::vector<ModelStatistics>> stats = server_->Statistics("simple", "1");
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].success.count, 2u);
  EXPECT_EQ((*stats)[0].inference_count, 2u);
  EXPECT_EQ((*stats)[0].execution_count, 2u);
  ASSERT_FALSE((*stats)[0].batch_stats.empty());
  EXPECT_EQ((*stats)[0].batch_stats[0].batch_size, 1u);
  EXPECT_GT((*stats)[0].last_inference_ms, 0u);
  absl::StatusOr<std::vector<ModelStatistics>> all = server_->Statistics("", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);  // simple and other; broken has no ready version
}

TEST_F(InferenceServerTest, UnloadAndReloadLeaveOtherModelsServing) {
  ASSERT_TRUE(server_->UnloadModel("other").ok());
  EXPECT_EQ(Infer("other", SimpleRequest()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->UnloadModel("other").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Infer("simple", SimpleRequest()).ok());
  ASSERT_TRUE(server_->LoadModel("other").ok());
  EXPECT_TRUE(Infer("other", SimpleRequest()).ok());
  // Reloading a model that serves swaps it without a gap.
  ASSERT_TRUE(server_->LoadModel("simple").ok());
  EXPECT_TRUE(Infer("simple", SimpleRequest()).ok());
  EXPECT_EQ(server_->LoadModel("missing").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server_->LoadModel("../etc").code(), absl::StatusCode::kInvalidArgument);
  absl::Status broken = server_->LoadModel("broken");
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(broken.message()), HasSubstr("max_batch_size"));
}

TEST_F(InferenceServerTest, DrainRefusesNewWork) {
  server_->Drain();
  EXPECT_FALSE(server_->IsReady());
  EXPECT_EQ(Infer("simple", SimpleRequest()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ferry
