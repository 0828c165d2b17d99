#include "scheduler/sequence_rule.h"

namespace ferry {

bool SequenceExpired(const SequenceView& sequence, int64_t now_ns, int64_t idle_timeout_ns) {
  return sequence.exists && !sequence.in_use && now_ns - sequence.last_active_ns >= idle_timeout_ns;
}

SequenceAdmission AdmitSequenceRequest(const SequenceView& sequence, bool start,
                                       int64_t live_sequences, int64_t max_sequences,
                                       int64_t now_ns, int64_t idle_timeout_ns) {
  // An ended sequence is freed once idle, so a record that ended and is idle is not live.
  const bool live = sequence.exists && !SequenceExpired(sequence, now_ns, idle_timeout_ns) &&
                    !(sequence.ended && !sequence.in_use);
  if (!live) {
    if (!start) return SequenceAdmission::kUnknown;
    return live_sequences < max_sequences ? SequenceAdmission::kStart : SequenceAdmission::kFull;
  }
  if (start) return SequenceAdmission::kRestart;
  return sequence.ended ? SequenceAdmission::kUnknown : SequenceAdmission::kContinue;
}

}  // namespace ferry
