// `ferry evaluate`: how good a calibrated model version's probabilities, prediction sets
// and `uncertain` flags are on a labeled set, measured through the serving path. The
// measuring is src/uncertainty/evaluation.h; this file adapts a served version to its
// Predictor interface, prints the report and draws the reliability diagram with gnuplot.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/local_model.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "uncertainty/evaluation.h"

namespace ferry {
namespace {

struct EvaluateFlags : LocalCommandFlags {
  std::optional<double> alpha;
  bool json = false;
  std::string plot;  // empty: <model>_reliability.png
  bool no_plot = false;
};

// A served, calibrated model version: one request per batch, asking for the logits and
// the three uncertainty outputs at the evaluated alpha.
class ServedVersionPredictor : public Predictor {
 public:
  ServedVersionPredictor(LocalModel& local, std::shared_ptr<const CalibratedClassifier> classifier)
      : local_(local), classifier_(std::move(classifier)) {}

  std::string Name() const override {
    return absl::StrCat(local_.config().name, " version ", local_.version());
  }
  int64_t MaxBatchSize() const override { return local_.config().signature.max_batch_size; }
  const CalibratedClassifier& Classifier() const override { return *classifier_; }

  absl::StatusOr<PredictorBatch> Predict(const Tensor& rows, double alpha) override {
    const std::string& logits_name = classifier_->calibration.logits_output;
    const int64_t classes = classifier_->calibration.classes;
    InferRequest request;
    request.inputs = {rows};
    request.outputs = {{logits_name, 0}, {kProbabilitiesOutput, 0}, {kPredictionSetOutput, 0},
                       {kUncertainOutput, 0}};
    if (HasStage()) request.outputs.push_back({kStageOutput, 0});
    request.parameters[kAlphaParameter] = alpha;
    int64_t wall_ns = 0;
    FERRY_ASSIGN_OR_RETURN(InferResponse response, local_.Infer(std::move(request), &wall_ns));
    PredictorBatch b;
    b.request_ns = {wall_ns};
    FERRY_ASSIGN_OR_RETURN(const Tensor* logits, FindOutput(response, logits_name));
    FERRY_RETURN_IF_ERROR(AppendScores(*logits, classes, b.logits));
    FERRY_ASSIGN_OR_RETURN(const Tensor* probs, FindOutput(response, kProbabilitiesOutput));
    FERRY_RETURN_IF_ERROR(AppendScores(*probs, classes, b.probabilities));
    FERRY_ASSIGN_OR_RETURN(const Tensor* set, FindOutput(response, kPredictionSetOutput));
    b.prediction_set = set->data;
    FERRY_ASSIGN_OR_RETURN(const Tensor* uncertain, FindOutput(response, kUncertainOutput));
    b.uncertain = uncertain->data;
    if (HasStage()) {
      FERRY_ASSIGN_OR_RETURN(const Tensor* stage, FindOutput(response, kStageOutput));
      if (stage->dtype != DataType::kInt32) return absl::InternalError("output 'stage' is not INT32");
      b.stage.assign(stage->data_as<int32_t>(), stage->data_as<int32_t>() + stage->element_count());
    }
    return b;
  }

 private:
  static constexpr const char* kStageOutput = "stage";
  // A cascade says which stage answered each row.
  bool HasStage() const {
    if (local_.config().platform != "cascade") return false;
    for (const TensorSpec& out : local_.config().signature.outputs) {
      if (out.name == kStageOutput) return true;
    }
    return false;
  }

 public:

 private:
  LocalModel& local_;
  std::shared_ptr<const CalibratedClassifier> classifier_;
};

// Compute of every batch the loaded models have run so far, per model, counting only the
// models that compute themselves: a composite's own batches only wait for its members,
// whose batches are counted instead. Versions of one model are summed.
absl::StatusOr<std::vector<EvaluationReport::ModelCompute>> ModelCompute(
    const InferenceServer& server) {
  FERRY_ASSIGN_OR_RETURN(std::vector<ModelStatistics> stats, server.Statistics("", ""));
  std::vector<EvaluationReport::ModelCompute> out;
  for (const ModelStatistics& s : stats) {
    absl::StatusOr<ModelMetadata> meta = server.GetModelMetadata(s.name, s.version);
    if (!meta.ok() || meta->platform == "ensemble" || meta->platform == "cascade") continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const EvaluationReport::ModelCompute& m) { return m.model == s.name; });
    if (it == out.end()) it = out.insert(out.end(), {s.name});
    for (const BatchStat& b : s.batch_stats) {
      it->batches += static_cast<int64_t>(b.compute_infer.count);
      it->rows += static_cast<int64_t>(b.batch_size * b.compute_infer.count);
      it->ns += static_cast<double>(b.compute_infer.ns);
    }
  }
  return out;
}

// What the models computed between two ModelCompute snapshots; models that ran no batch
// in between are left out.
std::vector<EvaluationReport::ModelCompute> ComputeSince(
    const std::vector<EvaluationReport::ModelCompute>& before,
    const std::vector<EvaluationReport::ModelCompute>& after) {
  std::vector<EvaluationReport::ModelCompute> delta;
  for (EvaluationReport::ModelCompute m : after) {
    for (const EvaluationReport::ModelCompute& b : before) {
      if (b.model != m.model) continue;
      m.batches -= b.batches;
      m.rows -= b.rows;
      m.ns -= b.ns;
    }
    if (m.batches > 0) delta.push_back(std::move(m));
  }
  return delta;
}

absl::Status DrawPlot(const EvaluationReport& report, const std::string& path) {
  FILE* gnuplot = popen("gnuplot 2>&1", "w");
  if (gnuplot == nullptr) return absl::UnavailableError("cannot start gnuplot");
  const std::string script = ReliabilityPlotScript(report, path);
  std::fwrite(script.data(), 1, script.size(), gnuplot);
  const int status = pclose(gnuplot);
  if (status != 0) {
    return absl::UnavailableError(absl::StrCat(
        "gnuplot failed (exit status ", status, "); install Debian's gnuplot-nox"));
  }
  return absl::OkStatus();
}

absl::Status Evaluate(const EvaluateFlags& flags) {
  FERRY_ASSIGN_OR_RETURN(LabeledSet data, ReadDataFor(flags.data));
  const LocalModelOptions options = flags.ModelOptions();
  FERRY_ASSIGN_OR_RETURN(OpenedForData opened, OpenForData(options, data, flags.data));
  const ModelConfig& config = opened.config;
  const TensorSpec& input = opened.input;
  std::unique_ptr<LocalModel> local = std::move(opened.local);
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<const CalibratedClassifier> classifier,
                         local->server().GetCalibration(flags.model, local->version()));
  if (classifier == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", flags.model, "' version ", local->version(), " has no ", kCalibrationFileName,
        "; run `ferry calibrate --model ", flags.model, " --version ", local->version(),
        " --data FILE` first (on data other than the evaluation set)"));
  }
  if (classifier->calibration.data_sha256 == Sha256FileHex(flags.data).value_or("")) {
    spdlog::warn("{} is the data this version was calibrated on: coverage and ECE will look "
                 "better than they are", flags.data);
  }
  const double alpha = flags.alpha.value_or(config.uncertainty.alpha);
  ServedVersionPredictor predictor(*local, classifier);
  const auto compute_before = ModelCompute(local->server());
  FERRY_ASSIGN_OR_RETURN(EvaluationReport report, ferry::Evaluate(predictor, data, input.name, alpha));
  const auto compute_after = ModelCompute(local->server());
  if (compute_before.ok() && compute_after.ok() && report.rows > 0) {
    report.compute_by_model = ComputeSince(*compute_before, *compute_after);
    double ns = 0;
    for (const EvaluationReport::ModelCompute& m : report.compute_by_model) ns += m.ns;
    report.compute_per_row_us = ns / report.rows / 1e3;
  }
  report.predictor = absl::StrCat(report.predictor, " on ", flags.data);

  std::string plot_note;
  if (!flags.no_plot) {
    const std::string path = flags.plot.empty() ? flags.model + "_reliability.png" : flags.plot;
    const absl::Status drawn = DrawPlot(report, path);
    plot_note = drawn.ok() ? absl::StrCat("reliability diagram: ", path, "\n")
                           : absl::StrCat("no reliability diagram: ", drawn.message(), "\n");
  }
  if (flags.json) {
    std::fputs(RenderEvaluationJson(report).c_str(), stdout);
    if (!plot_note.empty()) std::fputs(plot_note.c_str(), stderr);
  } else {
    std::fputs(RenderEvaluationText(report).c_str(), stdout);
    std::fputs(plot_note.c_str(), stdout);
  }
  return absl::OkStatus();
}

}  // namespace

void AddEvaluateCommand(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<EvaluateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Measure a calibrated model version: accuracy, NLL, ECE, set coverage, uncertain.");
  cmd->footer(
      "Sends a labeled set through the same in-process path as `ferry serve`, in requests of\n"
      "max_batch_size rows, and reports accuracy, NLL and ECE before and after temperature\n"
      "scaling, coverage and mean set size per alpha and score, the rate of uncertain answers\n"
      "and the accuracy of the others, and wall time per request. Draws a reliability diagram\n"
      "with gnuplot. Use data the version was not calibrated on (docs/uncertainty.md).");
  AddLocalCommandFlags(*cmd, *flags, "data/fashion_eval.ferryset");
  cmd->add_option("--alpha", flags->alpha,
                  "Level the answers are requested at (default: the config's [uncertainty] alpha)");
  cmd->add_flag("--json", flags->json, "Print the report as JSON");
  cmd->add_option("--plot", flags->plot, "PNG for the reliability diagram (default <model>_reliability.png)");
  cmd->add_flag("--no-plot", flags->no_plot, "Do not draw the reliability diagram");
  SetLocalCommandRun(*cmd, run, &flags->log_level, [flags] { return Evaluate(*flags); });
}

}  // namespace ferry
