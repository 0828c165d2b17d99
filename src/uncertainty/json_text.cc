#include "uncertainty/json_text.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_format.h"

namespace ferry {

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, r.ptr);
  // to_chars may pick exponent form (1e-05); JSON accepts it, and it reads back exactly.
  return text;
}

std::string JsonString(absl::string_view value) {
  std::string out = "\"";
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += ch;
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace ferry
