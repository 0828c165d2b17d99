#include "testing/fake_backend.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/version_number.h"

namespace ferry {
namespace {

int64_t Rows(const std::vector<Tensor>& inputs) {
  return inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
}

template <typename T>
double SumOf(const Tensor& t, int64_t begin, int64_t count) {
  double sum = 0;
  const T* values = t.data_as<T>() + begin;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(values[i]);
  return sum;
}

// The sum of row `row`'s elements of `t` (numbers as they are, BOOL as 0/1, other
// datatypes byte by byte).
double RowSum(const Tensor& t, int64_t row) {
  const int64_t rows = t.shape.empty() ? 0 : t.shape[0];
  if (rows <= 0 || row >= rows) return 0;
  const int64_t n = t.element_count() / rows;
  switch (t.dtype) {
    case DataType::kBool:
    case DataType::kUint8: return SumOf<uint8_t>(t, row * n, n);
    case DataType::kInt8: return SumOf<int8_t>(t, row * n, n);
    case DataType::kInt16: return SumOf<int16_t>(t, row * n, n);
    case DataType::kInt32: return SumOf<int32_t>(t, row * n, n);
    case DataType::kInt64: return SumOf<int64_t>(t, row * n, n);
    case DataType::kUint32: return SumOf<uint32_t>(t, row * n, n);
    case DataType::kUint64: return SumOf<uint64_t>(t, row * n, n);
    case DataType::kFp32: return SumOf<float>(t, row * n, n);
    case DataType::kFp64: return SumOf<double>(t, row * n, n);
    default: break;
  }
  const size_t bytes = t.data.size() / static_cast<size_t>(rows);
  double sum = 0;
  for (size_t i = 0; i < bytes; ++i) sum += t.data[static_cast<size_t>(row) * bytes + i];
  return sum;
}

bool IsSimpleContract(const ModelSignature& signature) {
  return signature.inputs.size() == 2 && signature.inputs[0].name == "INPUT0" &&
         signature.inputs[1].name == "INPUT1" && signature.inputs[0].dtype == DataType::kInt32 &&
         signature.inputs[1].dtype == DataType::kInt32 && signature.outputs.size() == 2 &&
         signature.outputs[0].dtype == DataType::kInt32 &&
         signature.outputs[1].dtype == DataType::kInt32;
}

Tensor Zeros(const TensorSpec& spec, int64_t rows) {
  Tensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (d == 0) t.shape[d] = rows;
    if (t.shape[d] < 0) t.shape[d] = 1;
  }
  if (t.dtype == DataType::kBytes) {
    t.data.assign(static_cast<size_t>(t.element_count()) * 4, 0);  // empty strings
  } else {
    t.data.assign(static_cast<size_t>(t.element_count()) * DataTypeByteSize(t.dtype), 0);
  }
  return t;
}

}  // namespace

FakeOutputs SimpleOutputs() {
  return [](const std::vector<Tensor>& inputs) -> absl::StatusOr<std::vector<Tensor>> {
    if (inputs.size() != 2 || inputs[0].dtype != DataType::kInt32 ||
        inputs[1].dtype != DataType::kInt32 || inputs[0].shape != inputs[1].shape) {
      return absl::InvalidArgumentError("the simple fake takes two INT32 inputs of one shape");
    }
    const int64_t n = inputs[0].element_count();
    const int32_t* a = inputs[0].data_as<int32_t>();
    const int32_t* b = inputs[1].data_as<int32_t>();
    std::vector<Tensor> out(2);
    for (int i = 0; i < 2; ++i) {
      out[i].name = i == 0 ? "OUTPUT0" : "OUTPUT1";
      out[i].dtype = DataType::kInt32;
      out[i].shape = inputs[0].shape;
      out[i].data.resize(static_cast<size_t>(n) * sizeof(int32_t));
    }
    int32_t* sum = out[0].mutable_data_as<int32_t>();
    int32_t* difference = out[1].mutable_data_as<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      sum[i] = a[i] + b[i];
      difference[i] = a[i] - b[i];
    }
    return out;
  };
}

Tensor FakeLogits(const std::vector<Tensor>& inputs, int64_t classes) {
  const int64_t rows = Rows(inputs);
  Tensor logits;
  logits.name = "logits";
  logits.dtype = DataType::kFp32;
  logits.shape = {rows, classes};
  logits.data.assign(static_cast<size_t>(rows * classes) * sizeof(float), 0);
  float* out = logits.mutable_data_as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (const Tensor& t : inputs) s += RowSum(t, r);
    const int64_t k = std::llabs(static_cast<int64_t>(std::floor(s)));
    out[r * classes + k % classes] = static_cast<float>((k / classes) % 8);
  }
  return logits;
}

FakeOutputs ClassifierOutputs(int64_t classes) {
  return [classes](const std::vector<Tensor>& inputs) -> absl::StatusOr<std::vector<Tensor>> {
    std::vector<Tensor> out;
    out.push_back(FakeLogits(inputs, classes));
    return out;
  };
}

FakeOutputs DefaultOutputs(const ModelSignature& signature) {
  if (IsSimpleContract(signature)) return SimpleOutputs();
  return [outputs = signature.outputs](const std::vector<Tensor>& inputs)
             -> absl::StatusOr<std::vector<Tensor>> {
    const int64_t rows = Rows(inputs);
    std::vector<Tensor> out;
    for (const TensorSpec& spec : outputs) {
      if (spec.dtype == DataType::kFp32 && spec.shape.size() == 2 && spec.shape[1] > 0) {
        out.push_back(FakeLogits(inputs, spec.shape[1]));
        out.back().name = spec.name;
      } else {
        out.push_back(Zeros(spec, rows));
      }
    }
    return out;
  };
}

FakeBackend::FakeBackend(FakeBackendOptions options, ModelSignature signature)
    : options_([&] {
        if (!options.outputs) options.outputs = DefaultOutputs(signature);
        return std::move(options);
      }()),
      signature_(std::move(signature)) {}

absl::StatusOr<std::vector<Tensor>> FakeBackend::Execute(std::vector<Tensor>& inputs) {
  const int64_t call = counters_->calls.fetch_add(1) + 1;
  counters_->rows.fetch_add(Rows(inputs));
  if (options_.latency > absl::ZeroDuration()) absl::SleepFor(options_.latency);
  if (options_.gate != nullptr) options_.gate->Enter();
  if (!options_.error.ok() && call >= options_.fail_from_call) return options_.error;
  absl::StatusOr<std::vector<Tensor>> outputs = options_.outputs(inputs);
  if (!outputs.ok() || signature_.outputs.empty()) return outputs;
  if (outputs->size() != signature_.outputs.size()) {
    return absl::InternalError(absl::StrCat("the fake answered ", outputs->size(),
                                            " outputs; the signature has ",
                                            signature_.outputs.size()));
  }
  for (size_t i = 0; i < outputs->size(); ++i) {
    Tensor& t = (*outputs)[i];
    const TensorSpec& spec = signature_.outputs[i];
    if (t.name.empty()) t.name = spec.name;
    if (t.dtype != spec.dtype) {
      return absl::InternalError(absl::StrCat("output '", spec.name, "' is ",
                                              DataTypeName(t.dtype), ", the signature says ",
                                              DataTypeName(spec.dtype)));
    }
  }
  return outputs;
}

struct FakeBackendFactory::State {
  using Key = std::pair<std::string, int64_t>;  // version 0: every version of the model

  absl::Mutex mu;
  std::map<Key, FakeBackendOptions> options ABSL_GUARDED_BY(mu);
  std::map<Key, absl::Status> load_errors ABSL_GUARDED_BY(mu);
  std::map<Key, int64_t> builds ABSL_GUARDED_BY(mu);
  std::map<Key, std::shared_ptr<const FakeBackendCounters>> counters ABSL_GUARDED_BY(mu);

  absl::StatusOr<std::unique_ptr<Backend>> Create(const BackendOptions& backend) {
    const std::filesystem::path path(backend.version_path);
    const Key key{path.parent_path().filename().string(), ParseVersion(path.filename().string())};
    absl::MutexLock lock(&mu);
    auto error = load_errors.find(key);
    if (error != load_errors.end()) return error->second;
    auto found = options.find(key);
    if (found == options.end()) found = options.find({key.first, 0});
    auto fake = std::make_unique<FakeBackend>(
        found == options.end() ? FakeBackendOptions{} : found->second, backend.signature);
    ++builds[key];
    counters[key] = fake->counters();
    return fake;
  }
};

FakeBackendFactory::FakeBackendFactory() : state_(std::make_shared<State>()) {}

void FakeBackendFactory::Set(const std::string& model, FakeBackendOptions options) {
  Set(model, 0, std::move(options));
}

void FakeBackendFactory::Set(const std::string& model, int64_t version, FakeBackendOptions options) {
  absl::MutexLock lock(&state_->mu);
  state_->options[{model, version}] = std::move(options);
}

void FakeBackendFactory::FailLoad(const std::string& model, int64_t version, absl::Status status) {
  absl::MutexLock lock(&state_->mu);
  if (status.ok()) {
    state_->load_errors.erase({model, version});
  } else {
    state_->load_errors[{model, version}] = std::move(status);
  }
}

BackendFactory FakeBackendFactory::factory() const {
  return [state = state_](const BackendOptions& options) { return state->Create(options); };
}

int64_t FakeBackendFactory::Builds(const std::string& model, int64_t version) const {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->builds.find({model, version});
  return it == state_->builds.end() ? 0 : it->second;
}

std::shared_ptr<const FakeBackendCounters> FakeBackendFactory::Counters(const std::string& model,
                                                                        int64_t version) const {
  absl::MutexLock lock(&state_->mu);
  auto it = state_->counters.find({model, version});
  return it == state_->counters.end() ? nullptr : it->second;
}

}  // namespace ferry
