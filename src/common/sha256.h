// SHA-256 digests as lowercase hex, for checksums Ferry records and compares (the data file
// `ferry calibrate` fits on). The hashing itself is OpenSSL's libcrypto (EVP); this header
// keeps OpenSSL's types out of the callers.
#ifndef FERRY_COMMON_SHA256_H_
#define FERRY_COMMON_SHA256_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry {

// The SHA-256 of `data` as 64 lowercase hex digits. Internal only if OpenSSL fails (out of
// memory, or a provider configuration that refuses SHA-256): never a wrong digest.
absl::StatusOr<std::string> Sha256Hex(absl::string_view data);

// The SHA-256 of a file's bytes as 64 lowercase hex digits, read in chunks so a large file
// is never held in memory. NotFound when the file cannot be opened, Internal when a read
// fails part way.
absl::StatusOr<std::string> Sha256FileHex(const std::string& path);

}  // namespace ferry

#endif  // FERRY_COMMON_SHA256_H_
