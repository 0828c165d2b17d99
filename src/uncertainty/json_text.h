// Small helpers for the JSON that Ferry writes for people to read (calibration.json,
// `ferry evaluate --json`): numbers in their shortest exact form, escaped strings.
#ifndef FERRY_UNCERTAINTY_JSON_TEXT_H_
#define FERRY_UNCERTAINTY_JSON_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace ferry {

// The shortest decimal that reads back as `value` (0.1 -> "0.1"); "null" for NaN and
// infinities, which JSON cannot hold.
std::string JsonNumber(double value);

// `value` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view value);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_JSON_TEXT_H_
