#include "core/signature.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/error_text.h"

namespace ferry {

int FindTensor(const std::vector<TensorSpec>& specs, const std::string& name) {
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

absl::Status CheckShape(const TensorSpec& spec, const Tensor& t, absl::string_view model) {
  if (t.shape.size() != spec.shape.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(error_text::InputShape(t.name, model, spec.shape, t.shape), " (rank ",
                     t.shape.size(), ", expected ", spec.shape.size(), ")"));
  }
  for (size_t d = 0; d < spec.shape.size(); ++d) {
    if (t.shape[d] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': dimension ", d,
                                                     " is negative (", t.shape[d], ")"));
    }
    if (spec.shape[d] >= 0 && t.shape[d] != spec.shape[d]) {
      return absl::InvalidArgumentError(absl::StrCat(
          error_text::InputShape(t.name, model, spec.shape, t.shape), " (dimension ", d, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ValidateInputs(const ModelSignature& sig, std::vector<Tensor>& inputs,
                                       absl::string_view model) {
  std::vector<Tensor*> ordered(sig.inputs.size(), nullptr);
  for (Tensor& t : inputs) {
    const int idx = FindTensor(sig.inputs, t.name);
    if (idx < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(error_text::UnexpectedInput(t.name, model), "; the model takes ",
                       [&] {
                         std::string names;
                         for (const auto& s : sig.inputs) {
                           absl::StrAppend(&names, names.empty() ? "" : ", ", "'", s.name, "'");
                         }
                         return names;
                       }()));
    }
    if (ordered[idx] != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' is given twice"));
    }
    ordered[idx] = &t;
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (ordered[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(error_text::InputCount(sig.inputs.size(), inputs.size(), model),
                       ": missing input '", sig.inputs[i].name, "'"));
    }
  }
  int64_t batch = -1;
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    const Tensor& t = *ordered[i];
    if (t.dtype != spec.dtype) {
      return absl::InvalidArgumentError(error_text::InputDataType(
          t.name, DataTypeName(t.dtype), model, DataTypeName(spec.dtype)));
    }
    FERRY_RETURN_IF_ERROR(CheckShape(spec, t, model));
    const int64_t rows = t.shape.empty() ? 1 : t.shape[0];
    if (rows < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "': batch dimension must be at least 1"));
    }
    if (rows > sig.max_batch_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(error_text::BatchSize(sig.max_batch_size, model), ": input '", t.name,
                       "' has batch size ", rows));
    }
    if (batch >= 0 && rows != batch) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': batch size ", rows,
                                                     " differs from the other inputs' ", batch));
    }
    batch = rows;
    FERRY_RETURN_IF_ERROR(CheckByteSize(t));
  }
  std::vector<Tensor> reordered;
  reordered.reserve(ordered.size());
  for (Tensor* t : ordered) reordered.push_back(std::move(*t));
  inputs = std::move(reordered);
  return batch;
}

absl::Status ValidateRequestedOutputs(const ModelSignature& sig, absl::string_view model,
                                      const std::vector<RequestedOutput>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const RequestedOutput& out = outputs[i];
    const int idx = FindTensor(sig.outputs, out.name);
    if (idx < 0) {
      return absl::InvalidArgumentError(error_text::UnexpectedOutput(out.name, model));
    }
    for (size_t j = 0; j < i; ++j) {
      if (outputs[j].name == out.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", out.name, "' is requested twice"));
      }
    }
    if (out.classification < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", out.name, "': classification must be a positive integer"));
    }
    if (out.classification > 0) {
      const TensorSpec& spec = sig.outputs[idx];
      if (spec.dtype == DataType::kBytes || spec.dtype == DataType::kBool) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output '", out.name, "': classification needs a numeric output, not ",
            DataTypeName(spec.dtype)));
      }
      const int64_t classes = spec.shape.empty() ? -1 : spec.shape.back();
      if (classes > 0 && out.classification > classes) {
        return absl::InvalidArgumentError(
            absl::StrCat("output '", out.name, "': classification ", out.classification,
                         " asks for more than the ", classes, " classes the model has"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ferry
