// Conversion between the gRPC messages of the V2 protocol and Ferry's core types. Pure
// functions, no I/O, so every wire rule is unit-tested without a server. Internal to
// api/grpc: it includes the generated protobuf header.
//
// Wire rules (shared/PROTOCOL.md §3, §5):
// - Input data comes either as typed `contents` (one repeated field per datatype family)
//   or as `raw_input_contents` (one bytes entry per input, in input order), never both.
// - Typed values are range-checked when the field is wider than the datatype (an int32
//   carrying INT8, a uint32 carrying UINT16), because silent wrap-around would hand the
//   model a different number than the client sent.
// - FP16 and BF16 have no typed field; they travel only raw.
// - Responses always carry `raw_output_contents`, one entry per output, as Triton does;
//   Triton's own clients decode from there even after sending typed contents.
#ifndef FERRY_API_GRPC_TENSOR_CODEC_H_
#define FERRY_API_GRPC_TENSOR_CODEC_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/infer.h"
#include "core/tensor.h"
#include "inference.pb.h"
#include "sharedmem/shared_memory.h"

namespace ferry {
namespace grpc_api {

// Decodes the inputs, the requested outputs (with their `classification` parameter), the
// id and the request-level parameters (uint64 values must fit in int64). Every error is
// InvalidArgument naming the input or output and what was expected. The tensors are not
// checked against any model signature; InferenceServer::Infer does that.
// System shared memory: a tensor with the parameter `shared_memory_region` goes into
// `*shared_memory` (an input then has no data yet, and no contents or raw entry of its
// own: raw_input_contents holds one entry per other input); with `shared_memory` null
// such a tensor is InvalidArgument.
absl::StatusOr<InferRequest> DecodeInferRequest(const inference::ModelInferRequest& request,
                                                SharedMemoryTensors* shared_memory = nullptr);

// One input from its typed `contents`. Exposed for tests.
absl::StatusOr<Tensor> DecodeTypedInput(
    const inference::ModelInferRequest::InferInputTensor& input);

// One input from its raw bytes (`raw_input_contents[index]`). Exposed for tests.
absl::StatusOr<Tensor> DecodeRawInput(const inference::ModelInferRequest::InferInputTensor& input,
                                      const std::string& raw, int index);

// Fills `out` with model_name, model_version, id and, per output, name/datatype/shape plus
// one raw_output_contents entry. Takes the response by value so callers can move it in.
// An output with a `shared_memory` entry was written into that region: it carries the
// region's parameters instead, and an empty raw entry.
void EncodeInferResponse(InferResponse response, inference::ModelInferResponse* out,
                         const std::vector<std::optional<SharedMemoryRef>>* shared_memory =
                             nullptr);

}  // namespace grpc_api
}  // namespace ferry

#endif  // FERRY_API_GRPC_TENSOR_CODEC_H_
