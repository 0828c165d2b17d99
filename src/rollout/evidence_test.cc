// Evidence: Observe's sums, and a release surviving a restart through its JSON.
#include <cmath>
#include <string>

#include "gtest/gtest.h"
#include "rollout/judge.h"

namespace ferry {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

ArmBatch Batch(int64_t requests, int64_t errors, double median, int64_t labelled = 0,
               int64_t correct = 0) {
  ArmBatch b;
  for (int64_t i = 0; i < requests; ++i) {
    b.AddRequest(i < errors, median * std::exp(0.4 * std::sin(static_cast<double>(i))));
  }
  for (int64_t i = 0; i < labelled; ++i) b.AddLabel(i < correct);
  return b;
}

TEST(EvidenceTest, ObserveAddsBatches) {
  Evidence e;
  StartStage(0, 5 * kSecond, e);
  Observe(Batch(10, 2, 0.02, 4, 3), Batch(90, 1, 0.02, 30, 27), e);
  Observe(Batch(5, 0, 0.02), Batch(95, 0, 0.02), e);
  EXPECT_EQ(e.candidate.requests, 15);
  EXPECT_EQ(e.candidate.errors, 2);
  EXPECT_EQ(e.candidate.log_latency.count, 15);
  EXPECT_EQ(e.candidate.labelled, 4);
  EXPECT_EQ(e.candidate.correct, 3);
  EXPECT_EQ(e.baseline.requests, 185);
  EXPECT_EQ(e.stage_requests, 15);
  EXPECT_EQ(e.errors.canary_events(), 2);
  EXPECT_EQ(e.errors.total_events(), 3);
  EXPECT_EQ(e.accuracy.canary_events(), 1);  // wrong answers
  EXPECT_EQ(e.accuracy.total_events(), 4);
  EXPECT_EQ(e.accuracy.canary_exposure(), 4);
  StartStage(1, 9 * kSecond, e);
  EXPECT_EQ(e.stage_index, 1);
  EXPECT_EQ(e.stage_started_ns, 9 * kSecond);
  EXPECT_EQ(e.stage_requests, 0);
  EXPECT_EQ(e.candidate.requests, 15);  // the release's evidence is kept across stages
}

TEST(EvidenceTest, NonPositiveLatencyIsCountedButNotLogged) {
  ArmBatch b;
  b.AddRequest(true, 0);
  EXPECT_EQ(b.requests, 1);
  EXPECT_EQ(b.errors, 1);
  EXPECT_EQ(b.log_latency.count, 0);
}

ReleasePlan Plan() {
  ReleasePlan plan;
  plan.stages = {{5, 100, 60 * kSecond}, {100, 100, 600 * kSecond}};
  plan.accuracy_gate = true;
  return plan;
}

// The restored release decides exactly as the one that was saved, at every later batch.
TEST(EvidenceTest, RestartResumesWithTheSameDecisions) {
  Evidence before;
  StartStage(0, 100 * kSecond, before);
  for (int i = 0; i < 30; ++i) {
    Observe(Batch(5, i % 7 == 0, 0.021, 2, 2), Batch(95, i % 3 == 0, 0.02, 20, 18), before);
  }
  const int64_t saved_at = 130 * kSecond;
  const std::string json = EvidenceToJson(before, saved_at);
  // The new process's clock has another epoch; the downtime does not count.
  const int64_t restarted_at = 7 * kSecond;
  absl::StatusOr<Evidence> after = EvidenceFromJson(json, restarted_at);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->stage_started_ns, restarted_at - 30 * kSecond);
  EXPECT_EQ(after->errors.log_lambda(), before.errors.log_lambda());
  EXPECT_EQ(after->accuracy.log_lambda(), before.accuracy.log_lambda());
  EXPECT_EQ(after->candidate.log_latency.mean, before.candidate.log_latency.mean);
  EXPECT_EQ(after->baseline.log_latency.m2, before.baseline.log_latency.m2);
  EXPECT_EQ(EvidenceToJson(*after, restarted_at), json);
  for (int i = 0; i < 60; ++i) {
    const ArmBatch c = Batch(5, i % 4 == 0, 0.03), b = Batch(95, 1, 0.02);
    Observe(c, b, before);
    Observe(c, b, *after);
    const Verdict v1 = Judge(Plan(), before, saved_at + (i + 1) * kSecond);
    const Verdict v2 = Judge(Plan(), *after, restarted_at + (i + 1) * kSecond);
    ASSERT_EQ(v1.action, v2.action) << i;
    ASSERT_EQ(v1.reason, v2.reason) << i;
  }
}

TEST(EvidenceTest, RestoredReleaseNeverPromotesOnDowntime) {
  ReleasePlan plan = Plan();
  Evidence e;
  StartStage(1, 0, e);
  Observe(Batch(5000, 0, 0.02), Batch(5000, 0, 0.02), e);
  ASSERT_NE(Judge(plan, e, 10 * kSecond).action, Action::kPromote);
  // Saved 10 s into a 600 s stage, restored a day later: still 10 s in.
  absl::StatusOr<Evidence> restored = EvidenceFromJson(EvidenceToJson(e, 10 * kSecond), 86400 * kSecond);
  ASSERT_TRUE(restored.ok());
  EXPECT_NE(Judge(plan, *restored, 86400 * kSecond).action, Action::kPromote);
}

TEST(EvidenceTest, BadDocumentsAreRefused) {
  Evidence e;
  Observe(Batch(10, 1, 0.02), Batch(10, 0, 0.02), e);
  const std::string good = EvidenceToJson(e, 0);
  ASSERT_TRUE(EvidenceFromJson(good, 0).ok());
  auto refused = [](const std::string& text) {
    absl::StatusOr<Evidence> r = EvidenceFromJson(text, 0);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : std::string(r.status().message());
  };
  refused("");
  refused("[]");
  refused(good.substr(0, good.size() / 2));
  refused("{}");
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  EXPECT_NE(refused(replace("\"format\":1", "\"format\":2")).find("format"), std::string::npos);
  EXPECT_NE(refused(replace("\"requests\":10", "\"requests\":-1")).find("candidate"),
            std::string::npos);
  EXPECT_NE(refused(replace("\"log_lambda\":[", "\"log_lambda\":[0,")).find("log_lambda"),
            std::string::npos);
  refused(replace("\"stage_index\":0", "\"stage_index\":\"0\""));
  refused(replace("\"errors\":{", "\"errors\":7,\"x\":{"));
  EXPECT_NE(refused(replace("\"stage_requests\":10,", "")).find("stage_requests"),
            std::string::npos);
}

}  // namespace
}  // namespace ferry
