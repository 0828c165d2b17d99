// Appending JSON text to a std::string. The encoders build responses this way instead of
// through a DOM: a response is written once, front to back, and this is several times
// faster than building and serializing a boost::json::value. Internal to api/http.
#ifndef FERRY_API_HTTP_JSON_WRITER_H_
#define FERRY_API_HTTP_JSON_WRITER_H_

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace ferry {
namespace json_writer {

// Appends `s` as a quoted JSON string. Bytes that are not valid UTF-8 become U+FFFD: a JSON
// text must be UTF-8, and BYTES outputs may hold anything.
inline void AppendString(std::string& out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Copy the longest run that needs no escaping in one append.
    const auto* run = p;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
    out.append(reinterpret_cast<const char*>(run), p - run);
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      out.push_back('\\');
      switch (c) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\n':
          out.push_back('n');
          break;
        case '\r':
          out.push_back('r');
          break;
        case '\t':
          out.push_back('t');
          break;
        case '\b':
          out.push_back('b');
          break;
        case '\f':
          out.push_back('f');
          break;
        default:
          out.append("u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
      }
      ++p;
      continue;
    }
    // A multi-byte sequence: copy it if well formed (no overlongs, no surrogates, nothing
    // above U+10FFFF), else replace one byte and resynchronize on the next.
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    bool valid = len != 0 && static_cast<size_t>(end - p) >= len;
    for (size_t k = 1; valid && k < len; ++k) {
      if ((p[k] & 0xc0) != 0x80) valid = false;
      cp = (cp << 6) | (p[k] & 0x3f);
    }
    if (valid && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                  (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      valid = false;
    }
    if (valid) {
      out.append(reinterpret_cast<const char*>(p), len);
      p += len;
    } else {
      out.append("\xef\xbf\xbd");
      ++p;
    }
  }
  out.push_back('"');
}

template <typename T>
void AppendInt(std::string& out, T value) {
  static_assert(std::is_integral_v<T>);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, r.ptr);
}

// Appends the shortest text that parses back to the same value, or null for NaN and the
// infinities, which JSON has no spelling for.
template <typename F>
void AppendFloat(std::string& out, F value) {
  static_assert(std::is_floating_point_v<F>);
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, r.ptr);
}

inline void AppendBool(std::string& out, bool value) { out.append(value ? "true" : "false"); }

inline void AppendStringArray(std::string& out, const std::vector<std::string>& values) {
  out.push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out.push_back(',');
    AppendString(out, values[i]);
  }
  out.push_back(']');
}

// Writes one JSON object member by member: Object o(out); o.Key("a"); ...; o.Close();
// Keys are ASCII literals, so they are not escaped.
class Object {
 public:
  explicit Object(std::string& out) : out_(out) { out_.push_back('{'); }
  // Appends the separator and `"key":`, and returns the string to append the value to.
  std::string& Key(absl::string_view key) {
    if (!first_) out_.push_back(',');
    first_ = false;
    out_.push_back('"');
    out_.append(key.data(), key.size());
    out_.append("\":");
    return out_;
  }
  void String(absl::string_view key, absl::string_view value) { AppendString(Key(key), value); }
  void Bool(absl::string_view key, bool value) { AppendBool(Key(key), value); }
  void Close() { out_.push_back('}'); }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace json_writer
}  // namespace ferry

#endif  // FERRY_API_HTTP_JSON_WRITER_H_
