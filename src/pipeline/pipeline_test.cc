#include <cmath>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/combine.h"
#include "pipeline/composite.h"
#include "testing/fake_backend.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::FloatNear;
using testing::HasSubstr;
using testing::Pointwise;

Tensor Fp32(std::vector<int64_t> shape, std::vector<float> values, std::string name = "") {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DataType::kFp32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

Tensor Bool(std::vector<int64_t> shape, std::vector<uint8_t> values) {
  Tensor t;
  t.dtype = DataType::kBool;
  t.shape = std::move(shape);
  t.data = std::move(values);
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.element_count());
}

TEST(CombineTest, MeanOfMembers) {
  std::vector<Tensor> members = {Fp32({2, 2}, {0.9f, 0.1f, 0.2f, 0.8f}),
                                 Fp32({2, 2}, {0.5f, 0.5f, 0.0f, 1.0f})};
  absl::StatusOr<Tensor> mean = MeanProbabilities(members);
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_THAT(Floats(*mean), Pointwise(FloatNear(1e-6), std::vector<float>{0.7f, 0.3f, 0.1f, 0.9f}));
  EXPECT_EQ(mean->name, "probabilities");
}

TEST(CombineTest, MeanRejectsMismatchedMembers) {
  EXPECT_FALSE(MeanProbabilities({}).ok());
  std::vector<Tensor> shapes = {Fp32({1, 2}, {0.5f, 0.5f}), Fp32({1, 3}, {0.2f, 0.3f, 0.5f})};
  absl::StatusOr<Tensor> mean = MeanProbabilities(shapes);
  ASSERT_FALSE(mean.ok());
  EXPECT_THAT(std::string(mean.status().message()), HasSubstr("member 1"));
  std::vector<Tensor> short_data = {Fp32({1, 2}, {0.5f})};
  EXPECT_FALSE(MeanProbabilities(short_data).ok());
}

TEST(CombineTest, MutualInformationIsZeroForAgreementAndLn2ForOppositeCertainty) {
  std::vector<Tensor> agree = {Fp32({1, 2}, {0.3f, 0.7f}), Fp32({1, 2}, {0.3f, 0.7f})};
  Tensor mean = *MeanProbabilities(agree);
  EXPECT_NEAR(Floats(MutualInformation(agree, mean))[0], 0.0, 1e-6);

  std::vector<Tensor> opposite = {Fp32({1, 2}, {1.0f, 0.0f}), Fp32({1, 2}, {0.0f, 1.0f})};
  mean = *MeanProbabilities(opposite);
  Tensor mi = MutualInformation(opposite, mean);
  EXPECT_EQ(mi.shape, (std::vector<int64_t>{1}));
  EXPECT_NEAR(Floats(mi)[0], std::log(2.0), 1e-6);

  // Both unsure in the same way: high entropy, but no disagreement.
  std::vector<Tensor> unsure = {Fp32({1, 2}, {0.5f, 0.5f}), Fp32({1, 2}, {0.5f, 0.5f})};
  mean = *MeanProbabilities(unsure);
  EXPECT_NEAR(Floats(MutualInformation(unsure, mean))[0], 0.0, 1e-6);
}

TEST(CombineTest, LogProbabilitiesStayFinite) {
  Tensor l = LogProbabilities(Fp32({1, 3}, {0.0f, 0.5f, 0.5f}));
  std::vector<float> v = Floats(l);
  EXPECT_TRUE(std::isfinite(v[0]));
  EXPECT_LT(v[0], -80.0f);
  EXPECT_NEAR(v[1], std::log(0.5f), 1e-6);
}

TEST(CombineTest, StageAnswersOnASingletonSetOrHighConfidence) {
  Tensor p = Fp32({4, 2}, {0.6f, 0.4f, 0.6f, 0.4f, 0.95f, 0.05f, 0.5f, 0.5f});
  Tensor set = Bool({4, 2}, {1, 0, 1, 1, 1, 1, 0, 0});
  // Row 0: one class in the set. Row 1: two classes, top 0.6. Row 2: two classes but
  // top 0.95. Row 3: an empty set.
  EXPECT_THAT(StageAnswers(p, &set, 0.9), ElementsAre(true, false, true, false));
  EXPECT_THAT(StageAnswers(p, nullptr, 0.9), ElementsAre(false, false, true, false));
  EXPECT_THAT(StageAnswers(p, nullptr, 0.5), ElementsAre(true, true, true, true));
}

// Fake members. Input "x" is FP32 [N, 1]. Member "sure" answers [v, 1-v] for each row
// value v; "unsure" answers [0.5, 0.5]; "fast" says its set is a singleton when v >= 0.5;
// "broken" fails. Every call is recorded. Each answers from a thread of its own, as a
// member's worker would, or, once Hold() is called, only when the test calls Release().
struct Call {
  std::string model;
  std::vector<float> rows;
  std::vector<std::string> outputs;
  std::map<std::string, ParameterValue> parameters;
  int64_t version = 0;
  std::shared_ptr<RequestContext> context;
};

class FakeMembers {
 public:
  MemberInfer Infer() {
    return [this](const ModelRef& member, std::shared_ptr<RequestContext> context,
                  InferRequest request, MemberDone done) {
      const std::string& model = member.model;
      std::vector<float> rows = Floats(request.inputs[0]);
      Call call{model, rows, {}, request.parameters, member.version, context};
      for (const auto& o : request.outputs) call.outputs.push_back(o.name);
      {
        absl::MutexLock lock(&mu_);
        calls_.push_back(call);
      }
      if (model == "broken") return done(absl::UnavailableError("not ready"));
      const int64_t n = static_cast<int64_t>(rows.size());
      std::vector<float> p;
      std::vector<uint8_t> set;
      for (float v : rows) {
        const float a = model == "unsure" ? 0.5f : v;
        p.push_back(a);
        p.push_back(1 - a);
        set.push_back(1);
        set.push_back(v >= 0.5f ? 0 : 1);
      }
      InferResponse response;
      response.model_name = model;
      for (const auto& o : request.outputs) {
        if (o.name == "probabilities") response.outputs.push_back(Fp32({n, 2}, p, "probabilities"));
        if (o.name == "prediction_set") {
          Tensor s = Bool({n, 2}, set);
          s.name = "prediction_set";
          response.outputs.push_back(std::move(s));
        }
      }
      {
        absl::MutexLock lock(&mu_);
        if (hold_) {
          held_.push_back([done, response]() mutable { done(std::move(response)); });
          return;
        }
      }
      // Answer from another thread, as a member's worker would.
      std::thread([done, response]() mutable { done(std::move(response)); }).detach();
    };
  }
  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // From now on, answers wait for Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  // Sends the answers held so far, on this thread; returns how many.
  size_t Release() {
    std::vector<std::function<void()>> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto& answer : held) answer();
    return held.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
};

// Receives an ExecuteAsync's outputs.
struct AsyncResult {
  BackendDone Done() {
    return [this](absl::StatusOr<std::vector<Tensor>> out) {
      absl::MutexLock lock(&mu);
      result = std::move(out);
    };
  }
  bool ready() {
    absl::MutexLock lock(&mu);
    return result.has_value();
  }
  absl::StatusOr<std::vector<Tensor>> Take() {
    absl::MutexLock lock(&mu);
    return std::move(*result);
  }
  absl::Mutex mu;
  std::optional<absl::StatusOr<std::vector<Tensor>>> result ABSL_GUARDED_BY(mu);
};

std::shared_ptr<RequestContext> ClientContext(int64_t deadline_ns) {
  auto context = std::make_shared<RequestContext>();
  context->deadline_ns = deadline_ns;
  return context;
}

ModelSignature Signature(std::vector<std::pair<std::string, DataType>> outputs) {
  ModelSignature sig;
  TensorSpec in;
  in.name = "x";
  in.dtype = DataType::kFp32;
  in.shape = {-1, 1};
  sig.inputs.push_back(in);
  for (const auto& [name, dtype] : outputs) {
    TensorSpec out;
    out.name = name;
    out.dtype = dtype;
    out.shape = name == "epistemic" || name == "stage" ? std::vector<int64_t>{-1}
                                                        : std::vector<int64_t>{-1, 2};
    sig.outputs.push_back(out);
  }
  sig.max_batch_size = 8;
  return sig;
}

TEST(EnsembleTest, AveragesMembersAndReportsDisagreement) {
  FakeMembers members;
  CompositeOptions o;
  o.members = {{"sure"}, {"unsure"}};
  o.signature = Signature({{"epistemic", DataType::kFp32}, {"probabilities", DataType::kFp32}});
  o.infer = members.Infer();
  absl::StatusOr<std::unique_ptr<Backend>> ensemble = CreateEnsembleBackend(o);
  ASSERT_TRUE(ensemble.ok()) << ensemble.status();
  std::vector<Tensor> inputs = {Fp32({2, 1}, {1.0f, 0.5f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*ensemble)->Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);  // in the signature's order
  EXPECT_EQ((*out)[0].name, "epistemic");
  EXPECT_EQ((*out)[1].name, "probabilities");
  EXPECT_THAT(Floats((*out)[1]), Pointwise(FloatNear(1e-6), std::vector<float>{0.75f, 0.25f, 0.5f, 0.5f}));
  std::vector<float> mi = Floats((*out)[0]);
  EXPECT_GT(mi[0], 0.1f);            // "sure" is certain, "unsure" is not
  EXPECT_NEAR(mi[1], 0.0f, 1e-6);    // both say 50/50
  ASSERT_EQ(members.calls().size(), 2u);
  for (const Call& c : members.calls()) EXPECT_THAT(c.outputs, ElementsAre("probabilities"));
}

TEST(EnsembleTest, AMemberErrorNamesTheMemberAndKeepsItsCode) {
  FakeMembers members;
  CompositeOptions o;
  o.members = {{"sure"}, {"broken"}};
  o.signature = Signature({{"probabilities", DataType::kFp32}});
  o.infer = members.Infer();
  auto ensemble = CreateEnsembleBackend(o);
  ASSERT_TRUE(ensemble.ok());
  std::vector<Tensor> inputs = {Fp32({1, 1}, {1.0f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*ensemble)->Execute(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("member 'broken'"));
}

TEST(CompositeTest, ConfigErrorsAreCaughtAtCreation) {
  FakeMembers members;
  CompositeOptions o;
  o.members = {{"sure"}};
  o.infer = members.Infer();
  o.signature = Signature({{"stage", DataType::kInt32}});
  absl::StatusOr<std::unique_ptr<Backend>> bad = CreateEnsembleBackend(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("no output 'stage'"));
  o.signature = Signature({{"probabilities", DataType::kInt32}});
  EXPECT_FALSE(CreateEnsembleBackend(o).ok());
  o.signature = Signature({{"stage", DataType::kInt32}});
  bad = CreateCascadeBackend(o);  // one stage only
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("at least 2"));
  o.members = {};
  EXPECT_FALSE(CreateEnsembleBackend(o).ok());
}

TEST(CascadeTest, OnlyUnsureRowsReachTheNextStage) {
  FakeMembers members;
  std::vector<std::tuple<size_t, int64_t, int64_t>> stages;
  CompositeOptions o;
  o.members = {{"fast"}, {"sure"}};
  o.signature = Signature({{"probabilities", DataType::kFp32}, {"stage", DataType::kInt32}});
  o.infer = members.Infer();
  o.min_confidence = 0.99;
  o.alpha = 0.2;
  o.on_stage = [&stages](size_t s, int64_t answered, int64_t passed) {
    stages.emplace_back(s, answered, passed);
  };
  auto cascade = CreateCascadeBackend(o);
  ASSERT_TRUE(cascade.ok()) << cascade.status();
  // Rows 0 and 2 are sure for "fast" (v >= 0.5); rows 1 and 3 go on.
  std::vector<Tensor> inputs = {Fp32({4, 1}, {0.8f, 0.1f, 0.6f, 0.3f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*cascade)->Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[1].name, "stage");
  const int32_t* stage = (*out)[1].data_as<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(stage, stage + 4), (std::vector<int32_t>{0, 1, 0, 1}));
  EXPECT_THAT(Floats((*out)[0]), Pointwise(FloatNear(1e-6), std::vector<float>{
                                     0.8f, 0.2f, 0.1f, 0.9f, 0.6f, 0.4f, 0.3f, 0.7f}));
  std::vector<Call> calls = members.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].model, "fast");
  EXPECT_THAT(calls[0].outputs, ElementsAre("probabilities", "prediction_set"));
  ASSERT_EQ(calls[0].parameters.count("alpha"), 1u);
  EXPECT_EQ(std::get<double>(calls[0].parameters["alpha"]), 0.2);
  EXPECT_EQ(calls[1].model, "sure");
  EXPECT_THAT(calls[1].rows, ElementsAre(0.1f, 0.3f));  // only the escalated rows
  EXPECT_THAT(calls[1].outputs, ElementsAre("probabilities"));
  EXPECT_TRUE(calls[1].parameters.empty());
  ASSERT_EQ(stages.size(), 2u);
  EXPECT_EQ(stages[0], std::make_tuple(size_t{0}, int64_t{2}, int64_t{2}));
  EXPECT_EQ(stages[1], std::make_tuple(size_t{1}, int64_t{2}, int64_t{0}));
}

TEST(CascadeTest, ConfidentBatchNeverCallsTheNextStage) {
  FakeMembers members;
  CompositeOptions o;
  o.members = {{"fast"}, {"sure"}};
  o.signature = Signature({{"stage", DataType::kInt32}});
  o.infer = members.Infer();
  auto cascade = CreateCascadeBackend(o);
  ASSERT_TRUE(cascade.ok());
  std::vector<Tensor> inputs = {Fp32({2, 1}, {0.9f, 0.7f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*cascade)->Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(members.calls().size(), 1u);
  const int32_t* stage = (*out)[0].data_as<int32_t>();
  EXPECT_EQ(stage[0] + stage[1], 0);
}

TEST(CascadeTest, AFailingStageFailsTheBatch) {
  FakeMembers members;
  CompositeOptions o;
  o.members = {{"fast"}, {"broken"}};
  o.signature = Signature({{"probabilities", DataType::kFp32}});
  o.infer = members.Infer();
  auto cascade = CreateCascadeBackend(o);
  ASSERT_TRUE(cascade.ok());
  std::vector<Tensor> inputs = {Fp32({1, 1}, {0.1f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*cascade)->Execute(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("member 'broken'"));
}

TEST(EnsembleTest, ABatchWaitsForItsMembersWithoutAThreadAndCarriesItsRequests) {
  FakeMembers members;
  members.Hold();
  CompositeOptions o;
  o.members = {{"sure"}, {"unsure", 2}};
  o.signature = Signature({{"probabilities", DataType::kFp32}});
  o.infer = members.Infer();
  auto ensemble = CreateEnsembleBackend(o);
  ASSERT_TRUE(ensemble.ok());
  EXPECT_TRUE((*ensemble)->asynchronous());
  EXPECT_EQ((*ensemble)->Describe(), "ensemble of 'sure', 'unsure' version 2");
  std::shared_ptr<RequestContext> a = ClientContext(1000), b = ClientContext(3000);
  AsyncResult result;
  (*ensemble)->ExecuteAsync({Fp32({2, 1}, {1.0f, 0.5f}, "x")}, {a, b}, result.Done());
  // ExecuteAsync returned with both members asked and neither answered.
  EXPECT_FALSE(result.ready());
  std::vector<Call> calls = members.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].version, 0);  // follows "sure"
  EXPECT_EQ(calls[1].version, 2);  // pinned
  // One context for the batch: it lasts as long as the later request, and is cancelled
  // only when both are.
  EXPECT_EQ(calls[0].context, calls[1].context);
  EXPECT_EQ(calls[0].context->deadline_ns, 3000);
  a->Cancel();
  EXPECT_FALSE(calls[0].context->cancelled());
  b->Cancel();
  EXPECT_TRUE(calls[0].context->cancelled());
  EXPECT_EQ(members.Release(), 2u);
  ASSERT_TRUE(result.ready());
  absl::StatusOr<std::vector<Tensor>> out = result.Take();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats((*out)[0]), Pointwise(FloatNear(1e-6), std::vector<float>{0.75f, 0.25f, 0.5f, 0.5f}));
}

TEST(CascadeTest, EachStageIsCalledOnlyWhenThePreviousAnswersAndCarriesTheBatchContext) {
  FakeMembers members;
  members.Hold();
  CompositeOptions o;
  o.members = {{"fast", 1}, {"sure"}};
  o.signature = Signature({{"stage", DataType::kInt32}});
  o.infer = members.Infer();
  auto cascade = CreateCascadeBackend(o);
  ASSERT_TRUE(cascade.ok());
  EXPECT_TRUE((*cascade)->asynchronous());
  EXPECT_EQ((*cascade)->Describe(), "cascade 'fast' version 1 -> 'sure'");
  std::shared_ptr<RequestContext> a = ClientContext(5000);
  a->id = "client-id";
  AsyncResult result;
  (*cascade)->ExecuteAsync({Fp32({2, 1}, {0.9f, 0.1f}, "x")}, {a}, result.Done());
  ASSERT_EQ(members.calls().size(), 1u);  // the second stage waits for the first's answer
  EXPECT_EQ(members.Release(), 1u);       // row 1 goes on
  std::vector<Call> calls = members.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_FALSE(result.ready());
  EXPECT_EQ(calls[0].context, calls[1].context);
  EXPECT_EQ(calls[1].context->id, "client-id");  // a lone request lends the batch its id
  EXPECT_EQ(calls[1].context->deadline_ns, 5000);
  EXPECT_EQ(calls[0].version, 1);
  EXPECT_EQ(members.Release(), 1u);
  ASSERT_TRUE(result.ready());
  absl::StatusOr<std::vector<Tensor>> out = result.Take();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(std::vector<int32_t>((*out)[0].data_as<int32_t>(), (*out)[0].data_as<int32_t>() + 2),
            (std::vector<int32_t>{0, 1}));
}

TEST(CascadeTest, AMemberDeadlineErrorKeepsItsCodeAndStopsTheCascade) {
  std::vector<std::string> called;
  CompositeOptions o;
  o.members = {{"fast"}, {"sure"}};
  o.signature = Signature({{"stage", DataType::kInt32}});
  o.infer = [&called](const ModelRef& member, std::shared_ptr<RequestContext>, InferRequest,
                      MemberDone done) {
    called.push_back(member.model);
    done(absl::DeadlineExceededError("the request's deadline passed while it was queued"));
  };
  auto cascade = CreateCascadeBackend(o);
  ASSERT_TRUE(cascade.ok());
  std::vector<Tensor> inputs = {Fp32({1, 1}, {0.1f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*cascade)->Execute(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("member 'fast'"));
  EXPECT_THAT(called, ElementsAre("fast"));
}

// A stochastic model for MC dropout (a FakeBackend whose outputs vary per pass): input
// "x" FP32 [R, 1] holds values v in (0, 1). Row i belongs to pass i / rows_per_pass; even
// passes answer logits [ln v, ln(1 - v)], odd passes the mirror image. It records the rows
// of every call, and answers `extra_rows` rows more than it was given.
std::unique_ptr<Backend> FlipFlopModel(int64_t rows_per_pass, std::vector<std::vector<float>>* calls,
                                       int extra_rows = 0) {
  FakeBackendOptions options;
  options.outputs = [=](const std::vector<Tensor>& inputs) -> absl::StatusOr<std::vector<Tensor>> {
    std::vector<float> rows = Floats(inputs[0]);
    calls->push_back(rows);
    std::vector<float> logits;
    for (size_t i = 0; i < rows.size() + extra_rows; ++i) {
      const float v = rows[i % rows.size()];
      const bool odd = (static_cast<int64_t>(i) / rows_per_pass) % 2 == 1;
      logits.push_back(std::log(odd ? 1 - v : v));
      logits.push_back(std::log(odd ? v : 1 - v));
    }
    std::vector<Tensor> out;
    out.push_back(Fp32({static_cast<int64_t>(rows.size()) + extra_rows, 2}, logits, "logits"));
    return out;
  };
  options.description = "flip-flop";
  return std::make_unique<FakeBackend>(std::move(options));
}

TEST(McDropoutTest, RepeatsTheBatchOncePerPassAndAveragesTheSoftmaxes) {
  std::vector<std::vector<float>> calls;
  McDropoutOptions o;
  o.passes = 4;
  o.signature = Signature({{"probabilities", DataType::kFp32},
                           {"epistemic", DataType::kFp32},
                           {"logits", DataType::kFp32}});
  absl::StatusOr<std::unique_ptr<Backend>> mc =
      CreateMcDropoutBackend(FlipFlopModel(2, &calls), o);
  ASSERT_TRUE(mc.ok()) << mc.status();
  std::vector<Tensor> inputs = {Fp32({2, 1}, {0.9f, 0.5f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*mc)->Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  // One forward over the batch repeated four times, in order.
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0], ElementsAre(0.9f, 0.5f, 0.9f, 0.5f, 0.9f, 0.5f, 0.9f, 0.5f));
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].name, "probabilities");
  EXPECT_EQ((*out)[1].name, "epistemic");
  EXPECT_EQ((*out)[2].name, "logits");
  // Passes say [0.9, 0.1] and [0.1, 0.9] in turn: the mean is 50/50, and the disagreement
  // is ln 2 minus the entropy of one pass. The 50/50 row agrees with itself.
  EXPECT_THAT(Floats((*out)[0]), Pointwise(FloatNear(1e-5), std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}));
  const double h = -(0.9 * std::log(0.9) + 0.1 * std::log(0.1));
  EXPECT_THAT(Floats((*out)[1]), Pointwise(FloatNear(1e-5), std::vector<float>{
                                                                 static_cast<float>(std::log(2.0) - h), 0.0f}));
  EXPECT_EQ((*out)[1].shape, (std::vector<int64_t>{2}));
  EXPECT_THAT(Floats((*out)[2]), Pointwise(FloatNear(1e-5), std::vector<float>(4, std::log(0.5f))));
}

TEST(McDropoutTest, ChecksItsOptionsAndTheModelsAnswer) {
  std::vector<std::vector<float>> calls;
  McDropoutOptions o;
  o.signature = Signature({{"probabilities", DataType::kFp32}});
  o.passes = 1;
  absl::StatusOr<std::unique_ptr<Backend>> bad =
      CreateMcDropoutBackend(FlipFlopModel(1, &calls), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("passes must be at least 2; was 1"));
  o.passes = 2;
  o.signature = Signature({{"stage", DataType::kInt32}});
  bad = CreateMcDropoutBackend(FlipFlopModel(1, &calls), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("MC dropout has no output 'stage'"));
  EXPECT_FALSE(CreateMcDropoutBackend(nullptr, o).ok());

  // A model that answers more rows than it was given fails the batch, not the process.
  o.signature = Signature({{"probabilities", DataType::kFp32}});
  absl::StatusOr<std::unique_ptr<Backend>> mc =
      CreateMcDropoutBackend(FlipFlopModel(1, &calls, /*extra_rows=*/1), o);
  ASSERT_TRUE(mc.ok()) << mc.status();
  std::vector<Tensor> inputs = {Fp32({1, 1}, {0.7f}, "x")};
  absl::StatusOr<std::vector<Tensor>> out = (*mc)->Execute(inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("mc_dropout: the model answered 2 rows"));
}

}  // namespace
}  // namespace ferry
