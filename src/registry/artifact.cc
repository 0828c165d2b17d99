#include "registry/artifact.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/file_sync.h"
#include "common/status_macros.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;

absl::Status CopyFile(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoError("opening", from);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    ::close(in);
    return ErrnoError("creating", to);
  }
  absl::Status status;
  std::vector<char> buffer(1 << 16);
  while (status.ok()) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = ErrnoError("reading", from);
    if (n <= 0) break;
    for (ssize_t done = 0; done < n && status.ok();) {
      const ssize_t w = ::write(out, buffer.data() + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        status = ErrnoError("writing", to);
      else
        done += w;
    }
  }
  if (status.ok() && ::fsync(out) != 0) status = ErrnoError("fsync", to);
  ::close(in);
  if (::close(out) != 0 && status.ok()) status = ErrnoError("closing", to);
  return status;
}

absl::Status CheckKind(const fs::directory_entry& entry) {
  std::error_code ec;
  if (entry.is_symlink(ec) || (!entry.is_regular_file(ec) && !entry.is_directory(ec))) {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact: '", entry.path().string(),
                     "' is a link or special file; a version holds regular files only"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<ArtifactFile>> HashFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("'", dir, "' is not a directory"));
  }
  std::vector<ArtifactFile> files;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    FERRY_RETURN_IF_ERROR(CheckKind(*it));
    if (!it->is_regular_file(ec)) continue;
    ArtifactFile file;
    file.path = fs::relative(it->path(), dir, ec).generic_string();
    FERRY_ASSIGN_OR_RETURN(file.sha256, Sha256FileHex(it->path().string()));
    file.bytes = static_cast<int64_t>(it->file_size(ec));
    files.push_back(std::move(file));
  }
  if (ec) return absl::InternalError(absl::StrCat("listing '", dir, "': ", ec.message()));
  std::sort(files.begin(), files.end(),
            [](const ArtifactFile& a, const ArtifactFile& b) { return a.path < b.path; });
  return files;
}

absl::StatusOr<std::vector<ArtifactFile>> CopyArtifact(const std::string& source,
                                                       const std::string& dest) {
  std::error_code ec;
  const fs::directory_entry root(source, ec);
  if (ec || !root.exists(ec)) {
    return absl::NotFoundError(absl::StrCat("artifact: '", source, "' does not exist"));
  }
  FERRY_RETURN_IF_ERROR(CheckKind(root));
  if (root.is_regular_file(ec)) {
    FERRY_RETURN_IF_ERROR(
        CopyFile(source, (fs::path(dest) / fs::path(source).filename()).string()));
  } else {
    std::vector<std::string> dirs;
    fs::recursive_directory_iterator it(source, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      FERRY_RETURN_IF_ERROR(CheckKind(*it));
      const fs::path target = fs::path(dest) / fs::relative(it->path(), source, ec);
      if (it->is_directory(ec)) {
        if (::mkdir(target.c_str(), 0755) != 0) return ErrnoError("creating", target.string());
        dirs.push_back(target.string());
      } else {
        FERRY_RETURN_IF_ERROR(CopyFile(it->path().string(), target.string()));
      }
    }
    if (ec) return absl::InternalError(absl::StrCat("listing '", source, "': ", ec.message()));
    for (const std::string& d : dirs) FERRY_RETURN_IF_ERROR(FsyncPath(d, true));
  }
  FERRY_RETURN_IF_ERROR(FsyncPath(dest, true));
  return HashFolder(dest);
}

absl::Status PublishFolder(const std::string& from, const std::string& to) {
  // RENAME_NOREPLACE: plain rename(2) would replace an empty folder at `to`.
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) {
      return absl::AlreadyExistsError(absl::StrCat("'", to, "' exists"));
    }
    return ErrnoError(absl::StrCat("renaming '", from, "' to"), to);
  }
  return FsyncPath(fs::path(to).parent_path().string(), true);
}

absl::Status CreateDurableFolder(const std::string& dir) {
  std::error_code ec;
  const fs::path path = fs::path(dir);
  if (fs::is_directory(path, ec)) return absl::OkStatus();
  if (path.has_parent_path() && path.parent_path() != path) {
    FERRY_RETURN_IF_ERROR(CreateDurableFolder(path.parent_path().string()));
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("creating", dir);
  return FsyncPath(path.has_parent_path() ? path.parent_path().string() : ".", true);
}

absl::Status VerifyFiles(const std::string& dir, const std::vector<ArtifactFile>& files) {
  for (const ArtifactFile& file : files) {
    const std::string path = (fs::path(dir) / file.path).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat("artifact file '", path, "' is missing"));
    }
    const int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
    FERRY_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(path));
    if (size != file.bytes || sha != file.sha256) {
      return absl::DataLossError(absl::StrCat(
          "artifact file '", path, "' changed since it was registered: SHA-256 ", sha, " (", size,
          " bytes), registered ", file.sha256, " (", file.bytes, " bytes)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ferry
