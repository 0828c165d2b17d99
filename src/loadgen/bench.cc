#include "loadgen/bench.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "loadgen/idx_reader.h"
#include "loadgen/report.h"
#include "loadgen/runner.h"
#include "loadgen/transport.h"
#include "loadgen/workload.h"

namespace ferry::loadgen {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& content,
                       absl::string_view flag) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat(flag, ": cannot write '", path, "'"));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunBench(const BenchOptions& options) {
  if (options.model.empty()) return absl::InvalidArgumentError("--model is required");
  if (!options.concurrency.empty() && !options.rates.empty()) {
    return absl::InvalidArgumentError("give --concurrency or --rate, not both");
  }
  if (options.timeout_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout-ms must be > 0; was ", options.timeout_ms));
  }
  std::vector<LoadPoint> points;
  for (double rate : options.rates) points.push_back({LoadMode::kRate, rate});
  for (int c : options.concurrency)
    points.push_back({LoadMode::kConcurrency, static_cast<double>(c)});
  if (points.empty()) points.push_back({LoadMode::kConcurrency, 1});

  TransportOptions transport;
  FERRY_ASSIGN_OR_RETURN(transport.protocol, ParseProtocol(options.protocol));
  FERRY_ASSIGN_OR_RETURN(transport.endpoint, ParseUrl(options.url));
  transport.model = options.model;
  transport.version = options.model_version;
  transport.max_connections = options.max_connections;
  transport.timeout = std::chrono::milliseconds(options.timeout_ms);
  transport.check_responses = options.check_responses;
  transport.shm_outputs = options.shm_outputs;
  if (!transport.shm_outputs.empty() && transport.protocol != Protocol::kHttpShm) {
    return absl::InvalidArgumentError("--shm-outputs needs --protocol http-shm");
  }

  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ControlClient> control, CreateControlClient(transport));
  FERRY_ASSIGN_OR_RETURN(ModelSignature signature, control->GetModelMetadata());

  WorkloadOptions workload_options;
  workload_options.batch = options.batch;
  workload_options.pool_size = options.pool_size;
  workload_options.seed = options.seed;
  for (const std::string& text : options.shape_overrides) {
    FERRY_ASSIGN_OR_RETURN(auto shape, ParseShapeOverride(text));
    workload_options.shape_overrides[shape.first] = shape.second;
  }
  IdxArray data;
  if (!options.data.empty()) {
    FERRY_ASSIGN_OR_RETURN(data, ReadIdxFile(options.data));
    workload_options.data = &data;
  }
  FERRY_ASSIGN_OR_RETURN(Workload workload, BuildWorkload(signature, workload_options));
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<TransportFactory> factory,
                         CreateTransportFactory(transport, workload));
  std::vector<std::string> inputs;
  for (const Tensor& input : workload.requests[0].inputs) {
    inputs.push_back(
        absl::StrCat(input.name, " ", DataTypeName(input.dtype), " ", ShapeToString(input.shape)));
  }
  std::fprintf(stderr,
               "ferry bench: %zu requests pre-encoded (%llu bytes each on average); inputs %s\n",
               factory->pool_size(), static_cast<unsigned long long>(factory->mean_request_bytes()),
               absl::StrJoin(inputs, ", ").c_str());

  RunnerOptions runner_options;
  runner_options.threads = options.threads;
  runner_options.warmup_seconds = options.warmup_seconds;
  runner_options.duration_seconds = options.duration_seconds;
  runner_options.requests = options.requests;
  runner_options.batch = options.batch;
  runner_options.seed = options.seed;
  runner_options.late_threshold = std::chrono::microseconds(options.late_threshold_us);
  runner_options.progress_tty = isatty(STDERR_FILENO) != 0;
  runner_options.progress = options.progress || runner_options.progress_tty;
  runner_options.stop = options.stop;
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<LoadRunner> runner,
                         LoadRunner::Create(runner_options, factory.get(), control.get()));

  std::vector<Measurement> runs;
  for (const LoadPoint& point : points) {
    FERRY_ASSIGN_OR_RETURN(Measurement m, runner->Measure(point));
    runs.push_back(std::move(m));
    if (runs.back().interrupted) break;
  }
  runner.reset();

  ReportContext context;
  context.url = options.url;
  context.model = options.model;
  context.version = options.model_version;
  context.protocol = std::string(ProtocolName(transport.protocol));
  context.inputs = options.data.empty() ? "random" : options.data;
  context.batch = options.batch;
  context.threads = options.threads;
  context.warmup_seconds = options.warmup_seconds;
  context.duration_seconds = options.duration_seconds;
  context.requests = options.requests;
  context.pool_size = factory->pool_size();
  context.request_bytes = factory->mean_request_bytes();
  std::fputs(FormatTable(context, runs).c_str(), stdout);
  std::fflush(stdout);
  if (!options.json_path.empty()) {
    FERRY_RETURN_IF_ERROR(WriteFile(options.json_path, FormatJson(context, runs), "--json"));
  }
  if (!options.csv_path.empty()) {
    FERRY_RETURN_IF_ERROR(WriteFile(options.csv_path, FormatCsv(runs), "--csv"));
  }
  if (!options.plot_path.empty()) {
    if (absl::Status s = WritePlot(context, runs, options.plot_path); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    }
  }
  for (const Measurement& m : runs) {
    if (m.ok == 0) {
      return absl::UnavailableError(absl::StrCat(
          "no request succeeded at ", LoadPointLabel(m.point), " (see the errors above)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ferry::loadgen
