// Requests for tests, and running one to its answer: the helpers the server, transport
// and loadgen tests used to copy into each file.
#ifndef FERRY_TESTING_REQUESTS_H_
#define FERRY_TESTING_REQUESTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/infer.h"
#include "core/request_context.h"
#include "core/tensor.h"
#include "server/inference_server.h"

namespace ferry {

// Tensors of `values` (row-major) with the given shape.
Tensor Int32Tensor(std::string name, std::vector<int64_t> shape, const std::vector<int32_t>& values);
Tensor Fp32Tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values);

// The elements of `t` as T (the caller knows its datatype).
template <typename T>
std::vector<T> ValuesOf(const Tensor& t) {
  return std::vector<T>(t.data_as<T>(), t.data_as<T>() + t.element_count());
}

// A request for the `simple` model (INT32 INPUT0 and INPUT1 [-1, 16]): one row of each.
InferRequest SimpleRequest(const std::vector<int32_t>& input0, const std::vector<int32_t>& input1);
// The same with both inputs all zeros.
InferRequest SimpleRequest();

// Runs `request` on `server` and waits for its answer (which may come from another
// thread). `context` null: a fresh RequestContext.
absl::StatusOr<InferResponse> InferAndWait(InferenceServer& server, const std::string& model,
                                           InferRequest request, const std::string& version = "",
                                           std::shared_ptr<RequestContext> context = nullptr);

}  // namespace ferry

#endif  // FERRY_TESTING_REQUESTS_H_
