// Writing JSON text by appending to a std::string. Every JSON Ferry writes goes through
// here: REST responses and errors (api/http), calibration.json and `ferry evaluate --json`
// (uncertainty). A response is written once, front to back; that is several times faster
// than building and serializing a boost::json::value.
#ifndef FERRY_JSON_WRITER_H_
#define FERRY_JSON_WRITER_H_

#include <charconv>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace ferry {
namespace json_writer {

// Appends `s` as a quoted JSON string, and the result is always valid UTF-8 whatever `s`
// holds (BYTES outputs, file names and error messages quoting client input may hold
// anything):
//   - well-formed UTF-8 is copied as it is;
//   - each maximal ill-formed subpart becomes one U+FFFD, as the Unicode Standard (ch. 3,
//     "U+FFFD Substitution of Maximal Subparts") recommends: stray continuation bytes,
//     truncated sequences, overlong forms, UTF-8-encoded surrogates (U+D800..DFFF), code
//     points past U+10FFFF, and the bytes C0, C1, F5..FF;
//   - '"' and '\' are escaped; control characters (U+0000..001F) become \b \f \n \r \t
//     where JSON has a short form, \u00XX otherwise. DEL and U+0080.. are left as they are.
// Runs of plain ASCII are scanned eight bytes at a time: this is on the response path.
void AppendString(std::string& out, absl::string_view s);

template <typename T>
void AppendInt(std::string& out, T value) {
  static_assert(std::is_integral_v<T>);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, r.ptr);
}

// Appends the shortest text that parses back to the same value (0.1f -> "0.1"; the exponent
// form when shorter, "1e-05"), or null for NaN and the infinities, which JSON cannot spell.
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
// Keys are ASCII literals chosen by Ferry, so they are not escaped.
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

// The same as values, for text assembled with absl::StrCat (the files people read).
// `value` as a JSON string literal, quotes included (json_writer::AppendString).
inline std::string JsonString(absl::string_view value) {
  std::string out;
  json_writer::AppendString(out, value);
  return out;
}

// The shortest decimal that reads back as `value`; "null" for NaN and the infinities.
inline std::string JsonNumber(double value) {
  std::string out;
  json_writer::AppendFloat(out, value);
  return out;
}

}  // namespace ferry

#endif  // FERRY_JSON_WRITER_H_
