#ifndef FERRY_API_HTTP_IDLE_POLL_H_
#define FERRY_API_HTTP_IDLE_POLL_H_

#include <cstdint>

namespace ferry {

// What an HTTP I/O thread does when it has no handler ready to run.
//
// Sleeping in epoll costs a lone client dearly on a virtual machine: the idle vCPU halts,
// and the next request pays for the wake-up and then runs its forward on a cold core
// (docs/scheduler.md measures both). So, right after the server goes quiet, one thread
// keeps polling its connections without blocking for a short window. Under load the
// server is never quiet, so nobody polls and no CPU is taken from the batch worker.
enum class IdleStep {
  kPoll,   // look at the connections again without blocking
  kSleep,  // block in epoll until a connection or timer is ready
};

struct IdleState {
  int64_t idle_ns = 0;         // since this thread last ran a handler
  int64_t window_ns = 0;       // how long to keep polling after that; 0 never polls
  int busy_connections = 0;    // connections, on any thread, that still owe a response
  bool other_polling = false;  // another I/O thread holds the one polling turn
};

// Polls only while all of these hold: polling is on, this thread ran a handler less than
// `window_ns` ago, no connection is waiting for a response (a request being computed or
// written means the server is not quiet), and no other thread is polling.
IdleStep NextIdleStep(const IdleState& state);

}  // namespace ferry

#endif  // FERRY_API_HTTP_IDLE_POLL_H_
