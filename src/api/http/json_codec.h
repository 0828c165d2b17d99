// The JSON side of the Open Inference Protocol (KServe V2) REST API: request decoding and
// response encoding. Pure functions, no I/O, so they can be tested and benchmarked alone.
// The binary tensor data extension's framing (JSON header + raw bytes) is in
// binary_framing.h; this file decodes and encodes the JSON part.
//
// Decoding is a streaming (SAX) pass over the body rather than a DOM: the tensor bytes are
// written as the numbers are parsed, and floating point text is converted with
// std::from_chars so FP64 inputs arrive bit-exact (Boost.JSON 1.81's own double parsing
// can be one ULP off). The leading plain numbers of each "data" array skip the parser:
// number_scanner.h converts them directly, with results identical to the general path.
#ifndef FERRY_API_HTTP_JSON_CODEC_H_
#define FERRY_API_HTTP_JSON_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/infer.h"
#include "server/inference_server.h"
#include "sharedmem/shared_memory.h"

namespace ferry {

struct DecodeOptions {
  // Deepest nesting of JSON arrays and objects accepted. The request itself uses 3 levels
  // plus the rank of nested "data"; the limit keeps hostile bodies such as 10000 opening
  // brackets from costing stack or time.
  int max_depth = 64;
};

// An inference request as the REST API carries it: the core request plus what the binary
// tensor data extension says about each tensor.
struct RestInferRequest {
  InferRequest request;
  // One per input, in request order: its "binary_data_size" parameter, or -1 when it
  // carried "data". Inputs with a size have no data yet: their bytes follow the JSON
  // (SplitBinaryInputs in binary_framing.h fills them in).
  std::vector<int64_t> binary_data_size;
  // One per requested output: its "binary_data" parameter, 1 or 0; -1 when not given.
  std::vector<int8_t> binary_data;
  // The request parameter "binary_data_output" (also kept in request.parameters): every
  // output binary unless its own "binary_data" says otherwise.
  bool binary_data_output = false;
  // System shared memory extension: the inputs whose bytes are in a region (their data is
  // empty until ResolveSharedMemory) and the outputs to be written into one.
  SharedMemoryTensors shared_memory;
};

// Decodes the JSON of an inference request, which may be followed by binary tensor data.
// Like DecodeInferRequest, but an input may give "parameters": {"binary_data_size": K}
// instead of "data"; K is checked against shape and datatype (exactly for fixed-size
// datatypes, at least 4 bytes per element for BYTES). Request-level "parameters" go into
// request.parameters as the wire gave them (bool, int64, double or string); any other
// value, or an integer beyond int64, is InvalidArgument naming the parameter.
absl::StatusOr<RestInferRequest> DecodeInferHeader(std::string_view json,
                                                   const DecodeOptions& options = {});

// InvalidArgument naming the first input that has a "binary_data_size", for a body that
// has no binary part.
absl::Status CheckNoBinaryInputs(const RestInferRequest& request);

// Decodes a V2 inference request body that is JSON only (an input with
// "binary_data_size" is InvalidArgument: there is no binary part). Every error is InvalidArgument
// with a message that names the field (and the input) and what was expected; malformed JSON gives
// "request body is not valid JSON: ...". Tensor data, flat or nested, is converted into the
// datatype's little-endian bytes (BYTES: 4-byte length + bytes per element). The result has not
// been checked against any model signature.
absl::StatusOr<InferRequest> DecodeInferRequest(std::string_view body,
                                                const DecodeOptions& options = {});

// The V2 inference response: model_name, model_version, id (only when set) and outputs with
// flat data. Floats use the shortest text that round-trips; NaN and infinities, which JSON
// cannot express, are written as null. BYTES elements that are not valid UTF-8 have each bad
// byte replaced by U+FFFD so the body stays valid JSON.
std::string EncodeInferResponse(const InferResponse& response);

struct EncodedInferResponse {
  std::string body;      // the JSON, then the binary outputs' bytes
  size_t json_size = 0;  // length of the JSON part (Inference-Header-Content-Length)
  bool binary = false;   // some output went in binary
};

// The same response with the binary tensor data extension: output i goes in binary when
// binary[i] is set (missing flags mean JSON). A binary output has "parameters":
// {"binary_data_size": K} instead of "data", and its K bytes (BYTES: 4-byte length +
// bytes per element) follow the JSON in output order.
EncodedInferResponse EncodeInferResponse(const InferResponse& response,
                                         const std::vector<bool>& binary);

// The same with the system shared memory extension: output i, when shared_memory[i] is
// set, was written into that region, and appears with "parameters":
// {"shared_memory_region", "shared_memory_offset", "shared_memory_byte_size"} and no data
// (whatever its binary flag says).
EncodedInferResponse EncodeInferResponse(const InferResponse& response, std::vector<bool> binary,
                                         const std::vector<std::optional<SharedMemoryRef>>&
                                             shared_memory);

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
// Statistics extension: {"model_stats": [{"name", "version", "last_inference",
// "inference_count", "execution_count", "inference_stats": {"success", "fail", "queue",
// "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss"},
// "batch_stats": [{"batch_size", "compute_input", "compute_infer", "compute_output"}]}]},
// every duration {"count", "ns"}. Ferry does not time input and output copies or have a
// cache, so those durations are zero.
std::string EncodeModelStatistics(const std::vector<ModelStatistics>& stats);
// {"name": ..., "<action>": true}, the answer to a model load or unload.
std::string EncodeModelControl(std::string_view name, std::string_view action);
// {"live": bool} and {"ready": bool}.
std::string EncodeLive(bool live);
std::string EncodeReady(bool ready);

}  // namespace ferry

#endif  // FERRY_API_HTTP_JSON_CODEC_H_
