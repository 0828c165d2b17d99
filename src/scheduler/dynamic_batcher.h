// DynamicBatcher: one per model version. Requests queue here; workers take batches off the
// front by the rule in batch_rule.h, run them through one call of the model, and hand each
// request its own rows of the result.
//
// Concurrency: one mutex guards the queue. Enqueue never blocks on the model: it appends,
// signals, and returns, or refuses at once with RESOURCE_EXHAUSTED when the queue is full (the
// caller sheds load with a 503 rather than queueing unbounded latency), DEADLINE_EXCEEDED
// when the task's deadline has already passed, or CANCELLED when its request was. Workers hold the
// lock only to decide and to pop; assembling, executing and answering happen outside it.
// Callbacks run on a worker thread (or the caller of RunOnce or, with run_inline_when_idle,
// of Enqueue; with an AsyncBatchFn, the thread that finished the batch) and must not block
// for long.
#ifndef FERRY_SCHEDULER_DYNAMIC_BATCHER_H_
#define FERRY_SCHEDULER_DYNAMIC_BATCHER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "core/request_context.h"
#include "core/tensor.h"
#include "scheduler/batch_rule.h"

namespace ferry {

// Where one request's time went, for the metrics.
struct TaskTiming {
  int64_t enqueue_ns = 0;
  int64_t start_ns = 0;  // its batch started executing
  int64_t end_ns = 0;    // its batch finished
  int64_t batch_rows = 0;
};

using TaskCallback =
    std::function<void(absl::StatusOr<std::vector<Tensor>> outputs, const TaskTiming& timing)>;

struct BatchTask {
  // Inputs in the model's signature order; dimension 0 of each holds `rows`.
  std::vector<Tensor> inputs;
  int64_t rows = 1;
  // The request this task computes for; may be null (warm-up, tests). A task whose
  // request was cancelled (the client went away) or whose deadline has passed is dropped
  // before compute, its callback told CANCELLED or DEADLINE_EXCEEDED. When its
  // may_run_inline is false, the task stays off the caller's thread even when the model
  // is idle: the caller has other clients to read.
  std::shared_ptr<const RequestContext> context;
  TaskCallback done;
  int64_t enqueue_ns = 0;  // stamped by Enqueue
};

// Runs one batch: inputs in signature order with the batch's total rows in dimension 0;
// returns the outputs in signature order with the same rows. Must be thread-safe when
// num_workers > 1.
using BatchFn = std::function<absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>& inputs)>;

// Runs one batch without blocking the worker while it waits (a composite model waiting on
// its members): inputs as BatchFn's; `contexts` those of the batch's tasks, in order (null
// for tasks without one); calls `done` exactly once with the outputs, on any thread,
// before or after it returns.
using AsyncBatchFn = std::function<void(
    std::vector<Tensor> inputs, std::vector<std::shared_ptr<const RequestContext>> contexts,
    std::function<void(absl::StatusOr<std::vector<Tensor>>)> done)>;

struct BatcherOptions {
  // Most rows in one batch. Must be >= 1.
  int64_t max_batch_size = 1;
  // Longest a request waits for others to join its batch. 0 runs whatever is queued as
  // soon as a worker is free.
  int64_t max_queue_delay_us = 100;
  // Batch sizes the model runs best at; a batch that reaches one runs at once. Each must
  // be in [1, max_batch_size].
  std::vector<int64_t> preferred_batch_sizes;
  // Requests (not rows) that may wait; more are refused with RESOURCE_EXHAUSTED. Must be >= 1.
  int64_t max_queue_size = 1024;
  // Threads that execute batches. Must be >= 1. Used only after Start(). With an
  // AsyncBatchFn (CreateAsync) it is instead the most batches in flight at once, and one
  // thread dispatches them.
  int num_workers = 1;
  // Not owned; must outlive the batcher. Default: the real clock.
  Clock* clock = nullptr;
  // Called once on each worker thread before it takes work, and before every batch run
  // inline on a caller's thread (e.g. to set per-thread intra-op parallelism), so it must
  // be cheap when repeated. May be empty.
  std::function<void()> on_worker_start;
  // When a request arrives while the model is idle (an empty queue, no batch running),
  // no request arrived while the model was last busy (NextInlineStep in batch_rule.h),
  // and the rule would run it at once anyway, Enqueue runs it on the calling thread
  // instead of waking a worker: at low load this saves two thread hand-offs (to the
  // worker and back). Under load everything goes through the queue, so batches form.
  // At most num_workers batches ever run at once, inline or not.
  bool run_inline_when_idle = false;
  // Names each worker thread (cut to 15 bytes, common/thread_name.h), e.g.
  // "w:fashion_cnn:1"; empty leaves the name alone. Inline batches keep the caller's name.
  std::string worker_thread_name;
  // Called after each executed batch with its rows, its compute time and whether it ran
  // inline. May be empty.
  std::function<void(int64_t rows, int64_t compute_ns, bool ran_inline)> on_batch;
};

class DynamicBatcher {
 public:
  // Fails with InvalidArgument, naming the option and its value, on bad options.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(BatcherOptions options,
                                                                BatchFn execute);
  // As Create, for a function that answers later: a batch holds its slot (one of
  // num_workers) from dispatch until `done`, but no thread while it waits.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> CreateAsync(BatcherOptions options,
                                                                     AsyncBatchFn execute);
  ~DynamicBatcher();  // Shutdown()

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Takes ownership of `task` on success. On failure the task stays with the caller:
  // RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when the batcher is
  // shutting down, DEADLINE_EXCEEDED when the task's deadline has passed already,
  // CANCELLED when its request was cancelled already. With run_inline_when_idle the task
  // may run, and its callback be called, before Enqueue returns.
  absl::Status Enqueue(std::unique_ptr<BatchTask>& task) ABSL_LOCKS_EXCLUDED(mu_);

  // Starts the worker threads. Without it, the owner drives the batcher with RunOnce().
  void Start();

  // Drops cancelled and expired tasks, then runs at most one batch on the calling thread if the rule
  // says one is due now. Returns true if it executed a batch. For tests and for Shutdown.
  bool RunOnce() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops accepting work, runs everything already queued (ignoring the delay), joins the
  // workers, and waits for every asynchronous batch in flight to finish. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  size_t QueueDepth() const;

 private:
  DynamicBatcher(BatcherOptions options, BatchFn execute, AsyncBatchFn execute_async);
  static absl::Status CheckOptions(const BatcherOptions& options);
  // Create and CreateAsync: exactly one of the functions is set.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Make(BatcherOptions options,
                                                              BatchFn execute,
                                                              AsyncBatchFn execute_async);

  // Pops the next due batch into `batch` and the cancelled and expired tasks into `dropped`.
  // Returns the decision, so a waiting worker knows until when to sleep.
  BatchDecision TakeLocked(std::vector<std::unique_ptr<BatchTask>>& batch,
                           std::vector<std::unique_ptr<BatchTask>>& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `ran_inline`: on the caller's thread (Enqueue), not a worker's; passed to on_batch.
  // `holds_slot`: the batch took a slot that it gives back when it finishes.
  void Execute(std::vector<std::unique_ptr<BatchTask>>& batch, bool ran_inline, bool holds_slot);
  // Times the batch, reports it to on_batch, and hands each task its rows of `outputs`.
  void Finish(std::vector<std::unique_ptr<BatchTask>>& batch, TaskTiming timing,
              absl::StatusOr<std::vector<Tensor>> outputs, bool ran_inline);
  // An asynchronous batch finished: one fewer in flight, and its slot back if it held one.
  void FinishedInFlight(bool holds_slot) ABSL_LOCKS_EXCLUDED(mu_);
  bool NothingInFlight() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; }
  static void Drop(std::vector<std::unique_ptr<BatchTask>>& dropped);
  // Gives back the slot an inline batch held, waking a worker if work waits for it.
  void ReleaseSlot() ABSL_LOCKS_EXCLUDED(mu_);
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const BatcherOptions options_;
  const BatchRuleOptions rule_;
  // Exactly one of the two is set.
  const BatchFn execute_;
  const AsyncBatchFn execute_async_;
  Clock* const clock_;

  // absl's, not std's: clang's -Wthread-safety checks the ABSL_GUARDED_BY fields below
  // against it (tools/check_thread_safety.py); std::mutex carries no annotations.
  mutable absl::Mutex mu_;
  // Wakes workers: work arrived, a slot came back, or the batcher is stopping.
  absl::CondVar cv_;
  std::deque<std::unique_ptr<BatchTask>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Batches that may start now: num_workers minus those running (on workers or inline).
  int free_slots_ ABSL_GUARDED_BY(mu_);
  // NextInlineStep's state: did a request arrive while the model was busy?
  bool arrived_while_busy_ ABSL_GUARDED_BY(mu_) = false;
  // Asynchronous batches dispatched and not yet finished; Shutdown waits for none.
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
  std::atomic<size_t> depth_{0};
};

}  // namespace ferry

#endif  // FERRY_SCHEDULER_DYNAMIC_BATCHER_H_
