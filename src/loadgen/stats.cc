#include "loadgen/stats.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/json.hpp"

namespace ferry::loadgen {
namespace json = boost::json;
namespace {

json::string_view Js(absl::string_view s) { return {s.data(), s.size()}; }

uint64_t Counter(const json::object& object, absl::string_view key) {
  const json::value* v = object.if_contains(Js(key));
  if (v == nullptr) return 0;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<uint64_t>(v->get_int64());
  if (v->is_double() && v->get_double() >= 0) return static_cast<uint64_t>(v->get_double());
  return 0;
}

// Adds {"count", "ns"} at object[key].
void AddDuration(const json::object& object, absl::string_view key, uint64_t* count, uint64_t* ns) {
  const json::value* v = object.if_contains(Js(key));
  if (v == nullptr || !v->is_object()) return;
  *count += Counter(v->get_object(), "count");
  *ns += Counter(v->get_object(), "ns");
}

}  // namespace

absl::StatusOr<ModelStats> ParseModelStats(absl::string_view text, absl::string_view model,
                                           absl::string_view version) {
  json::error_code ec;
  const json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  const json::object* object = ec ? nullptr : root.if_object();
  const json::value* list = object ? object->if_contains("model_stats") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("statistics response has no \"model_stats\" array: ", text.substr(0, 200)));
  }
  ModelStats stats;
  bool found = false;
  for (const json::value& item : list->get_array()) {
    const json::object* entry = item.if_object();
    if (entry == nullptr) continue;
    const json::value* name = entry->if_contains("name");
    // Servers that answer for one model may leave the name out.
    if (name != nullptr && name->is_string() && name->get_string() != Js(model)) continue;
    const json::value* entry_version = entry->if_contains("version");
    if (!version.empty() && entry_version != nullptr && entry_version->is_string() &&
        entry_version->get_string() != Js(version)) {
      continue;
    }
    found = true;
    stats.inference_count += Counter(*entry, "inference_count");
    stats.execution_count += Counter(*entry, "execution_count");
    const json::value* inference = entry->if_contains("inference_stats");
    if (inference == nullptr || !inference->is_object()) continue;
    const json::object& d = inference->get_object();
    uint64_t fail_ns = 0;
    AddDuration(d, "success", &stats.success_count, &stats.success_ns);
    AddDuration(d, "fail", &stats.fail_count, &fail_ns);
    AddDuration(d, "queue", &stats.queue_count, &stats.queue_ns);
    AddDuration(d, "compute_infer", &stats.compute_infer_count, &stats.compute_infer_ns);
  }
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat("statistics response has no entry for model '", model, "'"));
  }
  return stats;
}

std::optional<ServerSplit> ComputeServerSplit(const ModelStats& before, const ModelStats& after) {
  // Counters only grow; a smaller value means the model was reloaded in between.
  auto delta = [](uint64_t a, uint64_t b) { return b >= a ? b - a : 0; };
  const uint64_t queue_count = delta(before.queue_count, after.queue_count);
  const uint64_t compute_count = delta(before.compute_infer_count, after.compute_infer_count);
  const uint64_t success = delta(before.success_count, after.success_count);
  if (queue_count == 0 && compute_count == 0 && success == 0) return std::nullopt;
  ServerSplit split;
  split.requests = success;
  if (queue_count > 0) {
    split.queue_us =
        static_cast<double>(delta(before.queue_ns, after.queue_ns)) / queue_count / 1e3;
  }
  if (compute_count > 0) {
    split.compute_us = static_cast<double>(delta(before.compute_infer_ns, after.compute_infer_ns)) /
                       compute_count / 1e3;
  }
  const uint64_t executions = delta(before.execution_count, after.execution_count);
  if (executions > 0) {
    split.avg_batch =
        static_cast<double>(delta(before.inference_count, after.inference_count)) / executions;
  }
  return split;
}

}  // namespace ferry::loadgen
