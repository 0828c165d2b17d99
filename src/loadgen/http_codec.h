// The HTTP/REST wire forms `ferry bench` sends and checks: V2 JSON inference requests, the
// binary tensor data extension (a JSON header followed by raw little-endian tensor bytes,
// with Inference-Header-Content-Length), whole HTTP/1.1 request messages, and the check of
// an inference response. Pure functions and one reusable checker; no I/O.
#ifndef FERRY_LOADGEN_HTTP_CODEC_H_
#define FERRY_LOADGEN_HTTP_CODEC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "loadgen/workload.h"

namespace ferry::loadgen {

// {"inputs":[{"name":..,"shape":[..],"datatype":..,"data":[..]}]}: flat data, floats in
// the shortest text that round-trips, BOOL as true/false, BYTES as JSON strings. No
// "outputs", so the server returns all of them.
std::string EncodeJsonInferRequest(const RequestData& request);

struct BinaryInferRequest {
  // The JSON header followed by every input's bytes, in input order.
  std::string body;
  // Bytes of the JSON header: the Inference-Header-Content-Length value.
  size_t header_length = 0;
};

// {"inputs":[{"name":..,"shape":[..],"datatype":..,"parameters":{"binary_data_size":N}}],
//  "parameters":{"binary_data_output":true}} then the raw bytes.
BinaryInferRequest EncodeBinaryInferRequest(const RequestData& request);

// System shared memory (--protocol http-shm): the inputs' bytes lie one after another from
// the start of region `region`, and the request names them there:
// {"inputs":[{"name":..,"shape":[..],"datatype":..,"parameters":{"shared_memory_region":..,
//  "shared_memory_offset":K,"shared_memory_byte_size":N}}],
//  "parameters":{"binary_data_output":true}}. The region must hold ShmInputBytes(request).
// With `outputs` (name and byte size each), those outputs are requested by name and
// written into the region after the inputs, in order.
std::string EncodeShmInferRequest(
    const RequestData& request, absl::string_view region,
    const std::vector<std::pair<std::string, uint64_t>>& outputs = {});
uint64_t ShmInputBytes(const RequestData& request);

// "/v2/models/{model}[/versions/{version}]" + `suffix` (e.g. "/infer", "/stats", "").
std::string ModelPath(absl::string_view model, absl::string_view version, absl::string_view suffix);

// A complete HTTP/1.1 POST message, ready to write to a socket as is. `header_length`, when
// set, adds Inference-Header-Content-Length.
std::string BuildHttpPost(absl::string_view target, absl::string_view host,
                          absl::string_view content_type, absl::string_view body,
                          std::optional<size_t> header_length);

struct ResponseSummary {
  size_t outputs = 0;
  uint64_t elements = 0;      // summed over outputs
  uint64_t binary_bytes = 0;  // tensor bytes after the JSON header
};

// Checks inference responses without allocating in the steady state: the JSON is parsed
// into a reused arena. One per connection; not thread-safe.
class ResponseChecker {
 public:
  // `expected_outputs` (may be empty = accept any) are the model's outputs: every one must
  // be returned with its datatype, and nothing else.
  explicit ResponseChecker(std::vector<TensorSpec> expected_outputs);
  ~ResponseChecker();
  ResponseChecker(const ResponseChecker&) = delete;
  ResponseChecker& operator=(const ResponseChecker&) = delete;

  // `body` is a 200 response. `header_length` is its Inference-Header-Content-Length, if
  // any: the body is then a JSON header plus binary tensors. Checks that the JSON parses,
  // that every output has a name, datatype and shape, that "data" holds product(shape)
  // elements or "binary_data_size" matches product(shape) x element size, and that the
  // binary sizes add up to exactly the bytes after the header. On error returns
  // InvalidArgument saying what was wrong; `summary` is then unspecified.
  absl::Status Check(absl::string_view body, std::optional<uint64_t> header_length,
                     ResponseSummary* summary);

 private:
  struct Scratch;
  std::vector<TensorSpec> expected_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_HTTP_CODEC_H_
