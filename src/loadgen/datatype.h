// The tensor datatypes of the Open Inference Protocol and their little-endian byte form,
// the form both the binary tensor extension and gRPC raw contents use.
#ifndef FERRY_LOADGEN_DATATYPE_H_
#define FERRY_LOADGEN_DATATYPE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace ferry::loadgen {

enum class DataType {
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
  kFp32,
  kFp64,
  kBf16,
  kBytes,
};

// "FP32" -> kFp32; nullopt for names the protocol does not define.
std::optional<DataType> ParseDataType(absl::string_view name);
absl::string_view DataTypeName(DataType type);
// Bytes per element; 0 for BYTES, whose elements are a 4-byte length plus the bytes.
int DataTypeSize(DataType type);

// Appends `value`, converted to `type`, as little-endian bytes (BOOL: nonzero -> 1).
// REQUIRES: type != kBytes.
void AppendNumber(DataType type, double value, std::string* out);
// Reads back one element written by AppendNumber, as a double (exact for every type but
// 64-bit integers beyond 2^53). REQUIRES: type != kBytes, `p` holds DataTypeSize bytes.
double ReadNumber(DataType type, const char* p);

// IEEE half and bfloat16 conversions, round to nearest even.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t b);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_DATATYPE_H_
