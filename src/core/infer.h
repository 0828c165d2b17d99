// One inference request and its response, independent of the wire format that carried them.
#ifndef FERRY_CORE_INFER_H_
#define FERRY_CORE_INFER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ferry {

struct RequestedOutput {
  std::string name;
  // Classification extension: when > 0, answer with the top-N classes as BYTES
  // "value:index[:label]" strings instead of the raw tensor.
  int64_t classification = 0;
};

struct InferRequest {
  std::string id;  // echoed in the response when set
  std::vector<Tensor> inputs;
  // Empty means every output of the model, unmodified.
  std::vector<RequestedOutput> outputs;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;  // the version that actually answered
  std::string id;
  std::vector<Tensor> outputs;
};

}  // namespace ferry

#endif  // FERRY_CORE_INFER_H_
