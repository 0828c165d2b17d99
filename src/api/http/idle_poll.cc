#include "api/http/idle_poll.h"

namespace ferry {

IdleStep NextIdleStep(const IdleState& state) {
  const bool quiet = state.busy_connections == 0 && !state.other_polling;
  const bool recent = state.idle_ns >= 0 && state.idle_ns < state.window_ns;
  return quiet && recent ? IdleStep::kPoll : IdleStep::kSleep;
}

}  // namespace ferry
