#include "cli/local_model.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/create_backend.h"
#include "backends/torch/torch_backend.h"
#include "common/status_macros.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace ferry {

absl::StatusOr<std::unique_ptr<LocalModel>> LocalModel::Open(const LocalModelOptions& options,
                                                              const Tensor& probe) {
  std::unique_ptr<LocalModel> local(new LocalModel());
  local->options_ = options;
  const std::string dir = (std::filesystem::path(options.repository) / options.model).string();
  if (!std::filesystem::is_directory(dir)) {
    return absl::NotFoundError(absl::StrCat("no model folder ", dir));
  }
  FERRY_ASSIGN_OR_RETURN(local->config_, LoadModelConfig(dir));

  // As `ferry serve` does: batch workers set their own intra-op threads.
  ConfigureTorchProcess(/*interop_threads=*/1, /*intra_op_threads=*/1);
  FERRY_RETURN_IF_ERROR(SetQuantizedEngine(options.quantized_engine));
  ServerOptions server;
  server.model_repository = options.repository;
  server.load_calibration = options.load_calibration;
  server.only_models = {options.model};
  server.backend_factory = CreateBackend;
  FERRY_ASSIGN_OR_RETURN(local->server_, InferenceServer::Create(server));

  absl::StatusOr<bool> ready = local->server_->IsModelReady(options.model, options.version);
  if (!ready.ok() || !*ready) {
    std::string why = ready.ok() ? "" : std::string(ready.status().message());
    for (const ModelIndexEntry& e : local->server_->Index()) {
      if (e.name == options.model && !e.reason.empty()) {
        absl::StrAppend(&why, why.empty() ? "" : "; ", "version ", e.version, ": ", e.reason);
      }
    }
    return absl::UnavailableError(absl::StrCat("model '", options.model, "' version ",
                                               options.version.empty() ? "(default)" : options.version,
                                               " is not ready: ", why));
  }
  local->version_ = options.version;
  InferRequest request;
  request.inputs = {probe};
  FERRY_ASSIGN_OR_RETURN(InferResponse response, local->Infer(std::move(request)));
  local->version_ = response.model_version;
  return local;
}

std::string LocalModel::VersionPath() const {
  return (std::filesystem::path(options_.repository) / options_.model / version_).string();
}

absl::StatusOr<InferResponse> LocalModel::Infer(InferRequest request, int64_t* wall_ns) {
  std::promise<absl::StatusOr<InferResponse>> done;
  std::future<absl::StatusOr<InferResponse>> result = done.get_future();
  const auto start = std::chrono::steady_clock::now();
  server_->Infer(std::make_shared<RequestContext>(), options_.model, version_, std::move(request),
                 [&done](absl::StatusOr<InferResponse> r) { done.set_value(std::move(r)); });
  absl::StatusOr<InferResponse> response = result.get();
  if (wall_ns != nullptr) {
    *wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  }
  return response;
}

absl::StatusOr<OpenedForData> OpenForData(const LocalModelOptions& options, const LabeledSet& data,
                                          const std::string& data_path) {
  OpenedForData opened;
  FERRY_ASSIGN_OR_RETURN(opened.config,
                         LoadModelConfig((std::filesystem::path(options.repository) / options.model).string()));
  FERRY_ASSIGN_OR_RETURN(opened.input, SingleInput(opened.config));
  FERRY_ASSIGN_OR_RETURN(opened.classes, LogitClasses(opened.config, data.classes));
  FERRY_RETURN_IF_ERROR(CheckLabeledSetFits(data, opened.input, opened.classes, data_path));
  FERRY_ASSIGN_OR_RETURN(opened.local, LocalModel::Open(options, data.Rows(opened.input.name, 0, 1)));
  return opened;
}

LocalModelOptions LocalCommandFlags::ModelOptions() const {
  LocalModelOptions options;
  options.repository = model_repository;
  options.model = model;
  options.version = version;
  options.quantized_engine = quantized_engine;
  return options;
}

void AddLocalCommandFlags(CLI::App& cmd, LocalCommandFlags& flags, const std::string& data_example) {
  cmd.add_option("--model-repository", flags.model_repository, "Folder with <model>/config.toml")
      ->capture_default_str();
  cmd.add_option("--model", flags.model, "Model name")->required();
  cmd.add_option("--version", flags.version, "Model version (default: the served default)");
  cmd.add_option("--data", flags.data, absl::StrCat("Labeled set (e.g. ", data_example, ")"))
      ->required();
  cmd.add_option("--quantized-engine", flags.quantized_engine,
                 "libtorch kernels for int8 models: onednn or qnnpack")
      ->capture_default_str();
  cmd.add_option("--log-level", flags.log_level, "Server log level: trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

void SetLocalCommandRun(CLI::App& cmd, std::function<int()>& run, const std::string* log_level,
                        std::function<absl::Status()> command) {
  cmd.callback([&run, name = cmd.get_name(), log_level, command = std::move(command)] {
    run = [name, log_level, command] {
      spdlog::set_default_logger(spdlog::stderr_color_mt("ferry"));
      spdlog::set_level(spdlog::level::from_str(*log_level));
      const absl::Status status = command();
      if (!status.ok()) {
        std::fprintf(stderr, "ferry %s: %s\n", name.c_str(), std::string(status.message()).c_str());
        return 1;
      }
      return 0;
    };
  });
}

absl::StatusOr<LabeledSet> ReadDataFor(const std::string& path) {
  absl::StatusOr<LabeledSet> set = ReadLabeledSet(path);
  if (set.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat(
        set.status().message(),
        ". The Fashion-MNIST calibration and evaluation halves are made by "
        "`/usr/bin/python3 tools/make_splits.py` (data/fashion_calib.ferryset, "
        "data/fashion_eval.ferryset); docs/uncertainty.md describes the format for other models"));
  }
  return set;
}

absl::StatusOr<TensorSpec> SingleInput(const ModelConfig& config) {
  if (config.signature.inputs.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", config.name, "' has ", config.signature.inputs.size(),
        " inputs; a labeled set feeds models with exactly one"));
  }
  return config.signature.inputs[0];
}

absl::StatusOr<int64_t> LogitClasses(const ModelConfig& config, int64_t fallback) {
  const std::string& name = config.uncertainty.logits;
  const int idx = FindTensor(config.signature.outputs, name);
  if (idx < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", config.name, "' has no output '", name,
        "' to calibrate; name the logits output in config.toml: [uncertainty] logits = \"...\""));
  }
  const TensorSpec& spec = config.signature.outputs[idx];
  if ((spec.dtype != DataType::kFp32 && spec.dtype != DataType::kFp64) || spec.shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output '", name, "' of model '", config.name, "' is ", DataTypeName(spec.dtype), " ",
        ShapeToString(spec.shape), "; logits must be FP32 or FP64 [-1, C]"));
  }
  return spec.shape[1] >= 0 ? spec.shape[1] : fallback;
}

absl::Status AppendScores(const Tensor& t, int64_t classes, std::vector<double>& out) {
  if ((t.dtype != DataType::kFp32 && t.dtype != DataType::kFp64) || t.shape.size() != 2 ||
      t.shape[1] != classes) {
    return absl::InternalError(absl::StrCat("output '", t.name, "' is ", DataTypeName(t.dtype), " ",
                                            ShapeToString(t.shape), "; expected FP32 or FP64 [rows, ",
                                            classes, "]"));
  }
  const int64_t n = t.shape[0] * classes;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(t.dtype == DataType::kFp32 ? static_cast<double>(t.data_as<float>()[i])
                                             : t.data_as<double>()[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<const Tensor*> FindOutput(const InferResponse& response, const std::string& name) {
  for (const Tensor& t : response.outputs) {
    if (t.name == name) return &t;
  }
  return absl::InternalError(absl::StrCat("the response has no output '", name, "'"));
}

}  // namespace ferry
