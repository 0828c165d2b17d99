// A version's lineage: where it came from. Stored with the version as JSON text
// (ModelVersion::lineage_json) in this shape, every member optional:
//
//   {"training_data": [{"uri": "file:///data/train.gz", "sha256": "<64 hex>"}],
//    "code_revision": "3f2c1e0",
//    "parameters": {"lr": 0.001, "epochs": 7},
//    "metrics": {"accuracy": 0.9087, "ece": 0.009, "coverage": 0.95},
//    "calibration": [{"uri": "calibration.json", "sha256": "<64 hex>"}],
//    "parent": {"model": "fashion_cnn", "version": 1},
//    "extra": {...}}
//
// metrics are the offline figures (`ferry evaluate`: accuracy, ECE, coverage); calibration
// names the calibration artefacts; parent is the version this one was derived from, which
// `ferry models lineage` follows. "extra" keeps anything else verbatim (an imported bundled
// lineage.json is kept whole there).
#ifndef FERRY_REGISTRY_LINEAGE_H_
#define FERRY_REGISTRY_LINEAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry {

struct DataRef {
  std::string uri;
  std::string sha256;  // 64 lowercase hex digits, or "" when unknown
};

struct Lineage {
  std::vector<DataRef> training_data;
  std::string code_revision;
  std::string parameters_json = "{}";  // a JSON object
  std::string metrics_json = "{}";     // a JSON object
  std::vector<DataRef> calibration;
  std::string parent_model;  // "" with parent_version 0: no parent
  int64_t parent_version = 0;
  std::string extra_json = "{}";  // a JSON object
};

// Parses and checks a lineage document ("" reads as {}). InvalidArgument naming the field
// ("lineage.training_data[0].sha256: ..."): unknown members, wrong types, a sha256 that is
// not 64 hex digits, a parent without a positive version.
absl::StatusOr<Lineage> ParseLineage(absl::string_view json);

// The document above; members at their defaults are left out.
std::string LineageToJson(const Lineage& lineage);

// Maps a bundled model's lineage.json (tools/train_models.py's format) into a Lineage:
// the dataset's training files (role train_*) -> training_data, code.git_revision -> code_revision,
// hyperparameters and seed -> parameters, metrics.test_accuracy -> metrics.accuracy, derived_from /
// source -> parent; the document itself goes to extra.bundled_lineage. `calibration_json` (the
// version's calibration.json, "" when none) adds metrics.ece and a calibration entry with
// `calibration_sha256`. InvalidArgument when the text is not a JSON object.
absl::StatusOr<Lineage> LineageFromBundled(absl::string_view lineage_json,
                                           absl::string_view calibration_json,
                                           const std::string& calibration_sha256);

}  // namespace ferry

#endif  // FERRY_REGISTRY_LINEAGE_H_
