#include "uncertainty/uncertainty_outputs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "json/writer.h"
#include "uncertainty/temperature.h"

namespace ferry {
namespace {

std::string CalibrateHint(const std::string& model, const std::string& version) {
  return absl::StrCat("run `ferry calibrate --model ", model,
                      version.empty() ? "" : absl::StrCat(" --version ", version),
                      " --data FILE` to calibrate it (docs/uncertainty.md)");
}

}  // namespace

bool IsUncertaintyOutput(absl::string_view name) {
  return name == kProbabilitiesOutput || name == kPredictionSetOutput || name == kUncertainOutput;
}

absl::StatusOr<CalibratedClassifier> PrepareCalibratedClassifier(const ModelSignature& signature,
                                                                 const UncertaintyConfig& config,
                                                                 Calibration calibration,
                                                                 absl::string_view source_view) {
  const std::string source(source_view);
  const auto bad = [&](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", problem));
  };
  const std::string again = "run `ferry calibrate` for this version again";
  if (calibration.logits_output != config.logits) {
    return bad(absl::StrCat("calibrated on output '", calibration.logits_output,
                            "' but config.toml's [uncertainty] logits is '", config.logits, "'; ",
                            again));
  }
  CalibratedClassifier out;
  out.logits_index = FindTensor(signature.outputs, calibration.logits_output);
  if (out.logits_index < 0) {
    return bad(absl::StrCat("the model has no output '", calibration.logits_output, "'"));
  }
  const TensorSpec& spec = signature.outputs[out.logits_index];
  if ((spec.dtype != DataType::kFp32 && spec.dtype != DataType::kFp64) || spec.shape.size() != 2) {
    return bad(absl::StrCat("output '", spec.name, "' must be FP32 or FP64 of shape [-1, C] to "
                            "hold logits; it is ", DataTypeName(spec.dtype), " ",
                            ShapeToString(spec.shape)));
  }
  if (spec.shape[1] >= 0 && spec.shape[1] != calibration.classes) {
    return bad(absl::StrCat("calibrated for ", calibration.classes, " classes but output '",
                            spec.name, "' has ", spec.shape[1], "; ", again));
  }
  out.default_level = calibration.FindLevel(config.alpha);
  if (out.default_level < 0) {
    return bad(absl::StrCat("config.toml's [uncertainty] alpha ", JsonNumber(config.alpha),
                            " is not a calibrated level (", calibration.LevelList(), "); ", again));
  }
  out.score = config.score;
  out.min_confidence = config.min_confidence;
  out.signature = signature;
  out.signature.outputs = CalibratedOutputs(signature.outputs, calibration.classes);
  out.calibration = std::move(calibration);
  return out;
}

std::vector<TensorSpec> CalibratedOutputs(const std::vector<TensorSpec>& model_outputs,
                                          int64_t classes) {
  std::vector<TensorSpec> out = model_outputs;
  const TensorSpec probabilities{kProbabilitiesOutput, DataType::kFp32, {-1, classes}};
  const int own = FindTensor(out, kProbabilitiesOutput);
  if (own >= 0) {
    out[own] = probabilities;
  } else {
    out.push_back(probabilities);
  }
  out.push_back({kPredictionSetOutput, DataType::kBool, {-1, classes}});
  out.push_back({kUncertainOutput, DataType::kBool, {-1}});
  return out;
}

absl::StatusOr<int> SelectConformalLevel(const std::map<std::string, ParameterValue>& parameters,
                                         const CalibratedClassifier& classifier) {
  auto it = parameters.find(kAlphaParameter);
  if (it == parameters.end()) return classifier.default_level;
  double alpha;
  if (const double* d = std::get_if<double>(&it->second)) {
    alpha = *d;
  } else if (const int64_t* i = std::get_if<int64_t>(&it->second)) {
    alpha = static_cast<double>(*i);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter 'alpha' must be a number, one of the calibrated levels ",
        classifier.calibration.LevelList()));
  }
  const int level = classifier.calibration.FindLevel(alpha);
  if (level < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter 'alpha' is ", JsonNumber(alpha), "; this version is calibrated at ",
        classifier.calibration.LevelList(), " only"));
  }
  return level;
}

absl::Status CheckUncalibratedRequest(const InferRequest& request, const ModelSignature& signature,
                                      const std::string& model, const std::string& version) {
  for (const RequestedOutput& out : request.outputs) {
    if (IsUncertaintyOutput(out.name) && FindTensor(signature.outputs, out.name) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", out.name, "' needs a calibrated model: model '", model, "' version ",
          version, " has no ", kCalibrationFileName, "; ", CalibrateHint(model, version)));
    }
  }
  if (request.parameters.count(kAlphaParameter) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter 'alpha' needs a calibrated model: model '", model, "' version ", version,
        " has no ", kCalibrationFileName, "; ", CalibrateHint(model, version)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> PrepareUncertaintyRequest(const CalibratedClassifier* classifier,
                                              const InferRequest& request,
                                              const ModelSignature& model_signature,
                                              const std::string& model, const std::string& version) {
  if (classifier != nullptr) return SelectConformalLevel(request.parameters, *classifier);
  absl::Status status = CheckUncalibratedRequest(request, model_signature, model, version);
  if (!status.ok()) return status;
  return 0;
}

absl::Status AddUncertaintyOutputs(const CalibratedClassifier& classifier, int level,
                                   const std::vector<RequestedOutput>& requested,
                                   std::vector<Tensor>& outputs) {
  const size_t model_outputs = outputs.size();
  const int own = FindTensor(classifier.signature.outputs, kProbabilitiesOutput);
  const bool replaces_own = own >= 0 && static_cast<size_t>(own) < model_outputs;
  bool wanted = requested.empty() && replaces_own;
  for (const RequestedOutput& r : requested) wanted |= IsUncertaintyOutput(r.name);
  if (!wanted) return absl::OkStatus();
  if (classifier.logits_index < 0 || static_cast<size_t>(classifier.logits_index) >= model_outputs) {
    return absl::InternalError("the model returned fewer outputs than its signature names");
  }
  absl::StatusOr<UncertaintyTensors> derived =
      ComputeUncertaintyOutputs(outputs[classifier.logits_index], classifier, level);
  if (!derived.ok()) return derived.status();
  if (replaces_own) {
    outputs[own] = std::move(derived->probabilities);
  } else if (!requested.empty()) {
    outputs.push_back(std::move(derived->probabilities));
  }
  if (!requested.empty()) {
    outputs.push_back(std::move(derived->prediction_set));
    outputs.push_back(std::move(derived->uncertain));
  }
  return absl::OkStatus();
}

bool PredictRow(absl::Span<const double> logits, double temperature, ConformalScore score,
                double threshold, double min_confidence, absl::Span<double> probabilities,
                absl::Span<uint8_t> in_set) {
  Softmax(logits, temperature, probabilities);
  const int64_t size = PredictionSet(score, probabilities, threshold, in_set);
  double top = 0.0;
  for (double p : probabilities) top = std::max(top, p);
  return size != 1 || top < min_confidence;
}

absl::StatusOr<UncertaintyTensors> ComputeUncertaintyOutputs(const Tensor& logits,
                                                             const CalibratedClassifier& classifier,
                                                             int level) {
  const Calibration& cal = classifier.calibration;
  if ((logits.dtype != DataType::kFp32 && logits.dtype != DataType::kFp64) ||
      logits.shape.size() != 2 || logits.shape[1] != cal.classes) {
    return absl::InternalError(absl::StrCat(
        "output '", logits.name, "' is ", DataTypeName(logits.dtype), " ",
        ShapeToString(logits.shape), "; calibration needs FP32 or FP64 [rows, ", cal.classes, "]"));
  }
  const int64_t rows = logits.shape[0];
  const int64_t classes = cal.classes;
  UncertaintyTensors out;
  out.probabilities = {kProbabilitiesOutput, DataType::kFp32, {rows, classes}, {}};
  out.probabilities.data.resize(static_cast<size_t>(rows * classes) * sizeof(float));
  out.prediction_set = {kPredictionSetOutput, DataType::kBool, {rows, classes}, {}};
  out.prediction_set.data.resize(static_cast<size_t>(rows * classes));
  out.uncertain = {kUncertainOutput, DataType::kBool, {rows}, {}};
  out.uncertain.data.resize(static_cast<size_t>(rows));

  const double threshold = cal.levels[level].Threshold(classifier.score);
  std::vector<double> z(classes), p(classes);
  float* probs = out.probabilities.mutable_data_as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < classes; ++c) {
      z[c] = logits.dtype == DataType::kFp32
                 ? static_cast<double>(logits.data_as<float>()[r * classes + c])
                 : logits.data_as<double>()[r * classes + c];
      if (std::isnan(z[c]) || z[c] == std::numeric_limits<double>::infinity()) {
        return absl::InternalError(absl::StrCat("output '", logits.name, "' row ", r,
                                                " holds a NaN or +inf logit"));
      }
    }
    if (*std::max_element(z.begin(), z.end()) == -std::numeric_limits<double>::infinity()) {
      return absl::InternalError(
          absl::StrCat("output '", logits.name, "' row ", r, " has no finite logit"));
    }
    const bool uncertain =
        PredictRow(z, cal.temperature, classifier.score, threshold, classifier.min_confidence,
                   absl::MakeSpan(p),
                   absl::MakeSpan(out.prediction_set.data).subspan(r * classes, classes));
    for (int64_t c = 0; c < classes; ++c) probs[r * classes + c] = static_cast<float>(p[c]);
    out.uncertain.data[r] = uncertain ? 1 : 0;
  }
  return out;
}

}  // namespace ferry
