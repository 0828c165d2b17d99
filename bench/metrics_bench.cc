// Ferry's metrics (src/monitor/metrics.{h,cc}) against Debian's prometheus-cpp 1.0, on the
// same inputs, to decide whether Ferry should use the library (docs/api.md, "Metrics
// library", has the figures and the decision).
//
// Two costs matter. The request path: MetricsObserver::OnComplete runs once per finished
// request on the thread that finished it, so it is measured alone and with two threads
// finishing requests at once (contention on one hot version is the production case; a
// spread over ten versions is the other end). The scrape: rendering /metrics for ten
// versions, which happens every few seconds and matters far less.
//
// `metrics_bench --dump=DIR` writes both expositions (ferry.prom, prometheus_cpp.prom) of the
// same counts for `promtool check metrics` instead of running the benchmarks.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "monitor/metrics.h"
#include "monitor/metrics_observer.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace ferry {
namespace {

constexpr int kVersions = 10;
constexpr size_t kStream = 4096;  // a power of two, so the stream index is a mask
constexpr size_t kOutcomes = static_cast<size_t>(Outcome::kCount);

// The timings of finished requests, log-uniform from 20 µs to 20 ms per stage so that the
// observations land in many different latency buckets (a fixed value would keep hitting
// one bucket and flatter a linear bucket search). The same stream feeds both libraries.
std::vector<RequestTiming> MakeStream() {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> log_ns(std::log(20e3), std::log(20e6));
  std::vector<RequestTiming> stream(kStream);
  for (RequestTiming& t : stream) {
    t.received_ns = 1'000'000'000;
    t.enqueued_ns = t.received_ns + 5'000;
    t.compute_start_ns = t.enqueued_ns + static_cast<int64_t>(std::exp(log_ns(rng)));
    t.compute_end_ns = t.compute_start_ns + static_cast<int64_t>(std::exp(log_ns(rng)));
    t.finished_ns = t.compute_end_ns + 20'000;
    t.batch_rows = 1 + static_cast<int64_t>(rng() % 64);
  }
  return stream;
}

std::string VersionName(int v) { return std::to_string(v + 1); }

// What adopting prometheus-cpp would hand each version instead of ModelMetrics*: the
// children of its families for these labels, looked up once when the version is created
// (as Ferry's ForModel is), so the request path only follows pointers.
struct PromVersion {
  std::array<prometheus::Counter*, kOutcomes> requests{};
  prometheus::Histogram* request_latency = nullptr;
  prometheus::Histogram* queue_time = nullptr;
  prometheus::Histogram* compute_time = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Gauge* queue_depth = nullptr;
  prometheus::Counter* inference_count = nullptr;
  prometheus::Counter* execution_count = nullptr;
  prometheus::Counter* inline_count = nullptr;
};

// The same metric names, help texts and label sets as MetricsRegistry::RenderPrometheus, so
// the two renders expose the same series.
class PromMetrics {
 public:
  PromMetrics() {
    auto& requests = prometheus::BuildCounter()
                         .Name("ferry_requests_total")
                         .Help("Inference requests that reached a model version, by outcome.")
                         .Register(registry_);
    auto histogram = [&](const char* name, const char* help) -> auto& {
      return prometheus::BuildHistogram().Name(name).Help(help).Register(registry_);
    };
    auto& latency = histogram("ferry_request_duration_seconds",
                              "End-to-end time of an inference request in the server, from "
                              "decoded request to encoded response.");
    auto& queue = histogram("ferry_queue_duration_seconds", "Time a request waited in the batcher's queue.");
    auto& compute = histogram("ferry_compute_duration_seconds", "Compute time of the batch a request rode in.");
    auto& batch = histogram("ferry_batch_size", "Rows per executed batch.");
    auto& depth = prometheus::BuildGauge()
                      .Name("ferry_queue_depth")
                      .Help("Requests waiting in the batcher's queue.")
                      .Register(registry_);
    auto counter = [&](const char* name, const char* help) -> auto& {
      return prometheus::BuildCounter().Name(name).Help(help).Register(registry_);
    };
    auto& inferences = counter("ferry_inference_count_total",
                               "Rows (samples) computed, counting each row of a batched request.");
    auto& executions = counter("ferry_execution_count_total", "Batches executed by the model.");
    auto& inlined = counter("ferry_inline_execution_count_total",
                            "Batches run on the thread that received the request instead of a worker "
                            "(docs/scheduler.md, running inline when idle).");
    http_ = &counter("ferry_http_responses_total", "HTTP responses by status code.");

    for (int v = 0; v < kVersions; ++v) {
      const prometheus::Labels labels{{"model", "fashion_cnn"}, {"version", VersionName(v)}};
      PromVersion& p = versions_[v];
      for (size_t o = 0; o < kOutcomes; ++o) {
        prometheus::Labels with_outcome = labels;
        with_outcome["outcome"] = OutcomeName(static_cast<Outcome>(o));
        p.requests[o] = &requests.Add(with_outcome);
      }
      p.request_latency = &latency.Add(labels, LatencyBuckets());
      p.queue_time = &queue.Add(labels, LatencyBuckets());
      p.compute_time = &compute.Add(labels, LatencyBuckets());
      p.batch_size = &batch.Add(labels, BatchSizeBuckets());
      p.queue_depth = &depth.Add(labels);
      p.inference_count = &inferences.Add(labels);
      p.execution_count = &executions.Add(labels);
      p.inline_count = &inlined.Add(labels);
    }
  }

  PromVersion& version(int v) { return versions_[v]; }
  void CountHttpResponse(int status, double n) {
    http_->Add({{"code", std::to_string(status)}}).Increment(n);
  }
  // What an Exposer's /metrics handler does: collect every family, then serialize.
  std::string Render() const { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

 private:
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>* http_ = nullptr;
  std::array<PromVersion, kVersions> versions_;
};

// MetricsObserver::OnComplete with prometheus-cpp's types: the same outcome mapping and the
// same three observations for a success. The version's handles are found by position, as a
// pointer stored next to ObservedVersion would be; failures are not measured here (their
// statistics-extension counters would stay atomics either way).
class PromObserver final : public RequestObserver {
 public:
  PromObserver(const ObservedVersion* versions, PromMetrics* metrics)
      : versions_(versions), metrics_(metrics) {}
  void OnComplete(const CompletedRequest& request) override {
    if (request.version == nullptr) return;
    PromVersion& p = metrics_->version(static_cast<int>(request.version - versions_));
    const RequestTiming& t = request.timing;
    p.requests[static_cast<size_t>(OutcomeOf(request.status))]->Increment();
    if (request.status.ok()) {
      p.queue_time->Observe((t.compute_start_ns - t.enqueued_ns) / 1e9);
      p.compute_time->Observe((t.compute_end_ns - t.compute_start_ns) / 1e9);
      p.request_latency->Observe((t.finished_ns - t.received_ns) / 1e9);
    }
  }

 private:
  const ObservedVersion* versions_;
  PromMetrics* metrics_;
};

// Both libraries' state for the request-path benchmarks, shared by the threads of a run
// (that sharing is the contention being measured).
struct RequestPath {
  std::vector<RequestTiming> stream = MakeStream();
  MetricsRegistry ferry_registry;
  PromMetrics prom;
  std::array<ObservedVersion, kVersions> versions;
  MetricsObserver ferry_observer;
  PromObserver prom_observer{versions.data(), &prom};

  RequestPath() {
    for (int v = 0; v < kVersions; ++v) {
      versions[v] = {"fashion_cnn", VersionName(v),
                     ferry_registry.ForModel("fashion_cnn", VersionName(v))};
    }
  }
  static RequestPath& Get() {
    static RequestPath* shared = new RequestPath();  // outlives every benchmark thread
    return *shared;
  }
};

// range(0): how many versions the requests are spread over (1: one hot version).
void RunRequestPath(benchmark::State& state, RequestObserver& observer) {
  RequestPath& path = RequestPath::Get();
  const int spread = static_cast<int>(state.range(0));
  const RequestContext context;
  const absl::Status ok = absl::OkStatus();
  // Threads start at different places in the stream so they do not observe in lockstep.
  size_t i = static_cast<size_t>(state.thread_index()) * (kStream / 2);
  for (auto _ : state) {
    const RequestTiming& timing = path.stream[i & (kStream - 1)];
    const ObservedVersion* version = &path.versions[i % static_cast<size_t>(spread)];
    observer.OnComplete({context, version, {}, {}, ok, timing});
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RequestFerry(benchmark::State& state) {
  RunRequestPath(state, RequestPath::Get().ferry_observer);
}
void BM_RequestPrometheusCpp(benchmark::State& state) {
  RunRequestPath(state, RequestPath::Get().prom_observer);
}
// Single-threaded CPU time is the steadier figure on a shared machine; with two threads
// the wall time is what shows waiting on a lock (a sleeping thread burns no CPU), so those
// runs report real time: wall time per request, both threads together.
BENCHMARK(BM_RequestFerry)->Arg(1)->Arg(10);
BENCHMARK(BM_RequestPrometheusCpp)->Arg(1)->Arg(10);
BENCHMARK(BM_RequestFerry)->Arg(1)->Arg(10)->Threads(2)->UseRealTime();
BENCHMARK(BM_RequestPrometheusCpp)->Arg(1)->Arg(10)->Threads(2)->UseRealTime();

// Ten versions of fashion_cnn with the same counts in both libraries: every stream entry
// finishes once on every version, with one batch of its rows, and the transport answers 200.
struct Rendered {
  MetricsRegistry ferry;
  PromMetrics prom;

  Rendered() {
    const std::vector<RequestTiming> stream = MakeStream();
    std::array<ObservedVersion, kVersions> versions;
    for (int v = 0; v < kVersions; ++v) {
      versions[v] = {"fashion_cnn", VersionName(v), ferry.ForModel("fashion_cnn", VersionName(v))};
    }
    MetricsObserver ferry_observer;
    PromObserver prom_observer(versions.data(), &prom);
    const RequestContext context;
    const absl::Status ok = absl::OkStatus();
    for (int v = 0; v < kVersions; ++v) {
      ModelMetrics& m = *versions[v].metrics;
      PromVersion& p = prom.version(v);
      for (size_t i = 0; i < stream.size(); ++i) {
        const RequestTiming& t = stream[i];
        ferry_observer.OnComplete({context, &versions[v], {}, {}, ok, t});
        prom_observer.OnComplete({context, &versions[v], {}, {}, ok, t});
        const bool ran_inline = i % 4 == 0;
        m.RecordBatch(t.batch_rows, t.compute_end_ns - t.compute_start_ns, ran_inline);
        p.batch_size->Observe(static_cast<double>(t.batch_rows));
        p.inference_count->Increment(static_cast<double>(t.batch_rows));
        p.execution_count->Increment();
        if (ran_inline) p.inline_count->Increment();
      }
      m.queue_depth.store(static_cast<uint64_t>(v), std::memory_order_relaxed);
      p.queue_depth->Set(v);
    }
    for (int v = 0; v < kVersions; ++v) {
      for (size_t i = 0; i < stream.size(); ++i) ferry.CountHttpResponse(200);
    }
    prom.CountHttpResponse(200, static_cast<double>(kVersions * stream.size()));
  }
};

Rendered& SharedRendered() {
  static Rendered* rendered = new Rendered();
  return *rendered;
}

void BM_RenderFerry(benchmark::State& state) {
  const Rendered& r = SharedRendered();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = r.ferry.RenderPrometheus();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
void BM_RenderPrometheusCpp(benchmark::State& state) {
  const Rendered& r = SharedRendered();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = r.prom.Render();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderFerry);
BENCHMARK(BM_RenderPrometheusCpp);

int Dump(const std::string& dir) {
  const Rendered& r = SharedRendered();
  for (const auto& [name, text] : {std::pair<const char*, std::string>{"ferry.prom", r.ferry.RenderPrometheus()},
                                   {"prometheus_cpp.prom", r.prom.Render()}}) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path);
    out << text;
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%s (%zu bytes)\n", path.c_str(), text.size());
  }
  return 0;
}

}  // namespace
}  // namespace ferry

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dump=", 7) == 0) return ferry::Dump(argv[i] + 7);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
