// The binary tensor data extension over HTTP (shared/PROTOCOL.md §4, "Binary tensor
// data"). A request or response body may be a JSON header followed by raw tensor bytes,
// concatenated in the order the tensors appear in the JSON; the header
// `Inference-Header-Content-Length` gives the JSON's length. Raw bytes are little-endian
// and row-major; BOOL is one byte; BYTES is a 4-byte little-endian length and the bytes,
// per element (the layout core/tensor.h keeps, so a tensor's bytes are copied once and
// never converted).
//
// Pure functions, no I/O. Every error is InvalidArgument naming the input, the header or
// the sizes involved.
#ifndef FERRY_API_HTTP_BINARY_FRAMING_H_
#define FERRY_API_HTTP_BINARY_FRAMING_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "api/http/json_codec.h"
#include "core/infer.h"
#include "server/inference_server.h"

namespace ferry {

inline constexpr char kInferenceHeaderContentLength[] = "Inference-Header-Content-Length";

// Parses an Inference-Header-Content-Length value: a decimal integer in [0, body_size].
absl::StatusOr<size_t> ParseInferenceHeaderLength(std::string_view value, size_t body_size);

// Decodes an inference request body. Without `json_size` the body is JSON only. With it,
// body[0, json_size) is the JSON and the rest is binary tensor data: the inputs with
// "binary_data_size" take their bytes from it in order, and their sizes must add up to
// exactly the rest of the body. `json_size` 0 is the raw request (DecodeRawInferRequest),
// not this.
absl::StatusOr<RestInferRequest> DecodeRestInferRequest(std::string_view body,
                                                        std::optional<size_t> json_size,
                                                        const DecodeOptions& options = {});

// Gives each input of `request` that has a "binary_data_size" its bytes from `binary`,
// in input order; checks that the sizes add up to binary.size() and that BYTES inputs
// hold exactly their shape's element count of well-formed elements.
absl::Status SplitBinaryInputs(std::string_view binary, RestInferRequest& request);

// The raw request (`Inference-Header-Content-Length: 0`): the whole body is the bytes of
// the model's only input. Its shape is the model's with the batch dimension set to 1 and
// at most one other variable dimension worked out from the body's size; a BYTES input
// must hold one element, which is the whole body. Every output is returned in binary.
// InvalidArgument if the model has more than one input, if the shape cannot be worked out
// or the body's size does not fit it.
absl::StatusOr<RestInferRequest> DecodeRawInferRequest(std::string_view body,
                                                       const ModelMetadata& model);

// Which outputs of a response go in binary, taken from a request before it is handed to
// the server: an output's own "binary_data" if given, else "binary_data_output".
class BinaryOutputs {
 public:
  BinaryOutputs() = default;
  explicit BinaryOutputs(const RestInferRequest& request);

  // One flag per output of `response`, matched by name.
  std::vector<bool> Flags(const InferResponse& response) const;
  // False when no output can be binary, so the plain JSON encoder will do.
  bool Any() const { return any_; }

 private:
  bool all_ = false;
  bool any_ = false;
  std::vector<std::pair<std::string, bool>> named_;  // outputs with their own choice
};

}  // namespace ferry

#endif  // FERRY_API_HTTP_BINARY_FRAMING_H_
