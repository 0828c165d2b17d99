#include "backends/backend.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {

std::vector<Tensor> ZeroInputs(const ModelSignature& signature, int64_t rows) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : signature.inputs) {
    Tensor t;
    t.name = spec.name;
    t.dtype = spec.dtype;
    t.shape = spec.shape;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0) t.shape[d] = d == 0 ? rows : 1;
    }
    if (t.dtype == DataType::kBytes) {
      // Each element: a 4-byte little-endian length of 1, then '0'.
      for (int64_t i = 0; i < t.element_count(); ++i) {
        t.data.insert(t.data.end(), {1, 0, 0, 0, '0'});
      }
    } else {
      t.data.assign(static_cast<size_t>(t.element_count()) * DataTypeByteSize(t.dtype), 0);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

absl::Status WarmUp(Backend& backend, const ModelSignature& signature,
                    const std::vector<int64_t>& batch_sizes, int repeats) {
  for (int64_t rows : batch_sizes) {
    for (int i = 0; i < repeats; ++i) {
      std::vector<Tensor> inputs = ZeroInputs(signature, rows);
      absl::StatusOr<std::vector<Tensor>> outputs = backend.Execute(inputs);
      if (!outputs.ok()) {
        return absl::Status(outputs.status().code(),
                            absl::StrCat("warm-up at batch size ", rows, ": ",
                                         outputs.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ferry
