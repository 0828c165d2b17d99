// TempRepository: a model repository in a fresh temporary folder, removed again when the
// object goes, and the FakeBackendFactory (testing/fake_backend.h) its servers load their
// models with. It holds configs copied from the bundled models (the `simple` model's
// contract, INT32 INPUT0 + INPUT1 -> OUTPUT0 sum, OUTPUT1 difference, under any name; or
// any bundled model's, e.g. a classifier) and configs a test writes, each with empty
// version folders: the fakes need no model files. Paths are relative to the source tree,
// where the tests run.
#ifndef FERRY_TESTING_TEMP_REPOSITORY_H_
#define FERRY_TESTING_TEMP_REPOSITORY_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference_server.h"
#include "testing/fake_backend.h"

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

  // models/simple's config.toml as <name>/config.toml, and a version folder 1. `batching`
  // ("key = value" lines) replaces those keys of the [batching] table.
  void AddSimple(const std::string& name, const std::string& batching = "") const {
    std::istringstream in(ReadFile("models/simple/config.toml"));
    std::istringstream overrides(batching);
    std::vector<std::string> keys;
    for (std::string line; std::getline(overrides, line);) {
      if (line.find('=') != std::string::npos) keys.push_back(Key(line));
    }
    std::string config;
    bool in_batching = false;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("[", 0) == 0) in_batching = line == "[batching]";
      bool replaced = false;
      for (const std::string& key : keys) replaced |= in_batching && Key(line) == key;
      if (replaced) continue;
      config += line + "\n";
      if (line == "[batching]") config += batching;
    }
    AddConfig(name, config);
  }
  // models/<model>'s config.toml (with `extra` appended) and its labels.txt, if any, as
  // <name>/, with the version folders `versions`.
  void AddCopyOf(const std::string& model, const std::string& name, const std::string& extra = "",
                 const std::vector<int64_t>& versions = {1}) const {
    const std::filesystem::path from = std::filesystem::path("models") / model;
    AddConfig(name, ReadFile(from / "config.toml") + extra, versions);
    if (std::filesystem::exists(from / "labels.txt")) {
      std::filesystem::copy_file(from / "labels.txt", path_ / name / "labels.txt");
    }
  }
  // <name>/config.toml with `config`, and the version folders `versions`.
  void AddConfig(const std::string& name, const std::string& config,
                 const std::vector<int64_t>& versions = {1}) const {
    std::filesystem::create_directories(path_ / name);
    std::ofstream(path_ / name / "config.toml") << config;
    for (int64_t v : versions) AddVersion(name, v);
  }
  // An empty version folder <name>/<version>.
  void AddVersion(const std::string& name, int64_t version) const {
    std::filesystem::create_directories(path_ / name / std::to_string(version));
  }

  // The fakes StartServer's servers load their models with: set them up before a load.
  FakeBackendFactory& fakes() { return fakes_; }

  // A server over the repository as it is now: `options` with model_repository set to it
  // and, unless the test set one, backend_factory the fakes'.
  absl::StatusOr<std::unique_ptr<InferenceServer>> StartServer(ServerOptions options = {}) const {
    options.model_repository = path_.string();
    if (!options.backend_factory) options.backend_factory = fakes_.factory();
    return InferenceServer::Create(std::move(options));
  }

 private:
  static std::string ReadFile(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // "key" of a "key = value" line.
  static std::string Key(const std::string& line) {
    const std::string left = line.substr(0, line.find('='));
    const size_t end = left.find_last_not_of(" \t");
    return end == std::string::npos ? "" : left.substr(0, end + 1);
  }

  std::filesystem::path path_;
  FakeBackendFactory fakes_;
};

}  // namespace ferry

#endif  // FERRY_TESTING_TEMP_REPOSITORY_H_
