#include "testing/requests.h"

#include <cstring>
#include <future>
#include <utility>

namespace ferry {
namespace {

template <typename T>
Tensor Make(std::string name, DataType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t{std::move(name), dtype, std::move(shape), {}};
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

}  // namespace

Tensor Int32Tensor(std::string name, std::vector<int64_t> shape, const std::vector<int32_t>& values) {
  return Make(std::move(name), DataType::kInt32, std::move(shape), values);
}

Tensor Fp32Tensor(std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
  return Make(std::move(name), DataType::kFp32, std::move(shape), values);
}

InferRequest SimpleRequest(const std::vector<int32_t>& input0, const std::vector<int32_t>& input1) {
  InferRequest r;
  r.inputs.push_back(Int32Tensor("INPUT0", {1, static_cast<int64_t>(input0.size())}, input0));
  r.inputs.push_back(Int32Tensor("INPUT1", {1, static_cast<int64_t>(input1.size())}, input1));
  return r;
}

InferRequest SimpleRequest() {
  return SimpleRequest(std::vector<int32_t>(16, 0), std::vector<int32_t>(16, 0));
}

absl::StatusOr<InferResponse> InferAndWait(InferenceServer& server, const std::string& model,
                                           InferRequest request, const std::string& version,
                                           std::shared_ptr<RequestContext> context) {
  if (context == nullptr) context = std::make_shared<RequestContext>();
  std::promise<absl::StatusOr<InferResponse>> done;
  server.Infer(std::move(context), model, version, std::move(request),
               [&done](absl::StatusOr<InferResponse> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

}  // namespace ferry
