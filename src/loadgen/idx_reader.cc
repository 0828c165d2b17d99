#include "loadgen/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ferry::loadgen {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly `n` bytes; returns how many were read (less at end of file), or -1.
int64_t ReadFully(gzFile f, char* out, uint64_t n) {
  uint64_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, 1u << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0) return -1;
    if (got == 0) break;
    done += static_cast<uint64_t>(got);
  }
  return static_cast<int64_t>(done);
}

std::string GzError(gzFile f) {
  int code = 0;
  const char* message = gzerror(f, &code);
  return message != nullptr ? message : "unknown zlib error";
}

}  // namespace

int IdxElementSize(uint8_t type) {
  switch (type) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

uint64_t IdxArray::row_elements() const {
  uint64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, uint64_t max_bytes) {
  errno = 0;
  GzFile file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    const std::string reason = errno != 0 ? std::strerror(errno) : "cannot open";
    return absl::NotFoundError(absl::StrCat("idx file '", path, "': ", reason));
  }
  unsigned char magic[4];
  if (ReadFully(file.get(), reinterpret_cast<char*>(magic), 4) != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("idx file '", path, "': shorter than the 4-byte magic number"));
  }
  IdxArray array;
  array.type = magic[2];
  const int rank = magic[3];
  const int element_size = IdxElementSize(array.type);
  if (magic[0] != 0 || magic[1] != 0 || element_size == 0 || rank == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "idx file '%s': bad magic %02x %02x %02x %02x; expected 00 00 <type 08/09/0B/0C/0D/0E> "
        "<rank >= 1>",
        path, magic[0], magic[1], magic[2], magic[3]));
  }
  uint64_t bytes = static_cast<uint64_t>(element_size);
  for (int i = 0; i < rank; ++i) {
    unsigned char be[4];
    if (ReadFully(file.get(), reinterpret_cast<char*>(be), 4) != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("idx file '", path, "': truncated in dimension ", i, " of ", rank));
    }
    const uint32_t dim = (uint32_t{be[0]} << 24) | (uint32_t{be[1]} << 16) |
                         (uint32_t{be[2]} << 8) | uint32_t{be[3]};
    array.dims.push_back(dim);
    // Checked as we go so a hostile header cannot overflow the product.
    if (dim != 0 && bytes > max_bytes / dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "idx file '", path, "': dimensions describe more than ", max_bytes, " bytes"));
    }
    bytes *= dim;
  }
  array.data.resize(bytes);
  const int64_t got = ReadFully(file.get(), array.data.data(), bytes);
  if (got < 0) {
    return absl::DataLossError(absl::StrCat("idx file '", path, "': ", GzError(file.get())));
  }
  if (static_cast<uint64_t>(got) != bytes) {
    return absl::DataLossError(absl::StrCat("idx file '", path, "': truncated: expected ", bytes,
                                            " bytes of data, got ", got));
  }
  char extra;
  if (ReadFully(file.get(), &extra, 1) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("idx file '", path, "': bytes after the last of ", bytes, " data bytes"));
  }
  return array;
}

}  // namespace ferry::loadgen
