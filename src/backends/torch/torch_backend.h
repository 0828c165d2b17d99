// TorchScript through libtorch. This header is torch-free; torch stays in the .cc.
#ifndef FERRY_BACKENDS_TORCH_TORCH_BACKEND_H_
#define FERRY_BACKENDS_TORCH_TORCH_BACKEND_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backends/backend.h"

namespace ferry {

// Loads <version_path>/model.pt. With options.optimize, freezes the module and runs
// optimize_for_inference; if either throws, or the optimized module disagrees with the
// plain one on a probe input, it logs why and serves the plain module.
absl::StatusOr<std::unique_ptr<Backend>> CreateTorchBackend(const BackendOptions& options);

// Process-wide libtorch settings made once at start-up: inter-op threads and the
// default intra-op threads for threads that never call PrepareWorkerThread.
void ConfigureTorchProcess(int interop_threads, int intra_op_threads);

// Selects libtorch's int8 kernels for quantized models ("onednn" or "qnnpack"); a
// process-wide setting. InvalidArgument, listing the supported ones, for another name.
absl::Status SetQuantizedEngine(const std::string& name);

}  // namespace ferry

#endif  // FERRY_BACKENDS_TORCH_TORCH_BACKEND_H_
