#include "registry/lineage.h"

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/version_number.h"
#include "json/reader.h"
#include "json/writer.h"

namespace ferry {
namespace {

namespace json = boost::json;

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("lineage.", field, ": ", problem));
}

bool IsSha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::vector<DataRef>> ParseRefs(const json::value& value, const std::string& field) {
  if (!value.is_array()) return Bad(field, "expected an array of {uri, sha256}");
  std::vector<DataRef> refs;
  const json::array& items = value.get_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string at = absl::StrCat(field, "[", i, "]");
    if (!items[i].is_object()) return Bad(at, "expected an object {uri, sha256}");
    DataRef ref;
    for (const auto& member : items[i].get_object()) {
      const std::string key(member.key());
      if (!member.value().is_string()) return Bad(absl::StrCat(at, ".", key), "expected a string");
      const std::string text(member.value().get_string());
      if (key == "uri") {
        ref.uri = text;
      } else if (key == "sha256") {
        if (!IsSha256(text)) {
          return Bad(absl::StrCat(at, ".sha256"), "expected 64 lowercase hex digits");
        }
        ref.sha256 = text;
      } else {
        return Bad(absl::StrCat(at, ".", key), "unknown member; expected uri or sha256");
      }
    }
    if (ref.uri.empty()) return Bad(absl::StrCat(at, ".uri"), "required and non-empty");
    refs.push_back(std::move(ref));
  }
  return refs;
}

void AppendRefs(std::string& out, const std::vector<DataRef>& refs) {
  out.push_back('[');
  for (size_t i = 0; i < refs.size(); ++i) {
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("uri", refs[i].uri);
    if (!refs[i].sha256.empty()) o.String("sha256", refs[i].sha256);
    o.Close();
  }
  out.push_back(']');
}

// JSON text for `value` through json/writer.h, so numbers keep their shortest form
// (Boost's serialize writes 0.001 as 1E-3).
void AppendValue(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out.append("null");
      break;
    case json::kind::bool_:
      json_writer::AppendBool(out, value.get_bool());
      break;
    case json::kind::int64:
      json_writer::AppendInt(out, value.get_int64());
      break;
    case json::kind::uint64:
      json_writer::AppendInt(out, value.get_uint64());
      break;
    case json::kind::double_:
      json_writer::AppendFloat(out, value.get_double());
      break;
    case json::kind::string:
      json_writer::AppendString(
          out, absl::string_view(value.get_string().data(), value.get_string().size()));
      break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        AppendValue(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& member : value.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        json_writer::AppendString(out, absl::string_view(member.key().data(), member.key().size()));
        out.push_back(':');
        AppendValue(out, member.value());
      }
      out.push_back('}');
      break;
    }
  }
}

std::string Serialize(const json::value& value) {
  std::string out;
  AppendValue(out, value);
  return out;
}

const json::value* Find(const json::value& v, const char* key) {
  if (!v.is_object()) return nullptr;
  return v.get_object().if_contains(key);
}

std::string StringOr(const json::value* v, const std::string& fallback) {
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : fallback;
}

// A version number written as a number or a string ("1").
int64_t VersionOf(const json::value* v) {
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64() > 0 ? v->get_int64() : 0;
  if (v->is_string()) return ParseVersion(std::string(v->get_string()));
  return 0;
}

}  // namespace

absl::StatusOr<Lineage> ParseLineage(absl::string_view text) {
  Lineage lineage;
  if (text.empty()) return lineage;
  absl::StatusOr<json::value> doc = ParseJsonExact(text);
  if (!doc.ok()) return Bad("", absl::StrCat("not valid JSON: ", doc.status().message()));
  if (!doc->is_object()) return absl::InvalidArgumentError("lineage: expected a JSON object");
  for (const auto& member : doc->get_object()) {
    const std::string key(member.key());
    const json::value& value = member.value();
    if (key == "training_data" || key == "calibration") {
      absl::StatusOr<std::vector<DataRef>> refs = ParseRefs(value, key);
      if (!refs.ok()) return refs.status();
      (key == "calibration" ? lineage.calibration : lineage.training_data) = std::move(*refs);
    } else if (key == "code_revision") {
      if (!value.is_string()) return Bad(key, "expected a string");
      lineage.code_revision = std::string(value.get_string());
    } else if (key == "parameters" || key == "metrics" || key == "extra") {
      if (!value.is_object()) return Bad(key, "expected a JSON object");
      std::string& out = key == "parameters" ? lineage.parameters_json
                         : key == "metrics"  ? lineage.metrics_json
                                             : lineage.extra_json;
      out = Serialize(value);
    } else if (key == "parent") {
      if (!value.is_object()) return Bad(key, "expected {\"model\": name, \"version\": n}");
      lineage.parent_model = StringOr(Find(value, "model"), "");
      const json::value* version = Find(value, "version");
      if (version == nullptr || !version->is_int64() || version->get_int64() < 1) {
        return Bad("parent.version", "expected a positive integer");
      }
      lineage.parent_version = version->get_int64();
      for (const auto& m : value.get_object()) {
        if (m.key() != "model" && m.key() != "version") {
          return Bad(absl::StrCat("parent.", std::string(m.key())),
                     "unknown member; expected model or version");
        }
      }
    } else {
      return Bad(key,
                 "unknown member; expected training_data, code_revision, parameters, "
                 "metrics, calibration, parent or extra");
    }
  }
  return lineage;
}

std::string LineageToJson(const Lineage& lineage) {
  std::string out;
  json_writer::Object o(out);
  if (!lineage.training_data.empty()) AppendRefs(o.Key("training_data"), lineage.training_data);
  if (!lineage.code_revision.empty()) o.String("code_revision", lineage.code_revision);
  if (lineage.parameters_json != "{}") o.Key("parameters").append(lineage.parameters_json);
  if (lineage.metrics_json != "{}") o.Key("metrics").append(lineage.metrics_json);
  if (!lineage.calibration.empty()) AppendRefs(o.Key("calibration"), lineage.calibration);
  if (lineage.parent_version > 0) {
    json_writer::Object parent(o.Key("parent"));
    if (!lineage.parent_model.empty()) parent.String("model", lineage.parent_model);
    json_writer::AppendInt(parent.Key("version"), lineage.parent_version);
    parent.Close();
  }
  if (lineage.extra_json != "{}") o.Key("extra").append(lineage.extra_json);
  o.Close();
  return out;
}

absl::StatusOr<Lineage> LineageFromBundled(absl::string_view lineage_text,
                                           absl::string_view calibration_text,
                                           const std::string& calibration_sha256) {
  Lineage lineage;
  json::object metrics;
  if (!lineage_text.empty()) {
    absl::StatusOr<json::value> doc = ParseJsonExact(lineage_text);
    if (!doc.ok() || !doc->is_object()) {
      return absl::InvalidArgumentError("lineage.json: expected a JSON object");
    }
    const json::value& d = *doc;
    if (const json::value* dataset = Find(d, "dataset"); dataset != nullptr) {
      const std::string dir = StringOr(Find(*dataset, "directory"), "");
      if (const json::value* files = Find(*dataset, "files"); files && files->is_array()) {
        for (const json::value& f : files->get_array()) {
          const std::string file = StringOr(Find(f, "file"), "");
          // The test split evaluated the model; only the training files built it.
          const std::string role = StringOr(Find(f, "role"), "train");
          if (file.empty() || role.rfind("train", 0) != 0) continue;
          std::string sha = StringOr(Find(f, "sha256"), "");
          if (!IsSha256(sha)) sha.clear();
          lineage.training_data.push_back(
              {dir.empty() ? file : absl::StrCat("file://", dir, "/", file), sha});
        }
      }
    }
    if (const json::value* code = Find(d, "code"); code != nullptr) {
      lineage.code_revision = StringOr(Find(*code, "git_revision"), "");
    }
    json::object parameters;
    if (const json::value* h = Find(d, "hyperparameters"); h != nullptr && h->is_object()) {
      parameters = h->get_object();
    }
    if (const json::value* seed = Find(d, "seed"); seed != nullptr) parameters["seed"] = *seed;
    if (!parameters.empty()) lineage.parameters_json = Serialize(parameters);
    if (const json::value* m = Find(d, "metrics"); m != nullptr) {
      if (const json::value* acc = Find(*m, "test_accuracy"); acc != nullptr && acc->is_number()) {
        metrics["accuracy"] = *acc;
      }
    }
    // A derived model (quantized, MC dropout) names what it came from.
    for (const char* key : {"derived_from", "source"}) {
      const json::value* from = Find(d, key);
      if (from == nullptr || lineage.parent_version > 0) continue;
      const std::string model = StringOr(Find(*from, "model"), "");
      int64_t version = VersionOf(Find(*from, "version"));
      if (version == 0) {
        // "artifact": "models/<model>/<version>/model.pt"
        const std::string artifact = StringOr(Find(*from, "artifact"), "");
        const std::string prefix = absl::StrCat("/", model, "/");
        const size_t at = artifact.find(prefix);
        if (!model.empty() && at != std::string::npos) {
          const size_t start = at + prefix.size();
          version = ParseVersion(artifact.substr(start, artifact.find('/', start) - start));
        }
      }
      if (!model.empty() && version > 0) {
        lineage.parent_model = model;
        lineage.parent_version = version;
      }
    }
    json::object extra;
    extra["bundled_lineage"] = d;
    lineage.extra_json = Serialize(extra);
  }
  if (!calibration_text.empty()) {
    absl::StatusOr<json::value> cal = ParseJsonExact(calibration_text);
    if (cal.ok()) {
      if (const json::value* ece = Find(*cal, "ece"); ece != nullptr) {
        const json::value* after = Find(*ece, "after");
        if (after != nullptr && after->is_number()) metrics["ece"] = *after;
      }
    }
    lineage.calibration.push_back({"calibration.json", calibration_sha256});
  }
  if (!metrics.empty()) lineage.metrics_json = Serialize(metrics);
  return lineage;
}

}  // namespace ferry
