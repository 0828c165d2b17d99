// A version's files on disk: copying an artifact into the repository so that a crash
// leaves either the whole version folder or none, and the SHA-256 of every file, recorded
// at registration and checked again at load.
#ifndef FERRY_REGISTRY_ARTIFACT_H_
#define FERRY_REGISTRY_ARTIFACT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "registry/types.h"

namespace ferry {

// Every regular file under `dir` (recursively; hidden entries included) with its SHA-256
// and size, paths relative to `dir` with '/' separators, sorted. InvalidArgument for a
// symbolic link or special file (a version's bytes must be in the folder), NotFound when
// `dir` is not a directory.
absl::StatusOr<std::vector<ArtifactFile>> HashFolder(const std::string& dir);

// Copies `source` (one file, which keeps its name, or a folder's tree) into the existing
// empty folder `dest`, fsyncs every file and folder written, and returns the copied files
// as HashFolder(dest) would. NotFound: no `source`. InvalidArgument: a link or special file.
absl::StatusOr<std::vector<ArtifactFile>> CopyArtifact(const std::string& source,
                                                       const std::string& dest);

// rename(2)s the folder `from` to `to` (same file system) and fsyncs `to`'s parent, so the
// new name is durable when this returns. AlreadyExists when `to` exists.
absl::Status PublishFolder(const std::string& from, const std::string& to);

// Creates `dir` (and missing parents) if needed and fsyncs the parent of each folder it
// created, so the new folders survive a power cut.
absl::Status CreateDurableFolder(const std::string& dir);

// Recomputes the SHA-256 of each of `files` under `dir`. NotFound naming a missing file,
// DataLoss naming a file whose size or digest changed. Files in `dir` that `files` does
// not list are not checked.
absl::Status VerifyFiles(const std::string& dir, const std::vector<ArtifactFile>& files);

}  // namespace ferry

#endif  // FERRY_REGISTRY_ARTIFACT_H_
