#include "uncertainty/calibration_file.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/json.hpp"
#include "common/status_macros.h"
#include "json/reader.h"
#include "json/writer.h"

namespace ferry {
namespace json = boost::json;

int Calibration::FindLevel(double alpha) const {
  for (size_t i = 0; i < levels.size(); ++i) {
    if (std::abs(levels[i].alpha - alpha) <= 1e-9) return static_cast<int>(i);
  }
  return -1;
}

std::string Calibration::LevelList() const {
  return absl::StrJoin(levels, ", ", [](std::string* out, const ConformalLevel& level) {
    out->append(JsonNumber(level.alpha));
  });
}

namespace {

// Reads typed fields of one JSON object, naming "<file>: <path>" in every error.
class Fields {
 public:
  Fields(const json::object& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  absl::Status Error(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", prefix_, key, ": ", problem));
  }
  const json::value* Find(absl::string_view key) const {
    return object_.if_contains(json::string_view(key.data(), key.size()));
  }

  absl::StatusOr<double> Number(absl::string_view key, bool required = true,
                                double fallback = 0.0) const {
    const json::value* v = Find(key);
    if (v == nullptr) {
      if (required) return Error(key, "is required");
      return fallback;
    }
    if (!v->is_number()) return Error(key, "must be a number");
    const double d = v->to_number<double>();
    if (!std::isfinite(d)) return Error(key, "must be finite");
    return d;
  }
  // A threshold: a number, or null for +infinity.
  absl::StatusOr<double> Threshold(absl::string_view key) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Error(key, "is required (a number, or null for the full set)");
    if (v->is_null()) return std::numeric_limits<double>::infinity();
    return Number(key);
  }
  absl::StatusOr<int64_t> Integer(absl::string_view key, int64_t min) const {
    const json::value* v = Find(key);
    if (v == nullptr) return Error(key, "is required");
    if (!v->is_int64() && !v->is_uint64()) return Error(key, "must be an integer");
    if (v->is_uint64() || v->as_int64() < min) {
      return Error(key, absl::StrCat("must be at least ", min,
                                     v->is_uint64() ? "" : absl::StrCat("; was ", v->as_int64())));
    }
    return v->as_int64();
  }
  absl::StatusOr<std::string> String(absl::string_view key, bool required) const {
    const json::value* v = Find(key);
    if (v == nullptr) {
      if (required) return Error(key, "is required");
      return std::string();
    }
    if (!v->is_string()) return Error(key, "must be a string");
    return std::string(v->as_string().c_str(), v->as_string().size());
  }
  absl::StatusOr<const json::object*> Object(absl::string_view key, bool required) const {
    const json::value* v = Find(key);
    if (v == nullptr) {
      if (required) return Error(key, "is required");
      return nullptr;
    }
    if (!v->is_object()) return Error(key, "must be an object");
    return &v->as_object();
  }

 private:
  const json::object& object_;
  std::string source_;
  std::string prefix_;
};

absl::Status ParseLevels(const json::value* node, const std::string& source,
                         Calibration& calibration) {
  const json::object no_fields;
  const Fields top(no_fields, source, "");
  if (node == nullptr) return top.Error("conformal", "is required: one entry per alpha");
  if (!node->is_array() || node->as_array().empty()) {
    return top.Error("conformal", "must be a non-empty array");
  }
  const json::array& levels = node->as_array();
  for (size_t i = 0; i < levels.size(); ++i) {
    const std::string prefix = absl::StrCat("conformal[", i, "].");
    if (!levels[i].is_object()) return top.Error(prefix, "must be an object");
    const Fields f(levels[i].as_object(), source, prefix);
    ConformalLevel level;
    FERRY_ASSIGN_OR_RETURN(level.alpha, f.Number("alpha"));
    if (!(level.alpha > 0 && level.alpha < 1)) {
      return f.Error("alpha", absl::StrCat("must be in (0, 1); was ", JsonNumber(level.alpha)));
    }
    if (!calibration.levels.empty() && level.alpha <= calibration.levels.back().alpha + 1e-9) {
      return f.Error("alpha", "levels must be in ascending order of alpha, without repeats");
    }
    if (f.Find("rank") != nullptr) {
      FERRY_ASSIGN_OR_RETURN(level.rank, f.Integer("rank", 1));
    }
    FERRY_ASSIGN_OR_RETURN(level.lac, f.Threshold("lac"));
    FERRY_ASSIGN_OR_RETURN(level.aps, f.Threshold("aps"));
    calibration.levels.push_back(level);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Calibration> ParseCalibration(absl::string_view text, absl::string_view source_view) {
  const std::string source(source_view);
  absl::StatusOr<json::value> parsed = ParseJsonExact(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", parsed.status().message()));
  }
  const json::value& root = *parsed;
  if (!root.is_object()) return absl::InvalidArgumentError(absl::StrCat(source, ": must be a JSON object"));
  const Fields f(root.as_object(), source, "");

  FERRY_ASSIGN_OR_RETURN(int64_t format, f.Integer("format", 1));
  if (format != kCalibrationFormat) {
    return f.Error("format", absl::StrCat("this Ferry reads format ", kCalibrationFormat, "; the file has ",
                                          format, " (run `ferry calibrate` again)"));
  }
  Calibration c;
  FERRY_ASSIGN_OR_RETURN(c.model, f.String("model", false));
  FERRY_ASSIGN_OR_RETURN(c.version, f.String("version", false));
  FERRY_ASSIGN_OR_RETURN(c.logits_output, f.String("logits_output", true));
  if (c.logits_output.empty()) return f.Error("logits_output", "must name the logits output");
  FERRY_ASSIGN_OR_RETURN(c.classes, f.Integer("classes", 2));
  FERRY_ASSIGN_OR_RETURN(c.n, f.Integer("n", 1));
  FERRY_ASSIGN_OR_RETURN(c.created, f.String("created", false));
  FERRY_ASSIGN_OR_RETURN(const json::object* data, f.Object("data", false));
  if (data != nullptr) {
    const Fields d(*data, source, "data.");
    FERRY_ASSIGN_OR_RETURN(c.data_file, d.String("file", false));
    FERRY_ASSIGN_OR_RETURN(c.data_sha256, d.String("sha256", false));
  }
  FERRY_ASSIGN_OR_RETURN(c.temperature, f.Number("temperature"));
  if (!(c.temperature > 0)) {
    return f.Error("temperature", absl::StrCat("must be positive; was ", JsonNumber(c.temperature)));
  }
  FERRY_ASSIGN_OR_RETURN(c.accuracy, f.Number("accuracy", false));
  FERRY_ASSIGN_OR_RETURN(const json::object* nll, f.Object("nll", false));
  if (nll != nullptr) {
    const Fields n(*nll, source, "nll.");
    FERRY_ASSIGN_OR_RETURN(c.nll_before, n.Number("before", false));
    FERRY_ASSIGN_OR_RETURN(c.nll_after, n.Number("after", false));
  }
  FERRY_ASSIGN_OR_RETURN(const json::object* ece, f.Object("ece", false));
  if (ece != nullptr) {
    const Fields e(*ece, source, "ece.");
    FERRY_ASSIGN_OR_RETURN(c.ece_before, e.Number("before", false));
    FERRY_ASSIGN_OR_RETURN(c.ece_after, e.Number("after", false));
  }
  FERRY_RETURN_IF_ERROR(ParseLevels(f.Find("conformal"), source, c));
  return c;
}

std::string SerializeCalibration(const Calibration& c) {
  std::string out = "{\n";
  const auto line = [&out](absl::string_view key, const std::string& value, bool last = false) {
    absl::StrAppend(&out, "  ", JsonString(key), ": ", value, last ? "\n" : ",\n");
  };
  line("format", std::to_string(kCalibrationFormat));
  line("model", JsonString(c.model));
  line("version", JsonString(c.version));
  line("logits_output", JsonString(c.logits_output));
  line("classes", std::to_string(c.classes));
  line("n", std::to_string(c.n));
  line("data", absl::StrCat("{\"file\": ", JsonString(c.data_file), ", \"sha256\": ",
                            JsonString(c.data_sha256), "}"));
  line("created", JsonString(c.created));
  line("temperature", JsonNumber(c.temperature));
  line("accuracy", JsonNumber(c.accuracy));
  line("nll", absl::StrCat("{\"before\": ", JsonNumber(c.nll_before), ", \"after\": ",
                           JsonNumber(c.nll_after), "}"));
  line("ece", absl::StrCat("{\"before\": ", JsonNumber(c.ece_before), ", \"after\": ",
                           JsonNumber(c.ece_after), "}"));
  std::string levels = "[";
  for (size_t i = 0; i < c.levels.size(); ++i) {
    const ConformalLevel& l = c.levels[i];
    absl::StrAppend(&levels, i == 0 ? "\n" : ",\n", "    {\"alpha\": ", JsonNumber(l.alpha),
                    ", \"rank\": ", l.rank, ", \"lac\": ", JsonNumber(l.lac), ", \"aps\": ",
                    JsonNumber(l.aps), "}");
  }
  absl::StrAppend(&levels, "\n  ]");
  line("conformal", levels, /*last=*/true);
  out += "}\n";
  return out;
}

absl::StatusOr<Calibration> ReadCalibrationFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseCalibration(text.str(), path);
}

absl::Status WriteCalibrationFile(const std::string& path, const Calibration& calibration) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat(temp, ": cannot create the file"));
    out << SerializeCalibration(calibration);
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat(temp, ": write failed"));
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    return absl::InternalError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace ferry
