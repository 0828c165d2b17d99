// %XX decoding of URL path segments and query strings, for every HTTP route.
#ifndef FERRY_API_HTTP_PERCENT_DECODE_H_
#define FERRY_API_HTTP_PERCENT_DECODE_H_

#include <optional>
#include <string>
#include <string_view>

namespace ferry {

// Decodes the %XX escapes of `s`; with `plus_is_space` (query strings) '+' is a space too.
// nullopt for a malformed escape ('%' not followed by two hex digits).
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

}  // namespace ferry

#endif  // FERRY_API_HTTP_PERCENT_DECODE_H_
