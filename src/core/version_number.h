// Version numbers as folders and requests name them.
#ifndef FERRY_CORE_VERSION_NUMBER_H_
#define FERRY_CORE_VERSION_NUMBER_H_

#include <cstdint>
#include <string_view>

namespace ferry {

// A positive decimal integer without sign or leading zeros, of at most 18 digits (so it
// fits in int64_t); 0 when `text` is not one.
inline int64_t ParseVersion(std::string_view text) {
  if (text.empty() || text.size() > 18 || text[0] == '0') return 0;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace ferry

#endif  // FERRY_CORE_VERSION_NUMBER_H_
