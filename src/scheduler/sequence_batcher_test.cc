#include "scheduler/sequence_batcher.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

constexpr int32_t kFail = -999;  // an input the model fails on

Tensor Int32(const std::string& name, std::vector<int32_t> values) {
  Tensor t;
  t.name = name;
  t.dtype = DataType::kInt32;
  t.shape = {static_cast<int64_t>(values.size()), 1};
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

struct Answer {
  bool called = false;
  absl::Status status;
  int32_t value = 0;
  size_t outputs = 0;
};

class SequenceBatcherTest : public testing::Test {
 protected:
  void SetUp() override { Build(/*max_sequences=*/4); }

  // The accumulator: OUTPUT = INPUT + STATE, STATE_OUT = OUTPUT; fails a batch holding kFail.
  void Build(int64_t max_sequences) {
    sequences_.reset();
    batcher_.reset();
    BatcherOptions o;
    o.max_batch_size = 8;
    o.max_queue_delay_us = 0;
    o.clock = &clock_;
    auto batcher = DynamicBatcher::Create(o, [this](std::vector<Tensor>& in) {
      absl::MutexLock lock(&mu_);
      batches_.push_back(in[0].shape[0]);
      EXPECT_EQ(in.size(), 2u);
      EXPECT_EQ(in[1].name, "STATE_IN");
      Tensor out = in[0];
      out.name = "OUTPUT";
      for (int64_t i = 0; i < out.shape[0]; ++i) {
        if (in[0].data_as<int32_t>()[i] == kFail) {
          return absl::StatusOr<std::vector<Tensor>>(absl::InternalError("model failed"));
        }
        out.mutable_data_as<int32_t>()[i] += in[1].data_as<int32_t>()[i];
      }
      Tensor state = out;
      state.name = "STATE_OUT";
      return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{out, state});
    });
    ASSERT_TRUE(batcher.ok());
    batcher_ = std::move(*batcher);
    SequenceBatcherOptions so;
    so.max_sequences = max_sequences;
    so.idle_timeout_ms = 1000;
    so.initial_state = Int32("STATE_IN", {0});
    so.model_name = "acc";
    so.clock = &clock_;
    auto sequences = SequenceBatcher::Create(so, batcher_.get());
    ASSERT_TRUE(sequences.ok()) << sequences.status();
    sequences_ = std::move(*sequences);
  }

  absl::Status Send(SequenceControl control, int32_t value, Answer* answer, int64_t rows = 1) {
    auto task = std::make_unique<BatchTask>();
    task->inputs.push_back(Int32("INPUT", std::vector<int32_t>(rows, value)));
    task->rows = rows;
    task->done = [answer](absl::StatusOr<std::vector<Tensor>> out, const TaskTiming&) {
      answer->called = true;
      answer->status = out.status();
      if (out.ok()) {
        answer->outputs = out->size();
        answer->value = (*out)[0].data_as<int32_t>()[0];
      }
    };
    return sequences_->Enqueue(control, task);
  }
  static SequenceControl Seq(uint64_t id, bool start = false, bool end = false) {
    SequenceControl c;
    c.id = id;
    c.start = start;
    c.end = end;
    return c;
  }
  std::vector<int64_t> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  // Runs batches until none is due.
  void RunAll() {
    while (batcher_->RunOnce()) {
    }
  }

  FakeClock clock_;
  absl::Mutex mu_;
  std::vector<int64_t> batches_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<SequenceBatcher> sequences_;
};

TEST_F(SequenceBatcherTest, OneSequenceRunsInOrderOneAtATimeAndAccumulates) {
  Answer a[3];
  ASSERT_TRUE(Send(Seq(7, true), 5, &a[0]).ok());
  ASSERT_TRUE(Send(Seq(7), 3, &a[1]).ok());
  ASSERT_TRUE(Send(Seq(7, false, true), 2, &a[2]).ok());
  EXPECT_EQ(batcher_->QueueDepth(), 1u);  // the others wait for the first
  RunAll();
  EXPECT_THAT(batches(), ElementsAre(1, 1, 1));
  EXPECT_EQ(a[0].value, 5);
  EXPECT_EQ(a[1].value, 8);
  EXPECT_EQ(a[2].value, 10);
  EXPECT_EQ(a[0].outputs, 1u);  // the state output stays with the batcher
  EXPECT_EQ(sequences_->LiveSequences(), 0);  // ended and freed
}

TEST_F(SequenceBatcherTest, InterleavedSequencesKeepTheirOwnStateAndBatchTogether) {
  Answer a1, b1, c1, a2, b2, c2;
  ASSERT_TRUE(Send(Seq(1, true), 1, &a1).ok());
  ASSERT_TRUE(Send(Seq(2, true), 100, &b1).ok());
  ASSERT_TRUE(Send(Seq(1), 2, &a2).ok());
  ASSERT_TRUE(Send(Seq(3, true), -50, &c1).ok());
  ASSERT_TRUE(Send(Seq(2), 200, &b2).ok());
  ASSERT_TRUE(Send(Seq(3), -5, &c2).ok());
  EXPECT_TRUE(batcher_->RunOnce());  // the three first requests, one batch
  RunAll();
  EXPECT_THAT(batches(), ElementsAre(3, 3));
  EXPECT_EQ(a1.value, 1);
  EXPECT_EQ(b1.value, 100);
  EXPECT_EQ(c1.value, -50);
  EXPECT_EQ(a2.value, 3);
  EXPECT_EQ(b2.value, 300);
  EXPECT_EQ(c2.value, -55);
  EXPECT_EQ(sequences_->LiveSequences(), 3);
}

TEST_F(SequenceBatcherTest, StringAndNumericIdsAreDifferentSequences) {
  SequenceControl text;
  text.string_id = "7";
  text.start = true;
  Answer n1, s1, n2, s2;
  ASSERT_TRUE(Send(Seq(7, true), 1, &n1).ok());
  ASSERT_TRUE(Send(text, 10, &s1).ok());
  RunAll();
  text.start = false;
  ASSERT_TRUE(Send(Seq(7), 1, &n2).ok());
  ASSERT_TRUE(Send(text, 10, &s2).ok());
  RunAll();
  EXPECT_EQ(n2.value, 2);
  EXPECT_EQ(s2.value, 20);
}

TEST_F(SequenceBatcherTest, UnknownAndEndedSequencesAreRefusedNamingWhy) {
  Answer a;
  absl::Status s = Send(Seq(9), 1, &a);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("sequence 9 is not live on model 'acc': it was never started"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("sequence_start"));
  EXPECT_FALSE(a.called);
  Answer b, c;
  ASSERT_TRUE(Send(Seq(9, true, true), 1, &b).ok());
  // Admitted behind the ending request: refused at once, before it even runs.
  s = Send(Seq(9), 1, &c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("it ended"));
  RunAll();
  s = Send(Seq(9), 1, &c);
  EXPECT_THAT(std::string(s.message()), HasSubstr("never started"));  // freed: forgotten
  EXPECT_FALSE(c.called);
}

TEST_F(SequenceBatcherTest, IdleSequencesExpireOnTheClock) {
  Answer a1, a2, a3, a4;
  ASSERT_TRUE(Send(Seq(1, true), 4, &a1).ok());
  RunAll();
  clock_.AdvanceMicros(999'999);  // 1 µs short of the 1000 ms timeout
  ASSERT_TRUE(Send(Seq(1), 1, &a2).ok());
  RunAll();
  EXPECT_EQ(a2.value, 5);
  clock_.AdvanceMicros(1'000'000);
  EXPECT_EQ(sequences_->LiveSequences(), 0);
  absl::Status s = Send(Seq(1), 1, &a3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expired after 1000 ms"));
  ASSERT_TRUE(Send(Seq(1, true), 1, &a4).ok());  // starts afresh
  RunAll();
  EXPECT_EQ(a4.value, 1);
}

TEST_F(SequenceBatcherTest, ABusySequenceNeverExpires) {
  Answer a1, a2;
  ASSERT_TRUE(Send(Seq(1, true), 4, &a1).ok());
  clock_.AdvanceMicros(5'000'000);  // queued far longer than the idle timeout
  ASSERT_TRUE(Send(Seq(1), 1, &a2).ok());
  RunAll();
  EXPECT_EQ(a2.value, 5);
}

TEST_F(SequenceBatcherTest, MaxSequencesRefusesANewOneUntilOneEndsOrExpires) {
  Build(/*max_sequences=*/2);
  Answer a, b, c, d, e;
  ASSERT_TRUE(Send(Seq(1, true), 1, &a).ok());
  ASSERT_TRUE(Send(Seq(2, true), 1, &b).ok());
  RunAll();
  absl::Status s = Send(Seq(3, true), 1, &c);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("maximum of 2 live sequences"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_sequences"));
  // Restarting a live one needs no room.
  ASSERT_TRUE(Send(Seq(2, true), 7, &d).ok());
  ASSERT_TRUE(Send(Seq(1, false, true), 1, &e).ok());
  RunAll();
  EXPECT_EQ(d.value, 7);
  ASSERT_TRUE(Send(Seq(3, true), 1, &c).ok());  // sequence 1 ended: room again
  RunAll();
  EXPECT_EQ(Send(Seq(4, true), 1, &c).code(), absl::StatusCode::kFailedPrecondition);
  clock_.AdvanceMicros(1'000'000);  // 2 and 3 idle out
  Answer f;
  ASSERT_TRUE(Send(Seq(4, true), 1, &f).ok());
  RunAll();
  EXPECT_TRUE(f.status.ok());
  EXPECT_EQ(sequences_->LiveSequences(), 1);
}

TEST_F(SequenceBatcherTest, StartOnALiveSequenceRestartsItInOrder) {
  Answer a[4];
  ASSERT_TRUE(Send(Seq(5, true), 1, &a[0]).ok());
  ASSERT_TRUE(Send(Seq(5), 2, &a[1]).ok());
  ASSERT_TRUE(Send(Seq(5, true), 10, &a[2]).ok());  // queued behind the first two
  ASSERT_TRUE(Send(Seq(5), 5, &a[3]).ok());
  RunAll();
  EXPECT_EQ(a[0].value, 1);
  EXPECT_EQ(a[1].value, 3);
  EXPECT_EQ(a[2].value, 10);
  EXPECT_EQ(a[3].value, 15);
}

TEST_F(SequenceBatcherTest, AFailedRequestLeavesTheStateAsItWas) {
  Answer a1, a2, a3;
  ASSERT_TRUE(Send(Seq(1, true), 5, &a1).ok());
  ASSERT_TRUE(Send(Seq(1), kFail, &a2).ok());
  ASSERT_TRUE(Send(Seq(1), 1, &a3).ok());
  RunAll();
  EXPECT_EQ(a1.value, 5);
  EXPECT_EQ(a2.status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(a3.value, 6);
}

TEST_F(SequenceBatcherTest, RequestsWithoutAnIdOrOfSeveralRowsAreRefused) {
  Answer a;
  absl::Status s = Send(SequenceControl(), 1, &a);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("model 'acc' is stateful"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("sequence_id"));
  s = Send(Seq(1, true), 1, &a, /*rows=*/2);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("one row"));
  EXPECT_FALSE(a.called);
  EXPECT_EQ(sequences_->LiveSequences(), 0);
}

TEST_F(SequenceBatcherTest, ShutdownFailsTheRequestsStillWaiting) {
  Answer a1, a2, a3;
  ASSERT_TRUE(Send(Seq(1, true), 1, &a1).ok());
  ASSERT_TRUE(Send(Seq(1), 2, &a2).ok());
  ASSERT_TRUE(Send(Seq(1), 3, &a3).ok());
  batcher_->Shutdown();  // runs the queued first one; the others are refused in turn
  EXPECT_EQ(a1.value, 1);
  EXPECT_EQ(a2.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a3.status.code(), absl::StatusCode::kUnavailable);
}

TEST_F(SequenceBatcherTest, CreateChecksItsOptions) {
  SequenceBatcherOptions o;
  o.initial_state = Int32("s", {0});
  o.max_sequences = 0;
  EXPECT_THAT(std::string(SequenceBatcher::Create(o, batcher_.get()).status().message()),
              HasSubstr("max_sequences must be at least 1; was 0"));
  o.max_sequences = 1;
  o.idle_timeout_ms = 0;
  EXPECT_FALSE(SequenceBatcher::Create(o, batcher_.get()).ok());
  o.idle_timeout_ms = 1;
  o.initial_state = Int32("s", {0, 0});
  EXPECT_THAT(std::string(SequenceBatcher::Create(o, batcher_.get()).status().message()),
              HasSubstr("one row"));
}

}  // namespace
}  // namespace ferry
