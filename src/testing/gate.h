// Gate: holds threads at a point until the test lets them through, one permit each, and
// tells the test how many have arrived. Tests use it (e.g. in AdminOptions::before_work)
// to keep work "running" for exactly as long as they need, with no sleeps.
#ifndef FERRY_TESTING_GATE_H_
#define FERRY_TESTING_GATE_H_

#include <condition_variable>
#include <mutex>

namespace ferry {

class Gate {
 public:
  // Blocks until a permit is available and takes it.
  void Enter() {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return permits_ > 0; });
    --permits_;
  }
  // Lets `n` more threads through, now or whenever they arrive.
  void Release(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    permits_ += n;
    cv_.notify_all();
  }
  // A callback that enters the gate, whatever it is called with (e.g. as
  // AdminOptions::before_work). The gate must outlive it.
  auto Hook() {
    return [this](auto&&...) { Enter(); };
  }
  // Returns once `n` threads in total have called Enter.
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this, n] { return entered_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  int permits_ = 0;
};

}  // namespace ferry

#endif  // FERRY_TESTING_GATE_H_
