// AdminService over a real InferenceServer (copies of the bundled `simple` model's config
// on FakeBackends, and a broken one). Slow admin work is simulated by holding operations in the before_work
// hook, so the bound and shutdown are tested without sleeps or slow models.
#include "server/admin_service.h"

#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/gate.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using testing::HasSubstr;

bool IsReady(const std::future<absl::Status>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

class AdminServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    repo_.AddSimple("other");
    repo_.AddConfig("broken", "platform = \"torchscript\"\nmax_batch_size = 0\n");
    auto server = repo_.StartServer();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override {
    gate_.Release(1000);  // whatever a failed test left held
    admin_.reset();
    server_.reset();
  }
  // An admin service whose operations wait at gate_ when `gated`.
  void StartAdmin(int max_pending, int threads, bool gated) {
    AdminOptions options;
    options.max_pending = max_pending;
    options.threads = threads;
    if (gated) options.before_work = gate_.Hook();
    auto admin = AdminService::Create(options, server_.get());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
  }
  std::future<absl::Status> Load(const std::string& model) {
    auto done = std::make_shared<std::promise<absl::Status>>();
    admin_->LoadModel(ctx_, model, [done](absl::Status s) { done->set_value(std::move(s)); });
    return done->get_future();
  }
  std::future<absl::Status> Unload(const std::string& model) {
    auto done = std::make_shared<std::promise<absl::Status>>();
    admin_->UnloadModel(ctx_, model, [done](absl::Status s) { done->set_value(std::move(s)); });
    return done->get_future();
  }
  bool ModelReady(const std::string& model) {
    absl::StatusOr<bool> ready = server_->IsModelReady(model, "");
    return ready.ok() && *ready;
  }

  TempRepository repo_{"ferry_admin_test"};
  Gate gate_;
  RequestContext ctx_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<AdminService> admin_;
};

TEST_F(AdminServiceTest, CreateNamesTheBadValue) {
  AdminOptions options;
  EXPECT_THAT(AdminService::Create(options, nullptr).status().message(),
              HasSubstr("no inference server"));
  options.max_pending = 0;
  absl::Status s = AdminService::Create(options, server_.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("max_pending"));
  EXPECT_THAT(s.message(), HasSubstr("got 0"));
  options.max_pending = 4;
  options.threads = 5;
  s = AdminService::Create(options, server_.get()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("threads must be between 1 and max_pending (4), got 5"));
  options.threads = 0;
  EXPECT_THAT(AdminService::Create(options, server_.get()).status().message(), HasSubstr("got 0"));
}

TEST_F(AdminServiceTest, LoadAndUnloadReachTheServerAndPassErrorsThrough) {
  StartAdmin(4, 2, /*gated=*/false);
  ASSERT_TRUE(ModelReady("other"));
  EXPECT_TRUE(Unload("other").get().ok());
  EXPECT_FALSE(ModelReady("other"));
  absl::Status s = Unload("other").get();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("other"));
  EXPECT_TRUE(Load("other").get().ok());
  EXPECT_TRUE(ModelReady("other"));

  s = Load("nope").get();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("nope"));
  // The broken config's own error, unchanged.
  s = Load("broken").get();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("max_batch_size"));

  // An empty name is refused before it takes a slot.
  std::future<absl::Status> empty = Load("");
  ASSERT_TRUE(IsReady(empty));
  EXPECT_EQ(empty.get().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Unload("").get().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AdminServiceTest, BoundRefusesTheNextCallAtOnceAndFreesWhenWorkFinishes) {
  StartAdmin(/*max_pending=*/2, /*threads=*/1, /*gated=*/true);
  std::future<absl::Status> running = Load("simple");
  gate_.WaitEntered(1);
  std::future<absl::Status> queued = Unload("other");

  // Waiting or running, both count: the third is refused before the call returns.
  std::future<absl::Status> refused = Load("other");
  ASSERT_TRUE(IsReady(refused));
  absl::Status s = refused.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.message(), HasSubstr("the limit is 2"));
  // The index is not admin work that waits: it answers even now.
  EXPECT_FALSE(admin_->RepositoryIndex(ctx_, false).empty());

  gate_.Release(1);
  EXPECT_TRUE(running.get().ok());
  // The finished load's slot is free (the unload now runs and holds the other one).
  std::future<absl::Status> accepted = Load("other");
  EXPECT_EQ(Load("other").get().code(), absl::StatusCode::kResourceExhausted);
  gate_.Release(2);
  EXPECT_TRUE(queued.get().ok());
  EXPECT_TRUE(accepted.get().ok());
  EXPECT_TRUE(ModelReady("other"));  // unloaded, then loaded again, in order
}

TEST_F(AdminServiceTest, ShutdownFailsQueuedWorkAndFinishesRunningWork) {
  StartAdmin(/*max_pending=*/3, /*threads=*/1, /*gated=*/true);
  std::future<absl::Status> running = Unload("simple");
  gate_.WaitEntered(1);
  std::future<absl::Status> queued1 = Unload("other");
  std::future<absl::Status> queued2 = Load("simple");

  std::thread stopper([this] { admin_->Shutdown(); });
  // Queued work is failed before Shutdown waits for the running unload.
  for (std::future<absl::Status>* f : {&queued1, &queued2}) {
    absl::Status s = f->get();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(s.message(), HasSubstr("was not started"));
  }
  EXPECT_FALSE(IsReady(running));
  gate_.Release(1);
  stopper.join();
  EXPECT_TRUE(running.get().ok());
  EXPECT_FALSE(ModelReady("simple"));  // the running unload finished...
  EXPECT_TRUE(ModelReady("other"));    // ...the queued one never ran

  std::future<absl::Status> late = Load("simple");
  ASSERT_TRUE(IsReady(late));
  EXPECT_EQ(late.get().code(), absl::StatusCode::kUnavailable);
  admin_->Shutdown();  // idempotent
}

TEST_F(AdminServiceTest, RepositoryIndexFiltersReadyOnly) {
  StartAdmin(4, 2, /*gated=*/false);
  std::vector<ModelIndexEntry> all = admin_->RepositoryIndex(ctx_, /*ready_only=*/false);
  std::vector<std::string> names;
  for (const ModelIndexEntry& e : all) names.push_back(e.name + ":" + e.state);
  EXPECT_THAT(names, testing::ElementsAre("broken:UNAVAILABLE", "other:READY", "simple:READY"));

  ASSERT_TRUE(Unload("other").get().ok());
  names.clear();
  for (const ModelIndexEntry& e : admin_->RepositoryIndex(ctx_, /*ready_only=*/true)) {
    names.push_back(e.name + ":" + e.state);
  }
  EXPECT_THAT(names, testing::ElementsAre("simple:READY"));
}

TEST_F(AdminServiceTest, AnExceptionInTheWorkIsInternalAndFreesTheSlot) {
  AdminOptions options;
  options.max_pending = 1;
  options.threads = 1;
  int calls = 0;
  options.before_work = [&calls](std::string_view what) {
    if (++calls == 1) throw std::runtime_error("disk on fire");
  };
  auto admin = AdminService::Create(options, server_.get());
  ASSERT_TRUE(admin.ok()) << admin.status();
  admin_ = std::move(*admin);
  absl::Status s = Load("simple").get();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("load model 'simple': disk on fire"));
  EXPECT_TRUE(Load("simple").get().ok());
}

}  // namespace
}  // namespace ferry
