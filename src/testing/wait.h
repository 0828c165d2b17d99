// Waiting for a condition another thread will make true, with a bound, so that a broken
// server fails the test instead of hanging it.
#ifndef FERRY_TESTING_WAIT_H_
#define FERRY_TESTING_WAIT_H_

#include <chrono>
#include <thread>

namespace ferry {

// Calls `done` every millisecond until it returns true (then true) or `timeout` has
// passed (then false).
template <typename Predicate>
bool WaitUntil(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace ferry

#endif  // FERRY_TESTING_WAIT_H_
