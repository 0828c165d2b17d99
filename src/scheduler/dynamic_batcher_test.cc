#include "scheduler/dynamic_batcher.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/thread_name.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace ferry {
namespace {

using testing::ElementsAre;

// A model that doubles its single INT32 input, and remembers each batch's size.
class FakeBackend {
 public:
  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) {
    absl::MutexLock lock(&mu_);
    batch_rows_.push_back(inputs[0].shape[0]);
    if (fail_next_) {
      fail_next_ = false;
      return absl::InternalError("fake backend failure");
    }
    Tensor out = inputs[0];
    out.name = "y";
    for (size_t i = 0; i < out.data.size() / 4; ++i) out.mutable_data_as<int32_t>()[i] *= 2;
    return std::vector<Tensor>{std::move(out)};
  }
  std::vector<int64_t> batch_rows() {
    absl::MutexLock lock(&mu_);
    return batch_rows_;
  }
  void FailNext() {
    absl::MutexLock lock(&mu_);
    fail_next_ = true;
  }

 private:
  absl::Mutex mu_;
  std::vector<int64_t> batch_rows_ ABSL_GUARDED_BY(mu_);
  bool fail_next_ ABSL_GUARDED_BY(mu_) = false;
};

struct Result {
  absl::Status status;
  std::vector<int32_t> values;
  TaskTiming timing;
  bool called = false;
};

class DynamicBatcherTest : public testing::Test {
 protected:
  std::unique_ptr<DynamicBatcher> Make(BatcherOptions options) {
    options.clock = &clock_;
    auto batcher = DynamicBatcher::Create(
        std::move(options), [this](std::vector<Tensor>& in) { return backend_.Execute(in); });
    EXPECT_TRUE(batcher.ok()) << batcher.status();
    return std::move(*batcher);
  }

  // A request whose transport thread serves other clients too.
  static std::shared_ptr<const RequestContext> OffCaller() {
    auto context = std::make_shared<RequestContext>();
    context->may_run_inline = false;
    return context;
  }

  // Enqueues a request of `rows` rows whose values start at `first`.
  absl::Status Submit(DynamicBatcher& b, int64_t rows, int32_t first, Result* result,
                      std::shared_ptr<const RequestContext> context = nullptr) {
    auto task = std::make_unique<BatchTask>();
    Tensor t;
    t.name = "x";
    t.dtype = DataType::kInt32;
    t.shape = {rows, 1};
    t.data.resize(rows * 4);
    for (int64_t i = 0; i < rows; ++i) t.mutable_data_as<int32_t>()[i] = first + static_cast<int32_t>(i);
    task->inputs.push_back(std::move(t));
    task->rows = rows;
    task->context = std::move(context);
    task->done = [result](absl::StatusOr<std::vector<Tensor>> out, const TaskTiming& timing) {
      result->called = true;
      result->timing = timing;
      result->status = out.status();
      if (out.ok()) {
        const Tensor& y = (*out)[0];
        result->values.assign(y.data_as<int32_t>(), y.data_as<int32_t>() + y.data.size() / 4);
      }
    };
    return b.Enqueue(task);
  }

  FakeClock clock_;
  FakeBackend backend_;
};

TEST_F(DynamicBatcherTest, CreateRejectsBadOptions) {
  BatcherOptions o;
  o.max_batch_size = 0;
  EXPECT_THAT(std::string(DynamicBatcher::Create(o, [](std::vector<Tensor>&) {
                            return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{});
                          }).status().message()),
              testing::HasSubstr("max_batch_size must be at least 1; was 0"));
  o = BatcherOptions();
  o.max_batch_size = 4;
  o.preferred_batch_sizes = {8};
  EXPECT_FALSE(DynamicBatcher::Create(o, [](std::vector<Tensor>&) {
                 return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{});
               }).ok());
}

TEST_F(DynamicBatcherTest, WaitsAtMostTheQueueDelay) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 500;
  auto b = Make(o);
  Result r1, r2;
  ASSERT_TRUE(Submit(*b, 1, 10, &r1).ok());
  clock_.AdvanceMicros(200);
  ASSERT_TRUE(Submit(*b, 1, 20, &r2).ok());
  EXPECT_FALSE(b->RunOnce());  // the oldest has waited 200 of 500 µs
  clock_.AdvanceMicros(299);
  EXPECT_FALSE(b->RunOnce());
  clock_.AdvanceMicros(1);  // exactly 500 µs for the oldest
  EXPECT_TRUE(b->RunOnce());
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(2));
  EXPECT_THAT(r1.values, ElementsAre(20));
  EXPECT_THAT(r2.values, ElementsAre(40));
  EXPECT_EQ(r1.timing.start_ns - r1.timing.enqueue_ns, 500'000);
  EXPECT_EQ(r2.timing.start_ns - r2.timing.enqueue_ns, 300'000);
  EXPECT_EQ(r1.timing.batch_rows, 2);
}

TEST_F(DynamicBatcherTest, NeverExceedsMaxBatchSizeAndSplitsRowsBack) {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay_us = 100;
  auto b = Make(o);
  Result r[4];
  ASSERT_TRUE(Submit(*b, 2, 0, &r[0]).ok());
  ASSERT_TRUE(Submit(*b, 1, 100, &r[1]).ok());
  ASSERT_TRUE(Submit(*b, 2, 200, &r[2]).ok());  // would make 5
  ASSERT_TRUE(Submit(*b, 1, 300, &r[3]).ok());
  EXPECT_TRUE(b->RunOnce());  // 2 + 1 cannot grow without passing 4: runs at once
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(3));
  EXPECT_FALSE(b->RunOnce());  // 2 + 1 = 3 again, waiting for the delay
  clock_.AdvanceMicros(100);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(3, 3));
  EXPECT_THAT(r[0].values, ElementsAre(0, 2));
  EXPECT_THAT(r[1].values, ElementsAre(200));
  EXPECT_THAT(r[2].values, ElementsAre(400, 402));
  EXPECT_THAT(r[3].values, ElementsAre(600));
}

// A variable dimension past the batch one: rows of different widths never share a batch,
// so each width runs on its own, oldest first, without waiting for the delay.
TEST_F(DynamicBatcherTest, RowsOfDifferentWidthsDoNotShareABatch) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 100;
  auto b = Make(o);
  Result narrow1, wide, narrow2;
  ASSERT_TRUE(Submit(*b, 1, 1, &narrow1).ok());
  auto task = std::make_unique<BatchTask>();
  Tensor t;
  t.name = "x";
  t.dtype = DataType::kInt32;
  t.shape = {1, 2};
  t.data.resize(8);
  t.mutable_data_as<int32_t>()[0] = 5;
  t.mutable_data_as<int32_t>()[1] = 6;
  task->inputs.push_back(std::move(t));
  task->done = [&wide](absl::StatusOr<std::vector<Tensor>> out, const TaskTiming&) {
    wide.called = true;
    wide.status = out.status();
    if (out.ok()) wide.values.assign((*out)[0].data_as<int32_t>(), (*out)[0].data_as<int32_t>() + 2);
  };
  ASSERT_TRUE(b->Enqueue(task).ok());
  ASSERT_TRUE(Submit(*b, 1, 3, &narrow2).ok());
  EXPECT_TRUE(b->RunOnce());  // the first narrow row: the wide one ends its batch
  EXPECT_TRUE(b->RunOnce());  // the wide row alone: the narrow one after it ends it
  EXPECT_FALSE(b->RunOnce()); // the last narrow row waits for company, as usual
  clock_.AdvanceMicros(100);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(1, 1, 1));
  EXPECT_THAT(narrow1.values, ElementsAre(2));
  EXPECT_THAT(wide.values, ElementsAre(10, 12));
  EXPECT_THAT(narrow2.values, ElementsAre(6));
}

TEST_F(DynamicBatcherTest, PreferredSizeRunsWithoutWaiting) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 1'000'000;
  o.preferred_batch_sizes = {4};
  auto b = Make(o);
  Result r[5];
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Submit(*b, 1, i, &r[i]).ok());
  EXPECT_FALSE(b->RunOnce());
  ASSERT_TRUE(Submit(*b, 1, 3, &r[3]).ok());
  ASSERT_TRUE(Submit(*b, 1, 4, &r[4]).ok());
  EXPECT_TRUE(b->RunOnce());  // the first four make a preferred batch; the fifth waits
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(4));
  EXPECT_FALSE(r[4].called);
  EXPECT_EQ(b->QueueDepth(), 1u);
}

TEST_F(DynamicBatcherTest, FullQueueRefusesAtOnce) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 1000;
  o.max_queue_size = 2;
  auto b = Make(o);
  Result r[3];
  ASSERT_TRUE(Submit(*b, 1, 0, &r[0]).ok());
  ASSERT_TRUE(Submit(*b, 1, 1, &r[1]).ok());
  const absl::Status full = Submit(*b, 1, 2, &r[2]);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(r[2].called);  // the task stayed with the caller
  clock_.AdvanceMicros(1000);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_TRUE(Submit(*b, 1, 2, &r[2]).ok());  // room again
}

TEST_F(DynamicBatcherTest, BackendErrorFailsOnlyItsBatch) {
  BatcherOptions o;
  o.max_batch_size = 2;
  o.max_queue_delay_us = 0;
  auto b = Make(o);
  Result r[3];
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Submit(*b, 1, i, &r[i]).ok());
  backend_.FailNext();
  EXPECT_TRUE(b->RunOnce());
  EXPECT_TRUE(b->RunOnce());
  EXPECT_EQ(r[0].status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r[1].status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(r[2].status.ok());
  EXPECT_THAT(r[2].values, ElementsAre(4));
}

TEST_F(DynamicBatcherTest, CancelledRequestIsDroppedBeforeCompute) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 100;
  auto b = Make(o);
  auto gone = std::make_shared<RequestContext>();
  Result r1, r2;
  ASSERT_TRUE(Submit(*b, 1, 1, &r1, gone).ok());
  ASSERT_TRUE(Submit(*b, 1, 2, &r2).ok());
  gone->Cancel();
  clock_.AdvanceMicros(100);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_EQ(r1.status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(r1.values.empty());
  EXPECT_THAT(r2.values, ElementsAre(4));
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(1));  // only the live request ran
}

TEST_F(DynamicBatcherTest, ExpiredRequestIsDroppedBeforeCompute) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 100;
  auto b = Make(o);
  auto hurried = std::make_shared<RequestContext>();
  hurried->deadline_ns = clock_.NowNanos() + 50'000;  // 50 us: before the batch is due
  auto patient = std::make_shared<RequestContext>();
  patient->deadline_ns = clock_.NowNanos() + 100'000;  // exactly when it is due: too late
  auto relaxed = std::make_shared<RequestContext>();
  relaxed->deadline_ns = clock_.NowNanos() + 100'001;
  Result r1, r2, r3, r4;
  ASSERT_TRUE(Submit(*b, 1, 1, &r1, hurried).ok());
  ASSERT_TRUE(Submit(*b, 1, 2, &r2, patient).ok());
  ASSERT_TRUE(Submit(*b, 1, 3, &r3, relaxed).ok());
  ASSERT_TRUE(Submit(*b, 1, 4, &r4).ok());  // no context: no deadline
  clock_.AdvanceMicros(100);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_EQ(r1.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r2.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(r1.values.empty());
  EXPECT_THAT(r3.values, ElementsAre(6));
  EXPECT_THAT(r4.values, ElementsAre(8));
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(2));  // only the live requests ran
}

TEST_F(DynamicBatcherTest, ARequestPastItsDeadlineIsRefusedAtEnqueue) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.run_inline_when_idle = true;
  auto b = Make(o);
  auto late = std::make_shared<RequestContext>();
  late->deadline_ns = clock_.NowNanos();
  Result r;
  EXPECT_EQ(Submit(*b, 1, 1, &r, late).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(r.called);
  EXPECT_TRUE(backend_.batch_rows().empty());
  EXPECT_EQ(b->QueueDepth(), 0u);
}

TEST_F(DynamicBatcherTest, ACancelledRequestIsRefusedAtEnqueueEvenByAnIdleModel) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.run_inline_when_idle = true;  // idle: it would otherwise run inline at once
  auto b = Make(o);
  auto gone = std::make_shared<RequestContext>();
  gone->Cancel();
  Result r;
  EXPECT_EQ(Submit(*b, 1, 1, &r, gone).code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(r.called);
  EXPECT_TRUE(backend_.batch_rows().empty());
  EXPECT_EQ(b->QueueDepth(), 0u);
}

TEST_F(DynamicBatcherTest, ShutdownDrainsQueuedWorkAndRefusesNew) {
  BatcherOptions o;
  o.max_batch_size = 2;
  o.max_queue_delay_us = 10'000'000;  // far away: only the flush can run these
  auto b = Make(o);
  Result r[5];
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Submit(*b, 1, i, &r[i]).ok());
  b->Shutdown();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(r[i].status.ok()) << i;
    EXPECT_THAT(r[i].values, ElementsAre(2 * i));
  }
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(2, 2, 1));
  Result late;
  EXPECT_EQ(Submit(*b, 1, 9, &late).code(), absl::StatusCode::kUnavailable);
}

TEST_F(DynamicBatcherTest, WorkerThreadsDrainOnShutdown) {
  // Real worker threads, but no sleeps: the delay is far away, so only Shutdown's flush
  // can release the batch, and Shutdown returns only after the workers ran it.
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 10'000'000;
  o.num_workers = 2;
  std::atomic<int> started{0};
  o.on_worker_start = [&started] { started.fetch_add(1); };
  auto b = Make(o);
  b->Start();
  Result r[6];
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Submit(*b, 1, i, &r[i]).ok());
  b->Shutdown();
  EXPECT_EQ(started.load(), 2);
  int rows = 0;
  for (int64_t n : backend_.batch_rows()) rows += static_cast<int>(n);
  EXPECT_EQ(rows, 6);
  for (int i = 0; i < 6; ++i) EXPECT_THAT(r[i].values, ElementsAre(2 * i)) << i;
}

TEST_F(DynamicBatcherTest, WorkersCarryTheirNameAndInlineBatchesKeepTheCallers) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 0;
  o.worker_thread_name = "w:some_model:7";
  o.run_inline_when_idle = true;
  struct {
    absl::Mutex mu;
    std::vector<std::string> names ABSL_GUARDED_BY(mu);  // the thread name at each batch start
  } seen;
  o.on_worker_start = [&] {
    absl::MutexLock lock(&seen.mu);
    seen.names.push_back(CurrentThreadName());
  };
  auto b = Make(o);
  const std::string caller = CurrentThreadName();
  ASSERT_NE(caller, "w:some_model:7");
  Result inline_result;
  ASSERT_TRUE(Submit(*b, 1, 1, &inline_result).ok());  // idle and no Start(): inline
  ASSERT_TRUE(inline_result.called);
  EXPECT_EQ(CurrentThreadName(), caller);
  b->Start();
  Result queued;
  ASSERT_TRUE(Submit(*b, 1, 2, &queued, OffCaller()).ok());
  b->Shutdown();
  EXPECT_THAT(queued.values, ElementsAre(4));
  absl::MutexLock lock(&seen.mu);
  // One call on the caller for the inline batch, one as the worker started.
  EXPECT_THAT(seen.names, ElementsAre(caller, "w:some_model:7"));
}

TEST_F(DynamicBatcherTest, IdleBatcherRunsARequestInlineOnTheCaller) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 0;
  o.run_inline_when_idle = true;
  int prepared = 0;
  o.on_worker_start = [&prepared] { ++prepared; };
  auto b = Make(o);  // no Start(): only the caller can run it
  Result r;
  ASSERT_TRUE(Submit(*b, 2, 5, &r).ok());
  EXPECT_TRUE(r.called);  // before Enqueue returned
  EXPECT_THAT(r.values, ElementsAre(10, 12));
  EXPECT_EQ(prepared, 1);
  EXPECT_EQ(b->QueueDepth(), 0u);
}

TEST_F(DynamicBatcherTest, ATaskThatMayNotRunInlineQueuesAtAnIdleModel) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 0;
  o.run_inline_when_idle = true;
  auto b = Make(o);  // no Start(): only RunOnce computes
  Result r;
  ASSERT_TRUE(Submit(*b, 1, 21, &r, OffCaller()).ok());
  EXPECT_FALSE(r.called);  // the caller has other clients to serve: queued
  EXPECT_EQ(b->QueueDepth(), 1u);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_THAT(r.values, ElementsAre(42));
  // The same model still runs the next ordinary request inline.
  Result next;
  ASSERT_TRUE(Submit(*b, 1, 3, &next).ok());
  EXPECT_TRUE(next.called);
}

TEST_F(DynamicBatcherTest, InlineOnlyWhenTheRuleWouldRunAtOnce) {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 500;
  o.preferred_batch_sizes = {4};
  o.run_inline_when_idle = true;
  auto b = Make(o);
  Result waits, full;
  ASSERT_TRUE(Submit(*b, 1, 1, &waits).ok());
  EXPECT_FALSE(waits.called);  // it must wait up to the delay for company
  EXPECT_EQ(b->QueueDepth(), 1u);
  // A preferred-size request would run at once, but the queue is not empty: it joins.
  ASSERT_TRUE(Submit(*b, 4, 10, &full).ok());
  EXPECT_FALSE(full.called);
  clock_.AdvanceMicros(500);
  EXPECT_TRUE(b->RunOnce());
  EXPECT_THAT(backend_.batch_rows(), ElementsAre(5));
}

TEST_F(DynamicBatcherTest, AfterABusySpellWithArrivalsTheNextIdleRequestQueues) {
  // A runs inline; B arrives while A computes (from inside the model, as another I/O
  // thread would), so the model is under load: B queues, and so does C, the next request
  // to find the model idle. Nothing arrives while C computes, so D runs inline again.
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 0;
  o.run_inline_when_idle = true;
  o.clock = &clock_;
  DynamicBatcher* self = nullptr;
  Result a, b, c, d;
  std::vector<int64_t> batches;
  auto created = DynamicBatcher::Create(o, [&](std::vector<Tensor>& in) {
    batches.push_back(in[0].shape[0]);
    if (batches.size() == 1) {
      EXPECT_TRUE(Submit(*self, 1, 2, &b).ok());
    }
    return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{in[0]});
  });
  ASSERT_TRUE(created.ok());
  self = created->get();  // no Start(): nothing runs unless a caller runs it
  ASSERT_TRUE(Submit(*self, 1, 1, &a).ok());
  EXPECT_TRUE(a.called);   // inline
  EXPECT_FALSE(b.called);  // arrived while A ran: queued
  EXPECT_TRUE(self->RunOnce());
  EXPECT_TRUE(b.called);
  ASSERT_TRUE(Submit(*self, 1, 3, &c).ok());
  EXPECT_FALSE(c.called);  // the model is idle, but its last spell was contended
  EXPECT_EQ(self->QueueDepth(), 1u);
  EXPECT_TRUE(self->RunOnce());
  EXPECT_TRUE(c.called);
  ASSERT_TRUE(Submit(*self, 1, 4, &d).ok());
  EXPECT_TRUE(d.called);  // C's spell was quiet: inline again
  EXPECT_THAT(d.values, ElementsAre(4));
  EXPECT_THAT(batches, ElementsAre(1, 1, 1, 1));
}

class InlineTest : public DynamicBatcherTest, public testing::WithParamInterface<int> {};

TEST_P(InlineTest, OnlyAnIdleModelRunsInline) {
  // While a request runs inline on one caller, a second caller's request does not run on
  // that caller too (even with a second worker slot free): it queues for a worker. With
  // one worker, the worker waits for the inline batch to give the slot back: never more
  // batches at once than workers.
  // The batches' side of the test; its waits are conditions absl::Mutex re-checks
  // whenever the lock is released, so nothing needs signalling.
  struct Runs {
    bool Released() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return release; }
    bool FirstStarted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return ran_on.size() == 1; }
    bool SecondStarted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return ran_on.size() == 2; }

    absl::Mutex mu;
    bool release ABSL_GUARDED_BY(mu) = false;
    int running ABSL_GUARDED_BY(mu) = 0;
    int most ABSL_GUARDED_BY(mu) = 0;
    std::vector<std::thread::id> ran_on ABSL_GUARDED_BY(mu);
  } runs;
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 0;
  o.num_workers = GetParam();
  o.run_inline_when_idle = true;
  o.clock = &clock_;
  auto created = DynamicBatcher::Create(o, [&](std::vector<Tensor>& in) {
    absl::MutexLock lock(&runs.mu);
    runs.most = std::max(runs.most, ++runs.running);
    runs.ran_on.push_back(std::this_thread::get_id());
    if (runs.ran_on.size() == 1) {
      runs.mu.Await(absl::Condition(&runs, &Runs::Released));  // hold the first
    }
    --runs.running;
    return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{in[0]});
  });
  ASSERT_TRUE(created.ok());
  DynamicBatcher& b = **created;
  b.Start();
  Result first, second;
  std::thread::id caller_id;
  std::thread caller([&] {
    caller_id = std::this_thread::get_id();
    ASSERT_TRUE(Submit(b, 1, 1, &first).ok());
  });
  { absl::MutexLock lock(&runs.mu, absl::Condition(&runs, &Runs::FirstStarted)); }
  ASSERT_TRUE(Submit(b, 1, 2, &second).ok());
  if (GetParam() == 1) {
    EXPECT_EQ(b.QueueDepth(), 1u);  // the only slot is busy
  } else {
    // The free worker takes it while the first is still held.
    absl::MutexLock lock(&runs.mu, absl::Condition(&runs, &Runs::SecondStarted));
  }
  {
    absl::MutexLock lock(&runs.mu);
    runs.release = true;
  }
  caller.join();
  b.Shutdown();
  EXPECT_TRUE(first.called);
  EXPECT_TRUE(second.called);
  EXPECT_THAT(second.values, ElementsAre(2));
  absl::MutexLock lock(&runs.mu);
  ASSERT_EQ(runs.ran_on.size(), 2u);
  EXPECT_EQ(runs.ran_on[0], caller_id);                   // inline on its caller
  EXPECT_NE(runs.ran_on[1], std::this_thread::get_id());  // not inline: on a worker
  EXPECT_NE(runs.ran_on[1], caller_id);
  EXPECT_EQ(runs.most, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Workers, InlineTest, testing::Values(1, 2));

// An asynchronous model: it keeps each batch until the test answers it, from the test's
// own thread, as a composite's members answer from theirs.
class HeldBatches {
 public:
  AsyncBatchFn Fn() {
    return [this](std::vector<Tensor> inputs,
                  std::vector<std::shared_ptr<const RequestContext>> contexts,
                  std::function<void(absl::StatusOr<std::vector<Tensor>>)> done) {
      absl::MutexLock lock(&mu_);
      held_.push_back({std::move(inputs), std::move(contexts), std::move(done)});
    };
  }
  // Waits until `n` batches have been dispatched in all.
  void AwaitDispatched(size_t n) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.Await(absl::Condition(this, &HeldBatches::Reached));
  }
  std::vector<std::shared_ptr<const RequestContext>> contexts(size_t i) {
    absl::MutexLock lock(&mu_);
    return held_[i].contexts;
  }
  // Answers batch `i` with its input tripled, or with `error`.
  void Answer(size_t i, absl::Status error = absl::OkStatus()) {
    std::function<void(absl::StatusOr<std::vector<Tensor>>)> done;
    Tensor out;
    {
      absl::MutexLock lock(&mu_);
      done = held_[i].done;
      out = held_[i].inputs[0];
    }
    if (!error.ok()) return done(error);
    out.name = "y";
    for (size_t v = 0; v < out.data.size() / 4; ++v) out.mutable_data_as<int32_t>()[v] *= 3;
    done(std::vector<Tensor>{std::move(out)});
  }

 private:
  struct Held {
    std::vector<Tensor> inputs;
    std::vector<std::shared_ptr<const RequestContext>> contexts;
    std::function<void(absl::StatusOr<std::vector<Tensor>>)> done;
  };
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= wanted_; }

  absl::Mutex mu_;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

class AsyncBatcherTest : public DynamicBatcherTest {
 protected:
  std::unique_ptr<DynamicBatcher> MakeAsync(BatcherOptions options) {
    options.clock = &clock_;
    auto batcher = DynamicBatcher::CreateAsync(std::move(options), held_.Fn());
    EXPECT_TRUE(batcher.ok()) << batcher.status();
    return std::move(*batcher);
  }
  HeldBatches held_;
};

TEST_F(AsyncBatcherTest, CreateAsyncChecksItsOptionsAndFunction) {
  BatcherOptions o;
  o.num_workers = 0;
  EXPECT_THAT(std::string(DynamicBatcher::CreateAsync(o, held_.Fn()).status().message()),
              testing::HasSubstr("workers must be at least 1; was 0"));
  EXPECT_FALSE(DynamicBatcher::CreateAsync(BatcherOptions(), nullptr).ok());
}

TEST_F(AsyncBatcherTest, ABatchHoldsItsSlotUntilAnsweredButNoThread) {
  BatcherOptions o;
  o.max_batch_size = 1;
  o.max_queue_delay_us = 0;
  o.num_workers = 2;  // batches in flight
  auto b = MakeAsync(o);
  Result r[3];
  std::shared_ptr<const RequestContext> contexts[3];
  for (int i = 0; i < 3; ++i) {
    contexts[i] = std::make_shared<RequestContext>();
    ASSERT_TRUE(Submit(*b, 1, 10 * i, &r[i], contexts[i]).ok());
  }
  b->Start();
  // One thread dispatched two batches without waiting for either: both slots are taken,
  // so the third stays queued until an answer gives one back.
  held_.AwaitDispatched(2);
  EXPECT_EQ(b->QueueDepth(), 1u);
  EXPECT_FALSE(r[0].called);
  EXPECT_EQ(held_.contexts(0)[0], contexts[0]);
  EXPECT_EQ(held_.contexts(1)[0], contexts[1]);
  held_.Answer(1);  // out of order, from this thread
  EXPECT_TRUE(r[1].called);
  EXPECT_THAT(r[1].values, ElementsAre(30));
  held_.AwaitDispatched(3);
  EXPECT_EQ(held_.contexts(2)[0], contexts[2]);
  held_.Answer(0);
  held_.Answer(2, absl::InternalError("member failed"));
  EXPECT_THAT(r[0].values, ElementsAre(0));
  EXPECT_EQ(r[2].status.code(), absl::StatusCode::kInternal);
  b->Shutdown();
}

TEST_F(AsyncBatcherTest, ShutdownWaitsForBatchesInFlight) {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay_us = 0;
  auto b = MakeAsync(o);
  b->Start();
  Result r;
  ASSERT_TRUE(Submit(*b, 2, 5, &r).ok());
  held_.AwaitDispatched(1);
  std::atomic<bool> returned{false};
  std::thread stopper([&] {
    b->Shutdown();
    returned = true;
  });
  // Give Shutdown time to get past joining the dispatcher; it must still be waiting.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());
  held_.Answer(0);
  stopper.join();
  EXPECT_TRUE(returned.load());
  EXPECT_THAT(r.values, ElementsAre(15, 18));
  EXPECT_GT(r.timing.end_ns, 0);
}

TEST_F(AsyncBatcherTest, AnAnswerBeforeDispatchReturnsIsFine) {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue_delay_us = 0;
  int calls = 0;
  auto created = DynamicBatcher::CreateAsync(
      [&] {
        o.clock = &clock_;
        return o;
      }(),
      [this, &calls](std::vector<Tensor> inputs, std::vector<std::shared_ptr<const RequestContext>>,
                     std::function<void(absl::StatusOr<std::vector<Tensor>>)> done) {
        ++calls;
        done(backend_.Execute(inputs));
      });
  ASSERT_TRUE(created.ok());
  Result r[2];
  ASSERT_TRUE(Submit(**created, 1, 1, &r[0]).ok());
  ASSERT_TRUE(Submit(**created, 1, 2, &r[1]).ok());
  EXPECT_TRUE((*created)->RunOnce());
  EXPECT_THAT(r[0].values, ElementsAre(2));
  EXPECT_THAT(r[1].values, ElementsAre(4));
  EXPECT_EQ(calls, 1);
  (*created)->Shutdown();  // nothing in flight: returns at once
}

}  // namespace
}  // namespace ferry
