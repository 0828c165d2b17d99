#include "repository/model_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

namespace ferry {
namespace {

constexpr absl::string_view kPlatforms[] = {"torchscript", "xgboost", "builtin", "ensemble", "cascade"};
constexpr size_t kMaxCascadeStages = 8;  // as many as the metrics track
// Each batch runs as one forward of passes x rows, so this bounds that forward's size.
constexpr int64_t kMaxMcDropoutPasses = 256;

// Builds errors of the form "<file>: <key>: <problem>".
class ConfigErrors {
 public:
  explicit ConfigErrors(absl::string_view source) : source_(source) {}
  absl::Status operator()(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", key, ": ", problem));
  }

 private:
  std::string source_;
};

absl::Status CheckKnownKeys(const toml::table& table, const std::set<std::string>& known,
                            absl::string_view prefix, const ConfigErrors& err) {
  for (const auto& [key, value] : table) {
    if (known.count(std::string(key.str())) == 0) {
      return err(absl::StrCat(prefix, std::string(key.str())), "unknown key");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> GetInt(const toml::table& table, std::string_view key,
                               absl::string_view path, int64_t fallback, int64_t min,
                               const ConfigErrors& err) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return fallback;
  const auto value = node->value<int64_t>();
  if (!node->is_integer() || !value) return err(path, "must be an integer");
  if (*value < min) return err(path, absl::StrCat("must be at least ", min, "; was ", *value));
  return *value;
}

absl::StatusOr<std::vector<int64_t>> GetIntList(const toml::table& table, std::string_view key,
                                                absl::string_view path, int64_t min,
                                                const ConfigErrors& err) {
  std::vector<int64_t> out;
  const toml::node* node = table.get(key);
  if (node == nullptr) return out;
  const toml::array* array = node->as_array();
  if (array == nullptr) return err(path, "must be an array of integers");
  for (const toml::node& item : *array) {
    const auto value = item.value<int64_t>();
    if (!item.is_integer() || !value) return err(path, "must be an array of integers");
    if (*value < min) return err(path, absl::StrCat("values must be at least ", min, "; found ", *value));
    out.push_back(*value);
  }
  return out;
}

absl::StatusOr<std::vector<TensorSpec>> GetTensors(const toml::table& root, const std::string& key,
                                                   int64_t max_batch_size,
                                                   const ConfigErrors& err) {
  const toml::node* node = root.get(key);
  if (node == nullptr) return err(key, "is required: give at least one [[" + std::string(key) + "]]");
  const toml::array* array = node->as_array();
  if (array == nullptr || array->empty()) {
    return err(key, absl::StrCat("must be a non-empty array of tables ([[", key, "]])"));
  }
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < array->size(); ++i) {
    const std::string path = absl::StrCat(key, "[", i, "]");
    const toml::table* t = (*array)[i].as_table();
    if (t == nullptr) return err(path, "must be a table with name, datatype and shape");
    FERRY_RETURN_IF_ERROR(
        CheckKnownKeys(*t, {"name", "datatype", "shape", "format"}, path + ".", err));
    TensorSpec spec;
    const auto name = t->get("name") ? t->get("name")->value<std::string>() : std::nullopt;
    if (!name || name->empty()) return err(path + ".name", "is required and must be a non-empty string");
    spec.name = *name;
    for (const auto& other : specs) {
      if (other.name == spec.name) return err(path + ".name", "'" + spec.name + "' appears twice");
    }
    const auto dtype = t->get("datatype") ? t->get("datatype")->value<std::string>() : std::nullopt;
    if (!dtype) return err(path + ".datatype", "is required (e.g. \"FP32\")");
    spec.dtype = ParseDataType(*dtype);
    if (spec.dtype == DataType::kInvalid) {
      return err(path + ".datatype", absl::StrCat("unknown datatype \"", *dtype, "\""));
    }
    if (t->get("shape") == nullptr) return err(path + ".shape", "is required (e.g. [-1, 10])");
    FERRY_ASSIGN_OR_RETURN(spec.shape, GetIntList(*t, "shape", path + ".shape", -1, err));
    if (spec.shape.empty() || spec.shape[0] != -1) {
      return err(path + ".shape",
                 "must start with -1, the batch dimension (max_batch_size is " +
                     std::to_string(max_batch_size) + ")");
    }
    if (const toml::node* format = t->get("format")) {
      const auto value = format->value<std::string>();
      if (key != "inputs" || !value || (*value != "NCHW" && *value != "NHWC")) {
        return err(path + ".format", key != "inputs" ? "is for inputs only"
                                                     : "must be \"NCHW\" or \"NHWC\"");
      }
      spec.format = *value;
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

absl::StatusOr<double> GetDouble(const toml::table& table, std::string_view key,
                                 absl::string_view path, double fallback, const ConfigErrors& err) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return fallback;
  const auto value = node->value<double>();
  if (!(node->is_floating_point() || node->is_integer()) || !value) return err(path, "must be a number");
  return *value;
}

// [uncertainty]: optional. Only when the table is given is its logits output checked
// here; otherwise the default "logits" is checked when a calibration is loaded.
absl::Status ParseUncertainty(const toml::table& root, ModelConfig& config, const ConfigErrors& err) {
  const toml::node* node = root.get("uncertainty");
  if (node == nullptr) return absl::OkStatus();
  if (!node->is_table()) return err("uncertainty", "must be a table");
  const toml::table& t = *node->as_table();
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(
      t, {"logits", "score", "alpha", "alphas", "min_confidence"}, "uncertainty.", err));
  UncertaintyConfig& u = config.uncertainty;
  if (const toml::node* logits = t.get("logits")) {
    const auto value = logits->value<std::string>();
    if (!logits->is_string() || !value || value->empty()) {
      return err("uncertainty.logits", "must name an output");
    }
    u.logits = *value;
  }
  const int idx = FindTensor(config.signature.outputs, u.logits);
  if (idx < 0) {
    return err("uncertainty.logits", absl::StrCat("'", u.logits, "' is not one of the outputs"));
  }
  const TensorSpec& spec = config.signature.outputs[idx];
  if ((spec.dtype != DataType::kFp32 && spec.dtype != DataType::kFp64) || spec.shape.size() != 2) {
    return err("uncertainty.logits",
               absl::StrCat("output '", u.logits, "' is ", DataTypeName(spec.dtype), " ",
                            ShapeToString(spec.shape), "; logits must be FP32 or FP64 [-1, C]"));
  }
  if (const toml::node* score = t.get("score")) {
    const auto value = score->value<std::string>();
    const std::optional<ConformalScore> parsed =
        value ? ParseConformalScore(*value) : std::nullopt;
    if (!score->is_string() || !parsed) return err("uncertainty.score", "must be \"lac\" or \"aps\"");
    u.score = *parsed;
  }
  FERRY_ASSIGN_OR_RETURN(u.alpha, GetDouble(t, "alpha", "uncertainty.alpha", u.alpha, err));
  if (!(u.alpha > 0 && u.alpha < 1)) {
    return err("uncertainty.alpha", absl::StrCat("must be in (0, 1); was ", u.alpha));
  }
  if (const toml::node* alphas = t.get("alphas")) {
    const toml::array* array = alphas->as_array();
    if (array == nullptr || array->empty()) {
      return err("uncertainty.alphas", "must be a non-empty array of numbers in (0, 1)");
    }
    u.alphas.clear();
    for (const toml::node& item : *array) {
      const auto value = item.value<double>();
      if (!(item.is_floating_point() || item.is_integer()) || !value || !(*value > 0 && *value < 1)) {
        return err("uncertainty.alphas", "must be a non-empty array of numbers in (0, 1)");
      }
      u.alphas.push_back(*value);
    }
    std::sort(u.alphas.begin(), u.alphas.end());
    for (size_t i = 1; i < u.alphas.size(); ++i) {
      if (u.alphas[i] - u.alphas[i - 1] <= 1e-9) {
        return err("uncertainty.alphas", absl::StrCat(u.alphas[i], " is listed twice"));
      }
    }
  }
  bool listed = false;
  for (double a : u.alphas) listed |= std::abs(a - u.alpha) <= 1e-9;
  if (!listed) {
    return err("uncertainty.alpha",
               absl::StrCat(u.alpha, " must be one of uncertainty.alphas, the calibrated levels"));
  }
  FERRY_ASSIGN_OR_RETURN(u.min_confidence, GetDouble(t, "min_confidence", "uncertainty.min_confidence",
                                                     u.min_confidence, err));
  if (!(u.min_confidence >= 0 && u.min_confidence <= 1)) {
    return err("uncertainty.min_confidence", absl::StrCat("must be in [0, 1]; was ", u.min_confidence));
  }
  return absl::OkStatus();
}

// One member of a composite: "name", or { model = "name", version = N } with N >= 1.
absl::StatusOr<ModelRef> ParseMember(const toml::node& item, const std::string& path,
                                     const ConfigErrors& err) {
  constexpr char kForm[] = "must be a model name or { model = \"name\", version = N }";
  ModelRef member;
  if (const toml::table* t = item.as_table()) {
    FERRY_RETURN_IF_ERROR(CheckKnownKeys(*t, {"model", "version"}, path + ".", err));
    const toml::node* model = t->get("model");
    if (model == nullptr || !model->is_string()) return err(path + ".model", "must be a model name");
    member.model = *model->value<std::string>();
    FERRY_ASSIGN_OR_RETURN(member.version, GetInt(*t, "version", path + ".version", 0, 1, err));
  } else if (item.is_string()) {
    member.model = *item.value<std::string>();
  } else {
    return err(path, kForm);
  }
  if (member.model.empty()) return err(path, kForm);
  return member;
}

// [ensemble] members = [...] or [cascade] stages = [...], min_confidence, alpha: required
// for those platforms and refused for the others.
absl::Status ParseComposite(const toml::table& root, ModelConfig& config, const ConfigErrors& err) {
  for (const char* kind : {"ensemble", "cascade"}) {
    if (root.get(kind) != nullptr && config.platform != kind) {
      return err(kind, absl::StrCat("is only for platform \"", kind, "\""));
    }
  }
  if (!config.is_composite()) return absl::OkStatus();
  const bool cascade = config.platform == "cascade";
  const std::string table_name = config.platform;
  const std::string list_key = cascade ? "stages" : "members";
  const std::string list_path = absl::StrCat(table_name, ".", list_key);
  const toml::node* node = root.get(table_name);
  if (node == nullptr || !node->is_table()) {
    return err(table_name, absl::StrCat("is required for platform \"", table_name, "\", with ",
                                        list_key, " = [model names]"));
  }
  const toml::table& t = *node->as_table();
  if (cascade) {
    FERRY_RETURN_IF_ERROR(CheckKnownKeys(t, {"stages", "min_confidence", "alpha"}, "cascade.", err));
  } else {
    FERRY_RETURN_IF_ERROR(CheckKnownKeys(t, {"members"}, "ensemble.", err));
  }
  const toml::array* list = t.get(list_key) ? t.get(list_key)->as_array() : nullptr;
  const size_t least = cascade ? 2 : 1;
  if (list == nullptr || list->size() < least) {
    return err(list_path, absl::StrCat("must list at least ", least, " model names"));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(ModelRef member,
                           ParseMember(*list->get(i), absl::StrCat(list_path, "[", i, "]"), err));
    if (member.model == config.name) return err(list_path, "must not name the model itself");
    config.composite.members.push_back(std::move(member));
  }
  if (cascade && config.composite.members.size() > kMaxCascadeStages) {
    return err(list_path, absl::StrCat("may list at most ", kMaxCascadeStages, " stages"));
  }
  if (cascade) {
    FERRY_ASSIGN_OR_RETURN(config.composite.min_confidence,
                           GetDouble(t, "min_confidence", "cascade.min_confidence", 1.0, err));
    if (!(config.composite.min_confidence > 0 && config.composite.min_confidence <= 1)) {
      return err("cascade.min_confidence", "must be in (0, 1]");
    }
    if (t.get("alpha") != nullptr) {
      FERRY_ASSIGN_OR_RETURN(const double alpha, GetDouble(t, "alpha", "cascade.alpha", 0, err));
      if (!(alpha > 0 && alpha < 1)) return err("cascade.alpha", "must be in (0, 1)");
      config.composite.alpha = alpha;
    }
  }
  return absl::OkStatus();
}

// [mc_dropout] passes = N: optional, torchscript only.
absl::Status ParseMcDropout(const toml::table& root, ModelConfig& config, const ConfigErrors& err) {
  const toml::node* node = root.get("mc_dropout");
  if (node == nullptr) return absl::OkStatus();
  if (config.platform != "torchscript") return err("mc_dropout", "is only for platform \"torchscript\"");
  if (!node->is_table()) return err("mc_dropout", "must be a table with passes = N");
  const toml::table& t = *node->as_table();
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(t, {"passes"}, "mc_dropout.", err));
  if (t.get("passes") == nullptr) return err("mc_dropout.passes", "is required (e.g. 20)");
  FERRY_ASSIGN_OR_RETURN(const int64_t passes,
                         GetInt(t, "passes", "mc_dropout.passes", 0, 2, err));
  if (passes > kMaxMcDropoutPasses) {
    return err("mc_dropout.passes",
               absl::StrCat("must be at most ", kMaxMcDropoutPasses, "; was ", passes));
  }
  config.mc_dropout.passes = static_cast<int>(passes);
  return absl::OkStatus();
}

// [builtin] operation = "...": required for platform "builtin", refused for the others.
// The backend checks the name and the signature against it when the version loads.
absl::Status ParseBuiltin(const toml::table& root, ModelConfig& config, const ConfigErrors& err) {
  const toml::node* node = root.get("builtin");
  if (config.platform != "builtin") {
    if (node != nullptr) return err("builtin", "is only for platform \"builtin\"");
    return absl::OkStatus();
  }
  constexpr char kRequired[] = "is required for platform \"builtin\", with operation = \"add_sub\", \"identity\" or \"accumulate\"";
  if (node == nullptr || !node->is_table()) return err("builtin", kRequired);
  const toml::table& t = *node->as_table();
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(t, {"operation"}, "builtin.", err));
  const toml::node* operation = t.get("operation");
  if (operation == nullptr || !operation->is_string() || operation->value<std::string>()->empty()) {
    return err("builtin.operation", "must name an operation: \"add_sub\", \"identity\" or \"accumulate\"");
  }
  config.builtin.operation = *operation->value<std::string>();
  return absl::OkStatus();
}

// [sequence]: optional; see SequenceConfig.
absl::Status ParseSequence(const toml::table& root, ModelConfig& config, const ConfigErrors& err) {
  const toml::node* node = root.get("sequence");
  if (node == nullptr) return absl::OkStatus();
  if (!node->is_table()) return err("sequence", "must be a table");
  if (config.is_composite()) return err("sequence", "is not for ensembles and cascades");
  const toml::table& t = *node->as_table();
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(
      t, {"enabled", "max_sequences", "idle_timeout_ms", "state", "state_input", "state_output",
          "state_datatype", "state_shape", "initial_state"},
      "sequence.", err));
  SequenceConfig& q = config.sequence;
  q.enabled = true;
  if (const toml::node* enabled = t.get("enabled")) {
    if (!enabled->is_boolean()) return err("sequence.enabled", "must be true or false");
    q.enabled = *enabled->value<bool>();
  }
  FERRY_ASSIGN_OR_RETURN(q.max_sequences, GetInt(t, "max_sequences", "sequence.max_sequences",
                                                 q.max_sequences, 1, err));
  FERRY_ASSIGN_OR_RETURN(q.idle_timeout_ms, GetInt(t, "idle_timeout_ms", "sequence.idle_timeout_ms",
                                                   q.idle_timeout_ms, 1, err));
  constexpr int64_t kMaxSequences = 1 << 20;
  constexpr int64_t kMaxIdleMs = int64_t{1} << 40;  // about 35 years; keeps nanoseconds in range
  if (q.max_sequences > kMaxSequences) {
    return err("sequence.max_sequences", absl::StrCat("must be at most ", kMaxSequences));
  }
  if (q.idle_timeout_ms > kMaxIdleMs) {
    return err("sequence.idle_timeout_ms", absl::StrCat("must be at most ", kMaxIdleMs));
  }
  if (const toml::node* state = t.get("state")) {
    if (!state->is_string() || *state->value<std::string>() != "implicit") {
      return err("sequence.state", "must be \"implicit\" (Ferry holds each sequence's state)");
    }
  }
  const auto name = [&](const char* key) -> absl::StatusOr<std::string> {
    const std::string path = absl::StrCat("sequence.", key);
    const toml::node* n = t.get(key);
    if (n == nullptr || !n->is_string() || n->value<std::string>()->empty()) {
      return err(path, "is required: the name of the model's state tensor");
    }
    const std::string value = *n->value<std::string>();
    if (FindTensor(config.signature.inputs, value) >= 0 ||
        FindTensor(config.signature.outputs, value) >= 0) {
      return err(path, absl::StrCat("'", value, "' must not be one of [[inputs]] or [[outputs]]: "
                                    "clients never send or see the state"));
    }
    return value;
  };
  FERRY_ASSIGN_OR_RETURN(q.state_input.name, name("state_input"));
  FERRY_ASSIGN_OR_RETURN(q.state_output, name("state_output"));
  const auto dtype = t.get("state_datatype") ? t.get("state_datatype")->value<std::string>() : std::nullopt;
  if (!dtype) return err("sequence.state_datatype", "is required (e.g. \"INT32\")");
  q.state_input.dtype = ParseDataType(*dtype);
  if (q.state_input.dtype == DataType::kInvalid || q.state_input.dtype == DataType::kBytes) {
    return err("sequence.state_datatype",
               absl::StrCat("must be a numeric or BOOL datatype; was \"", *dtype, "\""));
  }
  if (t.get("state_shape") == nullptr) return err("sequence.state_shape", "is required (e.g. [-1, 1])");
  FERRY_ASSIGN_OR_RETURN(q.state_input.shape, GetIntList(t, "state_shape", "sequence.state_shape", -1, err));
  if (q.state_input.shape.empty() || q.state_input.shape[0] != -1) {
    return err("sequence.state_shape", "must start with -1, the batch dimension");
  }
  for (size_t d = 1; d < q.state_input.shape.size(); ++d) {
    if (q.state_input.shape[d] < 0) {
      return err("sequence.state_shape", "must be fixed past the batch dimension (no -1)");
    }
  }
  FERRY_ASSIGN_OR_RETURN(q.initial_state, GetDouble(t, "initial_state", "sequence.initial_state", 0, err));
  return absl::OkStatus();
}

absl::StatusOr<toml::table> ParseToml(absl::string_view text, absl::string_view source) {
  try {
    return toml::parse(std::string_view(text.data(), text.size()),
                       std::string_view(source.data(), source.size()));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.source().begin.line, ":",
                                                   e.source().begin.column, ": ", std::string(e.description())));
  }
}

// Writes `over` onto `base`: tables merge key by key, anything else (values, arrays,
// arrays of tables such as [[inputs]]) replaces what was there.
void Overlay(toml::table& base, const toml::table& over) {
  for (const auto& [key, node] : over) {
    toml::node* mine = base.get(key);
    if (mine != nullptr && mine->is_table() && node.is_table()) {
      Overlay(*mine->as_table(), *node.as_table());
    } else {
      base.insert_or_assign(key, node);
    }
  }
}

absl::StatusOr<std::string> ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<ModelConfig> ParseConfigTable(const toml::table& root, absl::string_view source,
                                             absl::string_view model_name) {
  const ConfigErrors err(source);
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(
      root, {"platform", "max_batch_size", "labels", "inputs", "outputs", "batching", "execution",
             "uncertainty", "ensemble", "cascade", "mc_dropout", "builtin", "sequence"},
      "", err));

  ModelConfig config;
  config.name = std::string(model_name);
  const auto platform = root.get("platform") ? root.get("platform")->value<std::string>() : std::nullopt;
  if (!platform) {
    return err("platform", "is required (\"torchscript\", \"xgboost\", \"builtin\", \"ensemble\" or \"cascade\")");
  }
  bool known = false;
  for (absl::string_view p : kPlatforms) known |= (p == *platform);
  if (!known) {
    return err("platform", absl::StrCat("unknown platform \"", *platform,
                                        "\"; expected \"torchscript\", \"xgboost\", \"builtin\", \"ensemble\" or \"cascade\""));
  }
  config.platform = *platform;

  FERRY_ASSIGN_OR_RETURN(config.signature.max_batch_size,
                         GetInt(root, "max_batch_size", "max_batch_size", 8, 1, err));
  if (const toml::node* labels = root.get("labels")) {
    const auto value = labels->value<std::string>();
    if (!value || value->empty()) return err("labels", "must be a file name");
    config.labels_file = *value;
  }
  FERRY_ASSIGN_OR_RETURN(config.signature.inputs,
                         GetTensors(root, "inputs", config.signature.max_batch_size, err));
  FERRY_ASSIGN_OR_RETURN(config.signature.outputs,
                         GetTensors(root, "outputs", config.signature.max_batch_size, err));

  static const toml::table kEmpty;
  const toml::node* batching_node = root.get("batching");
  if (batching_node != nullptr && !batching_node->is_table()) return err("batching", "must be a table");
  const toml::table& batching = batching_node ? *batching_node->as_table() : kEmpty;
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(
      batching, {"max_queue_delay_us", "preferred_batch_sizes", "max_queue_size"}, "batching.", err));
  BatchingConfig& b = config.batching;
  FERRY_ASSIGN_OR_RETURN(b.max_queue_delay_us,
                         GetInt(batching, "max_queue_delay_us", "batching.max_queue_delay_us",
                                b.max_queue_delay_us, 0, err));
  FERRY_ASSIGN_OR_RETURN(b.preferred_batch_sizes,
                         GetIntList(batching, "preferred_batch_sizes",
                                    "batching.preferred_batch_sizes", 1, err));
  for (int64_t size : b.preferred_batch_sizes) {
    if (size > config.signature.max_batch_size) {
      return err("batching.preferred_batch_sizes",
                 absl::StrCat(size, " exceeds max_batch_size ", config.signature.max_batch_size));
    }
  }
  FERRY_ASSIGN_OR_RETURN(b.max_queue_size, GetInt(batching, "max_queue_size",
                                                  "batching.max_queue_size", b.max_queue_size, 1, err));

  const toml::node* execution_node = root.get("execution");
  if (execution_node != nullptr && !execution_node->is_table()) return err("execution", "must be a table");
  const toml::table& execution = execution_node ? *execution_node->as_table() : kEmpty;
  FERRY_RETURN_IF_ERROR(CheckKnownKeys(
      execution, {"workers", "intra_op_threads", "warmup_batch_sizes"}, "execution.", err));
  ExecutionConfig& e = config.execution;
  FERRY_ASSIGN_OR_RETURN(int64_t workers,
                         GetInt(execution, "workers", "execution.workers", e.workers, 1, err));
  FERRY_ASSIGN_OR_RETURN(int64_t threads, GetInt(execution, "intra_op_threads",
                                                 "execution.intra_op_threads", e.intra_op_threads, 1, err));
  if (workers > 64) return err("execution.workers", absl::StrCat("must be at most 64; was ", workers));
  if (threads > 256) return err("execution.intra_op_threads", absl::StrCat("must be at most 256; was ", threads));
  e.workers = static_cast<int>(workers);
  e.intra_op_threads = static_cast<int>(threads);
  // "all": every size from 1 to max_batch_size. The first forward at each new batch size
  // sets up kernels for that shape (oneDNN's convolutions do), and a batcher or a cascade
  // can send any size.
  const toml::node* warmup = execution.get("warmup_batch_sizes");
  if (warmup != nullptr && warmup->is_string()) {
    if (warmup->value<std::string>() != "all") {
      return err("execution.warmup_batch_sizes", "must be an array of integers or \"all\"");
    }
    for (int64_t size = 1; size <= config.signature.max_batch_size; ++size) {
      e.warmup_batch_sizes.push_back(size);
    }
  } else {
    FERRY_ASSIGN_OR_RETURN(e.warmup_batch_sizes,
                           GetIntList(execution, "warmup_batch_sizes", "execution.warmup_batch_sizes", 1, err));
  }
  for (int64_t size : e.warmup_batch_sizes) {
    if (size > config.signature.max_batch_size) {
      return err("execution.warmup_batch_sizes",
                 absl::StrCat(size, " exceeds max_batch_size ", config.signature.max_batch_size));
    }
  }
  if (e.warmup_batch_sizes.empty()) {
    e.warmup_batch_sizes.push_back(1);
    if (config.signature.max_batch_size > 1) e.warmup_batch_sizes.push_back(config.signature.max_batch_size);
  }
  FERRY_RETURN_IF_ERROR(ParseUncertainty(root, config, err));
  FERRY_RETURN_IF_ERROR(ParseComposite(root, config, err));
  FERRY_RETURN_IF_ERROR(ParseMcDropout(root, config, err));
  FERRY_RETURN_IF_ERROR(ParseBuiltin(root, config, err));
  FERRY_RETURN_IF_ERROR(ParseSequence(root, config, err));
  return config;
}

}  // namespace

ModelSignature ExecutionSignature(const ModelConfig& config) {
  ModelSignature sig = config.signature;
  if (!config.sequence.enabled) return sig;
  sig.inputs.push_back(config.sequence.state_input);
  TensorSpec out = config.sequence.state_input;
  out.name = config.sequence.state_output;
  sig.outputs.push_back(std::move(out));
  return sig;
}

absl::StatusOr<ModelConfig> ParseModelConfig(absl::string_view text, absl::string_view source,
                                             absl::string_view model_name) {
  FERRY_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  return ParseConfigTable(root, source, model_name);
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir,
                                            const std::string& version_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path path = dir / "config.toml";
  FERRY_ASSIGN_OR_RETURN(std::string text, ReadText(path));
  FERRY_ASSIGN_OR_RETURN(toml::table root, ParseToml(text, path.string()));
  std::string source = path.string();
  if (!version_dir.empty()) {
    const fs::path override_path = fs::path(version_dir) / "config.toml";
    std::error_code ec;
    if (fs::exists(override_path, ec)) {
      FERRY_ASSIGN_OR_RETURN(std::string override_text, ReadText(override_path));
      FERRY_ASSIGN_OR_RETURN(toml::table over, ParseToml(override_text, override_path.string()));
      Overlay(root, over);
      source = absl::StrCat(path.string(), " with ", override_path.string());
    }
  }
  FERRY_ASSIGN_OR_RETURN(ModelConfig config, ParseConfigTable(root, source, dir.filename().string()));
  if (!config.labels_file.empty()) {
    const fs::path labels_path = dir / config.labels_file;
    std::ifstream labels(labels_path);
    if (!labels) {
      return absl::NotFoundError(absl::StrCat(path.string(), ": labels: cannot open ",
                                              labels_path.string()));
    }
    std::string line;
    while (std::getline(labels, line)) {
      config.signature.labels.emplace_back(absl::StripTrailingAsciiWhitespace(line));
    }
  }
  return config;
}

}  // namespace ferry
