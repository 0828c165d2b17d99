#include "core/tensor.h"

#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace ferry {
namespace {

struct DataTypeInfo {
  DataType dtype;
  absl::string_view name;
  size_t byte_size;
};

constexpr DataTypeInfo kDataTypes[] = {
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
    {DataType::kBf16, "BF16", 2},     {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},     {DataType::kBytes, "BYTES", 0},
};

}  // namespace

absl::string_view DataTypeName(DataType dtype) {
  for (const auto& info : kDataTypes) {
    if (info.dtype == dtype) return info.name;
  }
  return "INVALID";
}

DataType ParseDataType(absl::string_view name) {
  for (const auto& info : kDataTypes) {
    if (info.name == name) return info.dtype;
  }
  return DataType::kInvalid;
}

size_t DataTypeByteSize(DataType dtype) {
  for (const auto& info : kDataTypes) {
    if (info.dtype == dtype) return info.byte_size;
  }
  return 0;
}

int64_t ElementCount(absl::Span<const int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return -1;
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) return -1;
    count *= dim;
  }
  return count;
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status CheckByteSize(const Tensor& t) {
  const int64_t count = t.element_count();
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", t.name, "': shape ", ShapeToString(t.shape), " is not a valid shape"));
  }
  if (t.dtype == DataType::kBytes) {
    size_t offset = 0;
    for (int64_t i = 0; i < count; ++i) {
      uint32_t len = 0;
      if (t.data.size() - offset < sizeof(len)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", t.name, "': BYTES data holds fewer than the ", count,
            " elements its shape calls for"));
      }
      std::memcpy(&len, t.data.data() + offset, sizeof(len));
      offset += sizeof(len);
      if (t.data.size() - offset < len) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", t.name, "': BYTES element ", i, " is truncated"));
      }
      offset += len;
    }
    if (offset != t.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", t.name, "': BYTES data is longer than its ", count, " elements"));
    }
    return absl::OkStatus();
  }
  const size_t elem = DataTypeByteSize(t.dtype);
  if (elem == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", t.name, "': invalid datatype"));
  }
  const uint64_t want = static_cast<uint64_t>(count) * elem;
  if (t.data.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", t.name, "': shape ", ShapeToString(t.shape), " of ",
        DataTypeName(t.dtype), " needs ", want, " bytes but ", t.data.size(), " were given"));
  }
  return absl::OkStatus();
}

Tensor ConcatRows(absl::Span<const Tensor* const> parts) {
  Tensor out;
  if (parts.empty()) return out;
  out.name = parts[0]->name;
  out.dtype = parts[0]->dtype;
  out.shape = parts[0]->shape;
  int64_t rows = 0;
  size_t bytes = 0;
  for (const Tensor* p : parts) {
    rows += p->shape.empty() ? 1 : p->shape[0];
    bytes += p->data.size();
  }
  if (!out.shape.empty()) out.shape[0] = rows;
  out.data.resize(bytes);
  size_t offset = 0;
  for (const Tensor* p : parts) {
    if (!p->data.empty()) std::memcpy(out.data.data() + offset, p->data.data(), p->data.size());
    offset += p->data.size();
  }
  return out;
}

namespace {

// Bytes per row of a fixed-size tensor whose data matches its shape; for the row copies.
absl::StatusOr<size_t> RowBytes(const Tensor& t) {
  if (t.shape.empty()) {
    return absl::InternalError(absl::StrCat("tensor '", t.name, "' has no batch dimension"));
  }
  const size_t elem = DataTypeByteSize(t.dtype);
  if (elem == 0) {
    return absl::InternalError(
        absl::StrCat("tensor '", t.name, "' has a datatype that cannot be split by rows"));
  }
  const int64_t row_elems = ElementCount(absl::MakeConstSpan(t.shape).subspan(1));
  const size_t row_bytes = static_cast<size_t>(row_elems) * elem;
  if (t.shape[0] < 0 || t.data.size() != row_bytes * static_cast<size_t>(t.shape[0])) {
    return absl::InternalError(absl::StrCat("tensor '", t.name, "' holds ", t.data.size(),
                                            " bytes, not what its shape ",
                                            ShapeToString(t.shape), " needs"));
  }
  return row_bytes;
}

}  // namespace

absl::StatusOr<Tensor> GatherRows(const Tensor& t, absl::Span<const int64_t> indices) {
  FERRY_ASSIGN_OR_RETURN(const size_t row_bytes, RowBytes(t));
  Tensor out;
  out.name = t.name;
  out.dtype = t.dtype;
  out.shape = t.shape;
  out.shape[0] = static_cast<int64_t>(indices.size());
  out.data.resize(row_bytes * indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] < 0 || indices[i] >= t.shape[0]) {
      return absl::InternalError(absl::StrCat("row ", indices[i], " of tensor '", t.name,
                                              "' is out of range [0, ", t.shape[0], ")"));
    }
    if (row_bytes > 0) {
      std::memcpy(out.data.data() + i * row_bytes,
                  t.data.data() + static_cast<size_t>(indices[i]) * row_bytes, row_bytes);
    }
  }
  return out;
}

namespace {

// SplitRows for BYTES: rows hold a fixed number of elements of varying length, so each
// piece's bytes are found by walking the length prefixes.
absl::StatusOr<std::vector<Tensor>> SplitBytesRows(const Tensor& t, absl::Span<const int64_t> rows) {
  const int64_t row_elems = ElementCount(absl::MakeConstSpan(t.shape).subspan(1));
  const absl::Status size = CheckByteSize(t);
  if (row_elems < 0 || !size.ok()) {
    return absl::InternalError(absl::StrCat("tensor '", t.name, "' holds BYTES that do not match its shape ",
                                            ShapeToString(t.shape)));
  }
  std::vector<Tensor> pieces(rows.size());
  size_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Tensor& piece = pieces[i];
    piece.name = t.name;
    piece.dtype = t.dtype;
    piece.shape = t.shape;
    piece.shape[0] = rows[i];
    const size_t begin = offset;
    for (int64_t e = 0; e < rows[i] * row_elems; ++e) {
      uint32_t len = 0;
      std::memcpy(&len, t.data.data() + offset, sizeof(len));
      offset += sizeof(len) + len;
    }
    piece.data.assign(t.data.begin() + begin, t.data.begin() + offset);
  }
  return pieces;
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> SplitRows(const Tensor& t, absl::Span<const int64_t> rows) {
  if (!t.shape.empty()) {
    int64_t total = 0;
    for (int64_t r : rows) total += r;
    if (total != t.shape[0]) {
      return absl::InternalError(absl::StrCat("output '", t.name, "' has ", t.shape[0],
                                              " rows but the batch holds ", total));
    }
    if (t.dtype == DataType::kBytes) return SplitBytesRows(t, rows);
  }
  FERRY_ASSIGN_OR_RETURN(const size_t row_bytes, RowBytes(t));
  std::vector<Tensor> pieces(rows.size());
  size_t offset = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Tensor& piece = pieces[i];
    piece.name = t.name;
    piece.dtype = t.dtype;
    piece.shape = t.shape;
    piece.shape[0] = rows[i];
    const size_t n = row_bytes * static_cast<size_t>(rows[i]);
    piece.data.assign(t.data.begin() + offset, t.data.begin() + offset + n);
    offset += n;
  }
  return pieces;
}

}  // namespace ferry
