// `ferry bench`: the whole run behind the command line. Asks the server for the model's
// signature, builds and pre-encodes the request pool, measures each load point of the sweep
// and reports. src/cli/bench.cc only maps flags onto BenchOptions.
#ifndef FERRY_LOADGEN_BENCH_H_
#define FERRY_LOADGEN_BENCH_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ferry::loadgen {

struct BenchOptions {
  std::string url = "http://127.0.0.1:8000";
  std::string model;                   // required
  std::string model_version;           // empty: the server picks
  std::string protocol = "http-json";  // http-json | http-binary | http-shm | grpc
  // An idx file (gzip or plain) whose rows fill the model's single input; empty: random
  // inputs shaped from the model's metadata.
  std::string data;
  std::vector<std::string> shape_overrides;  // "NAME:D1,D2,..."
  // http-shm: outputs (by name) to have written into the connection's region too; the
  // request then asks for exactly these. Empty: every output comes back in the body.
  std::vector<std::string> shm_outputs;
  int batch = 1;
  // The sweep: one measurement per value. Set one of the two; neither means concurrency 1.
  std::vector<int> concurrency;
  std::vector<double> rates;  // requests/s, open loop
  size_t max_connections = 256;
  double warmup_seconds = 2;
  double duration_seconds = 10;
  uint64_t requests = 0;  // > 0: this many requests per measurement instead of a duration
  int threads = 1;
  int timeout_ms = 30000;
  size_t pool_size = 100;
  uint64_t seed = 1;
  int late_threshold_us = 1000;
  bool check_responses = true;
  // Progress on stderr: forced on by `progress`, otherwise only when stderr is a terminal.
  bool progress = false;
  std::string json_path;
  std::string csv_path;
  std::string plot_path;
  // When it becomes true (the programs set it from a SIGINT handler), the current
  // measurement ends early and is reported, and the rest of the sweep is skipped. May be
  // null. Not owned.
  const std::atomic<bool>* stop = nullptr;
};

// Runs the benchmark, printing the table on stdout and progress and notes on stderr.
// Touches no process-wide state (signal dispositions, Abseil's deadlock detection): the
// program's main sets those, and should ignore SIGPIPE, since a server that closes a
// connection mid-write must give an error here, not kill the process.
// Returns an error for bad options, an unreachable server or unknown model, a file that
// cannot be written, or a measurement in which no request succeeded (after reporting it).
// A failed --plot is reported on stderr but does not fail the run.
absl::Status RunBench(const BenchOptions& options);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_BENCH_H_
