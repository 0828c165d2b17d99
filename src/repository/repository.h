// The model repository on disk:
//   <root>/<model>/config.toml
//   <root>/<model>/<version>/model.pt     versions are positive integers
// This module only finds what is there; loading is the server's job.
#ifndef FERRY_REPOSITORY_REPOSITORY_H_
#define FERRY_REPOSITORY_REPOSITORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/version_number.h"  // ParseVersion: which folders are versions

namespace ferry {

struct VersionDir {
  int64_t version = 0;
  std::string path;
};

struct ModelDir {
  std::string name;
  std::string path;
  std::vector<VersionDir> versions;  // ascending
  // Entries that were skipped and why (e.g. a folder "v2" that is not a version number).
  std::vector<std::string> warnings;
};

// Lists model folders (sorted by name) and their numeric version folders. Hidden entries
// and plain files at the top level are ignored. NotFound if `root` is not a directory.
absl::StatusOr<std::vector<ModelDir>> ScanRepository(const std::string& root);

// Lists the version folders of one model folder. NotFound if `path` is not a directory.
absl::StatusOr<ModelDir> ScanModel(const std::string& path);


}  // namespace ferry

#endif  // FERRY_REPOSITORY_REPOSITORY_H_
