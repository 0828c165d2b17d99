#include "rollout/judge.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace ferry {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// A batch of `requests` with the first `errors` failing, latencies spread around `median`
// (log-latency sd about 0.35), and the first `labelled` labelled, `correct` of them right.
ArmBatch Batch(int64_t requests, int64_t errors, double median = 0.02, int64_t labelled = 0,
               int64_t correct = 0) {
  static constexpr double kZ[] = {-1, -0.5, 0, 0.5, 1};
  ArmBatch b;
  for (int64_t i = 0; i < requests; ++i) b.AddRequest(i < errors, median * std::exp(0.5 * kZ[i % 5]));
  for (int64_t i = 0; i < labelled; ++i) b.AddLabel(i < correct);
  return b;
}

ReleasePlan Plan() {
  ReleasePlan plan;
  plan.stages = {{5, 100, 60 * kSecond}, {50, 200, 60 * kSecond}, {100, 100, 60 * kSecond}};
  plan.alpha = 0.01;
  return plan;
}

class JudgeTest : public ::testing::Test {
 protected:
  JudgeTest() { StartStage(0, clock_.NowNanos(), evidence_); }
  // `batches` batches of the given arms, one second each.
  void Feed(int batches, const ArmBatch& candidate, const ArmBatch& baseline) {
    for (int i = 0; i < batches; ++i) {
      Observe(candidate, baseline, evidence_);
      clock_.AdvanceNanos(kSecond);
    }
  }
  Verdict Decide(const ReleasePlan& plan) { return Judge(plan, evidence_, clock_.NowNanos()); }
  const GateReport& Report(const Verdict& v, Gate gate) {
    for (const GateReport& r : v.gates) {
      if (r.gate == gate) return r;
    }
    static const GateReport kNone;
    ADD_FAILURE() << "no report for " << GateName(gate);
    return kNone;
  }

  FakeClock clock_;
  Evidence evidence_;
};

TEST_F(JudgeTest, ZeroTrafficNeverActs) {
  for (int i = 0; i < 10; ++i) {
    clock_.AdvanceNanos(600 * kSecond);
    Observe(ArmBatch(), ArmBatch(), evidence_);
    const Verdict v = Decide(Plan());
    EXPECT_EQ(v.action, Action::kContinue) << v.reason;
  }
  // At the last stage, too, long past every minimum.
  StartStage(2, clock_.NowNanos(), evidence_);
  clock_.AdvanceNanos(3600 * kSecond);
  EXPECT_EQ(Decide(Plan()).action, Action::kContinue);
}

TEST_F(JudgeTest, TooLittleDataIsNeverAFailure) {
  // Every canary request fails, but there are only 20 of them: hold on, do not roll back.
  Feed(1, Batch(20, 20), Batch(400, 0));
  const Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kContinue) << v.reason;
  EXPECT_EQ(Report(v, Gate::kErrors).outcome, GateOutcome::kInsufficient);
  EXPECT_EQ(Report(v, Gate::kLatency).outcome, GateOutcome::kInsufficient);
}

TEST_F(JudgeTest, TooFewEventsIsNeverAFailure) {
  // 60 requests per arm, 3 canary errors: min_events (5) not reached.
  Feed(1, Batch(60, 3), Batch(60, 0));
  const Verdict v = Decide(Plan());
  EXPECT_NE(v.action, Action::kRollback);
  EXPECT_EQ(Report(v, Gate::kErrors).outcome, GateOutcome::kInsufficient);
}

TEST_F(JudgeTest, ErrorRegressionRollsBack) {
  Feed(20, Batch(20, 1), Batch(380, 4));  // 5% vs ~1%
  const Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(v.gate, Gate::kErrors);
  const GateReport& r = Report(v, Gate::kErrors);
  EXPECT_EQ(r.outcome, GateOutcome::kFail);
  EXPECT_LE(r.p_value, 0.005);
  EXPECT_NEAR(r.estimate, 0.05 / (4.0 / 380), 1e-9);
  EXPECT_GT(r.upper, r.estimate);
}

TEST_F(JudgeTest, BaselineWithoutErrorsStillCatchesACanaryWithSome) {
  Feed(10, Batch(20, 1), Batch(380, 0));
  const Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(v.gate, Gate::kErrors);
  EXPECT_TRUE(std::isinf(Report(v, Gate::kErrors).estimate));
}

TEST_F(JudgeTest, LatencyRegressionRollsBackUnlessWithinTheMargin) {
  Feed(10, Batch(20, 0, 0.026), Batch(380, 0, 0.020));  // median 30% slower
  Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(v.gate, Gate::kLatency);
  EXPECT_NEAR(Report(v, Gate::kLatency).estimate, 1.3, 1e-9);
  // Tolerating 50% slower medians: no failure.
  ReleasePlan lenient = Plan();
  lenient.latency_margin = 0.5;
  v = Decide(lenient);
  EXPECT_NE(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(Report(v, Gate::kLatency).p_value, 1);
}

TEST_F(JudgeTest, AFasterCanaryIsNoRegression) {
  Feed(20, Batch(20, 0, 0.010), Batch(380, 0, 0.020));
  const Verdict v = Decide(Plan());
  EXPECT_NE(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(Report(v, Gate::kLatency).outcome, GateOutcome::kPass);
}

TEST_F(JudgeTest, AccuracyGateUsesLabels) {
  ReleasePlan plan = Plan();
  plan.accuracy_gate = true;
  // 30% wrong against 10% wrong among labelled answers.
  Feed(10, Batch(20, 0, 0.02, 20, 14), Batch(380, 0, 0.02, 100, 90));
  const Verdict v = Decide(plan);
  EXPECT_EQ(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(v.gate, Gate::kAccuracy);
  ASSERT_EQ(v.gates.size(), 3u);
  // Without labels the gate cannot judge.
  Evidence unlabelled;
  Observe(Batch(200, 0), Batch(2000, 0), unlabelled);
  EXPECT_EQ(Report(Judge(plan, unlabelled, 0), Gate::kAccuracy).outcome,
            GateOutcome::kInsufficient);
}

TEST_F(JudgeTest, OnlyEnabledGatesReport) {
  ReleasePlan plan = Plan();
  plan.latency_gate = false;
  Feed(10, Batch(20, 0, 0.05), Batch(380, 0, 0.02));  // much slower, but latency is off
  const Verdict v = Decide(plan);
  ASSERT_EQ(v.gates.size(), 1u);
  EXPECT_EQ(v.gates[0].gate, Gate::kErrors);
  EXPECT_NE(v.action, Action::kRollback);
}

TEST_F(JudgeTest, StageNeedsItsRequestsAndDurationThenAdvances) {
  Feed(4, Batch(20, 0), Batch(380, 4));  // 80 of 100 requests, 4 s of 60
  EXPECT_EQ(Decide(Plan()).action, Action::kContinue);
  Feed(1, Batch(20, 0), Batch(380, 4));  // 100 requests, 5 s
  EXPECT_EQ(Decide(Plan()).action, Action::kContinue);
  clock_.AdvanceNanos(55 * kSecond);  // 60 s
  const Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kAdvance) << v.reason;
  StartStage(1, clock_.NowNanos(), evidence_);
  EXPECT_EQ(evidence_.stage_requests, 0);
  EXPECT_EQ(Decide(Plan()).action, Action::kContinue);  // the new stage starts from zero
}

TEST_F(JudgeTest, LastStagePromotesOnlyWhenEveryGatePasses) {
  ReleasePlan plan = Plan();
  StartStage(2, clock_.NowNanos(), evidence_);
  // Enough requests and time, but too little evidence to pass: wait.
  Feed(1, Batch(100, 1), Batch(100, 1));
  clock_.AdvanceNanos(60 * kSecond);
  Verdict v = Decide(plan);
  EXPECT_EQ(v.action, Action::kContinue) << v.reason;
  EXPECT_NE(v.reason.find("waiting for a pass"), std::string::npos);
  // Plenty of equal evidence: every gate passes.
  Feed(100, Batch(1000, 0), Batch(1000, 0));
  v = Decide(plan);
  EXPECT_EQ(v.action, Action::kPromote) << v.reason;
  for (const GateReport& r : v.gates) EXPECT_EQ(r.outcome, GateOutcome::kPass) << GateName(r.gate);
}

TEST_F(JudgeTest, LastStageHoldsAsInconclusiveAfterMaxDuration) {
  ReleasePlan plan = Plan();
  plan.max_duration_ns = 3600 * kSecond;
  StartStage(2, clock_.NowNanos(), evidence_);
  Feed(1, Batch(100, 1), Batch(100, 1));
  clock_.AdvanceNanos(600 * kSecond);
  EXPECT_EQ(Decide(plan).action, Action::kContinue);
  clock_.AdvanceNanos(3000 * kSecond);
  const Verdict v = Decide(plan);
  EXPECT_EQ(v.action, Action::kHold) << v.reason;
  EXPECT_NE(v.reason.find("inconclusive"), std::string::npos);
}

TEST_F(JudgeTest, ReachingTheLastStageIsNotAPromotion) {
  // 100% reached with a failing-free but unproven candidate: no promotion.
  StartStage(2, clock_.NowNanos(), evidence_);
  Feed(2, Batch(60, 1), Batch(60, 1));
  clock_.AdvanceNanos(3600 * kSecond);
  EXPECT_NE(Decide(Plan()).action, Action::kPromote);
}

TEST_F(JudgeTest, InvalidPlanOrStageHolds) {
  ReleasePlan empty;
  EXPECT_EQ(Decide(empty).action, Action::kHold);
  evidence_.stage_index = 3;
  const Verdict v = Decide(Plan());
  EXPECT_EQ(v.action, Action::kHold);
  EXPECT_NE(v.reason.find("stage 3"), std::string::npos);
}

TEST(JudgePlanTest, ValidatePlanNamesTheProblem) {
  ReleasePlan ok = Plan();
  EXPECT_TRUE(ValidatePlan(ok).ok());
  auto bad = [&](auto edit) {
    ReleasePlan p = Plan();
    edit(p);
    return ValidatePlan(p);
  };
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.stages.clear(); }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.stages[1].percent = 1; }).ok());  // decreasing
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.stages[0].percent = 0; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.stages[2].percent = 101; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.stages[0].min_requests = 0; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.alpha = 0; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.alpha = 1; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.errors_gate = p.latency_gate = false; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.latency_tau = 0; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.error_tolerance = -1; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.min_requests_per_arm = 1; }).ok());
  EXPECT_FALSE(bad([](ReleasePlan& p) { p.mode = ReleaseMode::kAB; }).ok());  // 3 stages
  const absl::Status s = bad([](ReleasePlan& p) { p.stages[0].percent = 0; });
  EXPECT_NE(s.message().find("stage 0"), std::string::npos) << s;
  EXPECT_NE(s.message().find("was 0"), std::string::npos) << s;
  EXPECT_FALSE(bad([](ReleasePlan& p) {
                 p.mode = ReleaseMode::kAB;
                 p.stages = {{50, 100, 0}};
                 p.ab_metric = Gate::kAccuracy;
               }).ok());
}

// Bonferroni: a p-value between alpha / 3 and alpha / 2 fails with two gates on and does not
// with three.
TEST_F(JudgeTest, AlphaIsSplitAcrossEnabledGates) {
  Feed(6, Batch(20, 1), Batch(380, 4));
  ReleasePlan two = Plan();
  const double p = Report(Decide(two), Gate::kErrors).p_value;
  ASSERT_GT(p, 0);
  ASSERT_LT(p, 0.1);
  two.alpha = 2.4 * p;  // alpha / 2 = 1.2 p > p > alpha / 3 = 0.8 p
  EXPECT_EQ(Decide(two).action, Action::kRollback);
  ReleasePlan three = two;
  three.accuracy_gate = true;
  EXPECT_NE(Decide(three).action, Action::kRollback);
}

TEST_F(JudgeTest, ShadowModeJudgesLikeACanary) {
  ReleasePlan plan = Plan();
  plan.mode = ReleaseMode::kShadow;
  Feed(20, Batch(100, 5), Batch(100, 1));
  EXPECT_EQ(Decide(plan).action, Action::kRollback);
}

ReleasePlan AbPlan(Gate metric) {
  ReleasePlan plan;
  plan.mode = ReleaseMode::kAB;
  plan.stages = {{50, 100, 0}};
  plan.ab_metric = metric;
  plan.max_duration_ns = 3600 * kSecond;
  return plan;
}

TEST_F(JudgeTest, AbConcludesBBetterOnLatency) {
  Feed(20, Batch(100, 0, 0.015), Batch(100, 0, 0.020));
  const Verdict v = Decide(AbPlan(Gate::kLatency));
  EXPECT_EQ(v.action, Action::kConclude) << v.reason;
  EXPECT_EQ(v.ab, AbResult::kBBetter);
  EXPECT_EQ(v.gate, Gate::kLatency);
}

TEST_F(JudgeTest, AbConcludesABetterWithoutRollingBack) {
  Feed(20, Batch(100, 0, 0.025), Batch(100, 0, 0.020));
  const Verdict v = Decide(AbPlan(Gate::kLatency));
  EXPECT_EQ(v.action, Action::kConclude) << v.reason;
  EXPECT_EQ(v.ab, AbResult::kABetter);
}

TEST_F(JudgeTest, AbConcludesNoDifferenceOnceTheIntervalIsNarrow) {
  Feed(100, Batch(100, 0, 0.020), Batch(100, 0, 0.020));
  const Verdict v = Decide(AbPlan(Gate::kLatency));
  EXPECT_EQ(v.action, Action::kConclude) << v.reason;
  EXPECT_EQ(v.ab, AbResult::kNoDifference);
}

TEST_F(JudgeTest, AbOnErrorsBothWays) {
  ReleasePlan plan = AbPlan(Gate::kErrors);
  plan.latency_gate = false;
  Feed(20, Batch(100, 5), Batch(100, 1));
  Verdict v = Decide(plan);
  EXPECT_EQ(v.action, Action::kConclude) << v.reason;
  EXPECT_EQ(v.ab, AbResult::kABetter);
  Evidence mirrored;
  for (int i = 0; i < 20; ++i) Observe(Batch(100, 1), Batch(100, 5), mirrored);
  v = Judge(plan, mirrored, 0);
  EXPECT_EQ(v.ab, AbResult::kBBetter) << v.reason;
}

TEST_F(JudgeTest, AbHoldsWhenInconclusiveAtMaxDuration) {
  Feed(2, Batch(60, 0, 0.021), Batch(60, 0, 0.020));
  EXPECT_EQ(Decide(AbPlan(Gate::kLatency)).action, Action::kContinue);
  clock_.AdvanceNanos(3600 * kSecond);
  const Verdict v = Decide(AbPlan(Gate::kLatency));
  EXPECT_EQ(v.action, Action::kHold) << v.reason;
  EXPECT_EQ(v.ab, AbResult::kUndecided);
}

TEST_F(JudgeTest, AbGuardrailRollsBackB) {
  ReleasePlan plan = AbPlan(Gate::kLatency);
  Feed(20, Batch(100, 10, 0.020), Batch(100, 0, 0.020));  // same speed, B fails 10%
  const Verdict v = Decide(plan);
  EXPECT_EQ(v.action, Action::kRollback) << v.reason;
  EXPECT_EQ(v.gate, Gate::kErrors);
}

// Invariants over a grid of evidence: counts per arm, error counts, latency, stage, time.
TEST(JudgeInvariantTest, HoldForEveryCombination) {
  const ReleasePlan plan = Plan();
  int rollbacks = 0, promotions = 0, advances = 0;
  for (int64_t nc : {0, 10, 60, 300, 3000}) {
    for (int64_t nb : {0, 10, 60, 3000}) {
      for (int64_t ec_percent : {0, 1, 10}) {
        for (int64_t eb_percent : {0, 1, 10}) {
          for (double slowdown : {0.5, 1.0, 2.0}) {
            for (int stage : {0, 1, 2}) {
              for (int64_t elapsed : {int64_t{0}, 3600 * kSecond}) {
                Evidence e;
                StartStage(stage, 0, e);
                Observe(Batch(nc, nc * ec_percent / 100, 0.02 * slowdown),
                        Batch(nb, nb * eb_percent / 100), e);
                const Verdict v = Judge(plan, e, elapsed);
                switch (v.action) {
                  case Action::kRollback:
                    ++rollbacks;
                    // Never for lack of data.
                    EXPECT_GE(nc, plan.min_requests_per_arm);
                    EXPECT_GE(nb, plan.min_requests_per_arm);
                    EXPECT_TRUE(ec_percent > eb_percent || slowdown > 1);
                    break;
                  case Action::kPromote:
                    ++promotions;
                    EXPECT_EQ(stage, 2);
                    EXPECT_GE(elapsed, plan.stages[2].min_duration_ns);
                    for (const GateReport& r : v.gates) EXPECT_EQ(r.outcome, GateOutcome::kPass);
                    break;
                  case Action::kAdvance:
                    ++advances;
                    EXPECT_LT(stage, 2);
                    EXPECT_GE(nc, plan.stages[stage].min_requests);
                    EXPECT_GE(elapsed, plan.stages[stage].min_duration_ns);
                    break;
                  case Action::kContinue:
                    break;
                  default:
                    ADD_FAILURE() << ActionName(v.action) << ": " << v.reason;
                }
                if (nc == 0) {
                  EXPECT_EQ(v.action, Action::kContinue);
                }
                EXPECT_EQ(v.gates.size(), 2u);
                for (const GateReport& r : v.gates) {
                  EXPECT_GE(r.p_value, 0);
                  EXPECT_LE(r.p_value, 1);
                  EXPECT_LE(r.lower, r.upper);
                }
              }
            }
          }
        }
      }
    }
  }
  // The grid reaches every action.
  EXPECT_GT(rollbacks, 0);
  EXPECT_GT(promotions, 0);
  EXPECT_GT(advances, 0);
}

TEST(JudgeNamesTest, EveryEnumHasAName) {
  EXPECT_STREQ(ActionName(Action::kContinue), "continue");
  EXPECT_STREQ(ActionName(Action::kAdvance), "advance");
  EXPECT_STREQ(ActionName(Action::kPromote), "promote");
  EXPECT_STREQ(ActionName(Action::kRollback), "rollback");
  EXPECT_STREQ(ActionName(Action::kHold), "hold");
  EXPECT_STREQ(ActionName(Action::kConclude), "conclude");
  EXPECT_STREQ(GateName(Gate::kAccuracy), "accuracy");
  EXPECT_STREQ(GateOutcomeName(GateOutcome::kInsufficient), "insufficient");
  EXPECT_STREQ(AbResultName(AbResult::kNoDifference), "no difference");
}

}  // namespace
}  // namespace ferry
