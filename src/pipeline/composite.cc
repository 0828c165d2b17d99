#include "pipeline/composite.h"

#include <cstring>
#include <functional>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "pipeline/combine.h"
#include "uncertainty/temperature.h"

namespace ferry {
namespace {

// Gathers the answers of one batch's member calls, which arrive on the members' threads;
// the last to arrive hands them all, in call order, to `then`.
class Gather {
 public:
  using Then = std::function<void(std::vector<absl::StatusOr<InferResponse>>)>;
  Gather(size_t n, Then then)
      : then_(std::move(then)), results_(n, absl::InternalError("no answer")), pending_(n) {}

  void Set(size_t i, absl::StatusOr<InferResponse> answer) {
    std::vector<absl::StatusOr<InferResponse>> all;
    {
      absl::MutexLock lock(&mu_);
      results_[i] = std::move(answer);
      if (--pending_ > 0) return;
      all = std::move(results_);
    }
    then_(std::move(all));
  }

 private:
  const Then then_;
  absl::Mutex mu_;
  std::vector<absl::StatusOr<InferResponse>> results_ ABSL_GUARDED_BY(mu_);
  size_t pending_ ABSL_GUARDED_BY(mu_);
};

// Sends every call at once, for `context`; `then` gets the answers in call order.
void CallMembers(const MemberInfer& infer, const std::shared_ptr<RequestContext>& context,
                 std::vector<std::pair<ModelRef, InferRequest>> calls, Gather::Then then) {
  auto gather = std::make_shared<Gather>(calls.size(), std::move(then));
  for (size_t i = 0; i < calls.size(); ++i) {
    infer(calls[i].first, context, std::move(calls[i].second),
          [gather, i](absl::StatusOr<InferResponse> answer) { gather->Set(i, std::move(answer)); });
  }
}

// A member's error keeps its code (a full queue stays a 503, a passed deadline a 504),
// except that a member gone from the repository makes the composite unavailable rather
// than "not found".
absl::Status MemberError(const ModelRef& member, const absl::Status& status) {
  const absl::StatusCode code = status.code() == absl::StatusCode::kNotFound
                                    ? absl::StatusCode::kUnavailable
                                    : status.code();
  return absl::Status(code, absl::StrCat("member ", member.Describe(), ": ", std::string(status.message())));
}

absl::StatusOr<Tensor> TakeOutput(InferResponse& response, const ModelRef& member,
                                  const std::string& name) {
  for (Tensor& t : response.outputs) {
    if (t.name == name) return std::move(t);
  }
  return absl::InternalError(
      absl::StrCat("member ", member.Describe(), " gave no output '", name, "'"));
}

std::string JoinMembers(const std::vector<ModelRef>& members, const char* separator) {
  return absl::StrJoin(members, separator, [](std::string* out, const ModelRef& m) {
    absl::StrAppend(out, m.Describe());
  });
}

InferRequest MemberRequest(const std::vector<Tensor>& inputs,
                           std::initializer_list<const char*> outputs) {
  InferRequest request;
  request.inputs = inputs;
  for (const char* name : outputs) request.outputs.push_back({name, 0});
  return request;
}

// Checks that every output the composite's config declares is one it can produce, with
// the datatype and rank it produces.
absl::Status CheckOutputs(const char* kind, const ModelSignature& signature,
                          const std::vector<std::pair<std::string, TensorSpec>>& can) {
  std::vector<std::string> names;
  for (const auto& [name, spec] : can) names.push_back(name);
  for (const TensorSpec& out : signature.outputs) {
    bool found = false;
    for (const auto& [name, spec] : can) {
      if (name != out.name) continue;
      found = true;
      if (out.dtype != spec.dtype || out.shape.size() != spec.shape.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            kind, " output '", out.name, "' is ", DataTypeName(spec.dtype), " of rank ",
            spec.shape.size(), ", not ", DataTypeName(out.dtype), " ", ShapeToString(out.shape)));
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " has no output '", out.name,
                                                     "'; it can produce: ",
                                                     absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCommon(const char* kind, const CompositeOptions& options, size_t min_members) {
  if (options.members.size() < min_members) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kind, " needs at least ", min_members, " members"));
  }
  if (!options.infer) return absl::InvalidArgumentError(absl::StrCat(kind, ": no way to reach members"));
  return absl::OkStatus();
}

TensorSpec Spec(DataType dtype, std::vector<int64_t> shape) {
  TensorSpec spec;
  spec.dtype = dtype;
  spec.shape = std::move(shape);
  return spec;
}

// Moves the outputs the signature asks for, in its order, out of `available`.
std::vector<Tensor> InSignatureOrder(const ModelSignature& signature,
                                     std::vector<Tensor> available) {
  std::vector<Tensor> outputs;
  for (const TensorSpec& spec : signature.outputs) {
    for (Tensor& t : available) {
      if (t.name == spec.name) outputs.push_back(std::move(t));
    }
  }
  return outputs;
}

// The outputs of an average over members (an ensemble's models, MC dropout's passes):
// their mean probabilities, its log and the mutual information, in signature order.
absl::StatusOr<std::vector<Tensor>> Averaged(const ModelSignature& signature,
                                             const std::vector<Tensor>& members) {
  absl::StatusOr<Tensor> mean = MeanProbabilities(members);
  if (!mean.ok()) return absl::InternalError(mean.status().message());
  std::vector<Tensor> available;
  available.push_back(MutualInformation(members, *mean));
  available.push_back(LogProbabilities(*mean));
  available.push_back(std::move(*mean));
  return InSignatureOrder(signature, std::move(available));
}

// An ensemble or a cascade: it answers through ExecuteAsync, and Execute (warm-up, tests)
// runs the same path for no request and waits.
class AsynchronousComposite : public Backend {
 public:
  bool asynchronous() const final { return true; }

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) final {
    struct Waiter {
      bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return result.has_value(); }
      absl::Mutex mu;
      std::optional<absl::StatusOr<std::vector<Tensor>>> result ABSL_GUARDED_BY(mu);
    };
    auto waiter = std::make_shared<Waiter>();
    ExecuteAsync(std::move(inputs), {}, [waiter](absl::StatusOr<std::vector<Tensor>> out) {
      absl::MutexLock lock(&waiter->mu);
      waiter->result = std::move(out);
    });
    absl::MutexLock lock(&waiter->mu, absl::Condition(waiter.get(), &Waiter::Done));
    return std::move(*waiter->result);
  }
};

class EnsembleBackend : public AsynchronousComposite {
 public:
  explicit EnsembleBackend(CompositeOptions options) : options_(std::move(options)) {}

  void ExecuteAsync(std::vector<Tensor> inputs, BatchContexts contexts, BackendDone done) override {
    std::vector<std::pair<ModelRef, InferRequest>> calls;
    for (const ModelRef& member : options_.members) {
      calls.emplace_back(member, MemberRequest(inputs, {"probabilities"}));
    }
    CallMembers(options_.infer, RequestContext::ForBatch(std::move(contexts)), std::move(calls),
                [this, done = std::move(done)](std::vector<absl::StatusOr<InferResponse>> answers) {
                  done(Combine(answers));
                });
  }

  std::string Describe() const override {
    return absl::StrCat("ensemble of ", JoinMembers(options_.members, ", "));
  }

 private:
  absl::StatusOr<std::vector<Tensor>> Combine(std::vector<absl::StatusOr<InferResponse>>& answers) const {
    std::vector<Tensor> probabilities;
    for (size_t m = 0; m < answers.size(); ++m) {
      const ModelRef& member = options_.members[m];
      if (!answers[m].ok()) return MemberError(member, answers[m].status());
      FERRY_ASSIGN_OR_RETURN(Tensor p, TakeOutput(*answers[m], member, "probabilities"));
      probabilities.push_back(std::move(p));
    }
    return Averaged(options_.signature, probabilities);
  }

  const CompositeOptions options_;
};

class CascadeBackend : public AsynchronousComposite {
 public:
  explicit CascadeBackend(CompositeOptions options) : options_(std::move(options)) {}

  void ExecuteAsync(std::vector<Tensor> inputs, BatchContexts contexts, BackendDone done) override {
    auto run = std::make_shared<Run>();
    run->context = RequestContext::ForBatch(std::move(contexts));
    run->done = std::move(done);
    const int64_t rows = inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
    run->pending.resize(static_cast<size_t>(rows));
    std::iota(run->pending.begin(), run->pending.end(), 0);
    run->stage_inputs = std::move(inputs);
    run->stage.name = "stage";
    run->stage.dtype = DataType::kInt32;
    run->stage.shape = {rows};
    run->stage.data.assign(static_cast<size_t>(rows) * sizeof(int32_t), 0);
    if (rows == 0) return Finish(*run);
    CallStage(std::move(run), 0);
  }

  std::string Describe() const override {
    return absl::StrCat("cascade ", JoinMembers(options_.members, " -> "));
  }

 private:
  // One batch on its way down the stages; each stage's answer moves it on.
  struct Run {
    std::shared_ptr<RequestContext> context;
    BackendDone done;
    // `pending[i]` is the batch row that the current stage's row i came from.
    std::vector<int64_t> pending;
    std::vector<Tensor> stage_inputs;  // the pending rows
    Tensor probabilities, stage;
  };

  void CallStage(std::shared_ptr<Run> run, size_t s) const {
    const bool last = s + 1 == options_.members.size();
    InferRequest request = last ? MemberRequest(run->stage_inputs, {"probabilities"})
                                : MemberRequest(run->stage_inputs, {"probabilities", "prediction_set"});
    if (!last && options_.alpha) request.parameters["alpha"] = *options_.alpha;
    std::shared_ptr<RequestContext> context = run->context;
    options_.infer(options_.members[s], std::move(context), std::move(request),
                   [this, run = std::move(run), s](absl::StatusOr<InferResponse> answer) mutable {
                     absl::Status status = Absorb(*run, s, std::move(answer));
                     if (!status.ok()) return run->done(std::move(status));
                     if (run->pending.empty()) return Finish(*run);
                     CallStage(std::move(run), s + 1);
                   });
  }

  // Takes stage `s`'s answer: the rows it is sure of (all, for the last stage) are
  // answered; the others, and their inputs, stay pending for the next stage.
  absl::Status Absorb(Run& run, size_t s, absl::StatusOr<InferResponse> answer) const {
    const ModelRef& member = options_.members[s];
    const bool last = s + 1 == options_.members.size();
    if (!answer.ok()) return MemberError(member, answer.status());
    FERRY_ASSIGN_OR_RETURN(Tensor p, TakeOutput(*answer, member, "probabilities"));
    std::optional<Tensor> set;
    if (!last) {
      FERRY_ASSIGN_OR_RETURN(set, TakeOutput(*answer, member, "prediction_set"));
    }
    std::vector<int64_t>& pending = run.pending;
    if (p.dtype != DataType::kFp32 || p.shape.size() != 2 ||
        p.shape[0] != static_cast<int64_t>(pending.size()) || (set && set->shape != p.shape)) {
      return absl::InternalError(absl::StrCat("member ", member.Describe(), " answered ",
                                              pending.size(), " rows with probabilities ",
                                              ShapeToString(p.shape)));
    }
    Tensor& probabilities = run.probabilities;
    const int64_t rows = run.stage.shape[0];
    if (probabilities.shape.empty()) {
      probabilities.name = "probabilities";
      probabilities.dtype = DataType::kFp32;
      probabilities.shape = {rows, p.shape[1]};
      probabilities.data.assign(static_cast<size_t>(rows * p.shape[1]) * sizeof(float), 0);
    } else if (p.shape[1] != probabilities.shape[1]) {
      return absl::InternalError(absl::StrCat("member ", member.Describe(), " has ", p.shape[1],
                                              " classes; the first stage has ",
                                              probabilities.shape[1]));
    }
    const std::vector<bool> answers =
        last ? std::vector<bool>(pending.size(), true)
             : StageAnswers(p, set ? &*set : nullptr, options_.min_confidence);
    const size_t row_bytes = static_cast<size_t>(p.shape[1]) * sizeof(float);
    std::vector<int64_t> passed_rows, passed_local;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (answers[i]) {
        std::memcpy(probabilities.data.data() + pending[i] * row_bytes,
                    p.data.data() + i * row_bytes, row_bytes);
        run.stage.mutable_data_as<int32_t>()[pending[i]] = static_cast<int32_t>(s);
      } else {
        passed_rows.push_back(pending[i]);
        passed_local.push_back(static_cast<int64_t>(i));
      }
    }
    if (options_.on_stage) {
      options_.on_stage(s, static_cast<int64_t>(pending.size() - passed_rows.size()),
                        static_cast<int64_t>(passed_rows.size()));
    }
    if (!passed_rows.empty()) {
      for (Tensor& t : run.stage_inputs) {
        FERRY_ASSIGN_OR_RETURN(t, GatherRows(t, passed_local));
      }
    }
    pending = std::move(passed_rows);
    return absl::OkStatus();
  }

  void Finish(Run& run) const {
    std::vector<Tensor> available;
    available.push_back(LogProbabilities(run.probabilities));
    available.push_back(std::move(run.probabilities));
    available.push_back(std::move(run.stage));
    run.done(InSignatureOrder(options_.signature, std::move(available)));
  }

  const CompositeOptions options_;
};

class McDropoutBackend : public Backend {
 public:
  McDropoutBackend(std::unique_ptr<Backend> stochastic, McDropoutOptions options)
      : stochastic_(std::move(stochastic)), options_(std::move(options)) {}

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) override {
    const int64_t rows = inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
    std::vector<Tensor> repeated;
    for (const Tensor& t : inputs) {
      const std::vector<const Tensor*> copies(static_cast<size_t>(options_.passes), &t);
      repeated.push_back(ConcatRows(copies));
    }
    FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> out, stochastic_->Execute(repeated));
    if (out.size() != 1 || out[0].dtype != DataType::kFp32 || out[0].shape.size() != 2 ||
        out[0].shape[0] != rows * options_.passes) {
      return absl::InternalError(absl::StrCat(
          "mc_dropout: the model answered ", rows * options_.passes,
          " rows with ", out.size(), " outputs, not one FP32 [rows, classes] tensor of logits"));
    }
    const int64_t classes = out[0].shape[1];
    const std::vector<int64_t> pass_rows(static_cast<size_t>(options_.passes), rows);
    FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> passes, SplitRows(out[0], pass_rows));
    for (Tensor& pass : passes) {
      const float* logits = pass.data_as<float>();
      const std::vector<double> wide(logits, logits + pass.element_count());
      const std::vector<double> p = SoftmaxRows(wide, classes, 1.0);
      float* narrow = pass.mutable_data_as<float>();
      for (size_t i = 0; i < p.size(); ++i) narrow[i] = static_cast<float>(p[i]);
    }
    return Averaged(options_.signature, passes);
  }

  void PrepareWorkerThread() override { stochastic_->PrepareWorkerThread(); }

  std::string Describe() const override {
    return absl::StrCat("MC dropout, ", options_.passes, " passes over ", stochastic_->Describe());
  }

 private:
  const std::unique_ptr<Backend> stochastic_;
  const McDropoutOptions options_;
};

// What an ensemble and MC dropout, both averages of probabilities, can produce.
const std::vector<std::pair<std::string, TensorSpec>>& AveragedOutputs() {
  static const auto* outputs = new std::vector<std::pair<std::string, TensorSpec>>{
      {"probabilities", Spec(DataType::kFp32, {-1, -1})},
      {"logits", Spec(DataType::kFp32, {-1, -1})},
      {"epistemic", Spec(DataType::kFp32, {-1})}};
  return *outputs;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateEnsembleBackend(CompositeOptions options) {
  FERRY_RETURN_IF_ERROR(CheckCommon("ensemble", options, 1));
  FERRY_RETURN_IF_ERROR(CheckOutputs("an ensemble", options.signature, AveragedOutputs()));
  return std::unique_ptr<Backend>(new EnsembleBackend(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCascadeBackend(CompositeOptions options) {
  FERRY_RETURN_IF_ERROR(CheckCommon("cascade", options, 2));
  FERRY_RETURN_IF_ERROR(CheckOutputs("a cascade", options.signature,
                                     {{"probabilities", Spec(DataType::kFp32, {-1, -1})},
                                      {"logits", Spec(DataType::kFp32, {-1, -1})},
                                      {"stage", Spec(DataType::kInt32, {-1})}}));
  return std::unique_ptr<Backend>(new CascadeBackend(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Backend>> CreateMcDropoutBackend(std::unique_ptr<Backend> stochastic,
                                                                McDropoutOptions options) {
  if (stochastic == nullptr) return absl::InvalidArgumentError("mc_dropout: no model");
  if (options.passes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("mc_dropout: passes must be at least 2; was ", options.passes));
  }
  FERRY_RETURN_IF_ERROR(CheckOutputs("MC dropout", options.signature, AveragedOutputs()));
  return std::unique_ptr<Backend>(new McDropoutBackend(std::move(stochastic), std::move(options)));
}

}  // namespace ferry
