#include "scheduler/sequence_batcher.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "scheduler/sequence_rule.h"

namespace ferry {

absl::StatusOr<std::unique_ptr<SequenceBatcher>> SequenceBatcher::Create(
    SequenceBatcherOptions options, DynamicBatcher* batcher) {
  if (batcher == nullptr) return absl::InvalidArgumentError("no dynamic batcher");
  if (options.max_sequences < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_sequences must be at least 1; was ", options.max_sequences));
  }
  if (options.idle_timeout_ms < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("idle_timeout_ms must be at least 1; was ", options.idle_timeout_ms));
  }
  const Tensor& state = options.initial_state;
  if (state.shape.empty() || state.shape[0] != 1 || DataTypeByteSize(state.dtype) == 0 ||
      !CheckByteSize(state).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "initial_state must be one row of a fixed-size datatype; was ",
        DataTypeName(state.dtype), " ", ShapeToString(state.shape)));
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  return std::unique_ptr<SequenceBatcher>(new SequenceBatcher(std::move(options), batcher));
}

SequenceBatcher::SequenceBatcher(SequenceBatcherOptions options, DynamicBatcher* batcher)
    : options_(std::move(options)),
      idle_timeout_ns_(options_.idle_timeout_ms * 1'000'000),
      batcher_(batcher),
      clock_(options_.clock) {}

std::string SequenceBatcher::Describe(const Key& key) {
  if (!key.second.empty()) return absl::StrCat("sequence \"", key.second.substr(0, 64), "\"");
  return absl::StrCat("sequence ", key.first);
}

int64_t SequenceBatcher::ViewLocked(const Key& key, SequenceView& view) const {
  view = SequenceView();
  auto it = sequences_.find(key);
  if (it == sequences_.end()) return static_cast<int64_t>(sequences_.size());
  const Sequence& s = it->second;
  view = {true, s.busy || !s.waiting.empty(), s.ended, s.last_active_ns};
  return static_cast<int64_t>(sequences_.size()) - 1;
}

void SequenceBatcher::SweepLocked(int64_t now_ns) {
  for (auto it = sequences_.begin(); it != sequences_.end();) {
    const Sequence& s = it->second;
    const SequenceView view{true, s.busy || !s.waiting.empty(), s.ended, s.last_active_ns};
    if (SequenceExpired(view, now_ns, idle_timeout_ns_)) {
      sequences_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status SequenceBatcher::Enqueue(const SequenceControl& control,
                                      std::unique_ptr<BatchTask>& task) {
  if (!control.has_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", options_.model_name,
        "' is stateful: every request needs the parameter 'sequence_id' (a nonzero unsigned "
        "integer or a non-empty string)"));
  }
  if (task->rows != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a request in a sequence must hold one row (batch size 1); it held ", task->rows));
  }
  const Key key(control.id, control.string_id);
  std::unique_ptr<BatchTask> send;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now_ns = clock_->NowNanos();
    SequenceView view;
    int64_t others = ViewLocked(key, view);
    // Only a new sequence needs room; idle ones are freed when it does.
    if (control.start && others >= options_.max_sequences) {
      SweepLocked(now_ns);
      others = ViewLocked(key, view);
    }
    const SequenceAdmission admission = AdmitSequenceRequest(
        view, control.start, others, options_.max_sequences, now_ns, idle_timeout_ns_);
    switch (admission) {
      case SequenceAdmission::kUnknown: {
        std::string why = "it was never started";
        if (view.exists && view.ended) {
          why = "it ended (a request carried sequence_end)";
        } else if (view.exists) {
          why = absl::StrCat("it expired after ", options_.idle_timeout_ms, " ms without requests");
        }
        return absl::InvalidArgumentError(absl::StrCat(
            Describe(key), " is not live on model '", options_.model_name, "': ", why,
            "; its first request must carry sequence_start = true"));
      }
      case SequenceAdmission::kFull:
        return absl::FailedPreconditionError(absl::StrCat(
            "model '", options_.model_name, "' already holds its maximum of ",
            options_.max_sequences, " live sequences ([sequence] max_sequences), so ",
            Describe(key), " cannot start; end one with sequence_end, or let one idle out (",
            options_.idle_timeout_ms, " ms)"));
      case SequenceAdmission::kStart:
        sequences_[key] = Sequence();  // a fresh record, over an expired one if need be
        break;
      case SequenceAdmission::kRestart:
      case SequenceAdmission::kContinue:
        break;
    }
    Sequence& s = sequences_[key];
    s.ended = control.end;
    s.last_active_ns = now_ns;
    s.waiting.push_back({std::move(task), control.start});
    send = NextLocked(s);
  }
  if (send != nullptr) Send(key, std::move(send));
  return absl::OkStatus();
}

std::unique_ptr<BatchTask> SequenceBatcher::NextLocked(Sequence& s) {
  if (s.busy || s.waiting.empty()) return nullptr;
  Pending next = std::move(s.waiting.front());
  s.waiting.pop_front();
  if (next.start) s.state = options_.initial_state;
  next.task->inputs.push_back(s.state);
  s.busy = true;
  return std::move(next.task);
}

void SequenceBatcher::Send(const Key& key, std::unique_ptr<BatchTask> task) {
  // Iterative, not recursive: a refused request is failed here and its successor sent,
  // however many wait (as during shutdown).
  while (task != nullptr) {
    auto original = std::make_shared<TaskCallback>(std::move(task->done));
    task->done = [this, key, original](absl::StatusOr<std::vector<Tensor>> outputs,
                                       const TaskTiming& timing) {
      std::unique_ptr<BatchTask> next = Finished(key, outputs);
      if (next != nullptr) Send(key, std::move(next));
      // Last: the callback may release what owns this batcher.
      (*original)(std::move(outputs), timing);
    };
    const absl::Status status = batcher_->Enqueue(task);
    if (status.ok()) return;
    absl::StatusOr<std::vector<Tensor>> failed(status);
    std::unique_ptr<BatchTask> next = Finished(key, failed);
    TaskTiming timing;
    timing.enqueue_ns = timing.start_ns = timing.end_ns = clock_->NowNanos();
    (*original)(std::move(failed), timing);
    task = std::move(next);
  }
}

std::unique_ptr<BatchTask> SequenceBatcher::Finished(const Key& key,
                                                     absl::StatusOr<std::vector<Tensor>>& outputs) {
  Tensor state;
  bool keep = false;
  if (outputs.ok()) {
    if (outputs->empty() || outputs->back().shape.empty() || outputs->back().shape[0] != 1 ||
        outputs->back().dtype != options_.initial_state.dtype ||
        outputs->back().data.size() != options_.initial_state.data.size()) {
      outputs = absl::InternalError(absl::StrCat(
          "model '", options_.model_name, "' did not return one row of state (",
          DataTypeName(options_.initial_state.dtype), " ",
          ShapeToString(options_.initial_state.shape), ") as its last output"));
    } else {
      state = std::move(outputs->back());
      state.name = options_.initial_state.name;
      outputs->pop_back();
      keep = true;
    }
  }
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(key);
  if (it == sequences_.end()) return nullptr;  // cannot happen: a busy sequence is never freed
  Sequence& s = it->second;
  s.busy = false;
  s.last_active_ns = clock_->NowNanos();
  if (keep) s.state = std::move(state);
  std::unique_ptr<BatchTask> next = NextLocked(s);
  if (next == nullptr && s.ended) sequences_.erase(it);
  return next;
}

int64_t SequenceBatcher::LiveSequences() const {
  absl::MutexLock lock(&mu_);
  const int64_t now_ns = clock_->NowNanos();
  int64_t live = 0;
  for (const auto& [key, s] : sequences_) {
    const SequenceView view{true, s.busy || !s.waiting.empty(), s.ended, s.last_active_ns};
    if (!SequenceExpired(view, now_ns, idle_timeout_ns_)) ++live;
  }
  return live;
}

}  // namespace ferry
