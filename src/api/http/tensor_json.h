// Conversion between JSON values and tensor elements, both ways: JSON scalars ("leaves" of
// a request's "data") into a tensor's little-endian bytes, and tensor bytes into JSON text.
// Internal to api/http; split out of json_codec.cc to keep the decoder readable.
#ifndef FERRY_API_HTTP_TENSOR_JSON_H_
#define FERRY_API_HTTP_TENSOR_JSON_H_

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/signature.h"
#include "core/tensor.h"
#include "json/writer.h"

namespace ferry {
namespace tensor_json {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes are little-endian; a big-endian host needs byte swaps here");

// One element of a request's "data" as the parser saw it, before it is given the input's
// datatype. `text` is the number's or string's text as written, so floats can be converted
// with correct rounding for the target type.
enum class LeafKind : uint8_t { kBool, kInt, kUint, kDouble, kString };

struct Leaf {
  Leaf() = default;
  explicit Leaf(LeafKind k) : kind(k) {}

  LeafKind kind = LeafKind::kBool;
  bool b = false;
  int64_t i = 0;      // kInt
  uint64_t u = 0;     // kUint: only numbers above INT64_MAX arrive this way
  double parsed = 0;  // kDouble: the parser's value, possibly an ULP off (see PutLeafFast)
  absl::string_view text;
};

// Tensor bytes under construction. The vector is grown ahead in large steps and trimmed
// at the end, so appending an element costs a compare and a memcpy, not a resize.
class ByteBuffer {
 public:
  // Makes room for `bytes` more without growing again.
  void Reserve(size_t bytes) {
    if (bytes_.size() - used_ < bytes) bytes_.resize(used_ + bytes);
  }
  uint8_t* Append(size_t n) {
    if (ABSL_PREDICT_FALSE(bytes_.size() - used_ < n)) Grow(n);
    uint8_t* p = bytes_.data() + used_;
    used_ += n;
    return p;
  }
  std::vector<uint8_t> Take() {
    bytes_.resize(used_);
    used_ = 0;
    return std::move(bytes_);
  }

 private:
  ABSL_ATTRIBUTE_NOINLINE void Grow(size_t n) {
    bytes_.resize(std::max(bytes_.size() * 2, used_ + n));
  }

  std::vector<uint8_t> bytes_;
  size_t used_ = 0;
};

template <typename T>
void Put(ByteBuffer& out, T value) {
  std::memcpy(out.Append(sizeof(T)), &value, sizeof(T));
}

inline const char* KindName(LeafKind kind) {
  switch (kind) {
    case LeafKind::kBool:
      return "a boolean";
    case LeafKind::kString:
      return "a string";
    default:
      return "a number";
  }
}

// The leaf as it appeared in the body, for error messages; long strings are cut short.
inline std::string LeafText(const Leaf& leaf) {
  if (leaf.kind == LeafKind::kBool) return leaf.b ? "true" : "false";
  if (leaf.kind != LeafKind::kString) return std::string(leaf.text);
  constexpr size_t kMax = 40;
  if (leaf.text.size() <= kMax) return absl::StrCat("\"", leaf.text, "\"");
  return absl::StrCat("\"", leaf.text.substr(0, kMax), "...\"");
}

// The datatype a leaf must become, and where it came from for error messages.
struct LeafPlace {
  absl::string_view label;  // "input 'x'"
  DataType dtype;
  int64_t index;
};

inline absl::Status WrongKind(const Leaf& leaf, const LeafPlace& at, absl::string_view wanted) {
  return absl::InvalidArgumentError(
      absl::StrCat(at.label, ": element ", at.index, " is ", KindName(leaf.kind), " (",
                   LeafText(leaf), ") but ", DataTypeName(at.dtype), " needs ", wanted));
}

inline absl::Status OutOfRange(const Leaf& leaf, const LeafPlace& at) {
  return absl::InvalidArgumentError(absl::StrCat(at.label, ": value ", LeafText(leaf),
                                                 " at element ", at.index, " is out of range for ",
                                                 DataTypeName(at.dtype)));
}

// Parses a JSON number's text as F, correctly rounded. Values too small for F become zero
// or subnormal as usual; values too large fail.
template <typename F>
bool ParseFloat(absl::string_view text, F& value) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (r.ec == std::errc() && r.ptr == text.data() + text.size()) return std::isfinite(value);
  if (r.ec != std::errc::result_out_of_range) return false;
  // from_chars reports underflow and overflow alike; strtod tells them apart. Rare path.
  const std::string copy(text);
  errno = 0;
  if constexpr (std::is_same_v<F, float>) {
    value = std::strtof(copy.c_str(), nullptr);
  } else {
    value = std::strtod(copy.c_str(), nullptr);
  }
  return std::isfinite(value);
}

// Boost.JSON's own double for a number can be an ULP or two off the correctly rounded one.
// Rounding it to float still gives the correctly rounded float unless the decimal value
// lies within those ULPs of a point halfway between two floats; so take the fast cast and
// leave only such rare values (and overflow) to from_chars.
inline bool FloatFromParsedDouble(double d, float& value) {
  // Beyond this a float would round to infinity (and the cast would be undefined).
  if (!(std::abs(d) < 0x1.ffffffp127)) return false;
  const float f = static_cast<float>(d);
  // Exactly a float (every pixel value, every small integer): Boost.JSON's error is far
  // below half a float ULP, so no halfway point can be near. The common case, kept cheap.
  if (static_cast<double>(f) == d) {
    value = f;
    return true;
  }
  const double below =
      0.5 * (static_cast<double>(f) + std::nextafter(f, -std::numeric_limits<float>::infinity()));
  const double above =
      0.5 * (static_cast<double>(f) + std::nextafter(f, std::numeric_limits<float>::infinity()));
  const double margin = std::abs(d) * 0x1p-48 + 0x1p-1074 * 16;
  if (std::abs(d - below) <= margin || std::abs(d - above) <= margin) return false;
  value = f;
  return true;
}

template <typename T>
absl::Status PutInteger(const Leaf& leaf, const LeafPlace& at, ByteBuffer& out) {
  using Limits = std::numeric_limits<T>;
  switch (leaf.kind) {
    case LeafKind::kInt:
      if constexpr (std::is_signed_v<T>) {
        if (leaf.i < Limits::min() || leaf.i > Limits::max()) return OutOfRange(leaf, at);
      } else {
        if (leaf.i < 0 || static_cast<uint64_t>(leaf.i) > Limits::max()) {
          return OutOfRange(leaf, at);
        }
      }
      Put<T>(out, static_cast<T>(leaf.i));
      return absl::OkStatus();
    case LeafKind::kUint:
      if (leaf.u > static_cast<uint64_t>(Limits::max())) return OutOfRange(leaf, at);
      Put<T>(out, static_cast<T>(leaf.u));
      return absl::OkStatus();
    case LeafKind::kDouble: {
      // 3.0 or 1e2 are integers written as floats, which numpy-based clients produce.
      // An integer literal lands here only when it is beyond 64 bits: out of range for all.
      if (leaf.text.find_first_of(".eE") == absl::string_view::npos) return OutOfRange(leaf, at);
      double d = 0;
      if (!ParseFloat(leaf.text, d)) return OutOfRange(leaf, at);
      if (d != std::trunc(d)) {
        return absl::InvalidArgumentError(
            absl::StrCat(at.label, ": value ", LeafText(leaf), " at element ", at.index,
                         " is not an integer, as ", DataTypeName(at.dtype), " requires"));
      }
      // T's max may round up as a double; 2^digits is exact, so compare against that.
      const double upper = std::ldexp(1.0, Limits::digits);
      if (d < static_cast<double>(Limits::min()) || d >= upper) return OutOfRange(leaf, at);
      Put<T>(out, static_cast<T>(d));
      return absl::OkStatus();
    }
    default:
      return WrongKind(leaf, at, "an integer");
  }
}

template <typename F>
absl::Status PutFloat(const Leaf& leaf, const LeafPlace& at, ByteBuffer& out) {
  switch (leaf.kind) {
    case LeafKind::kInt:
      Put<F>(out, static_cast<F>(leaf.i));
      return absl::OkStatus();
    case LeafKind::kUint:
      Put<F>(out, static_cast<F>(leaf.u));
      return absl::OkStatus();
    case LeafKind::kDouble: {
      F value = 0;
      if (!ParseFloat(leaf.text, value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            at.label, ": value ", LeafText(leaf), " at element ", at.index, " is not a finite ",
            DataTypeName(at.dtype), " number (it is too large; NaN or Infinity are not accepted)"));
      }
      Put<F>(out, value);
      return absl::OkStatus();
    }
    default:
      return WrongKind(leaf, at, "a number");
  }
}

// Appends one leaf to `out` as `at.dtype`. The datatype was checked to be one JSON can carry.
inline absl::Status PutLeaf(const Leaf& leaf, const LeafPlace& at, ByteBuffer& out) {
  switch (at.dtype) {
    case DataType::kFp32:
      return PutFloat<float>(leaf, at, out);
    case DataType::kFp64:
      return PutFloat<double>(leaf, at, out);
    case DataType::kInt64:
      return PutInteger<int64_t>(leaf, at, out);
    case DataType::kInt32:
      return PutInteger<int32_t>(leaf, at, out);
    case DataType::kInt16:
      return PutInteger<int16_t>(leaf, at, out);
    case DataType::kInt8:
      return PutInteger<int8_t>(leaf, at, out);
    case DataType::kUint64:
      return PutInteger<uint64_t>(leaf, at, out);
    case DataType::kUint32:
      return PutInteger<uint32_t>(leaf, at, out);
    case DataType::kUint16:
      return PutInteger<uint16_t>(leaf, at, out);
    case DataType::kUint8:
      return PutInteger<uint8_t>(leaf, at, out);
    case DataType::kBool:
      if (leaf.kind != LeafKind::kBool) return WrongKind(leaf, at, "true or false");
      Put<uint8_t>(out, leaf.b ? 1 : 0);
      return absl::OkStatus();
    case DataType::kBytes: {
      if (leaf.kind != LeafKind::kString) return WrongKind(leaf, at, "a string");
      const uint32_t len = static_cast<uint32_t>(leaf.text.size());
      uint8_t* p = out.Append(sizeof(len) + len);
      std::memcpy(p, &len, sizeof(len));
      if (len != 0) std::memcpy(p + sizeof(len), leaf.text.data(), len);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError("PutLeaf called with a datatype JSON cannot carry");
  }
}

// PutLeaf for the cases that dominate real traffic (numbers into FP32, INT64 or INT32),
// without building error context; anything else, or a failure, takes the full path.
inline absl::Status PutLeafFast(const Leaf& leaf, const LeafPlace& at, ByteBuffer& out) {
  if (at.dtype == DataType::kFp32) {
    if (leaf.kind == LeafKind::kInt) {
      Put<float>(out, static_cast<float>(leaf.i));
      return absl::OkStatus();
    }
    float v;
    if (leaf.kind == LeafKind::kDouble && FloatFromParsedDouble(leaf.parsed, v)) {
      Put<float>(out, v);
      return absl::OkStatus();
    }
  } else if (leaf.kind == LeafKind::kInt) {
    if (at.dtype == DataType::kInt64) {
      Put<int64_t>(out, leaf.i);
      return absl::OkStatus();
    }
    if (at.dtype == DataType::kInt32 && leaf.i == static_cast<int32_t>(leaf.i)) {
      Put<int32_t>(out, static_cast<int32_t>(leaf.i));
      return absl::OkStatus();
    }
  }
  return PutLeaf(leaf, at, out);
}

// ---------------------------------------------------------------------------------------
// Tensor bytes to JSON.

using json_writer::AppendBool;
using json_writer::AppendFloat;
using json_writer::AppendInt;
using json_writer::AppendString;

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: normalize into a float.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

template <typename T, typename Emit>
void AppendElements(std::string& out, const std::vector<uint8_t>& data, Emit emit) {
  const size_t n = data.size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) out.push_back(',');
    T v;
    std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
    emit(v);
  }
}

// Appends the tensor's elements as one flat JSON array.
inline void AppendData(std::string& out, const Tensor& t) {
  out.push_back('[');
  const auto& d = t.data;
  switch (t.dtype) {
    case DataType::kBool:
      AppendElements<uint8_t>(out, d, [&](uint8_t v) { AppendBool(out, v != 0); });
      break;
    case DataType::kUint8:
      AppendElements<uint8_t>(out, d, [&](uint8_t v) { AppendInt(out, v); });
      break;
    case DataType::kUint16:
      AppendElements<uint16_t>(out, d, [&](uint16_t v) { AppendInt(out, v); });
      break;
    case DataType::kUint32:
      AppendElements<uint32_t>(out, d, [&](uint32_t v) { AppendInt(out, v); });
      break;
    case DataType::kUint64:
      AppendElements<uint64_t>(out, d, [&](uint64_t v) { AppendInt(out, v); });
      break;
    case DataType::kInt8:
      AppendElements<int8_t>(out, d, [&](int8_t v) { AppendInt(out, v); });
      break;
    case DataType::kInt16:
      AppendElements<int16_t>(out, d, [&](int16_t v) { AppendInt(out, v); });
      break;
    case DataType::kInt32:
      AppendElements<int32_t>(out, d, [&](int32_t v) { AppendInt(out, v); });
      break;
    case DataType::kInt64:
      AppendElements<int64_t>(out, d, [&](int64_t v) { AppendInt(out, v); });
      break;
    case DataType::kFp16:
      AppendElements<uint16_t>(out, d, [&](uint16_t v) { AppendFloat(out, HalfToFloat(v)); });
      break;
    case DataType::kBf16:
      AppendElements<uint16_t>(out, d, [&](uint16_t v) { AppendFloat(out, Bf16ToFloat(v)); });
      break;
    case DataType::kFp32:
      AppendElements<float>(out, d, [&](float v) { AppendFloat(out, v); });
      break;
    case DataType::kFp64:
      AppendElements<double>(out, d, [&](double v) { AppendFloat(out, v); });
      break;
    case DataType::kBytes: {
      size_t offset = 0;
      bool first = true;
      // Bounds are checked so a malformed tensor yields fewer elements, never a bad read.
      while (d.size() - offset >= sizeof(uint32_t)) {
        uint32_t len;
        std::memcpy(&len, d.data() + offset, sizeof(len));
        offset += sizeof(len);
        if (d.size() - offset < len) break;
        if (!first) out.push_back(',');
        first = false;
        AppendString(out, absl::string_view(reinterpret_cast<const char*>(d.data() + offset), len));
        offset += len;
      }
      break;
    }
    case DataType::kInvalid:
      break;
  }
  out.push_back(']');
}

inline void AppendShape(std::string& out, const std::vector<int64_t>& shape) {
  out.push_back('[');
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) out.push_back(',');
    AppendInt(out, shape[i]);
  }
  out.push_back(']');
}

// [{"name", "datatype", "shape"}, ...] as model metadata lists them.
inline void AppendTensorSpecs(std::string& out, const std::vector<TensorSpec>& specs) {
  out.push_back('[');
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("name", specs[i].name);
    o.String("datatype", DataTypeName(specs[i].dtype));
    AppendShape(o.Key("shape"), specs[i].shape);
    o.Close();
  }
  out.push_back(']');
}

}  // namespace tensor_json
}  // namespace ferry

#endif  // FERRY_API_HTTP_TENSOR_JSON_H_
