// The only translation unit that includes XGBoost's C API.
#include "backends/xgboost/xgboost_backend.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/json.hpp"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

// XGBoost's message for the last failed call on this thread, without the stack trace
// and the "[hh:mm:ss] " prefix its logger adds. Messages may quote bytes of a corrupt
// file; anything but printable ASCII becomes \xNN so logs and JSON bodies stay clean.
std::string LastError() {
  std::string message = XGBGetLastError();
  if (size_t trace = message.find("\nStack trace"); trace != std::string::npos) message.resize(trace);
  if (message.size() > 11 && message[0] == '[' && message[9] == ']' && message[10] == ' ') {
    message.erase(0, 11);
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string clean;
  for (const char c : message) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      clean += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
      clean += hex;
    }
  }
  return clean;
}

// XGBoost's console messages (warnings about old model formats, deprecated parameters)
// go to Ferry's log instead of stderr.
void RouteXGBoostLog() {
  static std::once_flag once;
  std::call_once(once, [] {
    XGBRegisterLogCallback([](const char* message) { spdlog::info("xgboost: {}", message); });
  });
}

struct BoosterFree {
  void operator()(void* handle) const { XGBoosterFree(handle); }
};
using BoosterPtr = std::unique_ptr<void, BoosterFree>;

// What the booster's predictions become in Ferry's outputs.
enum class Kind {
  kMulticlass,  // margins [rows, C]; probabilities = softmax
  kBinary,      // margins [rows, 1] = m; logits [0, m], probabilities [1 - p, p]
  kRegressor,   // transformed values [rows, 1]
};

enum class Produce { kLogits, kProbabilities, kValue };

struct BoosterInfo {
  std::string booster;    // "gbtree", "dart", "gblinear"
  std::string objective;  // "multi:softprob", ...
  int64_t num_class = 0;  // 0 unless multi-class
  int64_t num_feature = 0;
  int rounds = 0;
};

absl::StatusOr<BoosterInfo> ReadInfo(void* booster, const std::string& path) {
  BoosterInfo info;
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster, &features) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", LastError()));
  }
  info.num_feature = static_cast<int64_t>(features);
  if (XGBoosterBoostedRounds(booster, &info.rounds) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", LastError()));
  }
  bst_ulong length = 0;
  const char* text = nullptr;
  if (XGBoosterSaveJsonConfig(booster, &length, &text) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", LastError()));
  }
  try {
    const boost::json::value config = boost::json::parse(boost::json::string_view(text, length));
    const boost::json::object& l = config.at("learner").as_object();
    info.booster = std::string(l.at("gradient_booster").at("name").as_string());
    info.objective = std::string(l.at("objective").at("name").as_string());
    info.num_class = std::stoll(std::string(l.at("learner_model_param").at("num_class").as_string()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read the booster's configuration: ", e.what()));
  }
  return info;
}

class XGBoostBackend : public Backend {
 public:
  XGBoostBackend(BoosterPtr booster, Kind kind, int64_t features, int64_t classes,
                 std::vector<Produce> produce, std::vector<std::string> names, bool tree_booster,
                 int nthread, std::string description)
      : booster_(std::move(booster)),
        kind_(kind),
        features_(features),
        classes_(classes),
        produce_(std::move(produce)),
        names_(std::move(names)),
        inplace_(tree_booster),
        serialize_(!tree_booster),
        dmatrix_config_(absl::StrCat("{\"missing\": NaN, \"nthread\": ", nthread, "}")),
        description_(std::move(description)) {}

  std::string Describe() const override { return description_; }

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) override {
    if (inputs.size() != 1) {
      return absl::InternalError(absl::StrCat("expected 1 input, got ", inputs.size()));
    }
    const Tensor& x = inputs[0];
    if (x.dtype != DataType::kFp32 || x.shape.empty()) {
      return absl::InternalError("the input must be FP32 with a batch dimension");
    }
    const int64_t rows = x.shape[0];
    if (x.data.size() != static_cast<size_t>(rows * features_) * sizeof(float)) {
      return absl::InternalError(absl::StrCat("input '", x.name, "' holds ", x.data.size(),
                                              " bytes; ", rows, " rows of ", features_,
                                              " FP32 features need ", rows * features_ * 4));
    }
    std::vector<float> predictions;
    if (rows > 0) {
      FERRY_ASSIGN_OR_RETURN(predictions, Predict(x.data.data(), rows));
    }
    return MakeOutputs(rows, predictions);
  }

  // XGBoost's own prediction: margins, or values transformed by the objective, in
  // `groups` columns. [rows, groups] row-major.
  absl::StatusOr<std::vector<float>> Predict(const void* data, int64_t rows, bool margin,
                                             int64_t groups) {
    // NumPy's array interface, pointing at the caller's buffer: XGBoost reads it in place.
    char array[160];
    std::snprintf(array, sizeof(array),
                  "{\"data\": [%" PRIuPTR ", true], \"shape\": [%" PRId64 ", %" PRId64
                  "], \"typestr\": \"<f4\", \"version\": 3}",
                  reinterpret_cast<uintptr_t>(data), rows, features_);
    const char* config = margin ? kMarginConfig : kValueConfig;
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    absl::MutexLockMaybe lock(serialize_ ? &mu_ : nullptr);
    if (inplace_) {
      // No proxy DMatrix (nullptr): XGBoost makes one per call, so calls share nothing.
      if (XGBoosterPredictFromDense(booster_.get(), array, config, nullptr, &shape, &dims, &result) != 0) {
        return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
      }
    } else {
      // gblinear has no in-place prediction (XGBoost 1.7): copy the batch into a DMatrix.
      DMatrixHandle matrix = nullptr;
      if (XGDMatrixCreateFromDense(array, dmatrix_config_.c_str(), &matrix) != 0) {
        return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
      }
      const int rc = XGBoosterPredictFromDMatrix(booster_.get(), matrix, config, &shape, &dims, &result);
      // The result lives in the booster's per-thread buffer, not in the matrix.
      XGDMatrixFree(matrix);
      if (rc != 0) return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
    }
    if (dims != 2 || static_cast<int64_t>(shape[0]) != rows ||
        static_cast<int64_t>(shape[1]) != groups) {
      std::vector<bst_ulong> got(shape, shape + dims);
      return absl::InternalError(absl::StrCat("xgboost returned shape [", absl::StrJoin(got, ", "),
                                              "]; expected [", rows, ", ", groups, "]"));
    }
    // The result sits in XGBoost's per-thread buffer, valid until this thread's next call.
    return std::vector<float>(result, result + rows * groups);
  }

  // What Execute asks XGBoost for: margins for classifiers, values for regressors.
  absl::StatusOr<std::vector<float>> Predict(const void* data, int64_t rows) {
    return Predict(data, rows, kind_ != Kind::kRegressor, kind_ == Kind::kMulticlass ? classes_ : 1);
  }

  absl::StatusOr<std::vector<Tensor>> MakeOutputs(int64_t rows, const std::vector<float>& predictions) const {
    std::vector<Tensor> outputs(produce_.size());
    for (size_t i = 0; i < produce_.size(); ++i) {
      Tensor& t = outputs[i];
      t.name = names_[i];
      t.dtype = DataType::kFp32;
      const int64_t width = produce_[i] == Produce::kValue ? 1 : classes_;
      t.shape = {rows, width};
      t.data.resize(static_cast<size_t>(rows * width) * sizeof(float));
      float* out = t.mutable_data_as<float>();
      for (int64_t r = 0; r < rows; ++r) {
        float* row = out + r * width;
        if (kind_ == Kind::kBinary) {
          row[0] = 0.0f;
          row[1] = predictions[r];
        } else {
          std::memcpy(row, predictions.data() + r * width, width * sizeof(float));
        }
        if (produce_[i] == Produce::kProbabilities) Softmax(row, width);
      }
    }
    return outputs;
  }

  // As XGBoost computes it for multi:softprob (float exponentials, double sum), so the
  // probabilities match its own to the last bit or two; checked at load.
  static void Softmax(float* row, int64_t n) {
    float top = row[0];
    for (int64_t k = 1; k < n; ++k) top = std::max(top, row[k]);
    double sum = 0.0;
    for (int64_t k = 0; k < n; ++k) {
      row[k] = std::exp(row[k] - top);
      sum += row[k];
    }
    for (int64_t k = 0; k < n; ++k) row[k] /= static_cast<float>(sum);
  }

 private:
  // NaN is the missing value: every finite number, zero included, is a real value.
  // cache_id 0: no prediction cache (XGBoost 1.7 requires the key for in-place calls).
  // type 1 gives margins, type 0 the objective's transformed values.
  static constexpr const char* kMarginConfig =
      "{\"type\": 1, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": true, \"missing\": NaN, \"cache_id\": 0}";
  static constexpr const char* kValueConfig =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": true, \"missing\": NaN, \"cache_id\": 0}";

  const BoosterPtr booster_;
  const Kind kind_;
  const int64_t features_;
  const int64_t classes_;             // C for classifiers, 1 for regressors
  const std::vector<Produce> produce_;  // one per configured output, in config order
  const std::vector<std::string> names_;
  const bool inplace_;    // tree boosters predict in place, straight from the batch
  const bool serialize_;  // XGBoost guarantees concurrent predictions for trees only
  const std::string dmatrix_config_;
  // Held around predictions only when serialize_. It guards calls into the booster, not a
  // field, so there is nothing for ABSL_GUARDED_BY to name.
  absl::Mutex mu_;
  const std::string description_;
};

// Deterministic inputs spread over 0..255: zeros alone would leave most trees untested.
std::vector<float> ProbeRows(int64_t rows, int64_t features) {
  std::vector<float> values(static_cast<size_t>(rows * features));
  uint32_t state = 2024;
  for (float& v : values) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>((state >> 8) % 256);
  }
  return values;
}

absl::StatusOr<std::string> FindModelFile(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string json = (fs::path(dir) / "model.json").string();
  const std::string ubj = (fs::path(dir) / "model.ubj").string();
  const bool has_json = fs::exists(json);
  const bool has_ubj = fs::exists(ubj);
  if (has_json && has_ubj) {
    return absl::InvalidArgumentError(absl::StrCat(
        json, " and ", ubj, ": both exist; keep exactly one model file per version"));
  }
  if (!has_json && !has_ubj) {
    return absl::NotFoundError(absl::StrCat(json, " (or model.ubj): file not found"));
  }
  return has_json ? json : ubj;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateXGBoostBackend(const BackendOptions& options) {
  RouteXGBoostLog();
  FERRY_ASSIGN_OR_RETURN(const std::string path, FindModelFile(options.version_path));
  const ModelSignature& sig = options.signature;
  auto mismatch = [&path](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
  };

  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(nullptr, 0, &handle) != 0) {
    return absl::InternalError(absl::StrCat("xgboost: cannot create a booster: ", LastError()));
  }
  BoosterPtr booster(handle);
  if (XGBoosterLoadModel(booster.get(), path.c_str()) != 0) {
    return mismatch(absl::StrCat("not a loadable XGBoost model: ", LastError()));
  }
  // Set before the first prediction and never again: predictions are only thread-safe
  // while no one changes the booster.
  const std::string nthread = std::to_string(options.intra_op_threads);
  if (XGBoosterSetParam(booster.get(), "nthread", nthread.c_str()) != 0) {
    return mismatch(absl::StrCat("cannot set nthread: ", LastError()));
  }
  FERRY_ASSIGN_OR_RETURN(const BoosterInfo info, ReadInfo(booster.get(), path));

  // The input: one FP32 tensor whose non-batch dimensions hold exactly the features.
  if (sig.inputs.size() != 1) {
    return mismatch(absl::StrCat("an XGBoost model takes one input; the config lists ",
                                 sig.inputs.size()));
  }
  const TensorSpec& input = sig.inputs[0];
  if (input.dtype != DataType::kFp32) {
    return mismatch(absl::StrCat("input '", input.name, "' is ", DataTypeName(input.dtype),
                                 "; an XGBoost model takes FP32"));
  }
  int64_t features = 1;
  for (size_t d = 1; d < input.shape.size(); ++d) {
    if (input.shape[d] < 0) {
      return mismatch(absl::StrCat("input '", input.name, "' has shape ", ShapeToString(input.shape),
                                   "; only the batch dimension may be -1"));
    }
    features *= input.shape[d];
  }
  if (features != info.num_feature) {
    return mismatch(absl::StrCat("the booster has ", info.num_feature, " features but input '",
                                 input.name, "' ", ShapeToString(input.shape), " gives ", features,
                                 " per row"));
  }

  // The outputs the objective allows, each checked by name, datatype and shape.
  Kind kind = Kind::kRegressor;
  int64_t classes = 1;
  if (info.objective == "multi:softprob" || info.objective == "multi:softmax") {
    kind = Kind::kMulticlass;
    classes = info.num_class;
  } else if (info.objective == "binary:logistic") {
    kind = Kind::kBinary;
    classes = 2;
  }
  std::vector<Produce> produce;
  std::vector<std::string> names;
  if (kind == Kind::kRegressor && sig.outputs.size() != 1) {
    return mismatch(absl::StrCat("objective ", info.objective, " gives one output, FP32 [-1, 1]; ",
                                 "the config lists ", sig.outputs.size()));
  }
  for (const TensorSpec& out : sig.outputs) {
    Produce p = Produce::kValue;
    if (kind != Kind::kRegressor) {
      if (out.name == "logits") {
        p = Produce::kLogits;
      } else if (out.name == "probabilities") {
        p = Produce::kProbabilities;
      } else {
        return mismatch(absl::StrCat("output '", out.name, "': an XGBoost classifier (",
                                     info.objective, ") gives 'logits' and 'probabilities' only"));
      }
    }
    const std::vector<int64_t> want = {-1, classes};
    if (out.dtype != DataType::kFp32 || out.shape != want) {
      return mismatch(absl::StrCat("output '", out.name, "' is ", DataTypeName(out.dtype), " ",
                                   ShapeToString(out.shape), "; objective ", info.objective,
                                   " gives FP32 ", ShapeToString(want)));
    }
    produce.push_back(p);
    names.push_back(out.name);
  }

  const bool tree_booster = info.booster == "gbtree" || info.booster == "dart";
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  std::string description = absl::StrCat(
      "xgboost ", major, ".", minor, ".", patch, " ", info.booster, ", ", info.objective, ", ",
      kind == Kind::kRegressor ? "regression" : absl::StrCat(classes, " classes"), ", ",
      info.num_feature, " features, ", info.rounds, " rounds, nthread ", nthread,
      tree_booster ? ", concurrent predictions" : ", predictions serialized (not a tree booster)");
  auto backend = std::make_unique<XGBoostBackend>(std::move(booster), kind, features, classes,
                                                  std::move(produce), std::move(names), tree_booster,
                                                  options.intra_op_threads, std::move(description));

  // A probe prediction configures the booster here, on one thread, and shows that the
  // model runs. For objectives whose transform Ferry recomputes from the margins, the
  // result must agree with XGBoost's own.
  constexpr int64_t kProbeRows = 4;
  const std::vector<float> probe = ProbeRows(kProbeRows, features);
  absl::StatusOr<std::vector<float>> margins = backend->Predict(probe.data(), kProbeRows);
  if (!margins.ok()) return mismatch(absl::StrCat("probe prediction failed: ", margins.status().message()));
  if (info.objective == "multi:softprob" || info.objective == "binary:logistic") {
    FERRY_ASSIGN_OR_RETURN(const std::vector<float> expected,
                           backend->Predict(probe.data(), kProbeRows, /*margin=*/false,
                                            kind == Kind::kBinary ? 1 : classes));
    // In XGBoost's layout: [rows, C] for multi:softprob, [rows, 1] = p for binary:logistic.
    std::vector<float> ours;
    for (int64_t r = 0; r < kProbeRows; ++r) {
      std::vector<float> row;
      if (kind == Kind::kBinary) {
        row = {0.0f, (*margins)[r]};
      } else {
        row.assign(margins->begin() + r * classes, margins->begin() + (r + 1) * classes);
      }
      XGBoostBackend::Softmax(row.data(), classes);
      ours.insert(ours.end(), kind == Kind::kBinary ? row.end() - 1 : row.begin(), row.end());
    }
    for (size_t k = 0; k < ours.size(); ++k) {
      if (!(std::abs(ours[k] - expected[k]) <= 1e-6f)) {
        return mismatch(absl::StrCat("softmax of the margins gives ", ours[k], " where XGBoost's own ",
                                     info.objective, " gives ", expected[k]));
      }
    }
  }
  return backend;
}

}  // namespace ferry
