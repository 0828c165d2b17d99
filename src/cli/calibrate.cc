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

using CalibrateFlags = LocalCommandFlags;

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

  LocalModelOptions options = flags.ModelOptions();
  // A stale or broken calibration.json must not stop a new one from being written.
  options.load_calibration = false;
  FERRY_ASSIGN_OR_RETURN(OpenedForData opened, OpenForData(options, data, flags.data));
  const ModelConfig& config = opened.config;
  const TensorSpec& input = opened.input;
  const int64_t classes = opened.classes;
  std::unique_ptr<LocalModel> local = std::move(opened.local);
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
  AddLocalCommandFlags(*cmd, *flags, "data/fashion_calib.ferryset");
  SetLocalCommandRun(*cmd, run, &flags->log_level, [flags] { return Calibrate(*flags); });
}

}  // namespace ferry
