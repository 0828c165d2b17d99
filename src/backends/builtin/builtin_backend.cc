#include "backends/builtin/builtin_backend.h"

#include <cstring>
#include <string>
#include "absl/strings/string_view.h"
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ferry {
namespace {

enum class Operation { kAddSub, kIdentity, kAccumulate };

constexpr char kOperations[] = "\"add_sub\", \"identity\" or \"accumulate\"";

bool ParseOperation(const std::string& name, Operation& op) {
  if (name == "add_sub") {
    op = Operation::kAddSub;
  } else if (name == "identity") {
    op = Operation::kIdentity;
  } else if (name == "accumulate") {
    op = Operation::kAccumulate;
  } else {
    return false;
  }
  return true;
}

bool IsArithmetic(DataType dtype) {
  switch (dtype) {
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
    case DataType::kUint64:
    case DataType::kFp32:
    case DataType::kFp64:
      return true;
    default:
      return false;
  }
}

// The elements of a well-formed BYTES tensor (views into its data).
std::vector<absl::string_view> BytesElements(const Tensor& t) {
  std::vector<absl::string_view> out;
  size_t offset = 0;
  while (offset + sizeof(uint32_t) <= t.data.size()) {
    uint32_t len = 0;
    std::memcpy(&len, t.data.data() + offset, sizeof(len));
    offset += sizeof(len);
    out.emplace_back(reinterpret_cast<const char*>(t.data.data()) + offset, len);
    offset += len;
  }
  return out;
}

void AppendBytes(std::vector<uint8_t>& data, absl::string_view s) {
  const uint32_t len = static_cast<uint32_t>(s.size());
  uint8_t prefix[sizeof(len)];
  std::memcpy(prefix, &len, sizeof(len));
  data.insert(data.end(), prefix, prefix + sizeof(len));
  data.insert(data.end(), s.begin(), s.end());
}

// a + b and a - b, wrapping around for integers (computed in the unsigned type, so
// overflow is defined); plain arithmetic for floating point.
template <typename T>
void AddSub(const T* a, const T* b, T* sum, T* diff, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      sum[i] = static_cast<T>(static_cast<U>(static_cast<U>(a[i]) + static_cast<U>(b[i])));
      if (diff != nullptr) {
        diff[i] = static_cast<T>(static_cast<U>(static_cast<U>(a[i]) - static_cast<U>(b[i])));
      }
    } else {
      sum[i] = a[i] + b[i];
      if (diff != nullptr) diff[i] = a[i] - b[i];
    }
  }
}

// Runs AddSub for the tensors' datatype. `diff` may be null.
void AddSubNumeric(const Tensor& a, const Tensor& b, Tensor& sum, Tensor* diff) {
  const int64_t n = a.element_count();
#define FERRY_ADD_SUB_CASE(kind, T)                                                         \
  case DataType::kind:                                                                      \
    AddSub<T>(a.data_as<T>(), b.data_as<T>(), sum.mutable_data_as<T>(),                     \
              diff == nullptr ? nullptr : diff->mutable_data_as<T>(), n);                   \
    break;
  switch (a.dtype) {
    FERRY_ADD_SUB_CASE(kInt8, int8_t)
    FERRY_ADD_SUB_CASE(kInt16, int16_t)
    FERRY_ADD_SUB_CASE(kInt32, int32_t)
    FERRY_ADD_SUB_CASE(kInt64, int64_t)
    FERRY_ADD_SUB_CASE(kUint8, uint8_t)
    FERRY_ADD_SUB_CASE(kUint16, uint16_t)
    FERRY_ADD_SUB_CASE(kUint32, uint32_t)
    FERRY_ADD_SUB_CASE(kUint64, uint64_t)
    FERRY_ADD_SUB_CASE(kFp32, float)
    FERRY_ADD_SUB_CASE(kFp64, double)
    default:
      break;  // Create refused every other datatype
  }
#undef FERRY_ADD_SUB_CASE
}

// Decimal integers of two BYTES tensors, element by element, with their sum and
// difference in range. InvalidArgument naming the tensor and element otherwise.
absl::Status ParseDecimalPairs(const Tensor& a, const Tensor& b, std::vector<int64_t>& sums,
                               std::vector<int64_t>& diffs) {
  const std::vector<absl::string_view> xs = BytesElements(a);
  const std::vector<absl::string_view> ys = BytesElements(b);
  if (xs.size() != ys.size()) {
    return absl::InvalidArgumentError(absl::StrCat("inputs '", a.name, "' and '", b.name,
                                                   "' must hold as many elements"));
  }
  sums.resize(xs.size());
  diffs.resize(xs.size());
  const auto parse = [](const std::string& name, size_t i, absl::string_view text,
                        int64_t& value) -> absl::Status {
    if (text.size() > 32 || !absl::SimpleAtoi(text, &value)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "' element ", i, ": \"",
                                                     text.substr(0, 32),
                                                     "\" is not a decimal integer (int64)"));
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    int64_t x = 0, y = 0;
    FERRY_RETURN_IF_ERROR(parse(a.name, i, xs[i], x));
    FERRY_RETURN_IF_ERROR(parse(b.name, i, ys[i], y));
    if (__builtin_add_overflow(x, y, &sums[i]) || __builtin_sub_overflow(x, y, &diffs[i])) {
      return absl::InvalidArgumentError(absl::StrCat("inputs '", a.name, "' and '", b.name,
                                                     "' element ", i, ": the sum or difference of ",
                                                     x, " and ", y, " does not fit in int64"));
    }
  }
  return absl::OkStatus();
}

Tensor Like(const Tensor& shape_of, const TensorSpec& spec) {
  Tensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  t.shape = shape_of.shape;
  if (spec.dtype != DataType::kBytes) t.data.resize(shape_of.data.size());
  return t;
}

class BuiltinBackend : public Backend {
 public:
  BuiltinBackend(Operation op, std::string name, ModelSignature signature)
      : op_(op), name_(std::move(name)), signature_(std::move(signature)) {}

  absl::Status CheckRequest(const std::vector<Tensor>& inputs) const override {
    // accumulate's second input is a sequence's state, which the client does not send.
    if (op_ != Operation::kAddSub || inputs.size() != 2) return absl::OkStatus();
    const Tensor& a = inputs[0];
    const Tensor& b = inputs[1];
    if (a.shape != b.shape) {
      return absl::InvalidArgumentError(absl::StrCat("inputs '", a.name, "' ", ShapeToString(a.shape),
                                                     " and '", b.name, "' ", ShapeToString(b.shape),
                                                     " must have the same shape"));
    }
    if (a.dtype != DataType::kBytes) return absl::OkStatus();
    std::vector<int64_t> sums, diffs;
    return ParseDecimalPairs(a, b, sums, diffs);
  }

  absl::StatusOr<std::vector<Tensor>> Execute(std::vector<Tensor>& inputs) override {
    if (inputs.size() != signature_.inputs.size()) {
      return absl::InternalError(absl::StrCat("builtin ", name_, ": ", inputs.size(),
                                              " inputs, expected ", signature_.inputs.size()));
    }
    std::vector<Tensor> outputs;
    if (op_ == Operation::kIdentity) {
      for (size_t i = 0; i < inputs.size(); ++i) {
        outputs.push_back(std::move(inputs[i]));
        outputs.back().name = signature_.outputs[i].name;
      }
      return outputs;
    }
    // A batch's rows came from requests that CheckRequest passed one by one.
    const Tensor& a = inputs[0];
    const Tensor& b = inputs[1];
    if (a.shape != b.shape || a.dtype != b.dtype) {
      return absl::InternalError(absl::StrCat("builtin ", name_, ": inputs of different shapes"));
    }
    outputs.push_back(Like(a, signature_.outputs[0]));
    outputs.push_back(Like(a, signature_.outputs[1]));
    if (a.dtype == DataType::kBytes) {
      std::vector<int64_t> sums, diffs;
      FERRY_RETURN_IF_ERROR(ParseDecimalPairs(a, b, sums, diffs));
      for (size_t i = 0; i < sums.size(); ++i) {
        AppendBytes(outputs[0].data, std::to_string(sums[i]));
        AppendBytes(outputs[1].data, std::to_string(diffs[i]));
      }
      return outputs;
    }
    if (op_ == Operation::kAccumulate) {
      AddSubNumeric(a, b, outputs[0], nullptr);
      outputs[1].data = outputs[0].data;
    } else {
      AddSubNumeric(a, b, outputs[0], &outputs[1]);
    }
    return outputs;
  }

  std::string Describe() const override {
    return absl::StrCat("builtin ", name_, " (", DataTypeName(signature_.inputs[0].dtype), ")");
  }

 private:
  const Operation op_;
  const std::string name_;
  const ModelSignature signature_;
};

absl::Status CheckSignature(Operation op, const std::string& name, const ModelSignature& sig) {
  const auto bad = [&name](const std::string& problem) {
    return absl::InvalidArgumentError(absl::StrCat("builtin operation '", name, "': ", problem));
  };
  if (op == Operation::kIdentity) {
    if (sig.inputs.size() != sig.outputs.size()) {
      return bad(absl::StrCat("needs as many outputs as inputs; the config has ", sig.inputs.size(),
                              " inputs and ", sig.outputs.size(), " outputs"));
    }
    for (size_t i = 0; i < sig.inputs.size(); ++i) {
      if (sig.inputs[i].dtype != sig.outputs[i].dtype || sig.inputs[i].shape != sig.outputs[i].shape) {
        return bad(absl::StrCat("output '", sig.outputs[i].name, "' must have the datatype and shape of input '",
                                sig.inputs[i].name, "'"));
      }
    }
    return absl::OkStatus();
  }
  if (sig.inputs.size() != 2 || sig.outputs.size() != 2) {
    return bad(absl::StrCat("needs two inputs and two outputs; the config has ", sig.inputs.size(),
                            " and ", sig.outputs.size()));
  }
  const TensorSpec& first = sig.inputs[0];
  const bool bytes_ok = op == Operation::kAddSub;
  if (!IsArithmetic(first.dtype) && !(bytes_ok && first.dtype == DataType::kBytes)) {
    return bad(absl::StrCat("cannot compute on ", DataTypeName(first.dtype), " (input '", first.name,
                            "'); it takes integer or floating-point datatypes",
                            bytes_ok ? ", or BYTES holding decimal integers" : ""));
  }
  for (const auto* specs : {&sig.inputs, &sig.outputs}) {
    for (const TensorSpec& spec : *specs) {
      if (spec.dtype != first.dtype || spec.shape != first.shape) {
        return bad(absl::StrCat("'", spec.name, "' is ", DataTypeName(spec.dtype), " ",
                                ShapeToString(spec.shape), "; every tensor must be ",
                                DataTypeName(first.dtype), " ", ShapeToString(first.shape),
                                " like input '", first.name, "'"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateBuiltinBackend(const BackendOptions& options) {
  Operation op;
  if (!ParseOperation(options.operation, op)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown builtin operation '", options.operation,
                                                   "'; expected ", kOperations));
  }
  FERRY_RETURN_IF_ERROR(CheckSignature(op, options.operation, options.signature));
  return std::unique_ptr<Backend>(new BuiltinBackend(op, options.operation, options.signature));
}

}  // namespace ferry
