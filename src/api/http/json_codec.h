// The JSON side of the Open Inference Protocol (KServe V2) REST API: request decoding and
// response encoding. Pure functions, no I/O, so they can be tested and benchmarked alone.
//
// Decoding is a streaming (SAX) pass over the body rather than a DOM: the tensor bytes are
// written as the numbers are parsed, and floating point text is converted with
// std::from_chars so FP64 inputs arrive bit-exact (Boost.JSON 1.81's own double parsing
// can be one ULP off).
#ifndef FERRY_API_HTTP_JSON_CODEC_H_
#define FERRY_API_HTTP_JSON_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/infer.h"
#include "server/inference_server.h"

namespace ferry {

struct DecodeOptions {
  // Deepest nesting of JSON arrays and objects accepted. The request itself uses 3 levels
  // plus the rank of nested "data"; the limit keeps hostile bodies such as 10000 opening
  // brackets from costing stack or time.
  int max_depth = 64;
};

// Decodes a V2 inference request body. Every error is InvalidArgument with a message that
// names the field (and the input) and what was expected; malformed JSON gives "request body
// is not valid JSON: ...". Tensor data, flat or nested, is converted into the datatype's
// little-endian bytes (BYTES: 4-byte length + bytes per element). The result has not been
// checked against any model signature.
absl::StatusOr<InferRequest> DecodeInferRequest(std::string_view body,
                                                const DecodeOptions& options = {});

// The V2 inference response: model_name, model_version, id (only when set) and outputs with
// flat data. Floats use the shortest text that round-trips; NaN and infinities, which JSON
// cannot express, are written as null. BYTES elements that are not valid UTF-8 have each bad
// byte replaced by U+FFFD so the body stays valid JSON.
std::string EncodeInferResponse(const InferResponse& response);

// {"error": "<message>"}.
std::string ErrorBody(std::string_view message);

// {"name": ..., "version": ..., "extensions": [...]}.
std::string EncodeServerMetadata(const ServerMetadata& metadata);
// {"name", "versions", "platform", "inputs", "outputs"}; -1 marks a variable dimension.
std::string EncodeModelMetadata(const ModelMetadata& metadata);
// {"name": ..., "ready": bool}.
std::string EncodeModelReady(std::string_view name, bool ready);
// A bare array of {"name", "version"?, "state", "reason"?}; empty fields are left out.
std::string EncodeRepositoryIndex(const std::vector<ModelIndexEntry>& entries);
// {"live": bool} and {"ready": bool}.
std::string EncodeLive(bool live);
std::string EncodeReady(bool ready);

}  // namespace ferry

#endif  // FERRY_API_HTTP_JSON_CODEC_H_
