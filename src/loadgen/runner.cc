#include "loadgen/runner.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <future>
#include <limits>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio.hpp"
#include "loadgen/arrival.h"

namespace ferry::loadgen {
namespace asio = boost::asio;
namespace {

// Every time here is Clock::Real() nanoseconds, the clock the transports stamp completions
// with. Waits go to Asio timers and futures as durations from now, not as time points, so
// nothing assumes which std::chrono clock Clock::Real() reads.
int64_t NowNanos() { return Clock::Real()->NowNanos(); }

constexpr int64_t kNanosPerSecond = 1'000'000'000;

int64_t SecondsToNanos(double seconds) {
  return static_cast<int64_t>(seconds * static_cast<double>(kNanosPerSecond));
}

// A request's tag: whether it is measured (top bit) and its intended start (63 bits of
// nanoseconds last for centuries of uptime).
constexpr uint64_t kMeasuredBit = uint64_t{1} << 63;

uint64_t MakeTag(int64_t intended_nanos, bool measured) {
  return (static_cast<uint64_t>(intended_nanos) & ~kMeasuredBit) | (measured ? kMeasuredBit : 0);
}

int64_t TagNanos(uint64_t tag) { return static_cast<int64_t>(tag & ~kMeasuredBit); }

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

constexpr size_t kMaxErrorExamples = 3;
// A closed loop whose requests fail at once (server down) would otherwise spin a core.
constexpr auto kErrorBackoff = std::chrono::milliseconds(1);

}  // namespace

uint64_t ErrorCounts::total() const {
  uint64_t n = connection + timeout + bad_response;
  for (const auto& [code, count] : http_status) n += count;
  for (const auto& [code, count] : grpc_status) n += count;
  return n;
}

void ErrorCounts::Merge(const ErrorCounts& other) {
  for (const auto& [code, count] : other.http_status) http_status[code] += count;
  for (const auto& [code, count] : other.grpc_status) grpc_status[code] += count;
  connection += other.connection;
  timeout += other.timeout;
  bad_response += other.bad_response;
  for (const std::string& e : other.examples) {
    if (examples.size() < kMaxErrorExamples) examples.push_back(e);
  }
}

std::string LoadPointLabel(const LoadPoint& point) {
  if (point.mode == LoadMode::kConcurrency) {
    return absl::StrCat("concurrency ", static_cast<int64_t>(point.value));
  }
  return absl::StrCat("rate ", point.value, "/s");
}

// One thread, one io_context, one transport. All fields but the mutex-guarded histogram and
// the atomics are touched only on the worker's own thread.
class LoadRunner::Worker final : public CompletionSink {
 public:
  struct Plan {
    LoadMode mode = LoadMode::kConcurrency;
    int concurrency = 0;
    double rate = 0;
    uint64_t seed = 0;
    int64_t start = 0, window_start = 0, window_end = 0;  // window_end unused with a quota
    bool use_quota = false;  // measure `quota` requests (possibly 0) instead of a window
    uint64_t quota = 0;
    int64_t late_threshold_nanos = 0;
  };

  // Everything a measurement reports, final once `done` is ready.
  struct Result {
    uint64_t requests = 0;
    uint64_t ok = 0;
    ErrorCounts errors;
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint64_t issued = 0;  // measured requests sent (or queued to send)
    uint64_t late = 0;
    uint64_t pool_waits = 0;
    int64_t max_lag_nanos = 0;
    int64_t last_completion = 0;
    int64_t last_scheduled = 0;
  };

  Worker(TransportFactory* factory, size_t index)
      : work_(asio::make_work_guard(io_)),
        timer_(io_),
        transport_(factory->NewTransport(io_, this)),
        pool_size_(factory->pool_size()),
        next_index_(index * 7919) {
    thread_ = std::thread([this] {
      // The open loop sleeps until each arrival; the default 50 us of timer slack would be
      // added to every open-loop latency.
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      io_.run();
    });
  }

  ~Worker() override {
    // Handlers still queued are destroyed with io_, never run, so nothing calls back into a
    // half-destroyed worker.
    asio::post(io_, [this] {
      issuing_ = false;
      transport_->Close();
      io_.stop();
    });
    thread_.join();
  }

  size_t capacity() const { return transport_->capacity(); }

  // Starts a measurement; the future is ready when it is over and result() is final.
  std::future<void> Start(const Plan& plan) {
    {
      absl::MutexLock lock(&mutex_);
      latency_.Clear();
    }
    done_ = std::promise<void>();
    std::future<void> future = done_.get_future();
    asio::post(io_, [this, plan] { Begin(plan); });
    return future;
  }

  const Result& result() const { return result_; }  // REQUIRES: Start's future is ready.

  // Ends the current measurement early: stops issuing; in-flight requests still complete.
  void Stop() {
    asio::post(io_, [this] {
      if (finished_) return;
      issuing_ = false;
      timer_.cancel();
      MaybeFinish();
    });
  }

  // For progress lines, from any thread.
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  void MergeLatency(LatencyHistogram* into) const {
    absl::MutexLock lock(&mutex_);
    into->Merge(latency_);
  }

  void OnInferComplete(const InferCompletion& c) override {
    --in_flight_;
    completed_.fetch_add(1, std::memory_order_relaxed);
    if ((c.tag & kMeasuredBit) != 0) Record(c);
    if (!backlog_.empty()) {
      const uint64_t tag = backlog_.front();
      backlog_.pop_front();
      Send(tag, /*from_backlog=*/true);
    } else if (plan_.mode == LoadMode::kConcurrency && issuing_) {
      if (c.outcome == Outcome::kConnectionError) {
        Backoff();
      } else {
        IssueClosed();
      }
    }
    MaybeFinish();
  }

 private:
  void Begin(const Plan& plan) {
    plan_ = plan;
    result_ = Result{};
    issuing_ = true;
    finished_ = false;
    if (plan_.mode == LoadMode::kConcurrency) {
      for (int i = 0; i < plan_.concurrency && issuing_; ++i) IssueClosed();
      if (plan_.concurrency == 0) issuing_ = false;
    } else if (plan_.rate <= 0) {
      issuing_ = false;
    } else {
      arrivals_.emplace(plan_.rate, plan_.seed);
      next_arrival_ = plan_.start + arrivals_->NextGapNanos();
      ArmArrivalTimer();
    }
    MaybeFinish();
  }

  // Closed loop: the next request, starting now.
  void IssueClosed() {
    const int64_t now = NowNanos();
    if (!plan_.use_quota && now >= plan_.window_end) {
      issuing_ = false;
      return;
    }
    const bool measured = now >= plan_.window_start;
    if (measured) {
      if (plan_.use_quota && result_.issued == plan_.quota) {
        issuing_ = false;
        return;
      }
      ++result_.issued;
    }
    Send(MakeTag(now, measured), /*from_backlog=*/false);
  }

  void Backoff() {
    ++backing_off_;
    auto timer = std::make_shared<asio::steady_timer>(io_, kErrorBackoff);
    timer->async_wait([this, timer](boost::system::error_code) {
      --backing_off_;
      if (issuing_) IssueClosed();
      MaybeFinish();
    });
  }

  void ArmArrivalTimer() {
    timer_.expires_after(std::chrono::nanoseconds(next_arrival_ - NowNanos()));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) OnArrivals();
    });
  }

  // Open loop: send every arrival whose time has come. When the thread was busy, several
  // are due at once; they go out late, and that lateness is counted in Send.
  void OnArrivals() {
    const int64_t now = NowNanos();
    while (issuing_ && next_arrival_ <= now) {
      if (!plan_.use_quota && next_arrival_ >= plan_.window_end) {
        issuing_ = false;
        break;
      }
      const bool measured = next_arrival_ >= plan_.window_start;
      if (measured) {
        if (plan_.use_quota && result_.issued == plan_.quota) {
          issuing_ = false;
          break;
        }
        ++result_.issued;
        result_.last_scheduled = next_arrival_;
      }
      const uint64_t tag = MakeTag(next_arrival_, measured);
      if (in_flight_ >= transport_->capacity()) {
        if (measured) ++result_.pool_waits;
        backlog_.push_back(tag);
      } else {
        Send(tag, /*from_backlog=*/false);
      }
      next_arrival_ += arrivals_->NextGapNanos();
    }
    if (issuing_) ArmArrivalTimer();
    MaybeFinish();
  }

  // Lateness is the client's own: a request that waited for a free connection is late
  // because the server holds every connection, which pool_waits reports instead.
  void Send(uint64_t tag, bool from_backlog) {
    ++in_flight_;
    if (plan_.mode == LoadMode::kRate && !from_backlog && (tag & kMeasuredBit) != 0) {
      const int64_t lag = NowNanos() - TagNanos(tag);
      if (lag > plan_.late_threshold_nanos) ++result_.late;
      result_.max_lag_nanos = std::max(result_.max_lag_nanos, lag);
    }
    transport_->AsyncInfer(next_index_++ % pool_size_, tag);
  }

  void Record(const InferCompletion& c) {
    ++result_.requests;
    result_.bytes_sent += c.bytes_sent;
    result_.bytes_received += c.bytes_received;
    result_.last_completion = std::max(result_.last_completion, c.done_nanos);
    if (c.outcome == Outcome::kOk) {
      ++result_.ok;
      const int64_t ns = c.done_nanos - TagNanos(c.tag);
      absl::MutexLock lock(&mutex_);
      latency_.Record(static_cast<uint64_t>(std::max<int64_t>(ns, 0)));
      return;
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    ErrorCounts& e = result_.errors;
    switch (c.outcome) {
      case Outcome::kHttpStatus:
        ++e.http_status[c.status_code];
        break;
      case Outcome::kRpcStatus:
        ++e.grpc_status[c.status_code];
        break;
      case Outcome::kConnectionError:
        ++e.connection;
        break;
      case Outcome::kTimeout:
        ++e.timeout;
        break;
      default:
        ++e.bad_response;
    }
    if (e.examples.size() < kMaxErrorExamples) {
      std::string kind(OutcomeName(c.outcome));
      if (c.outcome == Outcome::kHttpStatus) kind = absl::StrCat("HTTP ", c.status_code);
      if (c.outcome == Outcome::kRpcStatus) kind = "gRPC " + RpcCodeName(c.status_code);
      e.examples.push_back(absl::StrCat(kind, ": ", c.detail));
    }
  }

  void MaybeFinish() {
    if (finished_ || issuing_ || in_flight_ > 0 || !backlog_.empty() || backing_off_ > 0) return;
    finished_ = true;
    timer_.cancel();
    done_.set_value();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer timer_;
  std::unique_ptr<Transport> transport_;
  const size_t pool_size_;
  size_t next_index_;
  std::thread thread_;

  Plan plan_;
  Result result_;
  bool issuing_ = false;
  bool finished_ = true;
  size_t in_flight_ = 0;
  int backing_off_ = 0;
  std::deque<uint64_t> backlog_;  // open loop: arrivals waiting for a free connection
  std::optional<PoissonArrivals> arrivals_;
  int64_t next_arrival_ = 0;
  std::promise<void> done_;

  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> errors_{0};
  mutable absl::Mutex mutex_;
  LatencyHistogram latency_ ABSL_GUARDED_BY(mutex_);
};

LoadRunner::LoadRunner(const RunnerOptions& options, ControlClient* control)
    : options_(options), control_(control) {}

LoadRunner::~LoadRunner() = default;

absl::StatusOr<std::unique_ptr<LoadRunner>> LoadRunner::Create(const RunnerOptions& options,
                                                               TransportFactory* factory,
                                                               ControlClient* control) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 1; was ", options.threads));
  }
  if (options.warmup_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--warmup-seconds must be >= 0; was ", options.warmup_seconds));
  }
  if (options.requests == 0 && !(options.duration_seconds > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--duration-seconds must be > 0; was ", options.duration_seconds));
  }
  if (factory->pool_size() == 0) return absl::InvalidArgumentError("the request pool is empty");
  std::unique_ptr<LoadRunner> runner(new LoadRunner(options, control));
  for (int i = 0; i < options.threads; ++i) {
    runner->workers_.push_back(std::make_unique<Worker>(factory, static_cast<size_t>(i)));
  }
  return runner;
}

namespace {

// Prints a progress line about once a second until `deadline` or until every future is
// ready. Returns true when all are ready.
class Progress {
 public:
  // `completed` is the workers' running total so far (their counters span measurements).
  Progress(const RunnerOptions& options, std::string label, int64_t start, int64_t window_start,
           uint64_t completed)
      : options_(options),
        label_(std::move(label)),
        start_(start),
        window_start_(window_start),
        last_(start),
        last_completed_(completed) {}

  ~Progress() {
    if (printed_ && options_.progress_tty) std::fprintf(stderr, "\r\033[K");
  }

  void Print(uint64_t completed, uint64_t errors, const LatencyHistogram& latency,
             double duration_seconds) {
    if (!options_.progress) return;
    const int64_t now = NowNanos();
    const double dt = static_cast<double>(now - last_) / kNanosPerSecond;
    const double rps = dt > 0 ? static_cast<double>(completed - last_completed_) / dt : 0;
    last_ = now;
    last_completed_ = completed;
    std::string phase;
    if (now < window_start_) {
      phase =
          absl::StrFormat("warm-up %4.1fs", static_cast<double>(now - start_) / kNanosPerSecond);
    } else {
      const double t = static_cast<double>(now - window_start_) / kNanosPerSecond;
      phase = duration_seconds > 0 ? absl::StrFormat("measure %4.1f/%.0fs", t, duration_seconds)
                                   : absl::StrFormat("measure %4.1fs", t);
    }
    const std::string p99 =
        latency.count() > 0 ? absl::StrFormat("%.0f us", latency.Percentile(99) / 1e3) : "-";
    const std::string line =
        absl::StrFormat("[%s] %s  %8.0f req/s  p99 %s  errors %d", label_, phase, rps, p99, errors);
    std::fprintf(stderr, options_.progress_tty ? "\r\033[K%s" : "%s\n", line.c_str());
    std::fflush(stderr);
    printed_ = true;
  }

 private:
  const RunnerOptions& options_;
  std::string label_;
  int64_t start_, window_start_, last_;
  uint64_t last_completed_;
  bool printed_ = false;
};

}  // namespace

absl::StatusOr<Measurement> LoadRunner::Measure(const LoadPoint& point) {
  const int threads = static_cast<int>(workers_.size());
  if (point.mode == LoadMode::kConcurrency) {
    const double max = static_cast<double>(threads) * workers_[0]->capacity();
    if (point.value < 1 || point.value != std::floor(point.value) || point.value > max) {
      return absl::InvalidArgumentError(absl::StrCat("concurrency must be a whole number in [1, ",
                                                     max, "] (--threads x --max-connections); was ",
                                                     point.value));
    }
  } else if (!(point.value > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("--rate must be > 0; was ", point.value));
  }

  // A little slack so every worker gets its plan before the start time.
  const int64_t start = NowNanos() + 5'000'000;
  const int64_t window_start = start + SecondsToNanos(options_.warmup_seconds);
  const int64_t window_end = window_start + SecondsToNanos(options_.duration_seconds);
  uint64_t completed_before = 0;
  for (const auto& w : workers_) completed_before += w->completed();
  std::vector<std::future<void>> done;
  for (int i = 0; i < threads; ++i) {
    Worker::Plan plan;
    plan.mode = point.mode;
    const auto concurrency = static_cast<int>(point.value);
    plan.concurrency = concurrency / threads + (i < concurrency % threads ? 1 : 0);
    plan.rate = point.value / threads;
    plan.seed = options_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i);
    plan.start = start;
    plan.window_start = window_start;
    plan.window_end = window_end;
    if (options_.requests > 0) {
      plan.use_quota = true;
      plan.quota = options_.requests / threads +
                   (static_cast<uint64_t>(i) < options_.requests % threads ? 1 : 0);
    }
    plan.late_threshold_nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.late_threshold).count();
    done.push_back(workers_[i]->Start(plan));
  }

  Measurement m;
  m.point = point;
  Progress progress(options_, LoadPointLabel(point), start, window_start, completed_before);
  auto all_done = [&] {
    return std::all_of(done.begin(), done.end(), [](std::future<void>& f) {
      return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    });
  };
  auto report = [&] {
    uint64_t completed = 0, errors = 0;
    LatencyHistogram latency;
    for (const auto& w : workers_) {
      completed += w->completed();
      errors += w->errors();
      w->MergeLatency(&latency);
    }
    progress.Print(completed, errors, latency,
                   options_.requests > 0 ? 0 : options_.duration_seconds);
  };
  // Waits until `deadline` or until every worker is done, printing progress once a second
  // and passing on a stop request within 100 ms.
  int64_t tick = NowNanos() + kNanosPerSecond;
  auto wait = [&](int64_t deadline) {
    while (NowNanos() < deadline && !all_done()) {
      const int64_t until = std::min({tick, deadline, NowNanos() + 100'000'000});
      for (auto& f : done) f.wait_for(std::chrono::nanoseconds(until - NowNanos()));
      if (!m.interrupted && options_.stop != nullptr && options_.stop->load()) {
        m.interrupted = true;
        for (auto& w : workers_) w->Stop();
      }
      if (NowNanos() >= tick) {
        report();
        tick += kNanosPerSecond;
      }
    }
  };
  // Until the window opens, then the snapshots that bracket it.
  wait(window_start);
  const double cpu_before = CpuSeconds();
  const int64_t cpu_wall_before = NowNanos();
  std::optional<ModelStats> stats_before;
  if (control_ == nullptr) {
    m.server_note = "no control client";
  } else if (absl::StatusOr<std::optional<ModelStats>> s = control_->GetModelStats(); !s.ok()) {
    m.server_note = absl::StrCat("statistics unavailable: ", s.status().message());
  } else if (!s->has_value()) {
    m.server_note = "statistics extension not implemented (404)";
  } else {
    stats_before = **s;
  }
  wait(std::numeric_limits<int64_t>::max());
  const double cpu_seconds = CpuSeconds() - cpu_before;
  const double cpu_wall = static_cast<double>(NowNanos() - cpu_wall_before) / kNanosPerSecond;
  if (stats_before) {
    absl::StatusOr<std::optional<ModelStats>> after = control_->GetModelStats();
    if (after.ok() && after->has_value()) {
      m.server = ComputeServerSplit(*stats_before, **after);
      if (!m.server) m.server_note = "statistics counted no requests";
    } else {
      m.server_note = after.ok() ? "statistics disappeared" : std::string(after.status().message());
    }
  }

  int64_t last_completion = window_start;
  int64_t last_scheduled = window_start;
  uint64_t issued = 0;
  for (const auto& w : workers_) {
    const Worker::Result& r = w->result();
    m.requests += r.requests;
    m.ok += r.ok;
    m.errors.Merge(r.errors);
    m.bytes_sent += r.bytes_sent;
    m.bytes_received += r.bytes_received;
    m.late += r.late;
    m.pool_waits += r.pool_waits;
    m.max_lag_us = std::max(m.max_lag_us, static_cast<double>(r.max_lag_nanos) / 1e3);
    issued += r.issued;
    last_completion = std::max(last_completion, r.last_completion);
    last_scheduled = std::max(last_scheduled, r.last_scheduled);
    w->MergeLatency(&m.latency_ns);
  }
  m.seconds = static_cast<double>(last_completion - window_start) / kNanosPerSecond;
  if (m.seconds > 0) m.throughput_rps = static_cast<double>(m.ok) / m.seconds;
  m.samples_per_second = m.throughput_rps * options_.batch;
  if (point.mode == LoadMode::kRate) {
    const double span = options_.requests > 0
                            ? static_cast<double>(last_scheduled - window_start) / kNanosPerSecond
                            : options_.duration_seconds;
    if (span > 0) m.offered_rps = static_cast<double>(issued) / span;
  }
  if (m.requests > 0) m.client_cpu_us_per_request = cpu_seconds * 1e6 / m.requests;
  if (cpu_wall > 0) m.client_cpu_percent = 100.0 * cpu_seconds / cpu_wall;
  return m;
}

}  // namespace ferry::loadgen
