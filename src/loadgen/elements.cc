#include "loadgen/elements.h"

#include <cstring>

#include "core/float16.h"

namespace ferry::loadgen {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes are written with memcpy, which assumes a little-endian host");

namespace {

template <typename T>
void Append(T value, std::vector<uint8_t>* out) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &value, sizeof(T));
}

template <typename T>
T Read(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

}  // namespace

void AppendNumber(DataType type, double value, std::vector<uint8_t>* out) {
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
    case DataType::kInvalid:
      return;
  }
}

double ReadNumber(DataType type, const uint8_t* p) {
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
    case DataType::kInvalid:
      return 0;
  }
  return 0;
}

}  // namespace ferry::loadgen
