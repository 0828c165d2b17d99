// ferry_limit: the in-process limit. Loads a model through Ferry's own backend, exactly
// as the server does (config.toml -> CreateBackend -> WarmUp), and forwards batches as
// fast as it can with no server around it. A server cannot beat these numbers; the
// benchmark reports how close it gets (docs/benchmarks.md, bench/run_bench.sh).
//
//   ferry_limit --model-repository models --model fashion_cnn
//               [--version 1] [--batch-sizes 1,8,16,32,64] [--seconds 3]
//               [--threads N] [--parallel K] [--pause-us P] [--no-optimize]
//
// Prints one JSON line per batch size on stdout; logs go to stderr.
//   --threads N    intra-op threads per forwarding thread (default: the model's
//                  execution.intra_op_threads)
//   --parallel K   K threads forward at once, each prepared like a server worker
//                  (PrepareWorkerThread), the way the server runs `workers = K`.
//   --pause-us P   sleep P µs before each forward, as a server's thread idles between
//                  requests at low load; the forward times show what the idle costs
//                  (samples_per_sec then includes the pauses).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "backends/backend.h"
#include "backends/create_backend.h"
#include "backends/torch/torch_backend.h"
#include "repository/model_config.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace {

using Clock = std::chrono::steady_clock;

// Inputs of `rows` rows with values a real client would send: pixels 0..255 for float
// inputs, small integers otherwise. Zeros could flatter a model (sparse paths).
std::vector<ferry::Tensor> RandomInputs(const ferry::ModelSignature& sig, int64_t rows,
                                        uint32_t seed) {
  std::vector<ferry::Tensor> inputs = ferry::ZeroInputs(sig, rows);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pixel(0, 255);
  for (ferry::Tensor& t : inputs) {
    const int64_t n = t.element_count();
    for (int64_t i = 0; i < n; ++i) {
      const int v = pixel(rng);
      switch (t.dtype) {
        case ferry::DataType::kFp32: t.mutable_data_as<float>()[i] = static_cast<float>(v); break;
        case ferry::DataType::kFp64: t.mutable_data_as<double>()[i] = v; break;
        case ferry::DataType::kInt32: t.mutable_data_as<int32_t>()[i] = v % 16; break;
        case ferry::DataType::kInt64: t.mutable_data_as<int64_t>()[i] = v % 16; break;
        case ferry::DataType::kUint8: t.mutable_data_as<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        default: break;  // zeros for the rest
      }
    }
  }
  return inputs;
}

struct ThreadResult {
  int64_t rows = 0;
  std::vector<double> forward_us;
  std::string error;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[idx];
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ferry in-process limit: forwards a model with no server around it"};
  std::string repository = "models";
  std::string model;
  int64_t version = 1;
  std::vector<int64_t> batch_sizes = {1, 8, 16, 32, 64};
  double seconds = 3.0;
  int threads = 0;
  int parallel = 1;
  int pause_us = 0;
  bool no_optimize = false;
  app.add_option("--model-repository", repository, "model repository folder")->capture_default_str();
  app.add_option("--model", model, "model name (a folder in the repository)")->required();
  app.add_option("--version", version, "version folder")->capture_default_str();
  app.add_option("--batch-sizes", batch_sizes, "comma-separated batch sizes")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--seconds", seconds, "measured seconds per batch size")->capture_default_str();
  app.add_option("--threads", threads,
                 "intra-op threads per forwarding thread (0: the model's execution.intra_op_threads)")
      ->capture_default_str();
  app.add_option("--parallel", parallel, "threads forwarding at once, each like a server worker")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--pause-us", pause_us, "sleep this long before each forward (an idle server thread)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_flag("--no-optimize", no_optimize, "serve the plain module (skip freeze + optimize)");
  CLI11_PARSE(app, argc, argv);

  // stdout carries only the JSON lines.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ferry_limit"));

  const std::string model_dir = (std::filesystem::path(repository) / model).string();
  absl::StatusOr<ferry::ModelConfig> config = ferry::LoadModelConfig(model_dir);
  if (!config.ok()) {
    std::fprintf(stderr, "ferry_limit: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  if (threads <= 0) threads = config->execution.intra_op_threads;
  for (int64_t b : batch_sizes) {
    if (b < 1 || b > config->signature.max_batch_size) {
      std::fprintf(stderr, "ferry_limit: batch size %lld is outside [1, max_batch_size %lld]\n",
                   static_cast<long long>(b),
                   static_cast<long long>(config->signature.max_batch_size));
      return 1;
    }
  }

  // As `ferry serve` does: one inter-op thread (workers are the parallelism), one intra-op
  // thread by default; each forwarding thread then takes `threads` in PrepareWorkerThread.
  ferry::ConfigureTorchProcess(/*interop_threads=*/1, /*intra_op_threads=*/1);
  ferry::BackendOptions options;
  options.platform = config->platform;
  options.version_path = (std::filesystem::path(model_dir) / std::to_string(version)).string();
  options.signature = config->signature;
  options.intra_op_threads = threads;
  options.optimize = !no_optimize;
  absl::StatusOr<std::unique_ptr<ferry::Backend>> backend = ferry::CreateBackend(options);
  if (!backend.ok()) {
    std::fprintf(stderr, "ferry_limit: %s\n", std::string(backend.status().message()).c_str());
    return 1;
  }
  ferry::Backend& be = **backend;
  be.PrepareWorkerThread();
  if (absl::Status s = ferry::WarmUp(be, config->signature, batch_sizes); !s.ok()) {
    std::fprintf(stderr, "ferry_limit: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  spdlog::info("{} v{}: {}; {} thread(s) x {} parallel", model, version, be.Describe(), threads,
               parallel);

  for (int64_t rows : batch_sizes) {
    std::vector<std::vector<ferry::Tensor>> templates;
    for (int k = 0; k < parallel; ++k) {
      templates.push_back(RandomInputs(config->signature, rows, 1234u + 977u * k));
    }
    std::vector<ThreadResult> results(parallel);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    Clock::time_point start, deadline;
    auto worker = [&](int k) {
      be.PrepareWorkerThread();
      ThreadResult& r = results[k];
      // Per-thread warm-up: the thread pool of this thread and the allocator settle.
      for (int i = 0; i < 5; ++i) {
        std::vector<ferry::Tensor> in = templates[k];
        if (auto out = be.Execute(in); !out.ok()) {
          r.error = std::string(out.status().message());
          break;
        }
      }
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      if (!r.error.empty()) return;
      while (Clock::now() < deadline) {
        // A fresh copy each time: the backend may consume its inputs, and the server
        // also builds a new batch tensor for every execution.
        std::vector<ferry::Tensor> in = templates[k];
        if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
        const Clock::time_point t0 = Clock::now();
        absl::StatusOr<std::vector<ferry::Tensor>> out = be.Execute(in);
        const Clock::time_point t1 = Clock::now();
        if (!out.ok()) {
          r.error = std::string(out.status().message());
          return;
        }
        r.rows += rows;
        r.forward_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    };
    std::vector<std::thread> pool;
    for (int k = 1; k < parallel; ++k) pool.emplace_back(worker, k);
    // Thread 0 is this thread, already prepared.
    std::thread self_ready([&] {
      while (ready.load() < parallel) std::this_thread::yield();
      start = Clock::now();
      deadline = start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(seconds));
      go.store(true, std::memory_order_release);
    });
    worker(0);
    self_ready.join();
    for (std::thread& t : pool) t.join();
    const Clock::time_point end = Clock::now();

    int64_t total_rows = 0;
    std::vector<double> all_us;
    for (const ThreadResult& r : results) {
      if (!r.error.empty()) {
        std::fprintf(stderr, "ferry_limit: batch %lld: %s\n", static_cast<long long>(rows),
                     r.error.c_str());
        return 1;
      }
      total_rows += r.rows;
      all_us.insert(all_us.end(), r.forward_us.begin(), r.forward_us.end());
    }
    const double elapsed = std::chrono::duration<double>(end - start).count();
    double mean = 0;
    for (double us : all_us) mean += us;
    if (!all_us.empty()) mean /= all_us.size();
    std::printf(
        "{\"model\":\"%s\",\"version\":%lld,\"batch_size\":%lld,\"threads\":%d,\"parallel\":%d,"
        "\"optimized\":%s,\"forwards\":%zu,\"seconds\":%.3f,\"samples_per_sec\":%.1f,"
        "\"forward_p50_us\":%.1f,\"forward_p90_us\":%.1f,\"forward_p99_us\":%.1f,"
        "\"forward_mean_us\":%.1f,\"pause_us\":%d}\n",
        JsonEscape(model).c_str(), static_cast<long long>(version), static_cast<long long>(rows),
        threads, parallel, no_optimize ? "false" : "true", all_us.size(), elapsed,
        elapsed > 0 ? total_rows / elapsed : 0.0, Percentile(all_us, 0.5),
        Percentile(all_us, 0.9), Percentile(all_us, 0.99), mean, pause_us);
    std::fflush(stdout);
  }
  return 0;
}
