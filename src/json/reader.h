// Reading a JSON document so that the numbers json/writer.h wrote come back bit for bit
// (calibration.json's thresholds and temperature are read at every model load).
#ifndef FERRY_JSON_READER_H_
#define FERRY_JSON_READER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "boost/json/value.hpp"

namespace ferry {

// Parses one JSON document like boost::json::parse, except that every floating-point
// number is the correctly rounded double of its text. Boost.JSON 1.81's own conversion
// can be one unit in the last place off (1.1254533818669081 reads as ...079), so a value
// written by JsonNumber would not always read back as the same double. The error message
// is Boost's.
absl::StatusOr<boost::json::value> ParseJsonExact(absl::string_view text);

}  // namespace ferry

#endif  // FERRY_JSON_READER_H_
