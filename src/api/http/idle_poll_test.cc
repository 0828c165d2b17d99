#include "api/http/idle_poll.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace ferry {
namespace {

constexpr int64_t kWindow = 100'000;  // 100 µs

IdleStep Step(int64_t idle_ns, int64_t window_ns, int busy, bool other) {
  return NextIdleStep({idle_ns, window_ns, busy, other});
}

TEST(IdlePollTest, PollsRightAfterTheServerGoesQuiet) {
  EXPECT_EQ(Step(0, kWindow, 0, false), IdleStep::kPoll);
  EXPECT_EQ(Step(1, kWindow, 0, false), IdleStep::kPoll);
  EXPECT_EQ(Step(kWindow - 1, kWindow, 0, false), IdleStep::kPoll);
}

TEST(IdlePollTest, SleepsOnceTheWindowHasPassed) {
  EXPECT_EQ(Step(kWindow, kWindow, 0, false), IdleStep::kSleep);
  EXPECT_EQ(Step(kWindow + 1, kWindow, 0, false), IdleStep::kSleep);
  EXPECT_EQ(Step(INT64_MAX, kWindow, 0, false), IdleStep::kSleep);
}

TEST(IdlePollTest, AZeroWindowNeverPolls) {
  for (int64_t idle : {int64_t{0}, int64_t{1}, kWindow}) {
    EXPECT_EQ(Step(idle, 0, 0, false), IdleStep::kSleep) << idle;
  }
}

TEST(IdlePollTest, ARequestInFlightAnywhereMeansSleep) {
  // The thread computing or writing it needs the core more than a poller does.
  EXPECT_EQ(Step(0, kWindow, 1, false), IdleStep::kSleep);
  EXPECT_EQ(Step(0, kWindow, 32, false), IdleStep::kSleep);
}

TEST(IdlePollTest, OnlyOneThreadPollsAtATime) {
  EXPECT_EQ(Step(0, kWindow, 0, true), IdleStep::kSleep);
}

TEST(IdlePollTest, AClockThatWentBackwardsDoesNotPoll) {
  EXPECT_EQ(Step(-1, kWindow, 0, false), IdleStep::kSleep);
}

// Every combination of the boundary values: polling needs all four conditions at once.
TEST(IdlePollTest, EveryCombination) {
  const int64_t idles[] = {-1, 0, kWindow - 1, kWindow, kWindow + 1};
  const int64_t windows[] = {0, kWindow};
  const int busies[] = {0, 1, 32};
  int polled = 0;
  for (int64_t idle : idles) {
    for (int64_t window : windows) {
      for (int busy : busies) {
        for (bool other : {false, true}) {
          const bool in_window = idle >= 0 && idle < window;
          const IdleStep want =
              in_window && busy == 0 && !other ? IdleStep::kPoll : IdleStep::kSleep;
          EXPECT_EQ(Step(idle, window, busy, other), want)
              << "idle " << idle << " window " << window << " busy " << busy << " other " << other;
          polled += want == IdleStep::kPoll;
        }
      }
    }
  }
  EXPECT_EQ(polled, 2);  // idle 0 and kWindow - 1, with the window on, quiet, alone
}

}  // namespace
}  // namespace ferry
