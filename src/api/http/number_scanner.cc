#include "api/http/number_scanner.h"

#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace ferry {
namespace number_scan {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const char* SkipSpace(const char* p, const char* end) {
  while (p != end && IsSpace(*p)) ++p;
  return p;
}

// More than 9 for anything but '0'..'9'.
unsigned Digit(char c) { return static_cast<unsigned>(static_cast<unsigned char>(c)) - '0'; }

// A JSON number as (-1)^negative * digits * 10^exp10.
struct Number {
  uint64_t digits = 0;
  int exp10 = 0;
  bool negative = false;
  // No fraction and no exponent. Boost.JSON hands such a number to the handler as an
  // int64 (at most 18 digits are taken here, so it always fits), and an int64 converts to
  // a float type by a direct cast, not by way of the decimal text.
  bool integer = true;
};

// Reads the JSON number at p and returns where it ends, or nullptr when there is none or
// it is one to leave to the parser: an integer of more than 18 digits (which may not fit
// int64), more than 19 digits in all, or an exponent of more than 4 digits. What follows
// the number is not looked at: "01" reads as 0 and the caller finds a '1' where a ',' or
// ']' must be.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* ReadNumber(const char* p, const char* end,
                                                           Number& n) {
  if (p != end && *p == '-') {
    n.negative = true;
    ++p;
  }
  if (p == end) return nullptr;
  unsigned d = Digit(*p);
  if (d > 9) return nullptr;
  ++p;
  uint64_t w = d;
  int count = 1;
  if (w != 0) {
    while (p != end && (d = Digit(*p)) <= 9) {
      if (++count > 19) return nullptr;
      w = w * 10 + d;
      ++p;
    }
  }
  int exp10 = 0;
  if (p != end && *p == '.') {
    n.integer = false;
    const char* first = ++p;
    while (p != end && (d = Digit(*p)) <= 9) {
      if (++count > 19) return nullptr;
      w = w * 10 + d;
      ++p;
    }
    if (p == first) return nullptr;
    exp10 = -static_cast<int>(p - first);
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    n.integer = false;
    ++p;
    bool negative = false;
    if (p != end && (*p == '+' || *p == '-')) negative = *p++ == '-';
    const char* first = p;
    int e = 0;
    while (p != end && (d = Digit(*p)) <= 9) {
      if (p - first == 4) return nullptr;
      e = e * 10 + static_cast<int>(d);
      ++p;
    }
    if (p == first) return nullptr;
    exp10 += negative ? -e : e;
  }
  if (n.integer && count > 18) return nullptr;
  n.digits = w;
  n.exp10 = exp10;
  return p;
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Clinger's fast path: the digits and the power of ten are both exact doubles, so the one
// rounding of the product or quotient gives the correctly rounded double, the same one
// std::from_chars returns.
bool ToDouble(const Number& n, double& value) {
  if (n.digits > (uint64_t{1} << 53) || n.exp10 < -22 || n.exp10 > 22) return false;
  const double d = static_cast<double>(n.digits);
  const double magnitude = n.exp10 < 0 ? d / kPow10[-n.exp10] : d * kPow10[n.exp10];
  value = n.negative ? -magnitude : magnitude;
  return true;
}

// Converts as PutLeaf would convert the parser's leaf for this number, or returns false
// for a value PutLeaf would reject or that cannot be converted the same way here.
template <typename T>
bool Convert(const Number& n, T& value) {
  if (n.integer) {
    const int64_t i = n.negative ? -static_cast<int64_t>(n.digits) : static_cast<int64_t>(n.digits);
    if constexpr (std::is_integral_v<T>) {
      using Limits = std::numeric_limits<T>;
      if constexpr (std::is_signed_v<T>) {
        if (i < Limits::min() || i > Limits::max()) return false;
      } else {
        if (i < 0 || static_cast<uint64_t>(i) > Limits::max()) return false;
      }
    }
    value = static_cast<T>(i);
    return true;
  }
  if constexpr (std::is_integral_v<T>) {
    // "3.0" or "1e2" as an integer: rare, and PutInteger's rules are its own.
    return false;
  } else {
    double d;
    if (!ToDouble(n, d)) return false;
    if constexpr (std::is_same_v<T, double>) {
      value = d;
      return true;
    } else {
      // Every float and every point halfway between two floats is a double, and rounding
      // to double keeps order, so the correctly rounded double rounds to the correctly
      // rounded float unless it sits exactly on a halfway point. Here |d| is 0 or within
      // [1e-22, 2^53 * 1e22], where floats are normal: a halfway point is a double whose
      // low 29 mantissa bits (those a float lacks) are 1 followed by zeros.
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof(bits));
      constexpr uint64_t kLow = (uint64_t{1} << 29) - 1;
      if ((bits & kLow) == uint64_t{1} << 28) return false;
      value = static_cast<float>(d);
      return true;
    }
  }
}

template <typename T>
Scanned ScanAs(const char* begin, const char* end, size_t pos, tensor_json::ByteBuffer& out) {
  Scanned result;
  const char* p = SkipSpace(begin + pos, end);
  while (true) {
    Number n;
    T value;
    const char* q = ReadNumber(p, end, n);
    if (q == nullptr || !Convert(n, value)) break;
    q = SkipSpace(q, end);
    if (ABSL_PREDICT_TRUE(q != end && *q == ',')) {
      q = SkipSpace(q + 1, end);
      // The element is taken only once the parser could go on after it: "[1,]" must stay
      // an error, and the parser, resumed as if just past '[', would take "]" as the end.
      if (q == end || *q == ']') break;
      tensor_json::Put<T>(out, value);
      ++result.count;
      p = q;
      continue;
    }
    if (q == end || *q != ']') break;
    tensor_json::Put<T>(out, value);
    ++result.count;
    result.resume = static_cast<size_t>(q - begin);
    return result;
  }
  result.resume = static_cast<size_t>(p - begin);
  return result;
}

}  // namespace

size_t FindDataArray(absl::string_view body, size_t from) {
  const char* const b = body.data();
  const size_t size = body.size();
  size_t pos = from;
  while (pos < size) {
    const void* quote = std::memchr(b + pos, '"', size - pos);
    if (quote == nullptr) return kNotFound;
    const size_t open = static_cast<size_t>(static_cast<const char*>(quote) - b);
    // The closing quote is the first one not escaped, i.e. not after an odd number of
    // backslashes. The backward count stops at the opening quote at the latest.
    size_t close = open + 1;
    while (true) {
      quote = std::memchr(b + close, '"', size - close);
      if (quote == nullptr) return kNotFound;
      close = static_cast<size_t>(static_cast<const char*>(quote) - b);
      size_t backslashes = 0;
      while (b[close - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) break;
      ++close;
    }
    pos = close + 1;
    if (close - open - 1 != 4 || std::memcmp(b + open + 1, "data", 4) != 0) continue;
    const char* p = SkipSpace(b + pos, b + size);
    if (p == b + size || *p != ':') continue;
    p = SkipSpace(p + 1, b + size);
    if (p != b + size && *p == '[') return static_cast<size_t>(p + 1 - b);
  }
  return kNotFound;
}

Scanned ScanNumbers(absl::string_view body, size_t pos, DataType dtype,
                    tensor_json::ByteBuffer& out) {
  const char* begin = body.data();
  const char* end = begin + body.size();
  switch (dtype) {
    case DataType::kFp32:
      return ScanAs<float>(begin, end, pos, out);
    case DataType::kFp64:
      return ScanAs<double>(begin, end, pos, out);
    case DataType::kInt64:
      return ScanAs<int64_t>(begin, end, pos, out);
    case DataType::kInt32:
      return ScanAs<int32_t>(begin, end, pos, out);
    case DataType::kInt16:
      return ScanAs<int16_t>(begin, end, pos, out);
    case DataType::kInt8:
      return ScanAs<int8_t>(begin, end, pos, out);
    case DataType::kUint64:
      return ScanAs<uint64_t>(begin, end, pos, out);
    case DataType::kUint32:
      return ScanAs<uint32_t>(begin, end, pos, out);
    case DataType::kUint16:
      return ScanAs<uint16_t>(begin, end, pos, out);
    case DataType::kUint8:
      return ScanAs<uint8_t>(begin, end, pos, out);
    default:
      return Scanned{0, pos};
  }
}

}  // namespace number_scan
}  // namespace ferry
