// Request bodies sent with a Content-Encoding (RFC 9110 section 8.4), as Triton's HTTP
// clients may send them.
#ifndef FERRY_API_HTTP_CONTENT_ENCODING_H_
#define FERRY_API_HTTP_CONTENT_ENCODING_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ferry {

// Undoes the codings a Content-Encoding header lists (comma-separated, in the order they
// were applied; case-insensitive): "gzip" (RFC 1952) and "deflate" (zlib format, RFC 1950)
// are inflated, "identity" is skipped. The result holds at most `max_bytes`.
// Errors, each naming the problem: Unimplemented for any other coding, InvalidArgument
// for a body that is not valid data of its coding, ResourceExhausted when the inflated
// body would exceed `max_bytes`.
absl::StatusOr<std::string> DecodeContentEncoding(std::string_view encoding, std::string_view body,
                                                  size_t max_bytes);

}  // namespace ferry

#endif  // FERRY_API_HTTP_CONTENT_ENCODING_H_
