#include "server/config_override.h"

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/json.hpp"
#include "common/status_macros.h"
#include "json/reader.h"
#include "repository/model_config.h"

namespace ferry {
namespace {

namespace json = boost::json;

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("config.", field, ": ", problem));
}

// Integers as Triton's JSON writes them: numbers, or decimal strings for 64-bit fields.
absl::StatusOr<int64_t> Int(const json::value& v, const std::string& field) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.as_uint64());
  }
  int64_t parsed = 0;
  if (v.is_string() && absl::SimpleAtoi(std::string(v.as_string()), &parsed)) return parsed;
  return Bad(field, "must be an integer");
}

absl::StatusOr<std::string> String(const json::value& v, const std::string& field) {
  if (!v.is_string()) return Bad(field, "must be a string");
  return std::string(v.as_string());
}

absl::StatusOr<const json::object*> Object(const json::value& v, const std::string& field) {
  if (!v.is_object()) return Bad(field, "must be a JSON object");
  return &v.as_object();
}

absl::StatusOr<const json::array*> Array(const json::value& v, const std::string& field) {
  if (!v.is_array()) return Bad(field, "must be a JSON array");
  return &v.as_array();
}

absl::StatusOr<std::vector<int64_t>> IntList(const json::value& v, const std::string& field) {
  FERRY_ASSIGN_OR_RETURN(const json::array* a, Array(v, field));
  std::vector<int64_t> out;
  for (size_t i = 0; i < a->size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(int64_t n, Int((*a)[i], absl::StrCat(field, "[", i, "]")));
    out.push_back(n);
  }
  return out;
}

// Ferry's platform for a Triton platform or backend name; empty when Ferry has none.
std::string FerryPlatform(std::string_view triton) {
  if (triton == "pytorch_libtorch" || triton == "pytorch" || triton == "torchscript") {
    return "torchscript";
  }
  if (triton == "xgboost") return "xgboost";
  return "";
}

// "TYPE_FP32" -> "FP32", "TYPE_STRING" -> "BYTES"; empty when Ferry has no such type.
std::string FerryDataType(const std::string& triton) {
  if (triton == "TYPE_STRING") return "BYTES";
  if (triton.compare(0, 5, "TYPE_") != 0) return "";
  const DataType dtype = ParseDataType(absl::string_view(triton).substr(5));
  return dtype == DataType::kInvalid ? "" : std::string(DataTypeName(dtype));
}

absl::StatusOr<std::vector<TritonTensorConfig>> Tensors(const json::value& v,
                                                        const std::string& field, bool input) {
  FERRY_ASSIGN_OR_RETURN(const json::array* a, Array(v, field));
  std::vector<TritonTensorConfig> out;
  for (size_t i = 0; i < a->size(); ++i) {
    const std::string at = absl::StrCat(field, "[", i, "]");
    FERRY_ASSIGN_OR_RETURN(const json::object* o, Object((*a)[i], at));
    TritonTensorConfig t;
    for (const auto& [key, value] : *o) {
      const std::string f = absl::StrCat(at, ".", std::string(key));
      if (key == "name") {
        FERRY_ASSIGN_OR_RETURN(t.name, String(value, f));
      } else if (key == "data_type") {
        FERRY_ASSIGN_OR_RETURN(t.data_type, String(value, f));
        if (FerryDataType(t.data_type).empty()) {
          return Bad(f, absl::StrCat("'", t.data_type, "' is not a data type Ferry serves"));
        }
      } else if (key == "dims") {
        FERRY_ASSIGN_OR_RETURN(t.dims, IntList(value, f));
        for (int64_t d : t.dims) {
          if (d < 1 && d != -1) return Bad(f, "every dimension must be positive or -1");
        }
      } else if (key == "format" && input) {
        FERRY_ASSIGN_OR_RETURN(t.format, String(value, f));
        if (t.format != "FORMAT_NONE" && t.format != "FORMAT_NCHW" && t.format != "FORMAT_NHWC") {
          return Bad(f, "must be FORMAT_NONE, FORMAT_NCHW or FORMAT_NHWC");
        }
      } else if (key == "label_filename" && !input) {
        FERRY_ASSIGN_OR_RETURN(t.label_filename, String(value, f));
      } else if (key == "is_shape_tensor" || key == "allow_ragged_batch" || key == "optional" ||
                 key == "is_non_linear_format_io") {
        // Shown as false for every Ferry tensor; Ferry has none of these features.
        if (!value.is_bool() || value.as_bool()) {
          return Bad(f, "Ferry's tensors have none of Triton's shape-tensor, ragged or optional "
                        "features: only false is accepted");
        }
      } else {
        return Bad(f, "is not a field Ferry applies (name, data_type, dims, " +
                          std::string(input ? "format" : "label_filename") + ")");
      }
    }
    if (t.name.empty()) return Bad(at + ".name", "is required");
    if (t.data_type.empty()) return Bad(at + ".data_type", "is required");
    out.push_back(std::move(t));
  }
  if (out.empty()) return Bad(field, "must list at least one tensor");
  return out;
}

bool SameTensors(const std::vector<TritonTensorConfig>& a, const std::vector<TritonTensorConfig>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].data_type != b[i].data_type || a[i].dims != b[i].dims ||
        a[i].format != b[i].format || a[i].label_filename != b[i].label_filename) {
      return false;
    }
  }
  return true;
}

toml::array TomlTensors(const std::vector<TritonTensorConfig>& tensors) {
  toml::array out;
  for (const TritonTensorConfig& t : tensors) {
    toml::array shape{int64_t{-1}};
    for (int64_t d : t.dims) shape.push_back(d);
    toml::table tensor{{"name", t.name},
                       {"datatype", FerryDataType(t.data_type)},
                       {"shape", std::move(shape)}};
    if (t.format == "FORMAT_NCHW" || t.format == "FORMAT_NHWC") {
      tensor.insert_or_assign("format", t.format.substr(7));
    }
    out.push_back(std::move(tensor));
  }
  return out;
}

toml::table& SubTable(toml::table& root, std::string_view key) {
  if (!root.contains(key) || !root.get(key)->is_table()) root.insert_or_assign(key, toml::table{});
  return *root.get(key)->as_table();
}

// Everything the override may change, read from the JSON (absent fields stay unset).
struct Override {
  std::optional<std::string> platform;  // Ferry's name, from platform, backend or parameters
  std::optional<int64_t> max_batch_size;
  std::optional<std::vector<TritonTensorConfig>> inputs, outputs;
  std::optional<std::vector<int64_t>> preferred;
  std::optional<int64_t> max_queue_delay_us, max_queue_size, workers, mc_dropout_passes;
};

// Ferry's platform of a model whose configuration shows `current`.
std::string CurrentPlatform(const TritonModelConfig& current) {
  for (const auto& [key, value] : current.parameters) {
    if (key == "ferry_platform") return value;
  }
  return FerryPlatform(current.platform);
}

absl::Status ReadPlatform(const json::value& v, const std::string& field,
                          const TritonModelConfig* current, Override& out) {
  FERRY_ASSIGN_OR_RETURN(std::string name, String(v, field));
  if (name.empty()) return absl::OkStatus();
  // The model's own names (including "ensemble" for a composite) mean its platform.
  const bool own = current != nullptr && (name == current->platform || name == current->backend ||
                                          name == CurrentPlatform(*current));
  const std::string platform = own ? CurrentPlatform(*current) : FerryPlatform(name);
  if (platform.empty()) {
    return Bad(field, absl::StrCat("'", name, "' is not one Ferry serves through a load (",
                                   "pytorch_libtorch / pytorch, xgboost); ensembles and cascades "
                                   "are configured in config.toml"));
  }
  if (out.platform && *out.platform != platform) {
    return Bad(field, absl::StrCat("'", name, "' disagrees with the platform named before"));
  }
  out.platform = platform;
  return absl::OkStatus();
}

absl::Status ReadBatching(const json::value& v, Override& out) {
  FERRY_ASSIGN_OR_RETURN(const json::object* o, Object(v, "dynamic_batching"));
  for (const auto& [key, value] : *o) {
    const std::string f = absl::StrCat("dynamic_batching.", std::string(key));
    if (key == "preferred_batch_size") {
      FERRY_ASSIGN_OR_RETURN(out.preferred, IntList(value, f));
    } else if (key == "max_queue_delay_microseconds") {
      FERRY_ASSIGN_OR_RETURN(out.max_queue_delay_us, Int(value, f));
    } else if (key == "default_queue_policy") {
      FERRY_ASSIGN_OR_RETURN(const json::object* q, Object(value, f));
      for (const auto& [qkey, qvalue] : *q) {
        const std::string qf = absl::StrCat(f, ".", std::string(qkey));
        if (qkey != "max_queue_size") return Bad(qf, "is not a field Ferry applies");
        FERRY_ASSIGN_OR_RETURN(out.max_queue_size, Int(qvalue, qf));
      }
    } else {
      return Bad(f, "is not a field Ferry applies (preferred_batch_size, "
                    "max_queue_delay_microseconds, default_queue_policy.max_queue_size)");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadInstances(const json::value& v, Override& out) {
  FERRY_ASSIGN_OR_RETURN(const json::array* groups, Array(v, "instance_group"));
  int64_t workers = 0;
  for (size_t i = 0; i < groups->size(); ++i) {
    const std::string at = absl::StrCat("instance_group[", i, "]");
    FERRY_ASSIGN_OR_RETURN(const json::object* g, Object((*groups)[i], at));
    int64_t count = 1;
    for (const auto& [key, value] : *g) {
      const std::string f = absl::StrCat(at, ".", std::string(key));
      if (key == "count") {
        FERRY_ASSIGN_OR_RETURN(count, Int(value, f));
        if (count < 1) return Bad(f, "must be at least 1");
      } else if (key == "kind") {
        FERRY_ASSIGN_OR_RETURN(std::string kind, String(value, f));
        if (kind != "KIND_CPU" && kind != "KIND_AUTO") {
          return Bad(f, absl::StrCat("'", kind, "': Ferry runs on the CPU (KIND_CPU)"));
        }
      } else if (key != "name") {
        return Bad(f, "is not a field Ferry applies (name, count, kind)");
      }
    }
    workers += count;
  }
  if (workers > 0) out.workers = workers;
  return absl::OkStatus();
}

absl::Status ReadParameters(const json::value& v, const TritonModelConfig* current, Override& out) {
  FERRY_ASSIGN_OR_RETURN(const json::object* o, Object(v, "parameters"));
  for (const auto& [key, value] : *o) {
    const std::string f = absl::StrCat("parameters.", std::string(key));
    FERRY_ASSIGN_OR_RETURN(const json::object* p, Object(value, f));
    const json::value* sv = p->if_contains("string_value");
    if (sv == nullptr || p->size() != 1) return Bad(f, "must be { \"string_value\": ... }");
    const std::string field = f + ".string_value";
    if (key == "ferry_platform") {
      FERRY_RETURN_IF_ERROR(ReadPlatform(*sv, field, current, out));
    } else if (key == "mc_dropout_passes") {
      FERRY_ASSIGN_OR_RETURN(out.mc_dropout_passes, Int(*sv, field));
    } else {
      return Bad(f, "is not a parameter Ferry applies (ferry_platform, mc_dropout_passes)");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadSteps(const json::value& v, const TritonModelConfig* current) {
  // Ensembles and cascades are written in config.toml: sending back the steps the model
  // has is fine, changing them is not.
  if (current != nullptr && current->is_ensemble) {
    FERRY_ASSIGN_OR_RETURN(const json::object* o, Object(v, "ensemble_scheduling"));
    const json::value* steps = o->if_contains("step");
    if (steps != nullptr && steps->is_array() && steps->as_array().size() == current->ensemble_steps.size()) {
      bool same = true;
      for (size_t i = 0; i < current->ensemble_steps.size() && same; ++i) {
        const json::value& s = steps->as_array()[i];
        const json::value* name = s.is_object() ? s.as_object().if_contains("model_name") : nullptr;
        same = name != nullptr && name->is_string() &&
               name->as_string() == current->ensemble_steps[i].model_name;
      }
      if (same) return absl::OkStatus();
    }
  }
  return Bad("ensemble_scheduling", "ensembles and cascades are configured in config.toml "
                                    "([ensemble] members, [cascade] stages)");
}

absl::StatusOr<Override> ReadOverride(const std::string& model, const json::object& o,
                                      const TritonModelConfig* current) {
  Override out;
  for (const auto& [key, value] : o) {
    if (key == "name") {
      FERRY_ASSIGN_OR_RETURN(std::string name, String(value, "name"));
      if (!name.empty() && name != model) {
        return Bad("name", absl::StrCat("'", name, "' is not the model being loaded ('", model, "')"));
      }
    } else if (key == "platform" || key == "backend") {
      FERRY_RETURN_IF_ERROR(ReadPlatform(value, std::string(key), current, out));
    } else if (key == "max_batch_size") {
      FERRY_ASSIGN_OR_RETURN(out.max_batch_size, Int(value, "max_batch_size"));
      if (*out.max_batch_size < 1) {
        return Bad("max_batch_size", "must be at least 1: Ferry batches every model, and the "
                                     "first dimension of each tensor is the batch");
      }
    } else if (key == "input") {
      FERRY_ASSIGN_OR_RETURN(out.inputs, Tensors(value, "input", true));
    } else if (key == "output") {
      FERRY_ASSIGN_OR_RETURN(out.outputs, Tensors(value, "output", false));
    } else if (key == "dynamic_batching") {
      FERRY_RETURN_IF_ERROR(ReadBatching(value, out));
    } else if (key == "instance_group") {
      FERRY_RETURN_IF_ERROR(ReadInstances(value, out));
    } else if (key == "version_policy") {
      FERRY_ASSIGN_OR_RETURN(const json::object* p, Object(value, "version_policy"));
      if (p->size() != 1 || !p->contains("all")) {
        return Bad("version_policy", "Ferry serves every version folder on disk: only "
                                     "{ \"all\": {} } is accepted");
      }
    } else if (key == "parameters") {
      FERRY_RETURN_IF_ERROR(ReadParameters(value, current, out));
    } else if (key == "ensemble_scheduling") {
      FERRY_RETURN_IF_ERROR(ReadSteps(value, current));
    } else {
      return Bad(std::string(key), "is not a field Ferry applies (docs/api.md lists them)");
    }
  }
  return out;
}

// Sets `key` in `table` unless `current` already holds `value`.
template <typename T>
void SetIfChanged(toml::table& table, std::string_view key, const std::optional<T>& value,
                  std::optional<T> current) {
  if (value && value != current) table.insert_or_assign(key, *value);
}

}  // namespace

absl::StatusOr<std::string> ApplyConfigOverride(const std::string& model,
                                                absl::string_view config_json,
                                                const TritonModelConfig* current,
                                                absl::string_view current_toml) {
  absl::StatusOr<json::value> parsed = ParseJsonExact(config_json);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: not valid JSON: ", parsed.status().message()));
  }
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError("config: must be a JSON object (a model configuration)");
  }
  FERRY_ASSIGN_OR_RETURN(Override o, ReadOverride(model, parsed->as_object(), current));

  toml::table root;
  try {
    root = toml::parse(std::string_view(current_toml.data(), current_toml.size()));
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model's config.toml does not parse: ", std::string(e.description())));
  }
  // What the model has now, for a field that exists; nullopt for a new model.
  auto now = [current](auto TritonModelConfig::*field) -> std::optional<int64_t> {
    if (current == nullptr) return std::nullopt;
    return static_cast<int64_t>(current->*field);
  };
  if (o.platform && (current == nullptr || *o.platform != CurrentPlatform(*current))) {
    root.insert_or_assign("platform", *o.platform);
  }
  SetIfChanged(root, "max_batch_size", o.max_batch_size, now(&TritonModelConfig::max_batch_size));
  if (o.max_batch_size) {
    // Warm-up sizes are Ferry's own: keep those the new max_batch_size allows (none left:
    // the default, 1 and the max), rather than refuse a change the client cannot see.
    toml::table* execution = root["execution"].as_table();
    toml::array* warmup = execution ? (*execution)["warmup_batch_sizes"].as_array() : nullptr;
    if (warmup != nullptr) {
      const int64_t max = *o.max_batch_size;
      for (size_t i = warmup->size(); i-- > 0;) {
        const std::optional<int64_t> size = (*warmup)[i].value<int64_t>();
        if (size && *size > max) warmup->erase(warmup->begin() + static_cast<ptrdiff_t>(i));
      }
      if (warmup->empty()) execution->erase("warmup_batch_sizes");
    }
  }
  if (o.inputs && (current == nullptr || !SameTensors(*o.inputs, current->inputs))) {
    root.insert_or_assign("inputs", TomlTensors(*o.inputs));
  }
  if (o.outputs && (current == nullptr || !SameTensors(*o.outputs, current->outputs))) {
    root.insert_or_assign("outputs", TomlTensors(*o.outputs));
    for (const TritonTensorConfig& t : *o.outputs) {
      if (!t.label_filename.empty()) root.insert_or_assign("labels", t.label_filename);
    }
  }
  if (o.preferred) {
    const std::vector<int64_t> now =
        current ? std::vector<int64_t>(current->preferred_batch_sizes.begin(),
                                       current->preferred_batch_sizes.end())
                : std::vector<int64_t>{};
    if (current == nullptr || *o.preferred != now) {
      toml::array sizes;
      for (int64_t s : *o.preferred) sizes.push_back(s);
      SubTable(root, "batching").insert_or_assign("preferred_batch_sizes", std::move(sizes));
    }
  }
  if (o.max_queue_delay_us || o.max_queue_size) {
    toml::table& batching = SubTable(root, "batching");
    SetIfChanged(batching, "max_queue_delay_us", o.max_queue_delay_us,
                 now(&TritonModelConfig::max_queue_delay_us));
    SetIfChanged(batching, "max_queue_size", o.max_queue_size,
                 now(&TritonModelConfig::max_queue_size));
    if (batching.empty()) root.erase("batching");
  }
  if (o.workers && (current == nullptr || *o.workers != current->instance_count)) {
    SubTable(root, "execution").insert_or_assign("workers", *o.workers);
  }
  if (o.mc_dropout_passes) {
    int64_t now = 0;
    if (current != nullptr) {
      for (const auto& [k, v] : current->parameters) {
        if (k == "mc_dropout_passes") (void)absl::SimpleAtoi(v, &now);
      }
    }
    if (*o.mc_dropout_passes != now) {
      SubTable(root, "mc_dropout").insert_or_assign("passes", *o.mc_dropout_passes);
    }
  }

  std::ostringstream text;
  text << "# Written by a load with a \"config\" override (docs/api.md).\n" << root << "\n";
  absl::StatusOr<ModelConfig> check = ParseModelConfig(text.str(), "config", model);
  if (!check.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: the model's configuration would be invalid: ", check.status().message()));
  }
  return text.str();
}

}  // namespace ferry
