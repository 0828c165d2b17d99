// calibration.json: what `ferry calibrate` measured for one model version, stored beside
// the version's model file (<repository>/<model>/<version>/calibration.json) and read
// once when the version loads. docs/uncertainty.md describes every field.
#ifndef FERRY_UNCERTAINTY_CALIBRATION_FILE_H_
#define FERRY_UNCERTAINTY_CALIBRATION_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "uncertainty/conformal.h"

namespace ferry {

inline constexpr char kCalibrationFileName[] = "calibration.json";
inline constexpr int kCalibrationFormat = 1;

// Conformal thresholds for one miscoverage level. +infinity (null in the file) means
// every class is in every set: the calibration set was too small for this alpha.
struct ConformalLevel {
  double alpha = 0.1;
  int64_t rank = 0;  // k = ceil((n + 1)(1 - alpha)), the calibration score that was taken
  double lac = 0.0;
  double aps = 0.0;

  double Threshold(ConformalScore score) const { return score == ConformalScore::kAps ? aps : lac; }
};

struct Calibration {
  // What was calibrated.
  std::string model;
  std::string version;
  std::string logits_output = "logits";
  int64_t classes = 0;
  // The calibration data.
  int64_t n = 0;
  std::string data_file;    // the path given to `ferry calibrate`, for the record
  std::string data_sha256;  // hex SHA-256 of that file's bytes
  std::string created;      // UTC, ISO 8601
  // Temperature scaling: calibrated probabilities are softmax(logits / temperature).
  double temperature = 1.0;
  double accuracy = 0.0;
  double nll_before = 0.0;
  double nll_after = 0.0;
  double ece_before = 0.0;
  double ece_after = 0.0;
  // Ascending alpha, distinct.
  std::vector<ConformalLevel> levels;

  // The index of the level whose alpha equals `alpha` (within 1e-9), or -1.
  int FindLevel(double alpha) const;
  // "0.05, 0.1, 0.2", for messages.
  std::string LevelList() const;
};

// Parses calibration.json text; `source` names the file in errors. Checks types and
// ranges (temperature > 0, classes >= 2, n >= 1, alphas ascending in (0, 1), thresholds
// numbers or null). Keys Ferry does not read are ignored. Errors are InvalidArgument.
absl::StatusOr<Calibration> ParseCalibration(absl::string_view text, absl::string_view source);

// The file's text: indented JSON, doubles in their shortest exact form.
std::string SerializeCalibration(const Calibration& calibration);

// Reads and parses `path`. NotFound when there is no such file.
absl::StatusOr<Calibration> ReadCalibrationFile(const std::string& path);

// Writes `path` through a temporary file and a rename, so a reader never sees half a file.
absl::Status WriteCalibrationFile(const std::string& path, const Calibration& calibration);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_CALIBRATION_FILE_H_
