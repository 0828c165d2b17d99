// The release judge: a pure function from a release's plan and the evidence gathered so far
// to what the release controller does next (continue, advance a stage, promote, roll back,
// hold, or for an A/B test conclude with a verdict). No I/O, no clock reads: the caller
// passes the time.
//
// Gates: errors (5xx and backend errors, as counts), latency (per-request log latency,
// i.e. the median under a lognormal model) and, once feedback labels exist, accuracy (wrong
// answers among labelled requests, as counts). Each gate runs an anytime-valid test
// (statistics/sequential.h), so the judge may look after every batch; alpha is split over the
// enabled gates (Bonferroni), so a release's chance of any false rollback is <= alpha.
//
// A gate's outcome:
//   kFail          the canary is credibly worse: the always-valid p-value of "no
//                  regression" is <= alpha / gates. Rolls the release back.
//   kPass          the upper confidence bound of the regression is below the tolerance.
//   kInconclusive  neither, yet.
//   kInsufficient  too little data to judge (fewer than min_requests_per_arm requests in an
//                  arm, or fewer than min_events events for a count gate): never a failure.
// docs/releases.md has the formulas, sources and the simulation that checks them.
#ifndef FERRY_ROLLOUT_JUDGE_H_
#define FERRY_ROLLOUT_JUDGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "statistics/sequential.h"

namespace ferry {

enum class ReleaseMode {
  kShadow,  // the baseline answers; the candidate gets copies
  kCanary,  // a weighted split that ramps stage by stage
  kAB,      // a fixed split, sticky by routing key; ends with a verdict, not a promotion
};

enum class Gate { kErrors = 0, kLatency = 1, kAccuracy = 2 };
inline constexpr int kGateCount = 3;
const char* GateName(Gate gate);  // "errors", "latency", "accuracy"

struct ReleaseStage {
  double percent = 100;          // the candidate's share of traffic (shadow: copied share)
  int64_t min_requests = 0;      // candidate requests in this stage before advancing
  int64_t min_duration_ns = 0;   // time in this stage before advancing
};

struct ReleasePlan {
  ReleaseMode mode = ReleaseMode::kCanary;
  std::vector<ReleaseStage> stages;  // e.g. 1, 5, 25, 50, 100 %; A/B: one stage
  double alpha = 0.01;               // overall false-rollback (A/B: false-verdict) rate
  bool errors_gate = true;
  bool latency_gate = true;
  bool accuracy_gate = false;
  // Minimum data before any gate may fail or pass: requests per arm (Kayenta's 50 points),
  // and events (errors, wrong answers) in both arms together for the count gates.
  int64_t min_requests_per_arm = 50;
  int64_t min_events = 5;
  // Errors: Pass when the upper bound of the error-rate ratio canary / baseline is below
  // 1 + error_tolerance, or the upper bound of the difference of error rates is below
  // error_abs_tolerance (so two arms without errors can pass).
  double error_tolerance = 0.5;
  double error_abs_tolerance = 0.005;
  // Latency: Fail when the canary's median is credibly more than latency_margin slower
  // (relative); Pass when the upper bound of the slowdown is below latency_tolerance.
  double latency_margin = 0.05;
  double latency_tolerance = 0.1;
  // Accuracy: as for errors, on the rates of wrong answers among labelled requests (an
  // absolute tolerance of 0.02 accepts an accuracy at most 2 points lower).
  double accuracy_tolerance = 0.25;
  double accuracy_abs_tolerance = 0.02;
  // Mixture scales: the effect sizes each test is fastest for. Counts: normal prior on the
  // log rate ratio; latency: normal prior on the log median ratio.
  double count_tau = 1.5;
  double latency_tau = 0.1;
  // The last stage (and A/B's only stage): hold as inconclusive once it has lasted this long
  // without a Pass (A/B: without a verdict). 0 = wait forever.
  int64_t max_duration_ns = 0;
  // A/B: the metric compared; a gate that is on. The others act as guardrails (a Fail rolls
  // B back).
  Gate ab_metric = Gate::kLatency;
};

// REQUIRES for Judge: stages non-empty with percent in (0, 100] and non-decreasing (A/B: one
// stage), 0 < alpha < 1, at least one gate on, tolerances >= 0, taus > 0.
absl::Status ValidatePlan(const ReleasePlan& plan);

// One arm's running sums. Latency is kept as moments of log(seconds).
struct ArmEvidence {
  int64_t requests = 0;
  int64_t errors = 0;
  statistics::RunningMoments log_latency;
  int64_t labelled = 0;  // requests whose ground truth arrived
  int64_t correct = 0;
};

// What the observer gathers for one release: a plain value, saved after every batch and
// restored after a restart (EvidenceToJson / EvidenceFromJson). `candidate` is the canary
// (or shadow copy, or A/B's B); `baseline` is production (A).
struct Evidence {
  int stage_index = 0;
  int64_t stage_started_ns = 0;     // on the caller's clock
  int64_t stage_requests = 0;       // candidate requests since the stage started
  ArmEvidence candidate;
  ArmEvidence baseline;
  statistics::RateRatioSequence errors;     // candidate vs baseline error counts, per batch
  statistics::RateRatioSequence accuracy;   // wrong answers among labelled requests
};

// One batch (or interval) of finished requests per arm, added by Observe.
struct ArmBatch {
  int64_t requests = 0;
  int64_t errors = 0;
  statistics::RunningMoments log_latency;
  int64_t labelled = 0;
  int64_t correct = 0;

  // Adds one finished request; latency in seconds (> 0; errors have one too).
  void AddRequest(bool error, double latency_seconds);
  void AddLabel(bool correct_answer);
};

// Adds a batch to the evidence; O(grid) per batch, independent of the batch's size.
void Observe(const ArmBatch& candidate, const ArmBatch& baseline, Evidence& evidence);

// Resets the stage counters when the controller acts on kAdvance.
void StartStage(int stage_index, int64_t now_ns, Evidence& evidence);

enum class GateOutcome { kOff, kInsufficient, kInconclusive, kPass, kFail };
const char* GateOutcomeName(GateOutcome outcome);

// One gate's figures. Errors and accuracy: the estimate and bounds are of the rate ratio
// candidate / baseline (the estimate is +inf when the baseline has no events); latency: of
// the median ratio. For the count gates, `difference_upper` is the upper bound of the
// difference of rates candidate - baseline (one bound per arm at alpha / 2 each). p_value:
// this look's always-valid p of "no regression" (A/B metric: "no difference"); an
// always-valid p across looks is its running minimum (statistics::AlwaysValidP).
struct GateReport {
  Gate gate = Gate::kErrors;
  GateOutcome outcome = GateOutcome::kOff;
  double estimate = 0;
  double lower = 0;
  double upper = 0;
  double difference_upper = 0;
  double p_value = 1;
};

enum class Action { kContinue, kAdvance, kPromote, kRollback, kHold, kConclude };
const char* ActionName(Action action);

enum class AbResult { kUndecided, kABetter, kBBetter, kNoDifference };
const char* AbResultName(AbResult result);

struct Verdict {
  Action action = Action::kContinue;
  Gate gate = Gate::kErrors;  // the gate that decided a kRollback (or the A/B metric)
  std::string reason;
  std::vector<GateReport> gates;  // the enabled gates, in Gate order
  AbResult ab = AbResult::kUndecided;
};

// The decision, in this order:
//   1. an invalid plan or stage index: kHold;
//   2. any gate kFail: kRollback (shadow: the candidate is dropped), naming the gate;
//   3. no candidate request in this stage yet: kContinue (zero traffic never acts);
//   4. A/B: the metric's two-sided p <= alpha / gates: kConclude with A or B better; its
//      confidence interval inside +- tolerance: kConclude with no difference; the stage
//      over max_duration: kHold; else kContinue;
//   5. a stage's minimum requests and duration not met: kContinue;
//   6. before the last stage: kAdvance;
//   7. the last stage: kPromote if every enabled gate is kPass; kHold after max_duration;
//      else kContinue.
Verdict Judge(const ReleasePlan& plan, const Evidence& evidence, int64_t now_ns);

// Evidence as JSON text and back. The stage's start is saved as time already spent in the
// stage and restored against `now_ns` of the new process, so the downtime does not count
// towards a stage's minimum duration. InvalidArgument for text that is not such a document.
std::string EvidenceToJson(const Evidence& evidence, int64_t now_ns);
absl::StatusOr<Evidence> EvidenceFromJson(std::string_view text, int64_t now_ns);

}  // namespace ferry

#endif  // FERRY_ROLLOUT_JUDGE_H_
