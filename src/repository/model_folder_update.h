// Changing one model folder of the repository atomically: a new config.toml and new
// artifact files land together or not at all, and can be taken back if the model then
// fails to load. Used by the repository extension's load with a "config" override and
// "file:" parameters.
//
// How: the whole new folder is staged beside the old one (unchanged files hard-linked, so
// large artifacts are not copied), fsynced, and swapped in with one rename
// (renameat2 RENAME_EXCHANGE). A reader scanning the repository sees the old folder or the
// new one, never a mix; a crash leaves at most a hidden staging folder, which scans skip.
#ifndef FERRY_REPOSITORY_MODEL_FOLDER_UPDATE_H_
#define FERRY_REPOSITORY_MODEL_FOLDER_UPDATE_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ferry {

struct ModelFolderChange {
  std::optional<std::string> config_toml;  // the new <model>/config.toml, if it changes
  // "<version>/<file>" (CheckArtifactPath) -> the file's bytes; replaces a file there.
  std::vector<std::pair<std::string, std::string>> files;
};

// InvalidArgument unless `path` is "<version>/<file>": a positive version number and one
// file name that is not hidden, has no '/' or '\\', is not "config.toml" (the model's
// config travels as `config_toml`) and is at most 255 bytes.
absl::Status CheckArtifactPath(absl::string_view path);

// A folder change that has been applied. Until Commit or Revert, the previous folder is
// kept (hidden) so that Revert can put it back; the destructor commits.
class ModelFolderUpdate {
 public:
  // Applies `change` to <root>/<model> (created when missing). InvalidArgument for a bad
  // model name or file path, Internal for a file system error (nothing changed then).
  static absl::StatusOr<ModelFolderUpdate> Apply(const std::string& root, const std::string& model,
                                                 const ModelFolderChange& change);

  ModelFolderUpdate(ModelFolderUpdate&& other) noexcept;
  ModelFolderUpdate& operator=(ModelFolderUpdate&&) = delete;
  ModelFolderUpdate(const ModelFolderUpdate&) = delete;
  ~ModelFolderUpdate();  // Commit()

  // Puts the previous folder back (removes the folder when the model was new).
  absl::Status Revert();
  // Deletes the previous folder. Idempotent.
  void Commit();

 private:
  ModelFolderUpdate(std::string folder, std::string previous, bool existed)
      : folder_(std::move(folder)), previous_(std::move(previous)), existed_(existed) {}

  std::string folder_;    // <root>/<model>
  std::string previous_;  // where the old folder waits; empty once committed or reverted
  bool existed_ = false;
};

}  // namespace ferry

#endif  // FERRY_REPOSITORY_MODEL_FOLDER_UPDATE_H_
