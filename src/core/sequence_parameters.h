// The sequence extension's request parameters, as both transports decode them:
// "sequence_id" (an unsigned integer or a string; 0 and "" mean none), "sequence_start"
// and "sequence_end" (booleans). A decoder that meets one of these keys hands its value
// to ApplySequenceParameter instead of keeping it among the request's other parameters.
#ifndef FERRY_CORE_SEQUENCE_PARAMETERS_H_
#define FERRY_CORE_SEQUENCE_PARAMETERS_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/infer.h"

namespace ferry {

inline constexpr char kSequenceIdParameter[] = "sequence_id";
inline constexpr char kSequenceStartParameter[] = "sequence_start";
inline constexpr char kSequenceEndParameter[] = "sequence_end";

// True for the three keys above.
bool IsSequenceParameter(absl::string_view key);

// A parameter value as the wire carried it: JSON's unsigned integers beyond int64 and
// gRPC's uint64_param arrive as uint64_t.
using SequenceParameterValue = std::variant<bool, int64_t, uint64_t, double, std::string>;

// Sets the field of `sequence` that `key` (one of the three) names. InvalidArgument,
// naming the parameter and the value, for a sequence_id that is negative, fractional or a
// boolean, or a sequence_start / sequence_end that is not a boolean.
absl::Status ApplySequenceParameter(absl::string_view key, const SequenceParameterValue& value,
                                    SequenceControl& sequence);

}  // namespace ferry

#endif  // FERRY_CORE_SEQUENCE_PARAMETERS_H_
