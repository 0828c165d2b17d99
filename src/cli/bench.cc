// `ferry bench`: a load generator for any Open Inference Protocol (KServe V2) server. Flags
// only; the work is in src/loadgen/.
#include "loadgen/bench.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/commands.h"

namespace ferry {
namespace {

std::atomic<bool> interrupted{false};

// The first Ctrl-C ends the current measurement and reports what was measured; a second
// one kills the process as usual.
void OnInterrupt(int) {
  interrupted.store(true);
  signal(SIGINT, SIG_DFL);
}

}  // namespace

void AddBenchCommand(CLI::App& app, std::function<int()>& run) {
  auto options = std::make_shared<loadgen::BenchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Load-test a V2 inference server: throughput, latency percentiles, errors.");
  cmd->footer(
      "Closed loop (--concurrency N: N requests always outstanding) or open loop (--rate R:\n"
      "Poisson arrivals, latency from the scheduled time). A comma-separated list runs a\n"
      "sweep, one measurement per value. Reports req/s and samples/s, p50/p90/p99/max\n"
      "latency, errors by kind, the server's queue/compute split from the statistics\n"
      "extension, and the client's own CPU per request. Ctrl-C ends the current\n"
      "measurement and reports what was measured.");
  cmd->add_option("--url", options->url,
                  "Server, http://HOST:PORT; with --protocol grpc, HOST:PORT of its gRPC port")
      ->capture_default_str();
  cmd->add_option("--model", options->model, "Model name")->required();
  cmd->add_option("--model-version", options->model_version,
                  "Model version (default: the server picks)");
  cmd->add_option("--protocol", options->protocol,
                  "http-json, http-binary (binary tensor data extension), http-shm (inputs through "
                  "system shared memory, same host only) or grpc")
      ->check(CLI::IsMember({"http-json", "http-binary", "http-shm", "grpc"}))
      ->capture_default_str();
  cmd->add_option("--data", options->data,
                  "idx file (gzip or plain, e.g. Fashion-MNIST t10k-images-idx3-ubyte.gz) whose "
                  "rows fill the model's single input; default: random inputs from the model's "
                  "metadata");
  cmd->add_option("--shape-override", options->shape_overrides,
                  "NAME:D1,D2,... for an input with -1 dims (without or with the batch dim); "
                  "repeatable");
  cmd->add_option("--batch", options->batch, "Rows per request")->capture_default_str();
  cmd->add_option("--concurrency", options->concurrency,
                  "Closed loop: requests outstanding, over as many keep-alive connections; "
                  "a comma-separated list is a sweep (default 1)")
      ->delimiter(',');
  cmd->add_option("--rate", options->rates,
                  "Open loop: requests/s with Poisson arrivals; latency from the scheduled "
                  "time; a comma-separated list is a sweep")
      ->delimiter(',');
  cmd->add_option("--max-connections", options->max_connections,
                  "Open loop connection pool per thread (and the concurrency cap)")
      ->capture_default_str();
  cmd->add_option("--warmup-seconds", options->warmup_seconds, "Load before each measurement")
      ->capture_default_str();
  cmd->add_option("--duration-seconds", options->duration_seconds, "Length of each measurement")
      ->capture_default_str();
  cmd->add_option("--requests", options->requests,
                  "Measure this many requests instead of a duration");
  cmd->add_option("--threads", options->threads, "Client threads, each one io_context")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", options->timeout_ms, "Per-request timeout")
      ->capture_default_str();
  cmd->add_option("--pool-size", options->pool_size,
                  "Requests pre-encoded before the run and sent round-robin")
      ->capture_default_str();
  cmd->add_option("--seed", options->seed, "Seeds random inputs and arrival times")
      ->capture_default_str();
  cmd->add_option("--late-threshold-us", options->late_threshold_us,
                  "Open loop: a request sent this much after its schedule counts as late")
      ->capture_default_str();
  cmd->add_option("--shm-outputs", options->shm_outputs,
                  "http-shm: outputs to receive through the shared-memory region too "
                  "(comma-separated names; the request asks for exactly these)")
      ->delimiter(',');
  cmd->add_flag("!--no-check", options->check_responses,
                "Do not parse response bodies (saves client CPU on large outputs)");
  cmd->add_flag("--progress", options->progress,
                "Progress line on stderr even when it is not a terminal");
  cmd->add_option("--json", options->json_path, "Write results as JSON");
  cmd->add_option("--csv", options->csv_path, "Write results as CSV, one row per measurement");
  cmd->add_option("--plot", options->plot_path,
                  "Write a PNG of p99 latency vs throughput (gnuplot)");
  cmd->callback([&run, options] {
    run = [options] {
      interrupted.store(false);
      options->stop = &interrupted;
      signal(SIGINT, OnInterrupt);
      const absl::Status status = loadgen::RunBench(*options);
      signal(SIGINT, SIG_DFL);
      if (!status.ok()) {
        std::fprintf(stderr, "ferry bench: %s\n", std::string(status.message()).c_str());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace ferry
