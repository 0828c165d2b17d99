// The idx file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// a 4-byte magic (0, 0, element type, rank), `rank` big-endian uint32 dimensions, then the
// elements row-major. Files may be gzip-compressed; zlib reads both forms.
#ifndef FERRY_LOADGEN_IDX_READER_H_
#define FERRY_LOADGEN_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::loadgen {

struct IdxArray {
  // 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
  uint8_t type = 0;
  std::vector<uint32_t> dims;
  // The elements as stored in the file (multi-byte types stay big-endian).
  std::string data;

  // dims[0]: images in an images file.
  uint64_t rows() const { return dims.empty() ? 0 : dims[0]; }
  // Elements per row: 784 for 28x28 images.
  uint64_t row_elements() const;
};

// Reads `path` (gzip or plain). Errors (NotFound, InvalidArgument, DataLoss) name the file
// and what was wrong: bad magic, unknown type, a size over `max_bytes`, truncated data, or
// bytes after the last element.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, uint64_t max_bytes = 1ull << 30);

// Bytes per element of an idx type, 0 if unknown.
int IdxElementSize(uint8_t type);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_IDX_READER_H_
