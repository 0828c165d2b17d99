#include "loadgen/datatype.h"

#include <cstring>

namespace ferry::loadgen {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes are written with memcpy, which assumes a little-endian host");

namespace {

struct NamedType {
  absl::string_view name;
  DataType type;
  int size;
};

constexpr NamedType kTypes[] = {
    {"BOOL", DataType::kBool, 1},     {"UINT8", DataType::kUint8, 1},
    {"UINT16", DataType::kUint16, 2}, {"UINT32", DataType::kUint32, 4},
    {"UINT64", DataType::kUint64, 8}, {"INT8", DataType::kInt8, 1},
    {"INT16", DataType::kInt16, 2},   {"INT32", DataType::kInt32, 4},
    {"INT64", DataType::kInt64, 8},   {"FP16", DataType::kFp16, 2},
    {"FP32", DataType::kFp32, 4},     {"FP64", DataType::kFp64, 8},
    {"BF16", DataType::kBf16, 2},     {"BYTES", DataType::kBytes, 0},
};

template <typename T>
void Append(T value, std::string* out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

template <typename T>
T Read(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

}  // namespace

std::optional<DataType> ParseDataType(absl::string_view name) {
  for (const NamedType& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

absl::string_view DataTypeName(DataType type) {
  for (const NamedType& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return "?";
}

int DataTypeSize(DataType type) {
  for (const NamedType& t : kTypes) {
    if (t.type == type) return t.size;
  }
  return 0;
}

void AppendNumber(DataType type, double value, std::string* out) {
  switch (type) {
    case DataType::kBool:
      return Append<uint8_t>(value != 0 ? 1 : 0, out);
    case DataType::kUint8:
      return Append(static_cast<uint8_t>(value), out);
    case DataType::kUint16:
      return Append(static_cast<uint16_t>(value), out);
    case DataType::kUint32:
      return Append(static_cast<uint32_t>(value), out);
    case DataType::kUint64:
      return Append(static_cast<uint64_t>(value), out);
    case DataType::kInt8:
      return Append(static_cast<int8_t>(value), out);
    case DataType::kInt16:
      return Append(static_cast<int16_t>(value), out);
    case DataType::kInt32:
      return Append(static_cast<int32_t>(value), out);
    case DataType::kInt64:
      return Append(static_cast<int64_t>(value), out);
    case DataType::kFp16:
      return Append(FloatToHalf(static_cast<float>(value)), out);
    case DataType::kFp32:
      return Append(static_cast<float>(value), out);
    case DataType::kFp64:
      return Append(value, out);
    case DataType::kBf16:
      return Append(FloatToBf16(static_cast<float>(value)), out);
    case DataType::kBytes:
      return;
  }
}

double ReadNumber(DataType type, const char* p) {
  switch (type) {
    case DataType::kBool:
      return Read<uint8_t>(p) != 0 ? 1 : 0;
    case DataType::kUint8:
      return Read<uint8_t>(p);
    case DataType::kUint16:
      return Read<uint16_t>(p);
    case DataType::kUint32:
      return Read<uint32_t>(p);
    case DataType::kUint64:
      return static_cast<double>(Read<uint64_t>(p));
    case DataType::kInt8:
      return Read<int8_t>(p);
    case DataType::kInt16:
      return Read<int16_t>(p);
    case DataType::kInt32:
      return Read<int32_t>(p);
    case DataType::kInt64:
      return static_cast<double>(Read<int64_t>(p));
    case DataType::kFp16:
      return HalfToFloat(Read<uint16_t>(p));
    case DataType::kFp32:
      return Read<float>(p);
    case DataType::kFp64:
      return Read<double>(p);
    case DataType::kBf16:
      return Bf16ToFloat(Read<uint16_t>(p));
    case DataType::kBytes:
      return 0;
  }
  return 0;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xFFu;
  uint32_t mantissa = x & 0x7FFFFFu;
  if (exponent == 0xFF) {  // Inf stays Inf; NaN stays a (quiet) NaN.
    return static_cast<uint16_t>(sign | 0x7C00u | (mantissa != 0 ? 0x200u | (mantissa >> 13) : 0));
  }
  const int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);
  if (e <= 0) {  // Subnormal half, or zero.
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  const uint32_t bias = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + bias) >> 16);
}

float Bf16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace ferry::loadgen
