// One model served in process by InferenceServer, for the commands that push a data set
// through the exact serving path (`ferry calibrate`, `ferry evaluate`): same config
// parsing, backend, optimization, batcher and post-processing as `ferry serve`, without
// the network.
#ifndef FERRY_CLI_LOCAL_MODEL_H_
#define FERRY_CLI_LOCAL_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "core/infer.h"
#include "repository/model_config.h"
#include "server/inference_server.h"
#include "uncertainty/labeled_set.h"

namespace ferry {

struct LocalModelOptions {
  std::string repository = "models";
  std::string model;
  std::string version;  // empty: the version the server answers with by default
  std::string quantized_engine = "onednn";
  bool load_calibration = true;
};

class LocalModel {
 public:
  // Loads only `options.model`, then sends `probe` (one row of the data) to check that the
  // version serves and to learn which version answers. Errors name the model and say why
  // it is not ready.
  static absl::StatusOr<std::unique_ptr<LocalModel>> Open(const LocalModelOptions& options,
                                                          const Tensor& probe);

  const ModelConfig& config() const { return config_; }
  // The version that answered the probe, e.g. "1".
  const std::string& version() const { return version_; }
  // <repository>/<model>/<version>
  std::string VersionPath() const;
  InferenceServer& server() { return *server_; }

  // Runs one request on that version and waits for it. `wall_ns` (may be null) gets the
  // time from the Infer call to its callback.
  absl::StatusOr<InferResponse> Infer(InferRequest request, int64_t* wall_ns = nullptr);

 private:
  LocalModel() = default;

  LocalModelOptions options_;
  ModelConfig config_;
  std::string version_;
  std::unique_ptr<InferenceServer> server_;
};

// Reads a labeled set for `model`'s single input, naming the file in every error and
// saying how to make the bundled Fashion-MNIST splits when it is missing.
absl::StatusOr<LabeledSet> ReadDataFor(const std::string& path);

// A model opened for a labeled set: its config, its single input, the class count of its
// logits, and the model itself, serving.
struct OpenedForData {
  ModelConfig config;
  TensorSpec input;
  int64_t classes = 0;
  std::unique_ptr<LocalModel> local;
};

// Checks `data` (read from `data_path`) against the model's config before loading anything
// heavy, then opens the model with the set's first row as its probe.
absl::StatusOr<OpenedForData> OpenForData(const LocalModelOptions& options, const LabeledSet& data,
                                          const std::string& data_path);

// What `ferry calibrate` and `ferry evaluate` both take on the command line.
struct LocalCommandFlags {
  std::string model_repository = "models";
  std::string model;
  std::string version;
  std::string data;
  std::string quantized_engine = "onednn";
  std::string log_level = "warn";

  // The model to open, as these flags name it.
  LocalModelOptions ModelOptions() const;
};

// Adds --model-repository, --model, --version, --data (`data_example` shows a file in its
// help), --quantized-engine and --log-level to `cmd`, writing into `flags`.
void AddLocalCommandFlags(CLI::App& cmd, LocalCommandFlags& flags, const std::string& data_example);

// Makes `run` (once `cmd` is chosen) log the server's lines to stderr at `log_level` and
// run `command`, printing its error as "ferry <cmd's name>: ..." and exiting 1 on failure.
// Reports go to stdout, so scripts can read them apart from the log.
void SetLocalCommandRun(CLI::App& cmd, std::function<int()>& run, const std::string* log_level,
                        std::function<absl::Status()> command);

// The model's single input, or InvalidArgument when it has several.
absl::StatusOr<TensorSpec> SingleInput(const ModelConfig& config);

// The class count of the config's [uncertainty] logits output: its last dimension, or
// `fallback` when that is -1. InvalidArgument when the output is missing or is not
// FP32 / FP64 [-1, C].
absl::StatusOr<int64_t> LogitClasses(const ModelConfig& config, int64_t fallback);

// Appends the values of an FP32 or FP64 [rows, classes] tensor to `out` as doubles.
// Internal error for another datatype or shape.
absl::Status AppendScores(const Tensor& t, int64_t classes, std::vector<double>& out);

// The output called `name` in `response`, or Internal.
absl::StatusOr<const Tensor*> FindOutput(const InferResponse& response, const std::string& name);

}  // namespace ferry

#endif  // FERRY_CLI_LOCAL_MODEL_H_
