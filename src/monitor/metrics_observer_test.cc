#include "monitor/metrics_observer.h"

#include "gtest/gtest.h"

namespace ferry {
namespace {

TEST(OutcomeOfTest, EveryStatusCodeHasItsOutcome) {
  for (int c = 0; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    Outcome want = Outcome::kError;
    switch (code) {
      case absl::StatusCode::kOk: want = Outcome::kSuccess; break;
      case absl::StatusCode::kInvalidArgument: want = Outcome::kInvalid; break;
      case absl::StatusCode::kResourceExhausted:
      case absl::StatusCode::kUnavailable: want = Outcome::kRejected; break;
      case absl::StatusCode::kCancelled: want = Outcome::kCancelled; break;
      case absl::StatusCode::kDeadlineExceeded: want = Outcome::kExpired; break;
      default: break;
    }
    EXPECT_EQ(OutcomeOf(absl::Status(code, c == 0 ? "" : "x")), want) << c;
  }
}

class MetricsObserverTest : public testing::Test {
 protected:
  void Finish(const absl::Status& status, const RequestTiming& timing,
              const ObservedVersion* version) {
    observer_.OnComplete({context_, version, {}, {}, status, timing});
  }

  RequestContext context_;
  ModelMetrics metrics_{"m", "1"};
  ObservedVersion version_{"m", "1", &metrics_};
  MetricsObserver observer_;
};

TEST_F(MetricsObserverTest, ASuccessObservesQueueComputeAndLatency) {
  RequestTiming t;
  t.received_ns = 1'000'000;
  t.enqueued_ns = 1'100'000;
  t.compute_start_ns = 1'400'000;  // 300 us queued
  t.compute_end_ns = 2'400'000;    // 1 ms computing
  t.finished_ns = 3'000'000;       // 2 ms in the server
  Finish(absl::OkStatus(), t, &version_);
  EXPECT_EQ(metrics_.RequestCount(Outcome::kSuccess), 1u);
  EXPECT_EQ(metrics_.queue_time.SumNanos(), 300'000u);
  EXPECT_EQ(metrics_.compute_time.SumNanos(), 1'000'000u);
  EXPECT_EQ(metrics_.request_latency.SumNanos(), 2'000'000u);
  EXPECT_EQ(metrics_.fail_count.load(), 0u);
}

TEST_F(MetricsObserverTest, AFailureCountsItsOutcomeAndTimeButNoLatency) {
  RequestTiming t;
  t.received_ns = 5'000;
  t.finished_ns = 12'000;
  Finish(absl::DeadlineExceededError("late"), t, &version_);
  Finish(absl::InvalidArgumentError("bad"), t, &version_);
  EXPECT_EQ(metrics_.RequestCount(Outcome::kExpired), 1u);
  EXPECT_EQ(metrics_.RequestCount(Outcome::kInvalid), 1u);
  EXPECT_EQ(metrics_.RequestCount(Outcome::kSuccess), 0u);
  EXPECT_EQ(metrics_.fail_count.load(), 2u);
  EXPECT_EQ(metrics_.fail_ns.load(), 14'000u);
  EXPECT_EQ(metrics_.request_latency.Count(), 0u);
  EXPECT_EQ(metrics_.queue_time.Count(), 0u);
}

TEST_F(MetricsObserverTest, ARequestThatReachedNoVersionTouchesNothing) {
  RequestTiming t;
  t.finished_ns = 10;
  Finish(absl::NotFoundError("unknown model"), t, nullptr);
  for (size_t o = 0; o < static_cast<size_t>(Outcome::kCount); ++o) {
    EXPECT_EQ(metrics_.RequestCount(static_cast<Outcome>(o)), 0u);
  }
  EXPECT_EQ(metrics_.fail_count.load(), 0u);
}

}  // namespace
}  // namespace ferry
