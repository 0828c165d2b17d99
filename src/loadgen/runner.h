// Drives load and measures it: a closed loop (N requests always outstanding) or an open loop
// (Poisson arrivals at a fixed rate), a warm-up, then a measurement window.
//
// Threads: `threads` workers, each an io_context on its own thread with its own Transport,
// taking an equal share of the concurrency or rate (a sum of Poisson processes is Poisson).
// Workers share nothing on the request path; the main thread only starts a measurement,
// reads the server's statistics and the process CPU time at its edges, and prints progress.
//
// What counts: a request belongs to the measurement when it was scheduled (open loop) or
// issued (closed loop) inside the window, [warm-up end, warm-up end + duration), or is one
// of the first `requests` after the warm-up. Every such request is waited for. Open-loop
// latency runs from the scheduled time, not the send time, so a client or connection pool
// that falls behind shows up as latency instead of hiding it (coordinated omission); how
// often the client itself was late is counted separately.
#ifndef FERRY_LOADGEN_RUNNER_H_
#define FERRY_LOADGEN_RUNNER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loadgen/histogram.h"
#include "loadgen/stats.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {

enum class LoadMode { kConcurrency, kRate };

struct LoadPoint {
  LoadMode mode = LoadMode::kConcurrency;
  double value = 1;  // outstanding requests, or requests per second
};

struct RunnerOptions {
  // Workers, each one thread and one io_context. One keeps the client's footprint small.
  int threads = 1;
  double warmup_seconds = 2;
  // Length of the measurement window; ignored when `requests` > 0.
  double duration_seconds = 10;
  // When > 0, measure exactly this many requests after the warm-up.
  uint64_t requests = 0;
  // Rows per request, for samples/s.
  int batch = 1;
  // Seeds the open loop's arrival times (worker i uses a stream derived from seed and i).
  uint64_t seed = 1;
  // An open-loop request sent later than this after its scheduled time counts as late.
  std::chrono::microseconds late_threshold{1000};
  // Print a progress line on stderr about once a second; `progress_tty` rewrites one line
  // in place, otherwise a line per update.
  bool progress = false;
  bool progress_tty = false;
  // When it becomes true (e.g. from a SIGINT handler), the current measurement ends early:
  // no new requests, those in flight are waited for. May be null.
  const std::atomic<bool>* stop = nullptr;
};

struct ErrorCounts {
  std::map<int, uint64_t> http_status;  // HTTP status code -> requests
  std::map<int, uint64_t> grpc_status;  // gRPC status code -> requests
  uint64_t connection = 0;
  uint64_t timeout = 0;
  uint64_t bad_response = 0;
  // The first few errors, "<kind>: <detail>", to say what went wrong, not just how often.
  std::vector<std::string> examples;

  uint64_t total() const;
  void Merge(const ErrorCounts& other);
};

struct Measurement {
  LoadPoint point;
  bool interrupted = false;  // ended early through RunnerOptions::stop
  uint64_t requests = 0;     // measured requests that completed, successful or not
  uint64_t ok = 0;
  // From the window start to the last measured completion.
  double seconds = 0;
  double throughput_rps = 0;  // ok / seconds
  double samples_per_second = 0;
  LatencyHistogram latency_ns;  // successful requests only
  ErrorCounts errors;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;

  // Open loop only: the rate actually scheduled, and how far the client fell behind.
  double offered_rps = 0;
  // Sent more than late_threshold after schedule through the client's own delay (a busy
  // thread, timer wake-up), not counting waits for a connection.
  uint64_t late = 0;
  double max_lag_us = 0;    // worst such delay
  uint64_t pool_waits = 0;  // had to wait for a free connection (the server held them all)

  // getrusage(RUSAGE_SELF) user + system time over the window, per measured request.
  double client_cpu_us_per_request = 0;
  double client_cpu_percent = 0;  // of one core

  // From the statistics extension; unset when unavailable (`server_note` says why).
  std::optional<ServerSplit> server;
  std::string server_note;
};

class LoadRunner {
 public:
  // Starts `options.threads` workers, each with a transport from `factory`. `control`, may
  // be null, is asked for statistics around each measurement. Both must outlive the runner.
  static absl::StatusOr<std::unique_ptr<LoadRunner>> Create(const RunnerOptions& options,
                                                            TransportFactory* factory,
                                                            ControlClient* control);
  ~LoadRunner();

  // Runs warm-up and measurement at `point`, blocking until every measured request is done.
  // InvalidArgument for a concurrency below 1 or above threads x transport capacity, or a
  // rate that is not positive.
  absl::StatusOr<Measurement> Measure(const LoadPoint& point);

 private:
  class Worker;
  LoadRunner(const RunnerOptions& options, ControlClient* control);

  RunnerOptions options_;
  ControlClient* control_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// "concurrency 4" / "rate 500/s".
std::string LoadPointLabel(const LoadPoint& point);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_RUNNER_H_
