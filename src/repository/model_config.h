// A model's config.toml, parsed and checked. Every key has a default documented in
// docs/repository.md; an error names the file, the key and the problem.
#ifndef FERRY_REPOSITORY_MODEL_CONFIG_H_
#define FERRY_REPOSITORY_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/infer.h"
#include "core/signature.h"
#include "uncertainty/uncertainty_config.h"

namespace ferry {

struct BatchingConfig {
  int64_t max_queue_delay_us = 100;
  std::vector<int64_t> preferred_batch_sizes;  // empty: none preferred
  int64_t max_queue_size = 1024;
};

struct ExecutionConfig {
  int workers = 1;
  int intra_op_threads = 1;
  // Empty in the file means {1, max_batch_size}.
  std::vector<int64_t> warmup_batch_sizes;
};

// Composite models: platform "ensemble" ([ensemble] members) or "cascade" ([cascade]
// stages, cheapest first). Members are other models of the same repository, each written
// as "name" (follow the model's default version) or { model = "name", version = N }
// (pinned to version N).
struct CompositeConfig {
  std::vector<ModelRef> members;
  double min_confidence = 1.0;  // cascade: a stage also answers when its top probability is this high
  std::optional<double> alpha;  // cascade: "alpha" sent to the stages that may pass rows on
};

// [mc_dropout] (torchscript only): serve the mean of `passes` forward passes with the
// model's dropout layers active, and their disagreement as `epistemic`.
struct McDropoutConfig {
  int passes = 0;  // 0: off (one deterministic pass)
};

// [builtin] (platform "builtin" only): the operation Ferry computes itself
// (backends/builtin/builtin_backend.h).
struct BuiltinConfig {
  std::string operation;
};

// [sequence]: a stateful model (the sequence extension; scheduler/sequence_batcher.h).
// Ferry holds each sequence's state tensor between its requests ("implicit" state): the
// model takes it as its last input and returns the next one as its last output. Clients
// never see the state tensors: they are not among [[inputs]] and [[outputs]].
struct SequenceConfig {
  bool enabled = false;  // the table is present and not enabled = false
  int64_t max_sequences = 64;
  int64_t idle_timeout_ms = 60'000;
  std::string state = "implicit";  // how the state is held; the only way so far
  TensorSpec state_input;           // name, datatype, shape (batch dimension first)
  std::string state_output;         // the same datatype and shape
  double initial_state = 0;         // every element of a sequence's first state
};

struct ModelConfig {
  std::string name;      // the model's folder name
  std::string platform;  // "torchscript", "xgboost", "builtin", "ensemble" or "cascade"
  ModelSignature signature;
  std::string labels_file;  // relative to the model folder; empty when there is none
  BatchingConfig batching;
  ExecutionConfig execution;
  UncertaintyConfig uncertainty;  // [uncertainty]; see docs/uncertainty.md
  CompositeConfig composite;      // ensemble and cascade only
  McDropoutConfig mc_dropout;     // torchscript only
  BuiltinConfig builtin;          // builtin only
  SequenceConfig sequence;        // not for ensembles and cascades
  bool is_composite() const { return platform == "ensemble" || platform == "cascade"; }
};

// What the model itself computes: the config's signature, plus, for a stateful model,
// the state input and output after the others.
ModelSignature ExecutionSignature(const ModelConfig& config);

// Parses config text. `source` names the file in error messages. Does not read the labels
// file (see LoadModelConfig). Errors are InvalidArgument.
absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source,
                                             absl::string_view model_name);

// Reads <model_dir>/config.toml and, if it names one, the labels file (one label a line).
// With `version_dir`, a <version_dir>/config.toml (when there is one) overrides the model's:
// its tables merge into the model's key by key, and any other value (a number, an array,
// the [[inputs]] list) replaces the model's. The result is checked as one file would be.
// Errors: NotFound for a missing file, InvalidArgument for bad contents.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir,
                                            const std::string& version_dir = "");

}  // namespace ferry

#endif  // FERRY_REPOSITORY_MODEL_CONFIG_H_
