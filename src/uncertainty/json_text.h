// Small helpers for the JSON that Ferry writes for people to read (calibration.json,
// `ferry evaluate --json`): numbers in their shortest exact form, escaped strings, and a
// reader that gets those numbers back bit for bit.
#ifndef FERRY_UNCERTAINTY_JSON_TEXT_H_
#define FERRY_UNCERTAINTY_JSON_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boost/json/value.hpp"

namespace ferry {

// The shortest decimal that reads back as `value` (0.1 -> "0.1"); "null" for NaN and
// infinities, which JSON cannot hold.
std::string JsonNumber(double value);

// `value` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view value);

// Parses one JSON document like boost::json::parse, except that every floating-point
// number is the correctly rounded double of its text. Boost.JSON 1.81's own conversion
// can be one unit in the last place off (1.1254533818669081 reads as ...079), so a value
// written by JsonNumber would not always read back as the same double. The error message
// is Boost's.
absl::StatusOr<boost::json::value> ParseJsonExact(absl::string_view text);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_JSON_TEXT_H_
