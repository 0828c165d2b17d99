#include "server/model_configuration.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

// The protocol's platform names, as Triton's own model configurations spell them.
void SetPlatform(const ModelConfig& config, TritonModelConfig& out) {
  if (config.platform == "torchscript") {
    out.platform = "pytorch_libtorch";
    out.backend = "pytorch";
  } else if (config.is_composite()) {
    // A cascade is a composite of other served models too: Triton has no closer word, and
    // clients that walk an ensemble's steps (perf_analyzer's composing models) find the
    // stages there. parameters["ferry_platform"] tells the two apart.
    out.platform = "ensemble";
  } else {
    // Triton serves XGBoost through its FIL backend ("fil"); Ferry runs XGBoost's own C
    // API, so it names that, as its model metadata does.
    out.platform = config.platform;
    out.backend = config.platform;
  }
}

TritonTensorConfig TensorConfig(const TensorSpec& spec) {
  TritonTensorConfig t;
  t.name = spec.name;
  t.data_type = TritonDataTypeName(spec.dtype);
  if (!spec.format.empty()) t.format = "FORMAT_" + spec.format;
  // shape[0] is the batch dimension, which max_batch_size >= 1 implies (Triton's rule).
  t.dims.assign(spec.shape.begin() + (spec.shape.empty() ? 0 : 1), spec.shape.end());
  return t;
}

int32_t ClampInt32(int64_t v) {
  return static_cast<int32_t>(std::min<int64_t>(v, std::numeric_limits<int32_t>::max()));
}

}  // namespace

std::string TritonDataTypeName(DataType dtype) {
  if (dtype == DataType::kBytes) return "TYPE_STRING";
  if (dtype == DataType::kInvalid) return "TYPE_INVALID";
  return absl::StrCat("TYPE_", DataTypeName(dtype));
}

TritonModelConfig ToTritonModelConfig(const ModelConfig& config, const ModelSignature& signature) {
  TritonModelConfig out;
  out.name = config.name;
  SetPlatform(config, out);
  out.max_batch_size = ClampInt32(signature.max_batch_size);
  for (const TensorSpec& spec : signature.inputs) out.inputs.push_back(TensorConfig(spec));
  for (const TensorSpec& spec : signature.outputs) {
    TritonTensorConfig t = TensorConfig(spec);
    // The labels name classes, so they belong to the outputs with one score per class.
    const size_t classes = signature.labels.size();
    if (!config.labels_file.empty() && classes > 0 && t.dims.size() == 1 &&
        t.dims[0] == static_cast<int64_t>(classes)) {
      t.label_filename = config.labels_file;
    }
    out.outputs.push_back(std::move(t));
  }
  if (config.is_composite()) {
    out.is_ensemble = true;
    for (const ModelRef& member : config.composite.members) {
      TritonEnsembleStep step;
      step.model_name = member.model;
      step.model_version = member.version == 0 ? -1 : member.version;
      for (const TensorSpec& in : signature.inputs) step.input_map.emplace_back(in.name, in.name);
      out.ensemble_steps.push_back(std::move(step));
    }
  } else {
    for (int64_t size : config.batching.preferred_batch_sizes) {
      out.preferred_batch_sizes.push_back(ClampInt32(size));
    }
    out.max_queue_delay_us = static_cast<uint64_t>(config.batching.max_queue_delay_us);
    out.max_queue_size = static_cast<uint32_t>(std::min<int64_t>(
        config.batching.max_queue_size, std::numeric_limits<uint32_t>::max()));
    out.instance_count = config.execution.workers;
  }
  out.parameters.emplace_back("ferry_platform", config.platform);
  if (config.mc_dropout.passes > 0) {
    out.parameters.emplace_back("mc_dropout_passes", std::to_string(config.mc_dropout.passes));
  }
  return out;
}

}  // namespace ferry
