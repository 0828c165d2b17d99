#include "api/http/content_encoding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ferry {
namespace {

constexpr size_t kChunk = 64 << 10;

// Inflates one stream of `coding`: gzip (windowBits 15 + 16) or the zlib format
// (windowBits 15). Data after the end of the stream is an error: a body is one stream.
absl::StatusOr<std::string> Inflate(const std::string& coding, std::string_view in, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, coding == "gzip" ? 15 + 16 : 15) != Z_OK) {
    return absl::InternalError("zlib: cannot start inflating");
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const size_t room = std::min(kChunk, max_bytes + 1 - out.size());
    const size_t before = out.size();
    out.resize(before + room);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    zs.avail_out = static_cast<uInt>(room);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(before + room - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return absl::ResourceExhaustedError(absl::StrCat(
          "the request body inflates past the limit of ", max_bytes, " bytes"));
    }
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK || (zs.avail_in == 0 && zs.avail_out != 0)) {
      // Z_BUF_ERROR with input left cannot happen (there was room); no input left and no
      // end of stream means the body was cut short.
      const std::string why = rc == Z_OK || rc == Z_BUF_ERROR ? "it ends before the stream does"
                              : zs.msg != nullptr           ? zs.msg
                                                            : "corrupt data";
      inflateEnd(&zs);
      return absl::InvalidArgumentError(
          absl::StrCat("Content-Encoding ", coding, ": the body is not valid ", coding, " data: ", why));
    }
  }
  const bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Content-Encoding ", coding, ": the body has bytes after the end of the ", coding, " stream"));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> DecodeContentEncoding(std::string_view encoding, std::string_view body,
                                                  size_t max_bytes) {
  std::vector<std::string> codings;
  for (absl::string_view part : absl::StrSplit(absl::string_view(encoding.data(), encoding.size()), ',')) {
    std::string coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (coding.empty() || coding == "identity") continue;
    if (coding != "gzip" && coding != "deflate") {
      return absl::UnimplementedError(absl::StrCat(
          "Content-Encoding '", coding, "' is not supported; send gzip, deflate or identity"));
    }
    codings.push_back(std::move(coding));
  }
  std::string out(body);
  // The last coding applied is the first to undo.
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    absl::StatusOr<std::string> inflated = Inflate(*it, out, max_bytes);
    if (!inflated.ok()) return inflated.status();
    out = std::move(*inflated);
  }
  return out;
}

}  // namespace ferry
