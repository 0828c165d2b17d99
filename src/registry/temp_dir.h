// TempDir: a fresh folder under the system's temporary directory, removed with the object.
// For the registry's tests.
#ifndef FERRY_REGISTRY_TEMP_DIR_H_
#define FERRY_REGISTRY_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace ferry {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    std::string dir = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + dir);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

  // Writes `text` to <dir>/<rel>, creating folders on the way; returns the path.
  std::string Write(const std::string& rel, const std::string& text) const {
    const std::filesystem::path file = path_ / rel;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace ferry

#endif  // FERRY_REGISTRY_TEMP_DIR_H_
