#include "scheduler/sequence_rule.h"

#include "gtest/gtest.h"

namespace ferry {
namespace {

constexpr int64_t kTimeout = 1000;
constexpr int64_t kMax = 2;

// Every combination of what the batcher may hold, the start flag, room and time, against
// the rule as sequence_rule.h states it.
TEST(SequenceRuleTest, EveryCaseFollowsTheStatedRule) {
  for (bool exists : {false, true}) {
    for (bool in_use : {false, true}) {
      for (bool ended : {false, true}) {
        for (int64_t idle : {int64_t{0}, kTimeout - 1, kTimeout, 5 * kTimeout}) {
          for (bool start : {false, true}) {
            for (int64_t others : {int64_t{0}, kMax - 1, kMax}) {
              if (!exists && (in_use || ended)) continue;  // no record, nothing to say
              const SequenceView view{exists, in_use, ended, 10'000};
              const int64_t now = 10'000 + idle;
              const bool expired = exists && !in_use && idle >= kTimeout;
              const bool live = exists && !expired && !(ended && !in_use);
              SequenceAdmission want;
              if (!live) {
                want = !start ? SequenceAdmission::kUnknown
                       : others < kMax ? SequenceAdmission::kStart
                                       : SequenceAdmission::kFull;
              } else if (start) {
                want = SequenceAdmission::kRestart;
              } else {
                want = ended ? SequenceAdmission::kUnknown : SequenceAdmission::kContinue;
              }
              EXPECT_EQ(AdmitSequenceRequest(view, start, others, kMax, now, kTimeout), want)
                  << "exists=" << exists << " in_use=" << in_use << " ended=" << ended
                  << " idle=" << idle << " start=" << start << " others=" << others;
              EXPECT_EQ(SequenceExpired(view, now, kTimeout), expired);
            }
          }
        }
      }
    }
  }
}

TEST(SequenceRuleTest, NamedCases) {
  const SequenceView none;
  EXPECT_EQ(AdmitSequenceRequest(none, true, 0, 1, 0, kTimeout), SequenceAdmission::kStart);
  EXPECT_EQ(AdmitSequenceRequest(none, false, 0, 1, 0, kTimeout), SequenceAdmission::kUnknown);
  EXPECT_EQ(AdmitSequenceRequest(none, true, 1, 1, 0, kTimeout), SequenceAdmission::kFull);
  const SequenceView idle{true, false, false, 0};
  EXPECT_EQ(AdmitSequenceRequest(idle, false, 0, 1, kTimeout - 1, kTimeout), SequenceAdmission::kContinue);
  EXPECT_EQ(AdmitSequenceRequest(idle, false, 0, 1, kTimeout, kTimeout), SequenceAdmission::kUnknown);
  EXPECT_EQ(AdmitSequenceRequest(idle, true, 0, 1, kTimeout, kTimeout), SequenceAdmission::kStart);
  // A busy sequence never expires, however long its request takes.
  const SequenceView busy{true, true, false, 0};
  EXPECT_EQ(AdmitSequenceRequest(busy, false, 0, 1, 100 * kTimeout, kTimeout), SequenceAdmission::kContinue);
  EXPECT_EQ(AdmitSequenceRequest(busy, true, 5, 1, 0, kTimeout), SequenceAdmission::kRestart);
  // Finishing (its end request queued): only a restart gets in.
  const SequenceView finishing{true, true, true, 0};
  EXPECT_EQ(AdmitSequenceRequest(finishing, false, 0, 1, 0, kTimeout), SequenceAdmission::kUnknown);
  EXPECT_EQ(AdmitSequenceRequest(finishing, true, 0, 1, 0, kTimeout), SequenceAdmission::kRestart);
}

}  // namespace
}  // namespace ferry
