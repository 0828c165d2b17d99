// What a model version accepts and returns, and the checks a request must pass before it
// may join a batch. Every message names the tensor and what was expected, because it goes
// back to the client as a 400.
#ifndef FERRY_CORE_SIGNATURE_H_
#define FERRY_CORE_SIGNATURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/infer.h"
#include "core/tensor.h"

namespace ferry {

struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kInvalid;
  // Full shape including the batch dimension; -1 marks a variable dimension.
  std::vector<int64_t> shape;
  // An image input's layout, "NCHW" or "NHWC" (config.toml's `format`); empty for any other
  // tensor. Only reported (the model configuration extension's input format): clients such
  // as image classifiers read it to lay out their pixels.
  std::string format;
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  // Largest number of rows (dimension 0) one request or one batch may hold.
  int64_t max_batch_size = 1;
  // Class names for the classification extension; may be empty.
  std::vector<std::string> labels;
};

// Checks `inputs` against the signature: every input present once and known, datatype,
// rank, fixed dimensions, the batch dimension within [1, max_batch_size], the same batch
// size across inputs, and the byte size. On success, reorders `inputs` into signature
// order and returns the batch size (rows). Errors are InvalidArgument; those with a Triton
// equivalent start with its wording (core/error_text.h), naming `model`.
absl::StatusOr<int64_t> ValidateInputs(const ModelSignature& sig, std::vector<Tensor>& inputs,
                                       absl::string_view model);

// Checks requested outputs: known names, no repeats, and classification only on a
// numeric output whose class dimension can hold N. Errors are InvalidArgument.
absl::Status ValidateRequestedOutputs(const ModelSignature& sig, absl::string_view model,
                                      const std::vector<RequestedOutput>& outputs);

// Index of `name` in `specs`, or -1.
int FindTensor(const std::vector<TensorSpec>& specs, const std::string& name);

}  // namespace ferry

#endif  // FERRY_CORE_SIGNATURE_H_
