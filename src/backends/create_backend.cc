#include "backends/create_backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "backends/builtin/builtin_backend.h"
#include "backends/torch/torch_backend.h"
#include "backends/xgboost/xgboost_backend.h"

namespace ferry {

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendOptions& options) {
  if (options.platform == "torchscript") return CreateTorchBackend(options);
  if (options.platform == "xgboost") return CreateXGBoostBackend(options);
  if (options.platform == "builtin") return CreateBuiltinBackend(options);
  return absl::InvalidArgumentError(
      absl::StrCat("platform '", options.platform, "' has no backend"));
}

}  // namespace ferry
