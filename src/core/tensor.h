// Tensors as Ferry moves them: a name, a datatype, a shape and row-major bytes.
// No framework types here; backends convert at their edge.
#ifndef FERRY_CORE_TENSOR_H_
#define FERRY_CORE_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ferry {

// The Open Inference Protocol datatypes.
enum class DataType {
  kInvalid = 0,
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kBf16,
  kFp32,
  kFp64,
  kBytes,
};

// "FP32", "INT64", ... Returns "INVALID" for kInvalid.
absl::string_view DataTypeName(DataType dtype);
// Inverse of DataTypeName; kInvalid for an unknown (or differently cased) name.
DataType ParseDataType(absl::string_view name);
// Bytes per element; 0 for BYTES, whose elements vary in size.
size_t DataTypeByteSize(DataType dtype);

// Product of the dimensions; -1 if any is negative or the product overflows int64.
int64_t ElementCount(absl::Span<const int64_t> shape);
std::string ShapeToString(absl::Span<const int64_t> shape);

struct Tensor {
  std::string name;
  DataType dtype = DataType::kInvalid;
  std::vector<int64_t> shape;
  // Row-major, little-endian, no padding. BOOL is one byte per element.
  // BYTES elements are each a 4-byte little-endian length followed by that many bytes,
  // the same layout as the protocol's binary extension, so no re-encoding is needed.
  std::vector<uint8_t> data;

  int64_t element_count() const { return ElementCount(shape); }
  template <typename T>
  const T* data_as() const {
    return reinterpret_cast<const T*>(data.data());
  }
  template <typename T>
  T* mutable_data_as() {
    return reinterpret_cast<T*>(data.data());
  }
};

// Checks that `t.data` holds exactly the bytes its shape and datatype call for
// (for BYTES: exactly shape-many well-formed length-prefixed elements).
absl::Status CheckByteSize(const Tensor& t);

// Concatenates tensors along dimension 0. All parts must share the datatype and the
// trailing dimensions (the caller validated them). The result takes `name` from parts[0].
Tensor ConcatRows(absl::Span<const Tensor* const> parts);

// Splits `t` along dimension 0 into pieces of `rows[i]` rows each. The rows must add up
// to t.shape[0], and BYTES data must be well formed for the shape. Fails for a rank-0
// tensor.
absl::StatusOr<std::vector<Tensor>> SplitRows(const Tensor& t, absl::Span<const int64_t> rows);

// The rows of `t` at `indices` (each in [0, t.shape[0]), any order, repeats allowed), in
// that order. Fails for BYTES or a rank-0 tensor.
absl::StatusOr<Tensor> GatherRows(const Tensor& t, absl::Span<const int64_t> indices);

}  // namespace ferry

#endif  // FERRY_CORE_TENSOR_H_
