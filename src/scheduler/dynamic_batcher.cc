#include "scheduler/dynamic_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/thread_name.h"

namespace ferry {
namespace {

// Whether the two tasks' inputs agree in every dimension but the batch one, so that their
// rows can share a batch.
bool SameRowShapes(const BatchTask& a, const BatchTask& b) {
  if (&a == &b) return true;
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const std::vector<int64_t>& x = a.inputs[i].shape;
    const std::vector<int64_t>& y = b.inputs[i].shape;
    if (x.size() != y.size() || !std::equal(x.begin() + (x.empty() ? 0 : 1), x.end(),
                                            y.begin() + (y.empty() ? 0 : 1))) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status DynamicBatcher::CheckOptions(const BatcherOptions& options) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size must be at least 1; was ", options.max_batch_size));
  }
  if (options.max_queue_delay_us < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_delay_us must not be negative; was ", options.max_queue_delay_us));
  }
  if (options.max_queue_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_queue_size must be at least 1; was ", options.max_queue_size));
  }
  if (options.num_workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers must be at least 1; was ", options.num_workers));
  }
  for (int64_t size : options.preferred_batch_sizes) {
    if (size < 1 || size > options.max_batch_size) {
      return absl::InvalidArgumentError(absl::StrCat("preferred batch size ", size,
                                                     " must be in [1, max_batch_size=",
                                                     options.max_batch_size, "]"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(BatcherOptions options,
                                                                       BatchFn execute) {
  return Make(std::move(options), std::move(execute), nullptr);
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::CreateAsync(BatcherOptions options,
                                                                            AsyncBatchFn execute) {
  return Make(std::move(options), nullptr, std::move(execute));
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Make(BatcherOptions options,
                                                                     BatchFn execute,
                                                                     AsyncBatchFn execute_async) {
  if (absl::Status status = CheckOptions(options); !status.ok()) return status;
  if (!execute && !execute_async) return absl::InvalidArgumentError("no execute function");
  if (options.clock == nullptr) options.clock = Clock::Real();
  return std::unique_ptr<DynamicBatcher>(
      new DynamicBatcher(std::move(options), std::move(execute), std::move(execute_async)));
}

DynamicBatcher::DynamicBatcher(BatcherOptions options, BatchFn execute,
                               AsyncBatchFn execute_async)
    : options_(std::move(options)),
      rule_{options_.max_batch_size, options_.max_queue_delay_us * 1000,
            options_.preferred_batch_sizes},
      execute_(std::move(execute)),
      execute_async_(std::move(execute_async)),
      clock_(options_.clock),
      free_slots_(options_.num_workers) {}

DynamicBatcher::~DynamicBatcher() { Shutdown(); }

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<BatchTask>& task) {
  std::vector<std::unique_ptr<BatchTask>> inline_batch;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the model is shutting down");
    const int64_t now_ns = clock_->NowNanos();
    if (task->context != nullptr && task->context->Expired(now_ns)) {
      return absl::DeadlineExceededError("the request's deadline passed before it was queued");
    }
    if (task->context != nullptr && task->context->cancelled()) {
      return absl::CancelledError("the client went away before the request was queued");
    }
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue_size) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the model's queue is full (", options_.max_queue_size, " requests); retry later"));
    }
    task->enqueue_ns = now_ns;
    // Only when nothing at all is running, and nothing arrived while the model was last
    // busy (NextInlineStep): if callers ran requests inline whenever some slot was free,
    // every I/O thread could end up computing batches of one while the requests behind
    // them wait unread, and the queue (so batching) would never form.
    const InlineStep step = NextInlineStep(
        arrived_while_busy_, queue_.empty() && free_slots_ == options_.num_workers);
    arrived_while_busy_ = step.arrived_while_busy;
    const bool may_run_inline = task->context == nullptr || task->context->may_run_inline;
    if (options_.run_inline_when_idle && may_run_inline && step.run_inline) {
      const int64_t rows[] = {task->rows};
      if (DecideBatch(rule_, rows, task->enqueue_ns, task->enqueue_ns, false).take == 1) {
        --free_slots_;
        inline_batch.push_back(std::move(task));
      }
    }
    if (inline_batch.empty()) {
      queue_.push_back(std::move(task));
      depth_.store(queue_.size(), std::memory_order_relaxed);
    }
  }
  if (inline_batch.empty()) {
    cv_.Signal();
    return absl::OkStatus();
  }
  if (options_.on_worker_start) options_.on_worker_start();
  Execute(inline_batch, /*ran_inline=*/true, /*holds_slot=*/true);
  return absl::OkStatus();
}

void DynamicBatcher::ReleaseSlot() {
  bool waiting;
  {
    absl::MutexLock lock(&mu_);
    ++free_slots_;
    waiting = !queue_.empty() || stopping_;
  }
  // A worker may have left work queued, or be waiting to stop, because every slot was taken.
  if (waiting) cv_.Signal();
}

void DynamicBatcher::FinishedInFlight(bool holds_slot) {
  bool waiting;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    if (holds_slot) ++free_slots_;
    waiting = !queue_.empty() || stopping_;
  }
  if (waiting) cv_.Signal();
}

void DynamicBatcher::Start() {
  // An asynchronous batch holds no thread while it waits, so one dispatches them all.
  const int threads = execute_async_ ? 1 : options_.num_workers;
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

BatchDecision DynamicBatcher::TakeLocked(std::vector<std::unique_ptr<BatchTask>>& batch,
                                         std::vector<std::unique_ptr<BatchTask>>& dropped) {
  // Cancelled and expired tasks leave first, so they neither count toward a batch nor get
  // computed.
  // The earliest deadline left decides, besides the rule, when a waiting worker looks again.
  const int64_t now_ns = clock_->NowNanos();
  int64_t next_deadline_ns = RequestContext::kNoDeadline;
  for (auto it = queue_.begin(); it != queue_.end();) {
    const RequestContext* context = (*it)->context.get();
    if (context != nullptr && (context->cancelled() || context->Expired(now_ns))) {
      dropped.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      if (context != nullptr) next_deadline_ns = std::min(next_deadline_ns, context->deadline_ns);
      ++it;
    }
  }
  BatchDecision decision;
  if (!queue_.empty()) {
    std::vector<int64_t> rows;
    rows.reserve(queue_.size());
    for (const auto& task : queue_) {
      // Rows of different widths (a variable dimension past the batch one) cannot be
      // concatenated: a request whose inputs differ from the oldest's ends the batch, as
      // one too large to fit would (DecideBatch then runs what came before it).
      if (!SameRowShapes(*queue_.front(), *task)) {
        rows.push_back(rule_.max_batch_size + 1);
        break;
      }
      rows.push_back(task->rows);
      // The walk never goes past max_batch_size rows, so neither does this copy.
      if (static_cast<int64_t>(rows.size()) > rule_.max_batch_size) break;
    }
    decision = DecideBatch(rule_, rows, queue_.front()->enqueue_ns, now_ns, stopping_);
    for (size_t i = 0; i < decision.take; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (decision.take == 0 && next_deadline_ns < decision.wake_at_ns) {
      decision.wake_at_ns = next_deadline_ns;
    }
  }
  depth_.store(queue_.size(), std::memory_order_relaxed);
  return decision;
}

void DynamicBatcher::Drop(std::vector<std::unique_ptr<BatchTask>>& dropped) {
  for (auto& task : dropped) {
    TaskTiming timing;
    timing.enqueue_ns = task->enqueue_ns;
    task->done(task->context->cancelled()
                   ? absl::CancelledError("the client went away before the request ran")
                   : absl::DeadlineExceededError("the request's deadline passed while it was queued"),
               timing);
  }
  dropped.clear();
}

void DynamicBatcher::Execute(std::vector<std::unique_ptr<BatchTask>>& batch, bool ran_inline,
                             bool holds_slot) {
  TaskTiming timing;
  timing.start_ns = clock_->NowNanos();
  for (const auto& task : batch) timing.batch_rows += task->rows;
  // A lone request runs on its own tensors; otherwise each input is concatenated once.
  std::vector<Tensor> inputs;
  if (batch.size() == 1) {
    inputs = std::move(batch[0]->inputs);
  } else {
    const size_t num_inputs = batch[0]->inputs.size();
    inputs.reserve(num_inputs);
    std::vector<const Tensor*> parts(batch.size());
    for (size_t i = 0; i < num_inputs; ++i) {
      for (size_t t = 0; t < batch.size(); ++t) parts[t] = &batch[t]->inputs[i];
      inputs.push_back(ConcatRows(parts));
    }
  }
  if (execute_async_) {
    std::vector<std::shared_ptr<const RequestContext>> contexts;
    contexts.reserve(batch.size());
    for (const auto& task : batch) contexts.push_back(task->context);
    {
      absl::MutexLock lock(&mu_);
      ++in_flight_;
    }
    // The tasks wait for the answer in a shared holder; `done` may outlive this frame.
    auto waiting = std::make_shared<std::vector<std::unique_ptr<BatchTask>>>(std::move(batch));
    batch.clear();
    execute_async_(std::move(inputs), std::move(contexts),
                   [this, waiting, timing, ran_inline,
                    holds_slot](absl::StatusOr<std::vector<Tensor>> outputs) {
                     Finish(*waiting, timing, std::move(outputs), ran_inline);
                     FinishedInFlight(holds_slot);
                   });
    return;
  }
  Finish(batch, timing, execute_(inputs), ran_inline);
  if (holds_slot) ReleaseSlot();
}

void DynamicBatcher::Finish(std::vector<std::unique_ptr<BatchTask>>& batch, TaskTiming timing,
                            absl::StatusOr<std::vector<Tensor>> outputs, bool ran_inline) {
  timing.end_ns = clock_->NowNanos();
  if (options_.on_batch) {
    options_.on_batch(timing.batch_rows, timing.end_ns - timing.start_ns, ran_inline);
  }
  std::vector<int64_t> rows;
  rows.reserve(batch.size());
  for (const auto& task : batch) rows.push_back(task->rows);

  // Split each output into per-request pieces: split[o][t].
  std::vector<std::vector<Tensor>> split;
  absl::Status status = outputs.status();
  if (status.ok()) {
    for (const Tensor& out : *outputs) {
      absl::StatusOr<std::vector<Tensor>> pieces = SplitRows(out, rows);
      if (!pieces.ok()) {
        status = pieces.status();
        break;
      }
      split.push_back(std::move(*pieces));
    }
  }
  for (size_t t = 0; t < batch.size(); ++t) {
    timing.enqueue_ns = batch[t]->enqueue_ns;
    if (!status.ok()) {
      batch[t]->done(status, timing);
      continue;
    }
    std::vector<Tensor> mine;
    mine.reserve(split.size());
    for (auto& pieces : split) mine.push_back(std::move(pieces[t]));
    batch[t]->done(std::move(mine), timing);
  }
}

bool DynamicBatcher::RunOnce() {
  std::vector<std::unique_ptr<BatchTask>> batch, dropped;
  {
    absl::MutexLock lock(&mu_);
    TakeLocked(batch, dropped);
  }
  Drop(dropped);
  if (batch.empty()) return false;
  Execute(batch, /*ran_inline=*/false, /*holds_slot=*/false);
  return true;
}

void DynamicBatcher::WorkerLoop() {
  if (!options_.worker_thread_name.empty()) SetCurrentThreadName(options_.worker_thread_name);
  if (options_.on_worker_start) options_.on_worker_start();
  std::vector<std::unique_ptr<BatchTask>> batch, dropped;
  // Locked and unlocked by hand (the lock is dropped around each batch); clang's analysis
  // still checks that every path holds it where the loop touches guarded fields.
  mu_.Lock();
  while (true) {
    if (free_slots_ == 0) {
      // Every slot is running a batch inline; ReleaseSlot wakes us.
      if (stopping_ && queue_.empty()) break;
      cv_.Wait(&mu_);
      continue;
    }
    const BatchDecision decision = TakeLocked(batch, dropped);
    if (!batch.empty() || !dropped.empty()) {
      const bool run = !batch.empty();
      if (run) --free_slots_;
      mu_.Unlock();
      Drop(dropped);
      // A synchronous batch is over when Execute returns; an asynchronous one gives its
      // slot back itself when it finishes.
      if (run) Execute(batch, /*ran_inline=*/false, /*holds_slot=*/static_cast<bool>(execute_async_));
      batch.clear();
      mu_.Lock();
      if (run && !execute_async_) ++free_slots_;
      continue;
    }
    if (stopping_ && queue_.empty()) break;
    if (decision.wake_at_ns == BatchDecision::kNever) {
      cv_.Wait(&mu_);
    } else {
      const int64_t wait_ns = decision.wake_at_ns - clock_->NowNanos();
      if (wait_ns > 0) cv_.WaitWithTimeout(&mu_, absl::Nanoseconds(wait_ns));
    }
  }
  // Another worker may be asleep on a deadline; let it see the empty, stopping queue.
  mu_.Unlock();
  cv_.SignalAll();
}

void DynamicBatcher::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  // Without workers (or if they are gone), whatever is still queued runs here.
  while (RunOnce()) {
  }
  // Asynchronous batches still in flight call back into this batcher when they finish.
  absl::MutexLock lock(&mu_, absl::Condition(this, &DynamicBatcher::NothingInFlight));
}

size_t DynamicBatcher::QueueDepth() const { return depth_.load(std::memory_order_relaxed); }

}  // namespace ferry
