// The classification extension: turns a score tensor into its top-N classes.
#ifndef FERRY_CORE_CLASSIFICATION_H_
#define FERRY_CORE_CLASSIFICATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace ferry {

// For scores of shape [rows, C] (or [C]), returns a BYTES tensor of shape [rows, n] (or
// [n]) whose elements are "value:index" or, when labels[index] exists, "value:index:label",
// highest value first; ties keep the lower index first. n is capped at C.
// Fails for BOOL, BYTES, FP16 and BF16 scores.
absl::StatusOr<Tensor> TopClasses(const Tensor& scores, int64_t n,
                                  const std::vector<std::string>& labels);

// Splits a BYTES tensor's data into its elements (for tests and encoders).
std::vector<std::string> BytesElements(const Tensor& t);
// Appends one BYTES element (length prefix and bytes) to `data`.
void AppendBytesElement(absl::string_view value, std::vector<uint8_t>& data);

}  // namespace ferry

#endif  // FERRY_CORE_CLASSIFICATION_H_
