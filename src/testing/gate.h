// Gate: holds threads at a point until the test lets them through, one permit each, and
// tells the test how many have arrived. Tests use it (e.g. in AdminOptions::before_work,
// or as a FakeBackend's gate) to keep work "running" for exactly as long as they need,
// with no sleeps.
#ifndef FERRY_TESTING_GATE_H_
#define FERRY_TESTING_GATE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ferry {

class Gate {
 public:
  // Blocks until a permit is available and takes it.
  void Enter() {
    absl::MutexLock lock(&mu_);
    ++entered_;
    const auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return permits_ > 0; };
    mu_.Await(absl::Condition(&open));
    --permits_;
  }
  // Lets `n` more threads through, now or whenever they arrive.
  void Release(int n) {
    absl::MutexLock lock(&mu_);
    permits_ += n;
  }
  // A callback that enters the gate, whatever it is called with (e.g. as
  // AdminOptions::before_work). The gate must outlive it.
  auto Hook() {
    return [this](auto&&...) { Enter(); };
  }
  // Returns once `n` threads in total have called Enter.
  void WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    const auto arrived = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    mu_.Await(absl::Condition(&arrived));
  }

 private:
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int permits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ferry

#endif  // FERRY_TESTING_GATE_H_
