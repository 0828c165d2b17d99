// The sequence batcher's admission decision, as a pure function of what it knows about
// one sequence id and the time (scheduler/sequence_batcher.h does the bookkeeping).
//
// A sequence is live from the request that starts it (sequence_start) until the request
// that ends it (sequence_end) has run, or until it has been idle (no request queued or
// running) for idle_timeout. Then:
//   - sequence_start on an id that is not live starts a new sequence, if fewer than
//     max_sequences are live (else: full);
//   - sequence_start on a live id restarts it: the request queues behind the sequence's
//     earlier requests, and the state starts over from its initial value when it runs
//     (Triton does the same);
//   - any other request continues a live sequence, unless an ending request was already
//     admitted (the sequence is finishing): then, as for an id that is not live, it is
//     refused as unknown.
#ifndef FERRY_SCHEDULER_SEQUENCE_RULE_H_
#define FERRY_SCHEDULER_SEQUENCE_RULE_H_

#include <cstdint>

namespace ferry {

// What the batcher holds for one sequence id when a request for it arrives.
struct SequenceView {
  bool exists = false;       // the batcher holds a record for the id
  bool in_use = false;       // a request of it is queued or running
  bool ended = false;        // its last admitted request carried sequence_end
  int64_t last_active_ns = 0;  // its last arrival or completion
};

enum class SequenceAdmission {
  kStart,     // a new sequence: takes one of max_sequences
  kRestart,   // sequence_start on a live sequence: starts over, in order, in its slot
  kContinue,  // the next request of a live sequence
  kUnknown,   // refused: no live sequence (never started, ended, or expired) and no start
  kFull,      // refused: a new sequence past max_sequences
};

// Whether an existing record has been idle for idle_timeout_ns (and may be freed).
bool SequenceExpired(const SequenceView& sequence, int64_t now_ns, int64_t idle_timeout_ns);

// `live_sequences`: the live sequences other than this id, expired ones not counted.
SequenceAdmission AdmitSequenceRequest(const SequenceView& sequence, bool start,
                                       int64_t live_sequences, int64_t max_sequences,
                                       int64_t now_ns, int64_t idle_timeout_ns);

}  // namespace ferry

#endif  // FERRY_SCHEDULER_SEQUENCE_RULE_H_
