#include "scheduler/batch_rule.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace ferry {
namespace {

BatchRuleOptions Options(int64_t max_batch, int64_t delay_ns, std::vector<int64_t> preferred = {}) {
  return {max_batch, delay_ns, std::move(preferred)};
}

TEST(BatchRuleTest, EmptyQueueWaitsForever) {
  const BatchDecision d = DecideBatch(Options(8, 100), {}, 0, 0, false);
  EXPECT_EQ(d.take, 0u);
  EXPECT_EQ(d.wake_at_ns, BatchDecision::kNever);
}

TEST(BatchRuleTest, WaitsUntilOldestDeadline) {
  const int64_t rows[] = {1, 1};
  const BatchDecision d = DecideBatch(Options(8, 100), rows, /*oldest=*/1000, /*now=*/1050, false);
  EXPECT_EQ(d.take, 0u);
  EXPECT_EQ(d.wake_at_ns, 1100);
}

TEST(BatchRuleTest, RunsEverythingAtDeadline) {
  const int64_t rows[] = {1, 2, 1};
  const BatchDecision d = DecideBatch(Options(8, 100), rows, 1000, 1100, false);
  EXPECT_EQ(d.take, 3u);
}

TEST(BatchRuleTest, ZeroDelayRunsAtOnce) {
  const int64_t rows[] = {1};
  EXPECT_EQ(DecideBatch(Options(8, 0), rows, 1000, 1000, false).take, 1u);
}

TEST(BatchRuleTest, FullBatchRunsBeforeDeadline) {
  const int64_t exact[] = {4, 4};
  EXPECT_EQ(DecideBatch(Options(8, 100), exact, 1000, 1000, false).take, 2u);
  // The third request would overflow max_batch_size, so the first two cannot grow.
  const int64_t overflow[] = {4, 3, 2};
  EXPECT_EQ(DecideBatch(Options(8, 100), overflow, 1000, 1000, false).take, 2u);
}

TEST(BatchRuleTest, NeverExceedsMaxBatchSize) {
  const int64_t rows[] = {3, 3, 3, 3};
  const BatchDecision d = DecideBatch(Options(8, 100), rows, 0, 1'000'000, false);
  EXPECT_EQ(d.take, 2u);  // 6 rows; a third request would make 9
}

TEST(BatchRuleTest, PreferredSizeRunsAtOnceLongestWins) {
  const int64_t rows[] = {2, 2, 1};
  // Prefixes add up to 2, 4, 5; 2 and 4 are preferred, 4 is the longest.
  const BatchDecision d = DecideBatch(Options(8, 100, {2, 4}), rows, 1000, 1000, false);
  EXPECT_EQ(d.take, 2u);
}

TEST(BatchRuleTest, NoPreferredPrefixWaits) {
  const int64_t rows[] = {3};
  EXPECT_EQ(DecideBatch(Options(8, 100, {2, 4}), rows, 1000, 1000, false).take, 0u);
}

TEST(BatchRuleTest, FlushIgnoresDelay) {
  const int64_t rows[] = {1, 1};
  EXPECT_EQ(DecideBatch(Options(8, 1'000'000, {}), rows, 1000, 1000, true).take, 2u);
}

TEST(BatchRuleTest, OversizedFrontRequestRunsAlone) {
  const int64_t rows[] = {9, 1};
  EXPECT_EQ(DecideBatch(Options(8, 100), rows, 0, 0, false).take, 1u);
}

// Exhaustive check of the invariants over every queue of up to 5 requests of 1..4 rows,
// several option sets and times before, at and after the deadline.
TEST(BatchRuleTest, InvariantsHoldForAllSmallQueues) {
  const std::vector<BatchRuleOptions> option_sets = {
      Options(1, 0), Options(4, 100), Options(8, 100, {4}), Options(8, 100, {2, 6}),
      Options(6, 0, {3})};
  for (const BatchRuleOptions& options : option_sets) {
    for (int len = 1; len <= 5; ++len) {
      int combos = 1;
      for (int i = 0; i < len; ++i) combos *= 4;
      for (int c = 0; c < combos; ++c) {
        std::vector<int64_t> rows;
        for (int i = 0, x = c; i < len; ++i, x /= 4) rows.push_back(1 + x % 4);
        for (int64_t now : {int64_t{1000}, 1000 + options.max_queue_delay_ns}) {
          const BatchDecision d = DecideBatch(options, rows, 1000, now, false);
          ASSERT_LE(d.take, rows.size());
          int64_t total = 0;
          for (size_t i = 0; i < d.take; ++i) total += rows[i];
          if (d.take > 1) {
            EXPECT_LE(total, options.max_batch_size);
          }
          // At the deadline a batch always runs (the delay bound).
          if (now - 1000 >= options.max_queue_delay_ns) {
            EXPECT_GT(d.take, 0u);
          }
          if (d.take == 0) {
            EXPECT_EQ(d.wake_at_ns, 1000 + options.max_queue_delay_ns);
          }
          // A batch that runs early is either as full as it can get or preferred.
          if (d.take > 0 && now - 1000 < options.max_queue_delay_ns) {
            const bool preferred =
                std::find(options.preferred_batch_sizes.begin(),
                          options.preferred_batch_sizes.end(),
                          total) != options.preferred_batch_sizes.end();
            const bool full = d.take == rows.size() ? total == options.max_batch_size
                                                    : total + rows[d.take] > options.max_batch_size;
            EXPECT_TRUE(preferred || full || rows[0] >= options.max_batch_size);
          }
        }
      }
    }
  }
}

TEST(InlineStepTest, EveryStateAndArrival) {
  struct Case {
    bool arrived_while_busy, model_idle;
    bool run_inline, next_arrived_while_busy;
  };
  const Case cases[] = {
      // An idle model after a lone busy spell (or at start): inline, and a new spell begins.
      {false, true, true, false},
      // An idle model after a spell in which others arrived: it is under load, so queue;
      // the spell this request starts decides the next one.
      {true, true, false, false},
      // Arrivals at a busy model never run inline, and mark the spell as contended.
      {false, false, false, true},
      {true, false, false, true},
  };
  for (const Case& c : cases) {
    const InlineStep step = NextInlineStep(c.arrived_while_busy, c.model_idle);
    EXPECT_EQ(step.run_inline, c.run_inline) << c.arrived_while_busy << c.model_idle;
    EXPECT_EQ(step.arrived_while_busy, c.next_arrived_while_busy)
        << c.arrived_while_busy << c.model_idle;
  }
}

}  // namespace
}  // namespace ferry
