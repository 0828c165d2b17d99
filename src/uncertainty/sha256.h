// SHA-256 (FIPS 180-4), for the data checksum `ferry calibrate` records. Ferry's Debian
// dependencies have no crypto library, and this is ~100 lines.
#ifndef FERRY_UNCERTAINTY_SHA256_H_
#define FERRY_UNCERTAINTY_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry {

class Sha256 {
 public:
  Sha256();
  // Feeds more bytes; any split of the input gives the same digest.
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The digest of everything fed so far. The object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Finish() as 64 lowercase hex digits.
  std::string FinishHex();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Hex SHA-256 of a byte string.
std::string Sha256Hex(absl::string_view data);

// Hex SHA-256 of a file's contents. NotFound when it cannot be opened.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace ferry

#endif  // FERRY_UNCERTAINTY_SHA256_H_
