// Ensembles served end to end on fake members: each member call goes to the version the
// composite names, and carries the deadline and cancellation of the requests it is for.
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference_server.h"
#include "testing/fake_clock.h"
#include "testing/gate.h"
#include "testing/requests.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::FloatNear;
using testing::HasSubstr;
using testing::Pointwise;

// A member: FP32 x [-1, 2] -> probabilities [-1, 2]; one worker, no batching delay.
constexpr char kMember[] = R"(platform = "torchscript"
max_batch_size = 4
[[inputs]]
name = "x"
datatype = "FP32"
shape = [-1, 2]
[[outputs]]
name = "probabilities"
datatype = "FP32"
shape = [-1, 2]
[batching]
max_queue_delay_us = 0
[execution]
workers = 1
)";

std::string Ensemble(const std::string& members) {
  std::string config = kMember;
  config.replace(0, config.find('\n'), "platform = \"ensemble\"");
  return config + "[ensemble]\nmembers = " + members + "\n";
}

// Answers every row with the probabilities {p, 1 - p}.
FakeBackendOptions Answers(float p) {
  FakeBackendOptions options;
  options.outputs = [p](const std::vector<Tensor>& inputs) -> absl::StatusOr<std::vector<Tensor>> {
    const int64_t rows = inputs[0].shape[0];
    std::vector<float> values;
    for (int64_t r = 0; r < rows; ++r) {
      values.push_back(p);
      values.push_back(1 - p);
    }
    return std::vector<Tensor>{Fp32Tensor("probabilities", {rows, 2}, values)};
  };
  return options;
}

InferRequest OneRow() {
  InferRequest request;
  request.inputs.push_back(Fp32Tensor("x", {1, 2}, {0.5f, 0.5f}));
  return request;
}

class CompositeServerTest : public testing::Test {
 protected:
  CompositeServerTest() : repo_("ferry_composite_test") {}

  std::unique_ptr<InferenceServer> Start(ServerOptions options = {}) {
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = repo_.StartServer(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  int64_t Calls(const std::string& model, int64_t version) {
    std::shared_ptr<const FakeBackendCounters> counters = repo_.fakes().Counters(model, version);
    return counters == nullptr ? -1 : counters->calls.load();
  }

  TempRepository repo_;
};

TEST_F(CompositeServerTest, AMemberFollowsItsModelOrStaysOnItsPinnedVersion) {
  repo_.AddConfig("m", kMember, {1, 2});
  repo_.fakes().Set("m", 1, Answers(0.8f));
  repo_.fakes().Set("m", 2, Answers(0.6f));
  repo_.AddConfig("e", Ensemble(R"(["m", { model = "m", version = 1 }])"));
  std::unique_ptr<InferenceServer> server = Start();
  ASSERT_NE(server, nullptr);
  const int64_t warm1 = Calls("m", 1), warm2 = Calls("m", 2);  // warm-up's calls

  absl::StatusOr<InferResponse> answer = InferAndWait(*server, "e", OneRow());
  ASSERT_TRUE(answer.ok()) << answer.status();
  // "m" follows the model to its default version, 2 (0.6); the pinned one asks 1 (0.8).
  EXPECT_THAT(ValuesOf<float>(answer->outputs[0]), Pointwise(FloatNear(1e-6), {0.7f, 0.3f}));
  EXPECT_EQ(Calls("m", 1) - warm1, 1);
  EXPECT_EQ(Calls("m", 2) - warm2, 1);

  // Version 1 leaves the repository: the follower is unaffected, the pinned member makes
  // the ensemble unavailable, naming it, rather than answering from another version.
  std::filesystem::remove_all(repo_.path() / "m" / "1");
  ASSERT_TRUE(server->LoadModel("m").ok());
  answer = InferAndWait(*server, "e", OneRow());
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(answer.status().message()), HasSubstr("member 'm' version 1"));
  EXPECT_EQ(Calls("m", 2) - warm2, 2);  // the follower was still asked
}

TEST_F(CompositeServerTest, APinnedMemberThatIsNotServedKeepsTheCompositeFromLoading) {
  repo_.AddConfig("m", kMember, {1});
  repo_.AddConfig("e", Ensemble(R"([{ model = "m", version = 3 }])"));
  std::unique_ptr<InferenceServer> server = Start();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<bool> ready = server->IsModelReady("e", "");
  EXPECT_FALSE(ready.ok() && *ready);
  bool named = false;
  for (const ModelIndexEntry& entry : server->Index()) {
    if (entry.name == "e") named |= entry.reason.find("member 'm' version 3") != std::string::npos;
  }
  EXPECT_TRUE(named);
}

// The member "slow" runs one batch at a time, held at a gate. A direct request occupies it;
// the ensemble's call for the request under test then waits in its queue, where what
// happens to the client's request (deadline, cancellation) must reach it.
class HeldMemberTest : public CompositeServerTest {
 protected:
  void SetUp() override {
    repo_.AddConfig("slow", kMember);
    // Held only once the server is up: warm-up (the member's own, and the ensemble's
    // through it) runs freely.
    FakeBackendOptions slow = Answers(0.9f);
    slow.outputs = [this, answer = slow.outputs](const std::vector<Tensor>& inputs) {
      if (hold_.load()) compute_.Enter();
      return answer(inputs);
    };
    repo_.fakes().Set("slow", std::move(slow));
    repo_.AddConfig("e", Ensemble(R"(["slow"])"));
    ServerOptions options;
    options.clock = &clock_;
    routed_.Release(1000);
    options.after_route = [this](int64_t) {
      if (hold_.load()) routed_.Enter();
    };
    server_ = Start(std::move(options));
    ASSERT_NE(server_, nullptr);
    warm_up_calls_ = Calls("slow", 1);
    hold_ = true;
    // The direct request computes on the member's worker (not inline on this thread),
    // held at the gate, so the member's queue builds.
    auto direct = std::make_shared<RequestContext>();
    direct->may_run_inline = false;
    server_->Infer(std::move(direct), "slow", "", OneRow(),
                   [this](absl::StatusOr<InferResponse> r) {
                     direct_ = r.status();
                     direct_done_.Notify();
                   });
    compute_.WaitEntered(1);
  }

  // Sends the ensemble request for `context` and waits until its member call has routed
  // (and so is queued behind the direct request, or about to be).
  void SendToEnsemble(std::shared_ptr<RequestContext> context, InferRequest request) {
    server_->Infer(std::move(context), "e", "", std::move(request),
                   [this](absl::StatusOr<InferResponse> r) {
                     ensemble_ = r.status();
                     ensemble_done_.Notify();
                   });
    routed_.WaitEntered(3);  // the direct request, the ensemble's, its member call
  }

  // Lets the direct request finish; returns the ensemble request's status.
  absl::Status Finish() {
    compute_.Release(100);
    direct_done_.WaitForNotification();
    ensemble_done_.WaitForNotification();
    EXPECT_TRUE(direct_.ok()) << direct_;
    return ensemble_;
  }

  void TearDown() override {
    compute_.Release(100);
    if (server_ != nullptr) server_->Drain();
  }

  FakeClock clock_;
  Gate compute_, routed_;
  std::atomic<bool> hold_{false};
  int64_t warm_up_calls_ = 0;
  std::unique_ptr<InferenceServer> server_;
  absl::Notification direct_done_, ensemble_done_;
  absl::Status direct_, ensemble_;
};

TEST_F(HeldMemberTest, AMemberCallPastTheClientsDeadlineIsNeverComputed) {
  InferRequest request = OneRow();
  request.parameters[kTimeoutParameter] = int64_t{1000};  // 1 ms on the server's clock
  SendToEnsemble(std::make_shared<RequestContext>(), std::move(request));
  clock_.AdvanceMicros(5000);
  const absl::Status status = Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("member 'slow'"));
  EXPECT_EQ(Calls("slow", 1) - warm_up_calls_, 1);  // the direct request only
}

TEST_F(HeldMemberTest, AMemberCallForACancelledClientIsNeverComputed) {
  auto context = std::make_shared<RequestContext>();
  SendToEnsemble(context, OneRow());
  context->Cancel();
  const absl::Status status = Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(Calls("slow", 1) - warm_up_calls_, 1);
}

TEST_F(HeldMemberTest, AMemberCallWithinTheDeadlineIsComputed) {
  InferRequest request = OneRow();
  request.parameters[kTimeoutParameter] = int64_t{1000};
  SendToEnsemble(std::make_shared<RequestContext>(), std::move(request));
  clock_.AdvanceMicros(500);
  EXPECT_TRUE(Finish().ok());
  EXPECT_EQ(Calls("slow", 1) - warm_up_calls_, 2);
}

}  // namespace
}  // namespace ferry
