// System shared memory (Triton's `system_shared_memory` extension): a client on the same
// host registers a POSIX shared-memory object (shm_open name + offset + size) under a
// region name, then names that region in a request's tensor parameters
// (`shared_memory_region`, `shared_memory_offset`, `shared_memory_byte_size`) instead of
// sending the tensor's bytes: an input is read from the region, an output is written
// into it and the response carries only its metadata.
//
// One SharedMemoryRegistry serves both transports (InferenceServer owns it). Every offset
// and size a client gives is checked against the registered range before any byte is
// touched; a failure is InvalidArgument naming the region, the tensor and the numbers.
//
// Lifetime: a region is mapped at Register and unmapped when the last holder lets go.
// Unregister (and the registry's destructor) drop the registry's hold; a request that
// resolved the region before keeps its own (std::shared_ptr), so unregistering a region
// in use never pulls the memory from under an in-flight request.
//
// The object's size is checked with fstat at Register and again before each access, so
// a client that shrinks the object (ftruncate) gets an error rather than the server a
// SIGBUS; a shrink racing an access in the same microsecond is not covered.
#ifndef FERRY_SHAREDMEM_SHARED_MEMORY_H_
#define FERRY_SHAREDMEM_SHARED_MEMORY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/infer.h"

namespace ferry {

// The request tensor parameters of the extension.
inline constexpr char kShmRegionParam[] = "shared_memory_region";
inline constexpr char kShmOffsetParam[] = "shared_memory_offset";
inline constexpr char kShmByteSizeParam[] = "shared_memory_byte_size";

// Where a tensor's bytes are: `byte_size` bytes at `offset` within region `region`
// (offsets count from the start of the registered range, not of the object).
struct SharedMemoryRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
  bool operator==(const SharedMemoryRef&) const = default;
};

// A registered region as the status call reports it.
struct SharedMemoryRegionStatus {
  std::string name;
  std::string key;       // the shm_open name
  uint64_t offset = 0;   // where the range starts in the object
  uint64_t byte_size = 0;
};

// One mapped range of a shared-memory object. Unmapped and closed when destroyed.
class SharedMemoryRegion {
 public:
  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const SharedMemoryRegionStatus& status() const { return status_; }
  // The `size` bytes at `offset` in the range. InvalidArgument, naming `what` (e.g.
  // "input 'x'") and the region, when they do not lie inside it, or when the object has
  // been shrunk below the range since it was registered.
  absl::StatusOr<absl::Span<uint8_t>> Slice(uint64_t offset, uint64_t size,
                                            absl::string_view what) const;

 private:
  friend class SharedMemoryRegistry;
  SharedMemoryRegion(SharedMemoryRegionStatus status, int fd, void* base, size_t mapped,
                     size_t skew);

  const SharedMemoryRegionStatus status_;
  const int fd_;
  void* const base_;     // what mmap returned (page aligned)
  const size_t mapped_;  // bytes mapped from base_
  const size_t skew_;    // status_.offset minus the page-aligned offset mapped
};

class SharedMemoryRegistry {
 public:
  SharedMemoryRegistry() = default;
  // Drops every region (each is unmapped once no request holds it).
  ~SharedMemoryRegistry() = default;
  SharedMemoryRegistry(const SharedMemoryRegistry&) = delete;
  SharedMemoryRegistry& operator=(const SharedMemoryRegistry&) = delete;

  // Opens the shared-memory object `key` (as shm_open takes it, e.g. "/input0") and maps
  // [offset, offset + byte_size) of it under `name`. InvalidArgument naming the problem
  // for: an empty name or key, a key with a '/' past its first character, byte_size 0,
  // a name already registered (unregister it first), a range past the object's end;
  // NotFound for a key no object has; PermissionDenied when the server may not open it.
  absl::Status Register(const std::string& name, const std::string& key, uint64_t offset,
                        uint64_t byte_size);
  // Drops region `name`, or every region when `name` is empty. A name that is not
  // registered is no error (as Triton: a client may clean up unconditionally).
  void Unregister(const std::string& name);
  // Every region (name empty), sorted by name, or the one named. NotFound for a name that
  // is not registered.
  absl::StatusOr<std::vector<SharedMemoryRegionStatus>> Status(const std::string& name) const;
  // The region, held for as long as the caller keeps the pointer. InvalidArgument naming
  // `what` and the region when it is not registered.
  absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> Find(const std::string& name,
                                                                 absl::string_view what) const;
  size_t size() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_
      ABSL_GUARDED_BY(mu_);
};

// The shared-memory references of one request, as a transport decoded them.
struct SharedMemoryTensors {
  std::vector<std::pair<size_t, SharedMemoryRef>> inputs;  // index into InferRequest::inputs
  std::vector<std::pair<std::string, SharedMemoryRef>> outputs;  // requested output names
  bool empty() const { return inputs.empty() && outputs.empty(); }
};

// The output regions of one request, held from decoding to the response.
class SharedMemoryOutputs {
 public:
  SharedMemoryOutputs() = default;
  bool empty() const { return outputs_.empty(); }
  // Copies each output the request asked for in shared memory into its region and
  // empties its data. Returns one entry per response output: where it went, or nullopt
  // for an output that stays in the response body. InvalidArgument naming the output when
  // its bytes do not fit the byte size the request gave (nothing is written then).
  absl::StatusOr<std::vector<std::optional<SharedMemoryRef>>> Write(InferResponse& response) const;

 private:
  friend absl::StatusOr<SharedMemoryOutputs> ResolveSharedMemory(const SharedMemoryRegistry&,
                                                                 const SharedMemoryTensors&,
                                                                 InferRequest&);
  struct Output {
    std::string name;
    SharedMemoryRef ref;
    std::shared_ptr<const SharedMemoryRegion> region;
  };
  std::vector<Output> outputs_;
};

// Fills each input named in `tensors` with its bytes from its region and holds the
// regions of the outputs. InvalidArgument naming the tensor for: a region not registered,
// an offset or size outside the region, a byte size that is not what the input's shape
// and datatype need (BYTES: well-formed elements filling it exactly), an output region
// range outside the region, an output named twice.
absl::StatusOr<SharedMemoryOutputs> ResolveSharedMemory(const SharedMemoryRegistry& registry,
                                                        const SharedMemoryTensors& tensors,
                                                        InferRequest& request);

}  // namespace ferry

#endif  // FERRY_SHAREDMEM_SHARED_MEMORY_H_
