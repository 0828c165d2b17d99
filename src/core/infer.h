// One inference request and its response as the wire carried them, independent of the
// format. What the server knows beyond the wire is in RequestContext.
#ifndef FERRY_CORE_INFER_H_
#define FERRY_CORE_INFER_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace ferry {

struct RequestedOutput {
  std::string name;
  // Classification extension: when > 0, answer with the top-N classes as BYTES
  // "value:index[:label]" strings instead of the raw tensor.
  int64_t classification = 0;
};

// A request-level parameter as the wire carried it (JSON `parameters`, gRPC
// InferParameter). Numbers keep their wire kind: 0.1 is a double, 3 an int64.
using ParameterValue = std::variant<bool, int64_t, double, std::string>;

// Sequence extension: the stateful sequence a request belongs to, from the request
// parameters sequence_id, sequence_start and sequence_end (core/sequence_parameters.h;
// the transports fill it). The sequence batcher (scheduler/sequence_batcher.h) routes the
// requests of one sequence to its state, in order.
struct SequenceControl {
  uint64_t id = 0;        // a numeric sequence_id; 0 = none
  std::string string_id;  // a string sequence_id; "" = none
  bool start = false;     // sequence_start: the first request; the state starts over
  bool end = false;       // sequence_end: the last request; the state is freed after it
  bool has_id() const { return id != 0 || !string_id.empty(); }
  // Whether the request said anything about sequences.
  bool any() const { return has_id() || start || end; }
};

struct InferRequest {
  // The V2 `id`, echoed in the response. The server's own request id is in the
  // RequestContext (core/request_context.h), which carries everything not on the wire.
  std::string id;
  std::vector<Tensor> inputs;
  // Empty means every output of the model, unmodified.
  std::vector<RequestedOutput> outputs;
  // Request-level parameters (e.g. "alpha" for prediction sets). Transports fill this;
  // the server checks the ones it knows and ignores the rest, as other V2 servers do.
  std::map<std::string, ParameterValue> parameters;
  // The sequence parameters, checked and typed (they are not in `parameters`).
  SequenceControl sequence;
};

// Which model, and which of its versions, a call goes to (a composite's member).
struct ModelRef {
  std::string model;
  // 0 follows the model: the version that answers a request naming none (today the
  // highest ready one; the production alias once a registry sets one). Otherwise this
  // version, pinned: while it is not ready, calls to it fail rather than go elsewhere.
  int64_t version = 0;

  // The version as a request names it: "" (the default) when following the model.
  std::string RequestedVersion() const { return version == 0 ? "" : std::to_string(version); }
  // 'model', or 'model' version N when pinned (quotes included); for logs and errors.
  std::string Describe() const {
    std::string name = "'" + model + "'";
    return version == 0 ? name : name + " version " + std::to_string(version);
  }
  bool operator==(const ModelRef&) const = default;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;  // the version that actually answered
  std::string id;
  std::vector<Tensor> outputs;
};

}  // namespace ferry

#endif  // FERRY_CORE_INFER_H_
