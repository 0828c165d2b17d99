// `ferry calibrate`: run a model version over a labeled calibration set through the
// serving path, fit the temperature and the conformal thresholds, and write
// <repository>/<model>/<version>/calibration.json.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/local_model.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "uncertainty/calibrator.h"

namespace ferry {
namespace {

struct CalibrateFlags {
  std::string model_repository = "models";
  std::string model;
  std::string version;
  std::string data;
  std::string quantized_engine = "onednn";
  std::string log_level = "warn";
};

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string Threshold(double t) { return std::isinf(t) ? "inf (every class)" : absl::StrFormat("%.6f", t); }

absl::Status Calibrate(const CalibrateFlags& flags) {
  FERRY_ASSIGN_OR_RETURN(LabeledSet data, ReadDataFor(flags.data));
  FERRY_ASSIGN_OR_RETURN(std::string sha256, Sha256FileHex(flags.data));

  LocalModelOptions options;
  options.repository = flags.model_repository;
  options.model = flags.model;
  options.version = flags.version;
  options.quantized_engine = flags.quantized_engine;
  // A stale or broken calibration.json must not stop a new one from being written.
  options.load_calibration = false;
  // Check the data against the config before loading anything heavy.
  FERRY_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(
      (std::filesystem::path(flags.model_repository) / flags.model).string()));
  FERRY_ASSIGN_OR_RETURN(TensorSpec input, SingleInput(config));
  FERRY_ASSIGN_OR_RETURN(int64_t classes, LogitClasses(config, data.classes));
  FERRY_RETURN_IF_ERROR(CheckLabeledSetFits(data, input, classes, flags.data));

  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<LocalModel> local,
                         LocalModel::Open(options, data.Rows(input.name, 0, 1)));
  const std::string& logits_name = config.uncertainty.logits;
  const int64_t batch = config.signature.max_batch_size;
  std::vector<double> logits;
  logits.reserve(static_cast<size_t>(data.rows() * classes));
  for (int64_t begin = 0; begin < data.rows(); begin += batch) {
    InferRequest request;
    request.inputs = {data.Rows(input.name, begin, std::min(batch, data.rows() - begin))};
    request.outputs = {{logits_name, 0}};
    FERRY_ASSIGN_OR_RETURN(InferResponse response, local->Infer(std::move(request)));
    FERRY_ASSIGN_OR_RETURN(const Tensor* out, FindOutput(response, logits_name));
    FERRY_RETURN_IF_ERROR(AppendScores(*out, classes, logits));
  }

  FERRY_ASSIGN_OR_RETURN(Calibration cal,
                         FitCalibration(logits, classes, data.labels, config.uncertainty.alphas));
  cal.model = flags.model;
  cal.version = local->version();
  cal.logits_output = logits_name;
  cal.data_file = flags.data;
  cal.data_sha256 = sha256;
  cal.created = UtcNow();
  const std::string path = (std::filesystem::path(local->VersionPath()) / kCalibrationFileName).string();
  FERRY_RETURN_IF_ERROR(WriteCalibrationFile(path, cal));

  std::printf("calibrated %s version %s on %lld rows of %s (sha256 %s)\n", flags.model.c_str(),
              cal.version.c_str(), static_cast<long long>(cal.n), flags.data.c_str(),
              sha256.substr(0, 16).c_str());
  std::printf("  temperature  %.4f\n", cal.temperature);
  std::printf("  accuracy     %.4f\n", cal.accuracy);
  std::printf("  NLL          %.4f -> %.4f\n", cal.nll_before, cal.nll_after);
  std::printf("  ECE          %.4f -> %.4f (15 bins)\n", cal.ece_before, cal.ece_after);
  std::printf("  %-6s %-6s %-20s %-20s\n", "alpha", "rank", "LAC threshold", "APS threshold");
  for (const ConformalLevel& l : cal.levels) {
    std::printf("  %-6g %-6lld %-20s %-20s\n", l.alpha, static_cast<long long>(l.rank),
                Threshold(l.lac).c_str(), Threshold(l.aps).c_str());
  }
  std::printf("wrote %s\n", path.c_str());
  std::printf("a running server serves it after reloading the model "
              "(POST /v2/repository/models/%s/load) or a restart\n",
              flags.model.c_str());
  return absl::OkStatus();
}

}  // namespace

void AddCalibrateCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<CalibrateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit temperature scaling and conformal thresholds for a model version.");
  cmd->footer(
      "Runs the model over a labeled calibration set through the same in-process path as\n"
      "`ferry serve`, fits T by minimum NLL, computes LAC and APS thresholds at the config's\n"
      "[uncertainty] alphas, and writes <repository>/<model>/<version>/calibration.json.\n"
      "Fashion-MNIST halves: /usr/bin/python3 tools/make_splits.py. See docs/uncertainty.md.");
  cmd->add_option("--model-repository", flags->model_repository, "Folder with <model>/config.toml")
      ->capture_default_str();
  cmd->add_option("--model", flags->model, "Model name")->required();
  cmd->add_option("--version", flags->version, "Model version (default: the served default)");
  cmd->add_option("--data", flags->data, "Labeled set (e.g. data/fashion_calib.ferryset)")->required();
  cmd->add_option("--quantized-engine", flags->quantized_engine,
                  "libtorch kernels for int8 models: onednn or qnnpack")
      ->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "Server log level: trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cmd->callback([flags, &run] {
    run = [flags] {
      // Reports go to stdout (JSON for scripts); the server's log goes to stderr.
      spdlog::set_default_logger(spdlog::stderr_color_mt("ferry"));
      spdlog::set_level(spdlog::level::from_str(flags->log_level));
      const absl::Status status = Calibrate(*flags);
      if (!status.ok()) {
        std::fprintf(stderr, "ferry calibrate: %s\n", std::string(status.message()).c_str());
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace ferry
