#include "repository/model_folder_update.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/file_sync.h"
#include "common/status_macros.h"
#include "core/version_number.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

// A single path component a client may name: not empty, not hidden, no separators.
absl::Status CheckComponent(absl::string_view name, absl::string_view what) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (name.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is longer than 255 bytes"));
  }
  if (name[0] == '.' || name.find_first_of("/\\") != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " '", name, "' must be one plain name: not hidden, without '/' or '\\'"));
  }
  return absl::OkStatus();
}

absl::Status WriteFileSynced(const std::string& path, absl::string_view bytes) {
  std::error_code ec;
  fs::remove(path, ec);  // never write through a hard link to the old folder's file
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("creating", path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return ErrnoError("writing", path);
    }
    done += static_cast<size_t>(n);
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("syncing", path);
  return absl::OkStatus();
}

// Mirrors `from` into `to` (which must not exist): directories are made, files hard-linked
// (copied where the file system cannot link).
absl::Status LinkTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating '", to.string(), "': ", ec.message()));
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    const fs::path target = to / entry.path().filename();
    if (entry.is_directory(ec)) {
      FERRY_RETURN_IF_ERROR(LinkTree(entry.path(), target));
    } else if (::link(entry.path().c_str(), target.c_str()) != 0) {
      fs::copy_file(entry.path(), target, ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("copying '", entry.path().string(), "': ", ec.message()));
      }
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("reading '", from.string(), "': ", ec.message()));
  return absl::OkStatus();
}

// Swaps two paths at once; where the file system cannot exchange, moves `a` aside first
// (a reader may then miss the folder for an instant, but never sees a mix).
absl::Status Exchange(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) {
    return absl::OkStatus();
  }
  if (errno != EINVAL && errno != ENOSYS) return ErrnoError("swapping in", b);
  const fs::path pa(a);
  const std::string aside = (pa.parent_path() / ("." + pa.filename().string() + ".swap")).string();
  if (::rename(a.c_str(), aside.c_str()) != 0) return ErrnoError("moving aside", a);
  if (::rename(b.c_str(), a.c_str()) != 0) {
    ::rename(aside.c_str(), a.c_str());
    return ErrnoError("moving in", b);
  }
  if (::rename(aside.c_str(), b.c_str()) != 0) return ErrnoError("moving aside", aside);
  return absl::OkStatus();
}

std::string StagingName(const std::string& root, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  return (fs::path(root) / absl::StrCat(".ferry-staging-", model, "-", ::getpid(), "-",
                                        counter.fetch_add(1)))
      .string();
}

}  // namespace

absl::Status CheckArtifactPath(absl::string_view path) {
  const size_t slash = path.find('/');
  if (slash == absl::string_view::npos || ParseVersion(std::string(path.substr(0, slash))) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file path '", path, "' must be '<version>/<file name>' with a positive version number"));
  }
  const absl::string_view file = path.substr(slash + 1);
  FERRY_RETURN_IF_ERROR(CheckComponent(file, absl::StrCat("the file name in '", path, "'")));
  if (file == "config.toml") {
    return absl::InvalidArgumentError(absl::StrCat(
        "file path '", path, "': a version's config.toml cannot be uploaded; send the model's "
        "configuration as the 'config' parameter"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelFolderUpdate> ModelFolderUpdate::Apply(const std::string& root,
                                                           const std::string& model,
                                                           const ModelFolderChange& change) {
  FERRY_RETURN_IF_ERROR(CheckComponent(model, "the model name"));
  for (const auto& [path, bytes] : change.files) FERRY_RETURN_IF_ERROR(CheckArtifactPath(path));
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::NotFoundError(absl::StrCat("model repository '", root, "' is not a directory"));
  }
  const std::string folder = (fs::path(root) / model).string();
  const bool existed = fs::is_directory(folder, ec);
  const std::string staging = StagingName(root, model);

  auto stage = [&]() -> absl::Status {
    if (existed) {
      FERRY_RETURN_IF_ERROR(LinkTree(folder, staging));
    } else if (!fs::create_directory(staging, ec)) {
      return absl::InternalError(absl::StrCat("creating '", staging, "': ", ec.message()));
    }
    std::vector<std::string> dirs = {staging};
    if (change.config_toml) {
      FERRY_RETURN_IF_ERROR(WriteFileSynced(staging + "/config.toml", *change.config_toml));
    }
    for (const auto& [path, bytes] : change.files) {
      const fs::path target = fs::path(staging) / path;
      fs::create_directories(target.parent_path(), ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("creating '", target.parent_path().string(), "': ", ec.message()));
      }
      FERRY_RETURN_IF_ERROR(WriteFileSynced(target.string(), bytes));
      dirs.push_back(target.parent_path().string());
    }
    for (const std::string& dir : dirs) FERRY_RETURN_IF_ERROR(FsyncPath(dir, true));
    return absl::OkStatus();
  };
  if (absl::Status s = stage(); !s.ok()) {
    fs::remove_all(staging, ec);
    return s;
  }
  if (existed) {
    if (absl::Status s = Exchange(folder, staging); !s.ok()) {
      fs::remove_all(staging, ec);
      return s;
    }
  } else if (::rename(staging.c_str(), folder.c_str()) != 0) {
    absl::Status s = ErrnoError("moving in", folder);
    fs::remove_all(staging, ec);
    return s;
  }
  FERRY_RETURN_IF_ERROR(FsyncPath(root, true));
  // The staging path now holds the previous folder (or nothing, for a new model).
  return ModelFolderUpdate(folder, existed ? staging : "", existed);
}

ModelFolderUpdate::ModelFolderUpdate(ModelFolderUpdate&& other) noexcept
    : folder_(std::move(other.folder_)),
      previous_(std::move(other.previous_)),
      existed_(other.existed_) {
  other.previous_.clear();
  other.folder_.clear();
}

ModelFolderUpdate::~ModelFolderUpdate() { Commit(); }

void ModelFolderUpdate::Commit() {
  std::error_code ec;
  if (!previous_.empty()) fs::remove_all(previous_, ec);
  previous_.clear();
  folder_.clear();
}

absl::Status ModelFolderUpdate::Revert() {
  if (folder_.empty()) return absl::OkStatus();
  std::error_code ec;
  absl::Status status;
  if (existed_) {
    status = Exchange(folder_, previous_);  // previous_ now holds the rejected folder
  } else {
    // Move the new folder out of sight in one rename before deleting it.
    const std::string doomed = StagingName(fs::path(folder_).parent_path().string(),
                                           fs::path(folder_).filename().string());
    if (::rename(folder_.c_str(), doomed.c_str()) != 0) {
      status = ErrnoError("removing", folder_);
    } else {
      fs::remove_all(doomed, ec);
    }
  }
  if (status.ok() && !previous_.empty()) fs::remove_all(previous_, ec);
  previous_.clear();
  folder_.clear();
  return status;
}

}  // namespace ferry
