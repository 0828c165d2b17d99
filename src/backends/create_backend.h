// The real backends by platform: TorchScript (torch/), XGBoost (xgboost/) and Ferry's
// own operations (builtin/). The programs
// hand CreateBackend to the server as its BackendFactory; linking it (library
// ferry_backends) links libtorch and libxgboost. Tests of the server and the transports
// use testing/fake_backend.h instead.
#ifndef FERRY_BACKENDS_CREATE_BACKEND_H_
#define FERRY_BACKENDS_CREATE_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "backends/backend.h"

namespace ferry {

// Loads the model for `options.platform`. Errors name the file and the problem:
// NotFound for a missing file, InvalidArgument for a model that does not match its
// signature or cannot be read, or a platform with no backend.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendOptions& options);

}  // namespace ferry

#endif  // FERRY_BACKENDS_CREATE_BACKEND_H_
