#include "rollout/judge.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry {
namespace {

using statistics::Interval;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool GateOn(const ReleasePlan& plan, Gate gate) {
  switch (gate) {
    case Gate::kErrors: return plan.errors_gate;
    case Gate::kLatency: return plan.latency_gate;
    case Gate::kAccuracy: return plan.accuracy_gate;
  }
  return false;
}

int EnabledGates(const ReleasePlan& plan) {
  return int{plan.errors_gate} + int{plan.latency_gate} + int{plan.accuracy_gate};
}

double Rate(int64_t events, int64_t trials) {
  return trials == 0 ? kNaN : static_cast<double>(events) / static_cast<double>(trials);
}

// candidate rate / baseline rate from totals; +inf when only the baseline has none.
double RatioEstimate(int64_t c_events, int64_t c_trials, int64_t b_events, int64_t b_trials) {
  const double c = Rate(c_events, c_trials);
  const double b = Rate(b_events, b_trials);
  if (b == 0) return c == 0 ? kNaN : kInf;
  return c / b;
}

// The count gates (errors, accuracy). The absolute tolerance lets two arms without events
// (nothing to take a ratio of) pass.
GateReport CountGate(const ReleasePlan& plan, Gate gate, const statistics::RateRatioSequence& test,
                     int64_t c_events, int64_t c_trials, int64_t b_events, int64_t b_trials,
                     double tolerance, double abs_tolerance, double alpha) {
  GateReport r;
  r.gate = gate;
  r.estimate = RatioEstimate(c_events, c_trials, b_events, b_trials);
  if (c_trials < plan.min_requests_per_arm || b_trials < plan.min_requests_per_arm) {
    r.outcome = GateOutcome::kInsufficient;
    r.lower = 0;
    r.upper = kInf;
    r.difference_upper = 1;
    return r;
  }
  r.difference_upper = statistics::BinomialUpperBound(c_events, c_trials, alpha / 2) -
                       statistics::BinomialLowerBound(b_events, b_trials, alpha / 2);
  const Interval ci = test.RatioInterval(plan.count_tau, alpha);
  r.lower = ci.lower;
  r.upper = ci.upper;
  r.p_value = test.RegressionPValue(plan.count_tau);
  const bool enough_events = test.total_events() >= plan.min_events;
  if (enough_events && r.p_value <= alpha) {
    r.outcome = GateOutcome::kFail;
  } else if ((enough_events && r.upper <= 1 + tolerance) || r.difference_upper <= abs_tolerance) {
    r.outcome = GateOutcome::kPass;
  } else {
    r.outcome = enough_events ? GateOutcome::kInconclusive : GateOutcome::kInsufficient;
  }
  return r;
}

struct LatencyStats {
  bool enough = false;
  double difference = 0;  // of mean log latency, candidate - baseline
  double s2 = 0;          // its variance
};

LatencyStats Latency(const ReleasePlan& plan, const Evidence& e) {
  LatencyStats s;
  const auto& c = e.candidate.log_latency;
  const auto& b = e.baseline.log_latency;
  if (c.count < plan.min_requests_per_arm || b.count < plan.min_requests_per_arm) return s;
  s.s2 = c.Variance() / static_cast<double>(c.count) + b.Variance() / static_cast<double>(b.count);
  s.difference = c.mean - b.mean;
  s.enough = s.s2 > 0;
  return s;
}

GateReport LatencyGate(const ReleasePlan& plan, const Evidence& e, double alpha) {
  GateReport r;
  r.gate = Gate::kLatency;
  const LatencyStats s = Latency(plan, e);
  if (!s.enough) {
    r.outcome = GateOutcome::kInsufficient;
    r.estimate = kNaN;
    r.upper = kInf;
    return r;
  }
  const double theta0 = std::log1p(plan.latency_margin);
  const Interval ci =
      statistics::NormalMixtureConfidenceInterval(s.difference, s.s2, plan.latency_tau, alpha);
  r.estimate = std::exp(s.difference);
  r.lower = std::exp(ci.lower);
  r.upper = std::exp(ci.upper);
  if (s.difference > theta0) {
    r.p_value = std::min(1.0, 1 / statistics::NormalMixtureLikelihoodRatio(
                                      s.difference, s.s2, theta0, plan.latency_tau));
  }
  if (r.p_value <= alpha) {
    r.outcome = GateOutcome::kFail;
  } else if (ci.upper < std::log1p(plan.latency_tolerance)) {
    r.outcome = GateOutcome::kPass;
  } else {
    r.outcome = GateOutcome::kInconclusive;
  }
  return r;
}

GateReport RegressionGate(const ReleasePlan& plan, const Evidence& e, Gate gate, double alpha) {
  switch (gate) {
    case Gate::kErrors:
      return CountGate(plan, gate, e.errors, e.candidate.errors, e.candidate.requests,
                       e.baseline.errors, e.baseline.requests, plan.error_tolerance,
                       plan.error_abs_tolerance, alpha);
    case Gate::kAccuracy:
      return CountGate(plan, gate, e.accuracy, e.candidate.labelled - e.candidate.correct,
                       e.candidate.labelled, e.baseline.labelled - e.baseline.correct,
                       e.baseline.labelled, plan.accuracy_tolerance,
                       plan.accuracy_abs_tolerance, alpha);
    case Gate::kLatency:
      return LatencyGate(plan, e, alpha);
  }
  return {};
}

// A/B's metric: two-sided. Lower is better for every metric (errors, wrong answers,
// latency), so "B worse" means the ratio B / A is above 1.
struct AbCall {
  GateReport report;
  AbResult result = AbResult::kUndecided;
};

AbCall AbMetric(const ReleasePlan& plan, const Evidence& e, double alpha) {
  AbCall call;
  GateReport& r = call.report;
  r = RegressionGate(plan, e, plan.ab_metric, alpha);
  if (r.outcome == GateOutcome::kInsufficient) return call;
  double tolerance = 0;
  bool b_worse = false;
  if (plan.ab_metric == Gate::kLatency) {
    const LatencyStats s = Latency(plan, e);
    r.p_value = std::min(
        1.0, 1 / statistics::NormalMixtureLikelihoodRatio(s.difference, s.s2, 0, plan.latency_tau));
    b_worse = s.difference > 0;
    tolerance = plan.latency_tolerance;
  } else {
    const statistics::RateRatioSequence& test =
        plan.ab_metric == Gate::kErrors ? e.errors : e.accuracy;
    r.p_value = test.TwoSidedPValue(plan.count_tau);
    // The direction from the pooled rates: the ratio's point estimate may be inf or NaN.
    b_worse = static_cast<double>(test.canary_events()) *
                  static_cast<double>(test.baseline_exposure()) >
              static_cast<double>(test.total_events() - test.canary_events()) *
                  static_cast<double>(test.canary_exposure());
    tolerance = plan.ab_metric == Gate::kErrors ? plan.error_tolerance : plan.accuracy_tolerance;
    if (test.total_events() < plan.min_events) {
      r.outcome = GateOutcome::kInsufficient;
      return call;
    }
  }
  if (r.p_value <= alpha) {
    call.result = b_worse ? AbResult::kABetter : AbResult::kBBetter;
    r.outcome = b_worse ? GateOutcome::kFail : GateOutcome::kPass;
  } else if (r.lower >= 1 / (1 + tolerance) && r.upper <= 1 + tolerance) {
    call.result = AbResult::kNoDifference;
    r.outcome = GateOutcome::kPass;
  } else {
    r.outcome = GateOutcome::kInconclusive;
  }
  return call;
}

std::string Figures(const GateReport& r) {
  return absl::StrFormat("%s ratio %.3g [%.3g, %.3g], p = %.3g", GateName(r.gate), r.estimate,
                         r.lower, r.upper, r.p_value);
}

}  // namespace

const char* GateName(Gate gate) {
  switch (gate) {
    case Gate::kErrors: return "errors";
    case Gate::kLatency: return "latency";
    case Gate::kAccuracy: return "accuracy";
  }
  return "unknown";
}

const char* GateOutcomeName(GateOutcome outcome) {
  switch (outcome) {
    case GateOutcome::kOff: return "off";
    case GateOutcome::kInsufficient: return "insufficient";
    case GateOutcome::kInconclusive: return "inconclusive";
    case GateOutcome::kPass: return "pass";
    case GateOutcome::kFail: return "fail";
  }
  return "unknown";
}

const char* ActionName(Action action) {
  switch (action) {
    case Action::kContinue: return "continue";
    case Action::kAdvance: return "advance";
    case Action::kPromote: return "promote";
    case Action::kRollback: return "rollback";
    case Action::kHold: return "hold";
    case Action::kConclude: return "conclude";
  }
  return "unknown";
}

const char* AbResultName(AbResult result) {
  switch (result) {
    case AbResult::kUndecided: return "undecided";
    case AbResult::kABetter: return "A better";
    case AbResult::kBBetter: return "B better";
    case AbResult::kNoDifference: return "no difference";
  }
  return "unknown";
}

absl::Status ValidatePlan(const ReleasePlan& plan) {
  if (plan.stages.empty()) return absl::InvalidArgumentError("a release plan needs a stage");
  if (plan.mode == ReleaseMode::kAB && plan.stages.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("an A/B test has one fixed split; the plan has ", plan.stages.size(),
                     " stages"));
  }
  double previous = 0;
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const ReleaseStage& s = plan.stages[i];
    if (!(s.percent > 0 && s.percent <= 100) || s.percent < previous) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", i, ": percent must be in (0, 100] and not below the previous stage's; was ",
          s.percent));
    }
    if (s.min_requests < 1 || s.min_duration_ns < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stage ", i, ": min_requests must be >= 1 and min_duration >= 0; were ", s.min_requests,
          " and ", s.min_duration_ns, " ns"));
    }
    previous = s.percent;
  }
  if (!(plan.alpha > 0 && plan.alpha < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("alpha must be in (0, 1); was ", plan.alpha));
  }
  if (EnabledGates(plan) == 0) return absl::InvalidArgumentError("no gate is on");
  if (plan.mode == ReleaseMode::kAB && !GateOn(plan, plan.ab_metric)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the A/B metric's gate (", GateName(plan.ab_metric), ") is off"));
  }
  if (!(plan.error_tolerance >= 0 && plan.latency_tolerance >= 0 &&
        plan.accuracy_tolerance >= 0 && plan.latency_margin >= 0 &&
        plan.error_abs_tolerance >= 0 && plan.accuracy_abs_tolerance >= 0)) {
    return absl::InvalidArgumentError("tolerances and margin must be >= 0");
  }
  if (!(plan.count_tau > 0 && plan.latency_tau > 0)) {
    return absl::InvalidArgumentError("count_tau and latency_tau must be > 0");
  }
  if (plan.min_requests_per_arm < 2 || plan.min_events < 0 || plan.max_duration_ns < 0) {
    return absl::InvalidArgumentError(
        "min_requests_per_arm must be >= 2, min_events and max_duration >= 0");
  }
  return absl::OkStatus();
}

Verdict Judge(const ReleasePlan& plan, const Evidence& evidence, int64_t now_ns) {
  Verdict v;
  if (absl::Status s = ValidatePlan(plan); !s.ok()) {
    v.action = Action::kHold;
    v.reason = absl::StrCat("invalid plan: ", s.message());
    return v;
  }
  const int stages = static_cast<int>(plan.stages.size());
  if (evidence.stage_index < 0 || evidence.stage_index >= stages) {
    v.action = Action::kHold;
    v.reason = absl::StrCat("stage ", evidence.stage_index, " is not in the plan's ", stages);
    return v;
  }
  const double alpha = plan.alpha / EnabledGates(plan);
  AbCall ab;
  for (int g = 0; g < kGateCount; ++g) {
    const Gate gate = static_cast<Gate>(g);
    if (!GateOn(plan, gate)) continue;
    if (plan.mode == ReleaseMode::kAB && gate == plan.ab_metric) {
      ab = AbMetric(plan, evidence, alpha);
      v.gates.push_back(ab.report);
    } else {
      v.gates.push_back(RegressionGate(plan, evidence, gate, alpha));
    }
  }
  // 2. Any failing gate (in A/B, any guardrail) rolls back.
  for (const GateReport& r : v.gates) {
    if (r.outcome != GateOutcome::kFail) continue;
    if (plan.mode == ReleaseMode::kAB && r.gate == plan.ab_metric) continue;
    v.action = Action::kRollback;
    v.gate = r.gate;
    v.reason = absl::StrCat("candidate is worse: ", Figures(r), " <= alpha ", alpha);
    return v;
  }
  // 3. Zero traffic never acts.
  if (evidence.stage_requests == 0) {
    v.reason = "no candidate traffic in this stage yet";
    return v;
  }
  const ReleaseStage& stage = plan.stages[evidence.stage_index];
  const int64_t in_stage = now_ns - evidence.stage_started_ns;
  const bool overdue = plan.max_duration_ns > 0 && in_stage >= plan.max_duration_ns;
  // 4. A/B.
  if (plan.mode == ReleaseMode::kAB) {
    v.gate = plan.ab_metric;
    if (ab.result != AbResult::kUndecided) {
      v.action = Action::kConclude;
      v.ab = ab.result;
      v.reason = absl::StrCat(AbResultName(ab.result), ": ", Figures(ab.report));
    } else if (overdue) {
      v.action = Action::kHold;
      v.reason = absl::StrCat("inconclusive after the maximum duration: ", Figures(ab.report));
    } else {
      v.reason = absl::StrCat("collecting: ", Figures(ab.report));
    }
    return v;
  }
  // 5. The stage's minimum data.
  if (evidence.stage_requests < stage.min_requests || in_stage < stage.min_duration_ns) {
    v.reason = absl::StrCat("stage ", evidence.stage_index, " (", stage.percent, "%): ",
                            evidence.stage_requests, " of ", stage.min_requests, " requests, ",
                            in_stage / 1'000'000'000, " of ", stage.min_duration_ns / 1'000'000'000,
                            " s");
    return v;
  }
  // 6. Ramp.
  if (evidence.stage_index + 1 < stages) {
    v.action = Action::kAdvance;
    v.reason = absl::StrCat("stage ", evidence.stage_index, " (", stage.percent,
                            "%) complete with no failing gate; next ",
                            plan.stages[evidence.stage_index + 1].percent, "%");
    return v;
  }
  // 7. The last stage: promotion needs every gate to pass.
  std::string waiting;
  for (const GateReport& r : v.gates) {
    if (r.outcome == GateOutcome::kPass) continue;
    absl::StrAppend(&waiting, waiting.empty() ? "" : "; ", Figures(r), " is ",
                    GateOutcomeName(r.outcome));
  }
  if (waiting.empty()) {
    v.action = Action::kPromote;
    v.reason = "every gate passes";
  } else if (overdue) {
    v.action = Action::kHold;
    v.reason = absl::StrCat("inconclusive after the maximum duration: ", waiting);
  } else {
    v.reason = absl::StrCat("waiting for a pass: ", waiting);
  }
  return v;
}

}  // namespace ferry
