// A labeled set of input rows for a model with one input: what `ferry calibrate` and
// `ferry evaluate` read. The format (docs/uncertainty.md has a numpy writer):
//
//   offset    size       field
//   0         8          magic, the ASCII bytes "FERRYSET"
//   8         4          format version, uint32 little-endian: 1
//   12        4          header length H, uint32 little-endian
//   16        H          header, a UTF-8 JSON object:
//                          {"datatype": "FP32", "shape": [N, d1, ..., dk], "classes": C}
//                        and optionally "description": "..." (no other keys)
//   16+H      8*N        labels, int64 little-endian, each in [0, C)
//   16+H+8N   N*R*size   the rows, row-major little-endian, R = d1*...*dk elements each
//   end of file, exactly
//
// The datatype is a protocol name (FP32, UINT8, ...; not BYTES) and must be the model
// input's; the shape after N must fit the input's shape.
#ifndef FERRY_UNCERTAINTY_LABELED_SET_H_
#define FERRY_UNCERTAINTY_LABELED_SET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/signature.h"
#include "core/tensor.h"

namespace ferry {

inline constexpr char kLabeledSetMagic[] = "FERRYSET";
inline constexpr uint32_t kLabeledSetVersion = 1;

struct LabeledSet {
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;  // [N, d1, ..., dk]
  int64_t classes = 0;
  std::string description;
  std::vector<int64_t> labels;  // N
  std::vector<uint8_t> data;    // N rows

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  size_t row_bytes() const;
  // Rows [begin, begin + count) as a tensor called `name`.
  // REQUIRES: 0 <= begin, count >= 1, begin + count <= rows().
  Tensor Rows(const std::string& name, int64_t begin, int64_t count) const;
};

// Parses a whole file's bytes; `source` names it in errors. Every check (magic, version,
// header JSON and keys, datatype, shape, classes, labels in range, exact size) fails
// with InvalidArgument saying what is wrong and where.
absl::StatusOr<LabeledSet> ParseLabeledSet(absl::string_view bytes, absl::string_view source);

// Reads and parses `path`. NotFound when it cannot be opened.
absl::StatusOr<LabeledSet> ReadLabeledSet(const std::string& path);

// The file bytes for `set` (tests and tools write sets with this).
// REQUIRES: a set that ParseLabeledSet would accept.
std::string SerializeLabeledSet(const LabeledSet& set);

// Checks that the set can feed `input` and be scored against `classes` classes: the same
// datatype, row shape fitting the input's (-1 matches any size), and the same class
// count. InvalidArgument naming `source` otherwise.
absl::Status CheckLabeledSetFits(const LabeledSet& set, const TensorSpec& input, int64_t classes,
                                 absl::string_view source);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_LABELED_SET_H_
