// TempRepository: a model repository in a fresh temporary folder, removed again when the
// object goes, holding copies of the bundled `simple` model (INT32 INPUT0 + INPUT1 ->
// OUTPUT0 sum, OUTPUT1 difference) under any name, and models whose config a test writes.
// Paths are relative to the source tree, where the tests run.
#ifndef FERRY_TESTING_TEMP_REPOSITORY_H_
#define FERRY_TESTING_TEMP_REPOSITORY_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "absl/status/statusor.h"
#include "server/inference_server.h"

namespace ferry {

class TempRepository {
 public:
  // `prefix` names the folder under the system's temporary directory.
  explicit TempRepository(const std::string& prefix) {
    std::string dir = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + dir);
    path_ = dir;
  }
  ~TempRepository() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempRepository(const TempRepository&) = delete;
  TempRepository& operator=(const TempRepository&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // models/simple as <name>/config.toml and <name>/1/model.pt.
  void AddSimple(const std::string& name) const {
    std::filesystem::create_directories(path_ / name / "1");
    std::filesystem::copy_file("models/simple/config.toml", path_ / name / "config.toml");
    std::filesystem::copy_file("models/simple/1/model.pt", path_ / name / "1" / "model.pt");
  }
  // <name>/config.toml with `config` and an empty version folder 1.
  void AddConfig(const std::string& name, const std::string& config) const {
    std::filesystem::create_directories(path_ / name / "1");
    std::ofstream(path_ / name / "config.toml") << config;
  }

  // A server over the repository as it is now, with the other options at their defaults.
  absl::StatusOr<std::unique_ptr<InferenceServer>> StartServer() const {
    ServerOptions options;
    options.model_repository = path_.string();
    return InferenceServer::Create(options);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace ferry

#endif  // FERRY_TESTING_TEMP_REPOSITORY_H_
