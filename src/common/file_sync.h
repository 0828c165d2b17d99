// Small POSIX helpers for writes that must survive a crash: an errno status that names the
// path, and fsync of a file or a directory (a rename is durable only once its directory is).
#ifndef FERRY_COMMON_FILE_SYNC_H_
#define FERRY_COMMON_FILE_SYNC_H_

#include <string>

#include "absl/status/status.h"

namespace ferry {

// Internal "<what> '<path>': <strerror(errno)>", for the errno the failed call just set.
absl::Status ErrnoError(const std::string& what, const std::string& path);

// fsync(2) of `path`, opened as a directory when `directory`. Internal on failure.
absl::Status FsyncPath(const std::string& path, bool directory);

}  // namespace ferry

#endif  // FERRY_COMMON_FILE_SYNC_H_
