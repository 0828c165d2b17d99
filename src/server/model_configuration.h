// The model configuration extension: a model version's config.toml in the shape of Triton's
// ModelConfig message (model_config.proto), for `GET /v2/models/{m}[/versions/{v}]/config`
// and gRPC ModelConfig. Filled here once; api/http writes it as JSON and api/grpc as the
// proto, field for field, so the two transports cannot disagree. docs/api.md has the
// mapping table and what each choice means for Triton's clients.
#ifndef FERRY_SERVER_MODEL_CONFIGURATION_H_
#define FERRY_SERVER_MODEL_CONFIGURATION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/signature.h"
#include "repository/model_config.h"

namespace ferry {

// ModelInput / ModelOutput. Enum values are held by their proto names.
struct TritonTensorConfig {
  std::string name;
  std::string data_type;      // "TYPE_FP32"; BYTES is "TYPE_STRING", as Triton names it
  std::vector<int64_t> dims;  // without the batch dimension; -1 = variable
  std::string format = "FORMAT_NONE";  // inputs only
  std::string label_filename;          // outputs only; empty when the output has no labels
};

// ModelEnsembling.Step: one member of an ensemble or one stage of a cascade.
struct TritonEnsembleStep {
  std::string model_name;
  int64_t model_version = -1;  // -1 follows the model (its default version); N is pinned
  // Model input -> ensemble tensor: every member takes the composite's inputs unchanged.
  std::vector<std::pair<std::string, std::string>> input_map;
};

struct TritonModelConfig {
  std::string name;
  std::string platform;  // "pytorch_libtorch", "xgboost" or "ensemble"
  std::string backend;   // "pytorch", "xgboost"; empty for composites, as Triton's ensembles
  int32_t max_batch_size = 0;
  std::vector<TritonTensorConfig> inputs;
  std::vector<TritonTensorConfig> outputs;
  // scheduling_choice is a oneof: composites have ensemble steps, the others dynamic batching.
  bool is_ensemble = false;
  std::vector<TritonEnsembleStep> ensemble_steps;
  std::vector<int32_t> preferred_batch_sizes;
  uint64_t max_queue_delay_us = 0;
  uint32_t max_queue_size = 0;  // default_queue_policy.max_queue_size
  // instance_group: one KIND_CPU group named after the model; 0 (composites) = none.
  int32_t instance_count = 0;
  // version_policy is always { all {} }: Ferry serves every version folder on disk.
  // parameters: string values ("ferry_platform", "mc_dropout_passes"), in this order.
  std::vector<std::pair<std::string, std::string>> parameters;
};

// Triton's DataType enum name for a datatype: "TYPE_" + the V2 name, but "TYPE_STRING" for
// BYTES.
std::string TritonDataTypeName(DataType dtype);

// `config` (one version's, overrides applied) as Triton's ModelConfig. `signature` is what
// the version answers: the config's own, or with the calibrated outputs of a calibrated
// version. REQUIRES: max_batch_size >= 1 and every shape starts with the batch dimension
// (ParseModelConfig checks both).
TritonModelConfig ToTritonModelConfig(const ModelConfig& config, const ModelSignature& signature);

}  // namespace ferry

#endif  // FERRY_SERVER_MODEL_CONFIGURATION_H_
