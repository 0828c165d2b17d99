#include "monitor/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kInvalid: return "invalid";
    case Outcome::kRejected: return "rejected";
    case Outcome::kCancelled: return "cancelled";
    case Outcome::kExpired: return "expired";
    case Outcome::kError: return "error";
    default: return "unknown";
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0 && std::isfinite(value)) {
    sum_nanos_.fetch_add(static_cast<uint64_t>(std::llround(value * 1e9)), std::memory_order_relaxed);
  }
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = buckets_[i].load(std::memory_order_relaxed);
  return counts;
}

double Histogram::Sum() const {
  return static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0, 10.0};
}

std::vector<double> BatchSizeBuckets() {
  std::vector<double> bounds;
  for (double b = 1; b <= 1024; b *= 2) bounds.push_back(b);
  return bounds;
}

ModelMetrics::ModelMetrics(std::string model_name, std::string version_name)
    : model(std::move(model_name)),
      version(std::move(version_name)),
      request_latency(LatencyBuckets()),
      queue_time(LatencyBuckets()),
      compute_time(LatencyBuckets()),
      batch_size(BatchSizeBuckets()) {}

void ModelMetrics::RecordBatch(int64_t rows, int64_t compute_ns, bool ran_inline) {
  execution_count.fetch_add(1, std::memory_order_relaxed);
  if (ran_inline) inline_count.fetch_add(1, std::memory_order_relaxed);
  inference_count.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  batch_size.Observe(static_cast<double>(rows));
  const size_t slot = std::min<size_t>(static_cast<size_t>(rows), kTrackedBatchSizes);
  batches_by_size[slot].fetch_add(1, std::memory_order_relaxed);
  batch_ns_by_size[slot].fetch_add(static_cast<uint64_t>(compute_ns), std::memory_order_relaxed);
}

ModelMetrics* MetricsRegistry::ForModel(const std::string& model, const std::string& version) {
  absl::MutexLock lock(&mu_);
  for (ModelMetrics& m : models_) {
    if (m.model == model && m.version == version) return &m;
  }
  return &models_.emplace_back(model, version);
}

void MetricsRegistry::CountHttpResponse(int status) {
  if (status >= 100 && status < 600) {
    http_responses_[status - 100].fetch_add(1, std::memory_order_relaxed);
  }
}

namespace {

// Label values may hold any UTF-8; the format requires \, " and newline escaped.
std::string EscapeLabel(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.10g", v);
}

void Header(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void AppendHistogram(std::string& out, const char* name, const std::string& labels,
                     const Histogram& h) {
  const std::vector<uint64_t> counts = h.BucketCounts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < h.bounds().size() ? FormatDouble(h.bounds()[i]) : "+Inf";
    absl::StrAppend(&out, name, "_bucket{", labels, ",le=\"", le, "\"} ", cumulative, "\n");
  }
  // The sum and count come from the same buckets' era; reading count as the cumulative
  // total keeps _count equal to the +Inf bucket even while observations race in.
  absl::StrAppend(&out, name, "_sum{", labels, "} ", FormatDouble(h.Sum()), "\n");
  absl::StrAppend(&out, name, "_count{", labels, "} ", cumulative, "\n");
}

}  // namespace

void ModelMetrics::RecordStage(size_t stage, int64_t answered, int64_t escalated) {
  if (stage >= kMaxCascadeStages) stage = kMaxCascadeStages - 1;
  stage_answered[stage].fetch_add(static_cast<uint64_t>(answered), std::memory_order_relaxed);
  stage_escalated[stage].fetch_add(static_cast<uint64_t>(escalated), std::memory_order_relaxed);
}

std::string MetricsRegistry::RenderPrometheus() const {
  absl::ReaderMutexLock lock(&mu_);
  std::string out;
  std::vector<std::string> labels;
  for (const ModelMetrics& m : models_) {
    labels.push_back(absl::StrCat("model=\"", EscapeLabel(m.model), "\",version=\"",
                                  EscapeLabel(m.version), "\""));
  }

  Header(out, "ferry_requests_total", "counter",
         "Inference requests that reached a model version, by outcome.");
  for (size_t i = 0; i < models_.size(); ++i) {
    for (size_t o = 0; o < static_cast<size_t>(Outcome::kCount); ++o) {
      absl::StrAppend(&out, "ferry_requests_total{", labels[i], ",outcome=\"",
                      OutcomeName(static_cast<Outcome>(o)), "\"} ",
                      models_[i].requests[o].load(std::memory_order_relaxed), "\n");
    }
  }
  struct HistogramMetric {
    const char* name;
    const char* help;
    const Histogram ModelMetrics::*field;
  };
  const HistogramMetric histograms[] = {
      {"ferry_request_duration_seconds",
       "End-to-end time of an inference request in the server, from decoded request to encoded response.",
       &ModelMetrics::request_latency},
      {"ferry_queue_duration_seconds", "Time a request waited in the batcher's queue.",
       &ModelMetrics::queue_time},
      {"ferry_compute_duration_seconds", "Compute time of the batch a request rode in.",
       &ModelMetrics::compute_time},
      {"ferry_batch_size", "Rows per executed batch.", &ModelMetrics::batch_size},
  };
  for (const HistogramMetric& h : histograms) {
    Header(out, h.name, "histogram", h.help);
    for (size_t i = 0; i < models_.size(); ++i) AppendHistogram(out, h.name, labels[i], models_[i].*h.field);
  }
  Header(out, "ferry_queue_depth", "gauge", "Requests waiting in the batcher's queue.");
  for (size_t i = 0; i < models_.size(); ++i) {
    absl::StrAppend(&out, "ferry_queue_depth{", labels[i], "} ",
                    models_[i].queue_depth.load(std::memory_order_relaxed), "\n");
  }
  Header(out, "ferry_inference_count_total", "counter",
         "Rows (samples) computed, counting each row of a batched request.");
  for (size_t i = 0; i < models_.size(); ++i) {
    absl::StrAppend(&out, "ferry_inference_count_total{", labels[i], "} ",
                    models_[i].inference_count.load(std::memory_order_relaxed), "\n");
  }
  Header(out, "ferry_execution_count_total", "counter", "Batches executed by the model.");
  for (size_t i = 0; i < models_.size(); ++i) {
    absl::StrAppend(&out, "ferry_execution_count_total{", labels[i], "} ",
                    models_[i].execution_count.load(std::memory_order_relaxed), "\n");
  }
  Header(out, "ferry_inline_execution_count_total", "counter",
         "Batches run on the thread that received the request instead of a worker "
         "(docs/scheduler.md, running inline when idle).");
  for (size_t i = 0; i < models_.size(); ++i) {
    absl::StrAppend(&out, "ferry_inline_execution_count_total{", labels[i], "} ",
                    models_[i].inline_count.load(std::memory_order_relaxed), "\n");
  }
  struct StageMetric {
    const char* name;
    const char* help;
    const std::array<std::atomic<uint64_t>, ModelMetrics::kMaxCascadeStages> ModelMetrics::*field;
  };
  const StageMetric stages[] = {
      {"ferry_cascade_answers_total", "Rows a cascade stage answered itself.",
       &ModelMetrics::stage_answered},
      {"ferry_cascade_escalations_total", "Rows a cascade stage passed on to the next stage.",
       &ModelMetrics::stage_escalated},
  };
  for (const StageMetric& metric : stages) {
    Header(out, metric.name, "counter", metric.help);
    for (size_t i = 0; i < models_.size(); ++i) {
      const size_t n = models_[i].cascade_stages.load(std::memory_order_relaxed);
      for (size_t st = 0; st < n; ++st) {
        absl::StrAppend(&out, metric.name, "{", labels[i], ",stage=\"", st, "\"} ",
                        (models_[i].*metric.field)[st].load(std::memory_order_relaxed), "\n");
      }
    }
  }
  Header(out, "ferry_http_responses_total", "counter", "HTTP responses by status code.");
  for (size_t c = 0; c < http_responses_.size(); ++c) {
    const uint64_t n = http_responses_[c].load(std::memory_order_relaxed);
    if (n > 0) absl::StrAppend(&out, "ferry_http_responses_total{code=\"", c + 100, "\"} ", n, "\n");
  }
  return out;
}

}  // namespace ferry
