#include "sharedmem/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

// The object's size now, or an error naming the region.
absl::StatusOr<uint64_t> ObjectSize(int fd, const SharedMemoryRegionStatus& s) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("shared memory region '", s.name, "': fstat of '",
                                            s.key, "' failed: ", ErrnoText(errno)));
  }
  return static_cast<uint64_t>(st.st_size);
}

// offset + size <= limit, without overflow.
bool Fits(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

}  // namespace

SharedMemoryRegion::SharedMemoryRegion(SharedMemoryRegionStatus status, int fd, void* base,
                                       size_t mapped, size_t skew)
    : status_(std::move(status)), fd_(fd), base_(base), mapped_(mapped), skew_(skew) {}

SharedMemoryRegion::~SharedMemoryRegion() {
  munmap(base_, mapped_);
  close(fd_);
}

absl::StatusOr<absl::Span<uint8_t>> SharedMemoryRegion::Slice(uint64_t offset, uint64_t size,
                                                              absl::string_view what) const {
  if (!Fits(offset, size, status_.byte_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared memory offset ", offset, " + byte size ", size,
        " is past the end of region '", status_.name, "', which holds ", status_.byte_size,
        " bytes"));
  }
  // The object may have been shrunk since Register; touching a page past its end would
  // raise SIGBUS, so check the size again (one fstat, far cheaper than the copy).
  absl::StatusOr<uint64_t> now = ObjectSize(fd_, status_);
  if (!now.ok()) return now.status();
  if (!Fits(status_.offset, status_.byte_size, *now)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared memory object '", status_.key, "' of region '", status_.name,
        "' has shrunk to ", *now, " bytes, below the registered range; register it again"));
  }
  return absl::Span<uint8_t>(static_cast<uint8_t*>(base_) + skew_ + offset, size);
}

absl::Status SharedMemoryRegistry::Register(const std::string& name, const std::string& key,
                                            uint64_t offset, uint64_t byte_size) {
  if (name.empty()) return absl::InvalidArgumentError("shared memory region name must be set");
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory region '", name, "': 'key' (the shm_open name) must be set"));
  }
  if (key.find('/', 1) != std::string::npos || key == "/") {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory region '", name, "': key '", key,
                     "' is not a shared memory name: it must be '/name' with no other '/'"));
  }
  if (byte_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory region '", name, "': 'byte_size' must be positive"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (regions_.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shared memory region '", name, "' is already registered; unregister it first"));
    }
  }
  SharedMemoryRegionStatus status{name, key, offset, byte_size};
  const int fd = shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0) {
    const int err = errno;
    const std::string what =
        absl::StrCat("shared memory region '", name, "': cannot open key '", key, "': ",
                     ErrnoText(err));
    if (err == ENOENT) return absl::NotFoundError(what);
    if (err == EACCES) return absl::PermissionDeniedError(what);
    return absl::InvalidArgumentError(what);
  }
  absl::StatusOr<uint64_t> object_size = ObjectSize(fd, status);
  if (!object_size.ok()) {
    close(fd);
    return object_size.status();
  }
  if (!Fits(offset, byte_size, *object_size)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "shared memory region '", name, "': offset ", offset, " + byte_size ", byte_size,
        " is past the end of '", key, "', which holds ", *object_size, " bytes"));
  }
  // mmap wants a page-aligned offset: map from the page holding `offset`.
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  const uint64_t skew = offset - aligned;
  if (byte_size + skew > std::numeric_limits<size_t>::max()) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory region '", name, "' is too large to map"));
  }
  const size_t mapped = static_cast<size_t>(byte_size + skew);
  void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    static_cast<off_t>(aligned));
  if (base == MAP_FAILED) {
    const int err = errno;
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("shared memory region '", name,
                                                   "': cannot map '", key, "': ", ErrnoText(err)));
  }
  std::shared_ptr<const SharedMemoryRegion> region(
      new SharedMemoryRegion(std::move(status), fd, base, mapped, static_cast<size_t>(skew)));
  absl::MutexLock lock(&mu_);
  // Another Register of the same name may have won while this one mapped; the loser's
  // mapping goes with `region`.
  if (!regions_.emplace(name, std::move(region)).second) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shared memory region '", name, "' is already registered; unregister it first"));
  }
  return absl::OkStatus();
}

void SharedMemoryRegistry::Unregister(const std::string& name) {
  // Regions are released after the lock: an unmap is a syscall.
  absl::flat_hash_map<std::string, std::shared_ptr<const SharedMemoryRegion>> dropped;
  {
    absl::MutexLock lock(&mu_);
    if (name.empty()) {
      dropped.swap(regions_);
    } else if (auto it = regions_.find(name); it != regions_.end()) {
      dropped.emplace(name, std::move(it->second));
      regions_.erase(it);
    }
  }
}

absl::StatusOr<std::vector<SharedMemoryRegionStatus>> SharedMemoryRegistry::Status(
    const std::string& name) const {
  std::vector<SharedMemoryRegionStatus> out;
  absl::MutexLock lock(&mu_);
  if (!name.empty()) {
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return absl::NotFoundError(
          absl::StrCat("shared memory region '", name, "' is not registered"));
    }
    out.push_back(it->second->status());
    return out;
  }
  for (const auto& [n, region] : regions_) out.push_back(region->status());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> SharedMemoryRegistry::Find(
    const std::string& name, absl::string_view what) const {
  absl::MutexLock lock(&mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": shared memory region '", name,
                                                   "' is not registered"));
  }
  return it->second;
}

size_t SharedMemoryRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return regions_.size();
}

absl::StatusOr<SharedMemoryOutputs> ResolveSharedMemory(const SharedMemoryRegistry& registry,
                                                        const SharedMemoryTensors& tensors,
                                                        InferRequest& request) {
  for (const auto& [index, ref] : tensors.inputs) {
    if (index >= request.inputs.size()) {
      return absl::InternalError("shared memory input index out of range");
    }
    Tensor& t = request.inputs[index];
    const std::string what = absl::StrCat("input '", t.name, "'");
    const int64_t count = t.element_count();
    if (count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": shape ", ShapeToString(t.shape), " is too large"));
    }
    const uint64_t elem = DataTypeByteSize(t.dtype);
    if (elem > 0) {
      const uint64_t n = static_cast<uint64_t>(count);
      if (n > std::numeric_limits<uint64_t>::max() / elem || n * elem != ref.byte_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": parameter '", kShmByteSizeParam, "' is ", ref.byte_size, " but shape ",
            ShapeToString(t.shape), " of ", DataTypeName(t.dtype), " needs ", n * elem,
            " bytes"));
      }
    }
    absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> region =
        registry.Find(ref.region, what);
    if (!region.ok()) return region.status();
    absl::StatusOr<absl::Span<uint8_t>> bytes = (*region)->Slice(ref.offset, ref.byte_size, what);
    if (!bytes.ok()) return bytes.status();
    t.data.assign(bytes->begin(), bytes->end());
    if (t.dtype == DataType::kBytes) {
      if (absl::Status s = CheckByteSize(t); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, " in shared memory region '", ref.region, "': ", s.message()));
      }
    }
  }
  SharedMemoryOutputs outputs;
  for (const auto& [name, ref] : tensors.outputs) {
    const std::string what = absl::StrCat("output '", name, "'");
    for (const auto& o : outputs.outputs_) {
      if (o.name == name) {
        return absl::InvalidArgumentError(absl::StrCat(what, " is requested more than once"));
      }
    }
    absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> region =
        registry.Find(ref.region, what);
    if (!region.ok()) return region.status();
    if (absl::StatusOr<absl::Span<uint8_t>> s = (*region)->Slice(ref.offset, ref.byte_size, what);
        !s.ok()) {
      return s.status();
    }
    outputs.outputs_.push_back({name, ref, *std::move(region)});
  }
  return outputs;
}

absl::StatusOr<std::vector<std::optional<SharedMemoryRef>>> SharedMemoryOutputs::Write(
    InferResponse& response) const {
  std::vector<std::optional<SharedMemoryRef>> where(response.outputs.size());
  std::vector<absl::Span<uint8_t>> targets(response.outputs.size());
  // Check every output before writing any, so a failed request leaves no partial result.
  for (const Output& o : outputs_) {
    for (size_t i = 0; i < response.outputs.size(); ++i) {
      const Tensor& t = response.outputs[i];
      if (t.name != o.name) continue;
      const std::string what = absl::StrCat("output '", t.name, "'");
      if (t.data.size() > o.ref.byte_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, " has ", t.data.size(), " bytes (shape ", ShapeToString(t.shape), " of ",
            DataTypeName(t.dtype), "), more than its '", kShmByteSizeParam, "' of ",
            o.ref.byte_size, " in shared memory region '", o.ref.region, "'"));
      }
      absl::StatusOr<absl::Span<uint8_t>> span = o.region->Slice(o.ref.offset, t.data.size(), what);
      if (!span.ok()) return span.status();
      targets[i] = *span;
      where[i] = SharedMemoryRef{o.ref.region, o.ref.offset, t.data.size()};
    }
  }
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    if (!where[i]) continue;
    std::vector<uint8_t>& data = response.outputs[i].data;
    if (!data.empty()) std::memcpy(targets[i].data(), data.data(), data.size());
    std::vector<uint8_t>().swap(data);
  }
  return where;
}

}  // namespace ferry
