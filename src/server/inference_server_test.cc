// The request path below decoding, in process, on copies of the bundled `simple` model's
// config served by FakeBackends (the same sums and differences).
#include "server/inference_server.h"

#include <future>
#include <limits>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/requests.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using testing::HasSubstr;

// Keeps a copy of what it is told, for the tests to read.
class RecordingObserver : public RequestObserver {
 public:
  struct Seen {
    std::string id;
    std::string model, version;  // empty when no version was chosen
    absl::Status status;
    size_t inputs = 0, outputs = 0;
    RequestTiming timing;
  };
  explicit RecordingObserver(bool wants_inputs = false) : wants_inputs_(wants_inputs) {}
  void OnComplete(const CompletedRequest& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back({r.context.id, std::string(r.version ? r.version->model : ""),
                     std::string(r.version ? r.version->version : ""), r.status, r.inputs.size(),
                     r.outputs.size(), r.timing});
  }
  bool wants_inputs() const override { return wants_inputs_; }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  const bool wants_inputs_;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

class InferenceServerTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddSimple("simple");
    repo_.AddSimple("other");
    repo_.AddConfig("broken", "platform = \"torchscript\"\nmax_batch_size = 0\n");
    Start({observer_});
  }
  void Start(std::vector<std::shared_ptr<RequestObserver>> observers) {
    server_.reset();
    ServerOptions options;
    options.observers = std::move(observers);
    auto server = repo_.StartServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override { server_.reset(); }
  InferRequest SimpleRequest() {
    std::vector<int32_t> a(16), b(16, 1);
    for (int i = 0; i < 16; ++i) a[i] = i;
    InferRequest r = ferry::SimpleRequest(a, b);
    r.id = "req-7";
    std::swap(r.inputs[0], r.inputs[1]);  // order must not matter
    return r;
  }
  absl::StatusOr<InferResponse> Infer(const std::string& model, InferRequest request,
                                      const std::string& version = "",
                                      std::shared_ptr<RequestContext> context = nullptr) {
    return InferAndWait(*server_, model, std::move(request), version, std::move(context));
  }

  TempRepository repo_{"ferry_server_test"};
  std::shared_ptr<RecordingObserver> observer_ = std::make_shared<RecordingObserver>();
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
  EXPECT_EQ(Infer("simple", SimpleRequest(), "Abc").status().code(), absl::StatusCode::kInvalidArgument);
  // Alias-shaped, and this server has no aliases.
  EXPECT_EQ(Infer("simple", SimpleRequest(), "abc").status().code(), absl::StatusCode::kNotFound);
  InferRequest bad = SimpleRequest();
  bad.inputs.pop_back();
  absl::StatusOr<InferResponse> r = Infer("simple", std::move(bad));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("expected 2 inputs but got 1 inputs for model 'simple': missing input 'INPUT0'"));
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

TEST_F(InferenceServerTest, CreateNeedsABackendFactory) {
  ServerOptions options;
  options.model_repository = repo_.path().string();
  absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Create(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("backend_factory"));
}

// The fake answers the warm-up (two batch sizes, three calls each) and then fails: the
// request gets the model's error, and the other models keep serving.
TEST_F(InferenceServerTest, AModelErrorFailsTheRequestAndNothingElse) {
  FakeBackendOptions failing;
  failing.error = absl::InternalError("model on fire");
  failing.fail_from_call = 7;
  repo_.fakes().Set("other", failing);
  ASSERT_TRUE(server_->UnloadModel("other").ok());  // a reload of an unchanged model keeps it
  ASSERT_TRUE(server_->LoadModel("other").ok());
  absl::StatusOr<InferResponse> r = Infer("other", SimpleRequest());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("model on fire"));
  EXPECT_TRUE(Infer("simple", SimpleRequest()).ok());
  EXPECT_EQ(repo_.fakes().Builds("other", 1), 2);
  EXPECT_EQ(repo_.fakes().Counters("other", 1)->calls.load(), 7);
  // An error from the first call fails the warm-up, so the load.
  failing.fail_from_call = 1;
  repo_.fakes().Set("other", failing);
  ASSERT_TRUE(server_->UnloadModel("other").ok());
  const absl::Status load = server_->LoadModel("other");
  EXPECT_EQ(load.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(load.message()), HasSubstr("warm-up at batch size 1: model on fire"));
}

TEST_F(InferenceServerTest, DrainRefusesNewWork) {
  server_->Drain();
  EXPECT_FALSE(server_->IsReady());
  EXPECT_EQ(Infer("simple", SimpleRequest()).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST_F(InferenceServerTest, ObserversHearOfEveryRequestOnceWithItsContextAndTiming) {
  auto context = std::make_shared<RequestContext>();
  context->id = "ctx-1";
  ASSERT_TRUE(Infer("simple", SimpleRequest(), "", context).ok());
  EXPECT_EQ(Infer("nope", SimpleRequest()).status().code(), absl::StatusCode::kNotFound);
  InferRequest bad = SimpleRequest();
  bad.inputs.pop_back();
  EXPECT_EQ(Infer("simple", bad).status().code(), absl::StatusCode::kInvalidArgument);

  const std::vector<RecordingObserver::Seen> seen = observer_->seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].id, "ctx-1");
  EXPECT_EQ(seen[0].model, "simple");
  EXPECT_EQ(seen[0].version, "1");
  EXPECT_TRUE(seen[0].status.ok());
  EXPECT_EQ(seen[0].outputs, 2u);
  EXPECT_EQ(seen[0].inputs, 0u);  // nobody asked for them
  const RequestTiming& t = seen[0].timing;
  EXPECT_GT(t.received_ns, 0);
  EXPECT_LE(t.received_ns, t.enqueued_ns);
  EXPECT_LE(t.enqueued_ns, t.compute_start_ns);
  EXPECT_LE(t.compute_start_ns, t.compute_end_ns);
  EXPECT_LE(t.compute_end_ns, t.finished_ns);
  EXPECT_EQ(t.batch_rows, 1);

  EXPECT_EQ(seen[1].model, "");  // no version was chosen
  EXPECT_EQ(seen[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(seen[2].model, "simple");
  EXPECT_EQ(seen[2].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seen[2].timing.enqueued_ns, 0);  // never queued

  // The metrics observer saw the same two requests that reached the version.
  ModelMetrics* m = server_->metrics().ForModel("simple", "1");
  EXPECT_EQ(m->RequestCount(Outcome::kSuccess), 1u);
  EXPECT_EQ(m->RequestCount(Outcome::kInvalid), 1u);
}

TEST_F(InferenceServerTest, AnObserverThatWantsInputsGetsTheRequestsInputs) {
  auto wants = std::make_shared<RecordingObserver>(/*wants_inputs=*/true);
  Start({wants});
  ASSERT_TRUE(Infer("simple", SimpleRequest()).ok());
  ASSERT_EQ(wants->seen().size(), 1u);
  EXPECT_EQ(wants->seen()[0].inputs, 2u);
}

TEST_F(InferenceServerTest, TheResponseIdIsTheRequestsOwnOrElseTheContexts) {
  auto context = std::make_shared<RequestContext>();
  context->id = "server-made";
  InferRequest named = SimpleRequest();  // id "req-7"
  EXPECT_EQ(Infer("simple", named, "", context)->id, "req-7");
  InferRequest unnamed = SimpleRequest();
  unnamed.id.clear();
  EXPECT_EQ(Infer("simple", unnamed, "", context)->id, "server-made");
}

TEST_F(InferenceServerTest, ARequestPastItsDeadlineIsNeverRun) {
  auto context = std::make_shared<RequestContext>();
  context->id = "late";
  context->deadline_ns = server_->clock()->NowNanos();
  absl::StatusOr<InferResponse> r = Infer("simple", SimpleRequest(), "", context);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  ModelMetrics* m = server_->metrics().ForModel("simple", "1");
  EXPECT_EQ(m->RequestCount(Outcome::kExpired), 1u);
  EXPECT_EQ(m->execution_count.load(), 0u);  // warm-up runs on the backend, not the batcher
  // A generous timeout parameter runs as usual.
  InferRequest patient = SimpleRequest();
  patient.parameters[kTimeoutParameter] = int64_t{60'000'000};
  EXPECT_TRUE(Infer("simple", patient).ok());
}

TEST(TimeoutParameterTest, SetsTheDeadlineAndRejectsWhatIsNotAPositiveInteger) {
  InferRequest request;
  RequestContext none;
  ASSERT_TRUE(ApplyTimeoutParameter(request, 1000, none).ok());
  EXPECT_EQ(none.deadline_ns, RequestContext::kNoDeadline);

  request.parameters[kTimeoutParameter] = int64_t{250};
  RequestContext set;
  ASSERT_TRUE(ApplyTimeoutParameter(request, 1000, set).ok());
  EXPECT_EQ(set.deadline_ns, 1000 + 250'000);
  RequestContext earlier;  // a transport's earlier deadline stays
  earlier.deadline_ns = 5000;
  ASSERT_TRUE(ApplyTimeoutParameter(request, 1000, earlier).ok());
  EXPECT_EQ(earlier.deadline_ns, 5000);
  request.parameters[kTimeoutParameter] = int64_t{std::numeric_limits<int64_t>::max()};
  RequestContext forever;
  ASSERT_TRUE(ApplyTimeoutParameter(request, 1000, forever).ok());
  EXPECT_EQ(forever.deadline_ns, RequestContext::kNoDeadline);

  for (ParameterValue bad : {ParameterValue(int64_t{0}), ParameterValue(int64_t{-5}),
                             ParameterValue(1.5), ParameterValue(std::string("100")),
                             ParameterValue(true)}) {
    request.parameters[kTimeoutParameter] = bad;
    RequestContext context;
    const absl::Status s = ApplyTimeoutParameter(request, 1000, context);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("parameter 'timeout'"));
    EXPECT_EQ(context.deadline_ns, RequestContext::kNoDeadline);
  }
}

}  // namespace
}  // namespace ferry
