// Built-in operations: models with no file, computed by Ferry itself (platform
// "builtin", the operation named by config.toml's [builtin] operation). They serve
// Triton's example models (simple_int8, simple_string, simple_identity and the
// stateful simple_sequence), which Triton's example clients talk to, and which no
// framework here can run: TorchScript has no string tensors. Links no framework.
//
// Operations, checked against options.signature at creation:
//   "add_sub"     two inputs, two outputs, all of one datatype and shape:
//                 output 0 = input 0 + input 1, output 1 = input 0 - input 1, element-wise.
//                 Numeric datatypes (integers wrap around, as in two's complement), or
//                 BYTES holding decimal integers (int64), answered as decimal strings.
//   "identity"    as many outputs as inputs, each output the input at its position,
//                 unchanged (any datatype, BYTES included, any shape).
//   "accumulate"  two numeric inputs, two outputs, all of one datatype and shape:
//                 output 0 = input 0 + input 1 and output 1 = output 0. With input 1
//                 and output 1 a sequence's state (repository/model_config.h, [sequence]),
//                 output 0 is the running sum of the sequence's inputs.
#ifndef FERRY_BACKENDS_BUILTIN_BUILTIN_BACKEND_H_
#define FERRY_BACKENDS_BUILTIN_BUILTIN_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "backends/backend.h"

namespace ferry {

// InvalidArgument, naming the operation and the tensor, for an unknown operation or a
// signature the operation cannot serve.
absl::StatusOr<std::unique_ptr<Backend>> CreateBuiltinBackend(const BackendOptions& options);

}  // namespace ferry

#endif  // FERRY_BACKENDS_BUILTIN_BUILTIN_BACKEND_H_
