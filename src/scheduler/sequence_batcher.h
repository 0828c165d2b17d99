// SequenceBatcher: stateful models. It sits in front of a model version's DynamicBatcher
// and routes each request of a sequence (core/infer.h, SequenceControl) to that sequence's
// state, in arrival order, by the rule in sequence_rule.h.
//
// State is implicit, held here: the model takes the request's inputs plus the state as
// its last input, and returns the request's outputs plus the new state as its last output.
// The batcher appends the sequence's state (one row) to each request, takes the new state
// off its answer, keeps it for the sequence's next request, and hands the request only its
// own outputs. A request that starts (or restarts) a sequence reads the initial state; a
// request that fails (a model error, a deadline, a cancelled client) leaves the state as
// it was.
//
// Concurrency: one mutex guards the sequences. Each sequence has at most one request in
// the DynamicBatcher at a time; later ones wait here, in arrival order, and the finishing
// request's callback (on a worker thread) sends the next. Requests of different
// sequences meet in the DynamicBatcher and batch together as any requests do. The lock is
// never held while calling into the DynamicBatcher or a request's callback.
//
// Idle sequences are freed lazily: when a request names them, or when a new sequence
// needs room. So at most max_sequences records are ever held.
#ifndef FERRY_SCHEDULER_SEQUENCE_BATCHER_H_
#define FERRY_SCHEDULER_SEQUENCE_BATCHER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "core/infer.h"
#include "core/tensor.h"
#include "scheduler/dynamic_batcher.h"
#include "scheduler/sequence_rule.h"

namespace ferry {

struct SequenceBatcherOptions {
  // Most live sequences at once; a request that would start one more is refused with
  // FAILED_PRECONDITION. Must be >= 1.
  int64_t max_sequences = 64;
  // A sequence with no request queued or running for this long is freed. Must be >= 1.
  int64_t idle_timeout_ms = 60'000;
  // The state a sequence starts from: one row (shape[0] == 1), named as the model's state
  // input, of a fixed-size datatype.
  Tensor initial_state;
  // Names the model in error messages.
  std::string model_name;
  // Not owned; must outlive the batcher. Default: the real clock.
  Clock* clock = nullptr;
};

class SequenceBatcher {
 public:
  // `batcher` is not owned and must outlive this. InvalidArgument, naming the option, on
  // bad options.
  static absl::StatusOr<std::unique_ptr<SequenceBatcher>> Create(SequenceBatcherOptions options,
                                                                 DynamicBatcher* batcher);

  // Admits `task` (one row of the model's inputs, without the state) to the sequence
  // `control` names, and takes it on success: its callback is then called exactly once,
  // with the request's own outputs. On failure the task stays with the caller:
  // InvalidArgument for a request without a sequence_id, of more than one row, or for a
  // sequence that is not live and is not started by this request (the message says why);
  // FailedPrecondition when a new sequence would pass max_sequences.
  absl::Status Enqueue(const SequenceControl& control, std::unique_ptr<BatchTask>& task)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Sequences held and not idle past the timeout.
  int64_t LiveSequences() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = std::pair<uint64_t, std::string>;
  struct Pending {
    std::unique_ptr<BatchTask> task;
    bool start = false;
  };
  struct Sequence {
    Tensor state;
    std::deque<Pending> waiting;  // admitted, not yet sent, in arrival order
    bool busy = false;            // one request in the DynamicBatcher
    bool ended = false;           // the last admitted request carried sequence_end
    int64_t last_active_ns = 0;
  };

  SequenceBatcher(SequenceBatcherOptions options, DynamicBatcher* batcher);
  static std::string Describe(const Key& key);
  // Takes the sequence's next waiting request and gives it the state; null when none.
  std::unique_ptr<BatchTask> NextLocked(Sequence& sequence) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `task` (the state appended) to the DynamicBatcher; when it refuses, fails the
  // task and sends the sequence's next, and so on.
  void Send(const Key& key, std::unique_ptr<BatchTask> task) ABSL_LOCKS_EXCLUDED(mu_);
  // A sent request finished: keeps the new state, frees an ended sequence, and returns
  // the sequence's next request, if any, ready to send.
  std::unique_ptr<BatchTask> Finished(const Key& key, absl::StatusOr<std::vector<Tensor>>& outputs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // What the batcher holds for `key` into `view`; returns how many other sequences it holds.
  int64_t ViewLocked(const Key& key, SequenceView& view) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees every idle-expired sequence.
  void SweepLocked(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SequenceBatcherOptions options_;
  const int64_t idle_timeout_ns_;
  DynamicBatcher* const batcher_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, Sequence> sequences_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry

#endif  // FERRY_SCHEDULER_SEQUENCE_BATCHER_H_
