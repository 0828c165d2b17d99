// The judge's evidence: how the observer adds to it, and how it is saved and restored.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "boost/json.hpp"
#include "json/reader.h"
#include "json/writer.h"
#include "rollout/judge.h"

namespace ferry {
namespace {

using statistics::RateRatioSequence;
using statistics::RunningMoments;

constexpr int kFormatVersion = 1;

void WriteArm(std::string& out, const ArmEvidence& arm) {
  json_writer::Object o(out);
  json_writer::AppendInt(o.Key("requests"), arm.requests);
  json_writer::AppendInt(o.Key("errors"), arm.errors);
  json_writer::AppendInt(o.Key("latency_count"), arm.log_latency.count);
  json_writer::AppendFloat(o.Key("latency_mean"), arm.log_latency.mean);
  json_writer::AppendFloat(o.Key("latency_m2"), arm.log_latency.m2);
  json_writer::AppendInt(o.Key("labelled"), arm.labelled);
  json_writer::AppendInt(o.Key("correct"), arm.correct);
  o.Close();
}

void WriteTest(std::string& out, const RateRatioSequence& test) {
  json_writer::Object o(out);
  json_writer::AppendInt(o.Key("canary_exposure"), test.canary_exposure());
  json_writer::AppendInt(o.Key("canary_events"), test.canary_events());
  json_writer::AppendInt(o.Key("baseline_exposure"), test.baseline_exposure());
  json_writer::AppendInt(o.Key("total_events"), test.total_events());
  std::string& lambda = o.Key("log_lambda");
  lambda.push_back('[');
  for (int k = 0; k < RateRatioSequence::kGridSize; ++k) {
    if (k != 0) lambda.push_back(',');
    json_writer::AppendFloat(lambda, test.log_lambda()[k]);
  }
  lambda.push_back(']');
  o.Close();
}

// Reading: every field is required, so a truncated or foreign document is refused.
class Reader {
 public:
  explicit Reader(const boost::json::object& object, std::string path)
      : object_(object), path_(std::move(path)) {}

  int64_t Int(const char* key) {
    const boost::json::value* v = Find(key);
    if (v == nullptr) return 0;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      return static_cast<int64_t>(v->as_uint64());
    }
    Fail(key, "an integer");
    return 0;
  }
  double Number(const boost::json::value& v, const std::string& key) {
    if (v.is_double() && std::isfinite(v.as_double())) return v.as_double();
    if (v.is_int64()) return static_cast<double>(v.as_int64());
    if (v.is_uint64()) return static_cast<double>(v.as_uint64());
    Fail(key.c_str(), "a finite number");
    return 0;
  }
  double Double(const char* key) {
    const boost::json::value* v = Find(key);
    return v == nullptr ? 0 : Number(*v, key);
  }
  const boost::json::object* Object(const char* key) {
    const boost::json::value* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) Fail(key, "an object");
    return v->if_object();
  }
  const boost::json::array* Array(const char* key) {
    const boost::json::value* v = Find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) Fail(key, "an array");
    return v->if_array();
  }
  std::string Path(const char* key) const { return absl::StrCat(path_, ".", key); }
  const std::string& error() const { return error_; }
  void Fail(const char* key, const char* expected) {
    if (error_.empty()) error_ = absl::StrCat(Path(key), " must be ", expected);
  }

 private:
  const boost::json::value* Find(const char* key) {
    const boost::json::value* v = object_.if_contains(key);
    if (v == nullptr) Fail(key, "present");
    return v;
  }
  const boost::json::object& object_;
  std::string path_;
  std::string error_;
};

std::string ReadArm(const boost::json::object* object, const std::string& path, ArmEvidence& arm) {
  if (object == nullptr) return "";
  Reader r(*object, path);
  arm.requests = r.Int("requests");
  arm.errors = r.Int("errors");
  arm.log_latency.count = r.Int("latency_count");
  arm.log_latency.mean = r.Double("latency_mean");
  arm.log_latency.m2 = r.Double("latency_m2");
  arm.labelled = r.Int("labelled");
  arm.correct = r.Int("correct");
  if (r.error().empty() &&
      (arm.requests < 0 || arm.errors < 0 || arm.errors > arm.requests ||
       arm.log_latency.count < 0 || arm.log_latency.m2 < 0 || arm.labelled < 0 ||
       arm.correct < 0 || arm.correct > arm.labelled)) {
    return absl::StrCat(path, ": counts out of range");
  }
  return r.error();
}

std::string ReadTest(const boost::json::object* object, const std::string& path,
                     RateRatioSequence& test) {
  if (object == nullptr) return "";
  Reader r(*object, path);
  const int64_t canary_exposure = r.Int("canary_exposure");
  const int64_t canary_events = r.Int("canary_events");
  const int64_t baseline_exposure = r.Int("baseline_exposure");
  const int64_t total_events = r.Int("total_events");
  std::array<double, RateRatioSequence::kGridSize> log_lambda{};
  if (const boost::json::array* a = r.Array("log_lambda")) {
    if (a->size() != log_lambda.size()) {
      r.Fail("log_lambda", "an array of the grid's size (a different Ferry version wrote it)");
    } else {
      for (size_t k = 0; k < a->size(); ++k) log_lambda[k] = r.Number((*a)[k], r.Path("log_lambda"));
    }
  }
  if (!r.error().empty()) return r.error();
  if (canary_events < 0 || total_events < canary_events || canary_exposure < 0 ||
      baseline_exposure < 0) {
    return absl::StrCat(path, ": counts out of range");
  }
  test = RateRatioSequence::Restore(canary_exposure, canary_events, baseline_exposure,
                                    total_events, log_lambda);
  return "";
}

}  // namespace

void ArmBatch::AddRequest(bool error, double latency_seconds) {
  ++requests;
  if (error) ++errors;
  if (latency_seconds > 0) log_latency.Add(std::log(latency_seconds));
}

void ArmBatch::AddLabel(bool correct_answer) {
  ++labelled;
  if (correct_answer) ++correct;
}

void Observe(const ArmBatch& candidate, const ArmBatch& baseline, Evidence& evidence) {
  auto add = [](const ArmBatch& batch, ArmEvidence& arm) {
    arm.requests += batch.requests;
    arm.errors += batch.errors;
    arm.log_latency.Merge(batch.log_latency);
    arm.labelled += batch.labelled;
    arm.correct += batch.correct;
  };
  add(candidate, evidence.candidate);
  add(baseline, evidence.baseline);
  evidence.stage_requests += candidate.requests;
  evidence.errors.AddBatch(candidate.requests, candidate.errors, baseline.requests,
                           baseline.errors);
  evidence.accuracy.AddBatch(candidate.labelled, candidate.labelled - candidate.correct,
                             baseline.labelled, baseline.labelled - baseline.correct);
}

void StartStage(int stage_index, int64_t now_ns, Evidence& evidence) {
  evidence.stage_index = stage_index;
  evidence.stage_started_ns = now_ns;
  evidence.stage_requests = 0;
}

std::string EvidenceToJson(const Evidence& evidence, int64_t now_ns) {
  std::string out;
  json_writer::Object o(out);
  json_writer::AppendInt(o.Key("format"), kFormatVersion);
  json_writer::AppendInt(o.Key("stage_index"), evidence.stage_index);
  json_writer::AppendInt(o.Key("time_in_stage_ns"),
                         std::max<int64_t>(0, now_ns - evidence.stage_started_ns));
  json_writer::AppendInt(o.Key("stage_requests"), evidence.stage_requests);
  WriteArm(o.Key("candidate"), evidence.candidate);
  WriteArm(o.Key("baseline"), evidence.baseline);
  WriteTest(o.Key("errors"), evidence.errors);
  WriteTest(o.Key("accuracy"), evidence.accuracy);
  o.Close();
  return out;
}

absl::StatusOr<Evidence> EvidenceFromJson(std::string_view text, int64_t now_ns) {
  absl::StatusOr<boost::json::value> parsed =
      ParseJsonExact(absl::string_view(text.data(), text.size()));
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("release evidence: ", parsed.status().message()));
  }
  if (!parsed->is_object()) return absl::InvalidArgumentError("release evidence must be an object");
  Reader r(parsed->as_object(), "evidence");
  Evidence e;
  if (r.Int("format") != kFormatVersion && r.error().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("release evidence: format must be ", kFormatVersion));
  }
  const int64_t stage_index = r.Int("stage_index");
  const int64_t time_in_stage = r.Int("time_in_stage_ns");
  e.stage_requests = r.Int("stage_requests");
  std::string error = r.error();
  for (std::string more : {ReadArm(r.Object("candidate"), "evidence.candidate", e.candidate),
                           ReadArm(r.Object("baseline"), "evidence.baseline", e.baseline),
                           ReadTest(r.Object("errors"), "evidence.errors", e.errors),
                           ReadTest(r.Object("accuracy"), "evidence.accuracy", e.accuracy),
                           r.error()}) {
    if (error.empty()) error = std::move(more);
  }
  if (error.empty() && (stage_index < 0 || stage_index > 1'000'000 || time_in_stage < 0 ||
                        e.stage_requests < 0)) {
    error = "evidence: stage_index, time_in_stage_ns and stage_requests must be >= 0";
  }
  if (!error.empty()) return absl::InvalidArgumentError(absl::StrCat("release ", error));
  e.stage_index = static_cast<int>(stage_index);
  e.stage_started_ns = now_ns - time_in_stage;
  return e;
}

}  // namespace ferry
