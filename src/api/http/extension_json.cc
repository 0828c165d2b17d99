#include "api/http/extension_json.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/http/tensor_json.h"
#include "json/writer.h"

namespace ferry {
namespace {

namespace json = boost::json;

// {"<key>": <value written by `value`>, ...} for keys that come from configs, so escaped.
template <typename Pairs, typename WriteValue>
void AppendMap(std::string& out, const Pairs& pairs, WriteValue value) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, v] : pairs) {
    if (!first) out.push_back(',');
    first = false;
    json_writer::AppendString(out, key);
    out.push_back(':');
    value(out, v);
  }
  out.push_back('}');
}

void AppendTensor(std::string& out, const TritonTensorConfig& t, bool input) {
  json_writer::Object o(out);
  o.String("name", t.name);
  o.String("data_type", t.data_type);
  if (input) o.String("format", t.format);
  tensor_json::AppendShape(o.Key("dims"), t.dims);
  if (!input) o.String("label_filename", t.label_filename);
  o.Bool("is_shape_tensor", false);
  if (input) {
    o.Bool("allow_ragged_batch", false);
    o.Bool("optional", false);
  }
  o.Close();
}

void AppendTensors(std::string& out, const std::vector<TritonTensorConfig>& tensors, bool input) {
  out.push_back('[');
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i != 0) out.push_back(',');
    AppendTensor(out, tensors[i], input);
  }
  out.push_back(']');
}

void AppendSteps(std::string& out, const std::vector<TritonEnsembleStep>& steps) {
  json_writer::Object e(out);
  e.Key("step").push_back('[');
  for (size_t i = 0; i < steps.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_writer::Object s(out);
    s.String("model_name", steps[i].model_name);
    json_writer::AppendInt(s.Key("model_version"), steps[i].model_version);
    AppendMap(s.Key("input_map"), steps[i].input_map,
              [](std::string& o, const std::string& v) { json_writer::AppendString(o, v); });
    s.Close();
  }
  out.push_back(']');
  e.Close();
}

std::string Str(json::string_view s) { return std::string(s.data(), s.size()); }

const char* KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a fractional number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    default: return "an object";
  }
}

}  // namespace

absl::StatusOr<json::value> ParseJsonObjectBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json::value();
  json::parse_options options;
  options.max_depth = 16;
  json::error_code ec;
  json::value v;
  try {
    v = json::parse(json::string_view(body.data(), body.size()), ec, {}, options);
  } catch (const std::exception& e) {  // only allocation can throw
    return absl::InternalError(absl::StrCat("decoding the request failed: ", e.what()));
  }
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("request body is not valid JSON: ", ec.message()));
  }
  if (!v.is_object()) return absl::InvalidArgumentError("request body must be a JSON object");
  return v;
}

std::string EncodeModelConfig(const TritonModelConfig& c) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", c.name);
  o.String("platform", c.platform);
  o.String("backend", c.backend);
  o.Key("version_policy").append(R"({"all":{}})");
  json_writer::AppendInt(o.Key("max_batch_size"), c.max_batch_size);
  AppendTensors(o.Key("input"), c.inputs, true);
  AppendTensors(o.Key("output"), c.outputs, false);
  if (c.is_ensemble) {
    AppendSteps(o.Key("ensemble_scheduling"), c.ensemble_steps);
  } else {
    json_writer::Object b(o.Key("dynamic_batching"));
    std::vector<int64_t> preferred(c.preferred_batch_sizes.begin(), c.preferred_batch_sizes.end());
    tensor_json::AppendShape(b.Key("preferred_batch_size"), preferred);
    json_writer::AppendInt(b.Key("max_queue_delay_microseconds"), c.max_queue_delay_us);
    json_writer::Object q(b.Key("default_queue_policy"));
    json_writer::AppendInt(q.Key("max_queue_size"), c.max_queue_size);
    q.Close();
    b.Close();
  }
  o.Key("instance_group").push_back('[');
  if (c.instance_count > 0) {
    json_writer::Object g(out);
    g.String("name", c.name);
    json_writer::AppendInt(g.Key("count"), c.instance_count);
    g.String("kind", "KIND_CPU");
    g.Close();
  }
  out.push_back(']');
  AppendMap(o.Key("parameters"), c.parameters, [](std::string& text, const std::string& v) {
    json_writer::Object p(text);
    p.String("string_value", v);
    p.Close();
  });
  o.Close();
  return out;
}

std::string EncodeLogSettings(const LogSettings& s) {
  std::string out;
  json_writer::Object o(out);
  o.String("log_file", s.log_file);
  o.Bool("log_info", s.log_info);
  o.Bool("log_warnings", s.log_warnings);
  o.Bool("log_errors", s.log_errors);
  json_writer::AppendInt(o.Key("log_verbose_level"), s.log_verbose_level);
  o.String("log_format", s.log_format);
  o.Close();
  return out;
}

std::string EncodeTraceSettings(const TraceSettings& settings) {
  std::string out;
  AppendMap(out, settings, [](std::string& o, const std::vector<std::string>& values) {
    json_writer::AppendStringArray(o, values);
  });
  return out;
}

absl::StatusOr<SettingUpdates> DecodeLogSettingsRequest(std::string_view body) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  SettingUpdates updates;
  if (v->is_null()) return updates;
  for (const json::key_value_pair& kv : v->get_object()) {
    std::string name = Str(kv.key());
    const json::value& value = kv.value();
    if (value.is_bool()) {
      updates.emplace_back(std::move(name), value.get_bool());
    } else if (value.is_int64()) {
      updates.emplace_back(std::move(name), value.get_int64());
    } else if (value.is_string()) {
      updates.emplace_back(std::move(name), Str(value.get_string()));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "log setting '", name, "' must be a boolean, an integer or a string, not ",
          value.is_uint64() ? "an integer beyond int64" : KindName(value)));
    }
  }
  return updates;
}

absl::StatusOr<TraceSettings> DecodeTraceSettingsRequest(std::string_view body) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  TraceSettings updates;
  if (v->is_null()) return updates;
  for (const json::key_value_pair& kv : v->get_object()) {
    const std::string key = Str(kv.key());
    const json::value& value = kv.value();
    std::vector<std::string> values;
    if (value.is_string()) {
      values.push_back(Str(value.get_string()));
    } else if (value.is_array()) {
      for (const json::value& item : value.get_array()) {
        if (!item.is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "trace setting '", key, "' must hold strings, not ", KindName(item)));
        }
        values.push_back(Str(item.get_string()));
      }
    } else if (!value.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace setting '", key,
                       "' must be a string, an array of strings or null, not ", KindName(value)));
    }
    updates.emplace_back(key, std::move(values));
  }
  return updates;
}

std::string EncodeSharedMemoryStatus(const std::vector<SharedMemoryRegionStatus>& regions) {
  std::string out = "[";
  for (size_t i = 0; i < regions.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("name", regions[i].name);
    o.String("key", regions[i].key);
    json_writer::AppendInt(o.Key("offset"), regions[i].offset);
    json_writer::AppendInt(o.Key("byte_size"), regions[i].byte_size);
    o.Close();
  }
  out.push_back(']');
  return out;
}

absl::StatusOr<SharedMemoryRegistration> DecodeSharedMemoryRegister(std::string_view body) {
  absl::StatusOr<json::value> v = ParseJsonObjectBody(body);
  if (!v.ok()) return v.status();
  if (v->is_null()) {
    return absl::InvalidArgumentError(
        "register: the body must be {\"key\": ..., \"offset\": ..., \"byte_size\": ...}");
  }
  const json::object& o = v->get_object();
  SharedMemoryRegistration reg;
  const json::value* key = o.if_contains("key");
  if (key == nullptr || !key->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "register: 'key' (the shared memory name) must be a string, not ",
        key == nullptr ? "missing" : KindName(*key)));
  }
  reg.key = Str(key->get_string());
  const auto number = [&](const char* field, bool required, uint64_t& out) -> absl::Status {
    const json::value* n = o.if_contains(field);
    if (n == nullptr && !required) return absl::OkStatus();
    if (n != nullptr && n->is_uint64()) {
      out = n->get_uint64();
      return absl::OkStatus();
    }
    if (n != nullptr && n->is_int64() && n->get_int64() >= 0) {
      out = static_cast<uint64_t>(n->get_int64());
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "register: '", field, "' must be a non-negative integer, not ",
        n == nullptr ? "missing" : n->is_int64() ? "negative" : KindName(*n)));
  };
  if (absl::Status s = number("offset", false, reg.offset); !s.ok()) return s;
  if (absl::Status s = number("byte_size", true, reg.byte_size); !s.ok()) return s;
  return reg;
}

}  // namespace ferry
