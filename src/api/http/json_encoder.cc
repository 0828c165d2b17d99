// The response side of the REST API's JSON: inference responses (with binary outputs),
// errors, metadata, the repository index and statistics. Written front to back with
// json/writer.h rather than through a DOM.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "api/http/json_codec.h"
#include "api/http/tensor_json.h"
#include "json/writer.h"

namespace ferry {

namespace {

// {"<key>": <value>}.
std::string BoolBody(absl::string_view key, bool value) {
  std::string out;
  json_writer::Object o(out);
  o.Bool(key, value);
  o.Close();
  return out;
}

void AppendDuration(std::string& out, const DurationStat& d) {
  json_writer::Object o(out);
  json_writer::AppendInt(o.Key("count"), d.count);
  json_writer::AppendInt(o.Key("ns"), d.ns);
  o.Close();
}

using SharedMemoryOutputRefs = std::vector<std::optional<SharedMemoryRef>>;

// Writes the response JSON; outputs flagged in `binary` get "binary_data_size" instead
// of "data", outputs with a `shm` entry their region's parameters and no data. Returns the
// number of binary bytes that must follow.
size_t AppendInferResponseJson(std::string& out, const InferResponse& response,
                               const std::vector<bool>& binary,
                               const SharedMemoryOutputRefs& shm) {
  size_t binary_bytes = 0;
  json_writer::Object o(out);
  o.String("model_name", response.model_name);
  o.String("model_version", response.model_version);
  if (!response.id.empty()) o.String("id", response.id);
  o.Key("outputs").push_back('[');
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    if (i != 0) out.push_back(',');
    json_writer::Object tensor(out);
    tensor.String("name", t.name);
    tensor.String("datatype", DataTypeName(t.dtype));
    tensor_json::AppendShape(tensor.Key("shape"), t.shape);
    if (i < shm.size() && shm[i]) {
      json_writer::Object params(tensor.Key("parameters"));
      params.String(kShmRegionParam, shm[i]->region);
      json_writer::AppendInt(params.Key(kShmOffsetParam), shm[i]->offset);
      json_writer::AppendInt(params.Key(kShmByteSizeParam), shm[i]->byte_size);
      params.Close();
    } else if (i < binary.size() && binary[i]) {
      json_writer::Object params(tensor.Key("parameters"));
      json_writer::AppendInt(params.Key("binary_data_size"), t.data.size());
      params.Close();
      binary_bytes += t.data.size();
    } else {
      tensor_json::AppendData(tensor.Key("data"), t);
    }
    tensor.Close();
  }
  out.push_back(']');
  o.Close();
  return binary_bytes;
}

}  // namespace

std::string EncodeInferResponse(const InferResponse& response) {
  return EncodeInferResponse(response, {}).body;
}

EncodedInferResponse EncodeInferResponse(const InferResponse& response,
                                         const std::vector<bool>& binary) {
  return EncodeInferResponse(response, binary, {});
}

EncodedInferResponse EncodeInferResponse(const InferResponse& response,
                                         std::vector<bool> binary,
                                         const SharedMemoryOutputRefs& shared_memory) {
  // An output in shared memory is in neither the JSON nor the binary part.
  for (size_t i = 0; i < shared_memory.size() && i < binary.size(); ++i) {
    if (shared_memory[i]) binary[i] = false;
  }
  size_t estimate = 96 + response.model_name.size() + response.id.size();
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    if (i < binary.size() && binary[i]) {
      estimate += 96 + t.name.size() + t.data.size();
      continue;
    }
    // Shortest floats average under 12 characters; BYTES text is about its byte size.
    const int64_t count = std::max<int64_t>(t.element_count(), 0);
    estimate += 64 + t.name.size() +
                (t.dtype == DataType::kBytes ? t.data.size() + t.data.size() / 2
                                             : static_cast<size_t>(count) * 13);
  }
  EncodedInferResponse r;
  r.body.reserve(estimate);
  const size_t binary_bytes = AppendInferResponseJson(r.body, response, binary, shared_memory);
  r.json_size = r.body.size();
  if (binary_bytes == 0 && std::find(binary.begin(), binary.end(), true) == binary.end()) {
    return r;
  }
  r.binary = true;
  r.body.reserve(r.json_size + binary_bytes);
  for (size_t i = 0; i < response.outputs.size() && i < binary.size(); ++i) {
    if (!binary[i]) continue;
    const std::vector<uint8_t>& data = response.outputs[i].data;
    r.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  return r;
}

std::string ErrorBody(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  json_writer::Object o(out);
  o.String("error", absl::string_view(message.data(), message.size()));
  o.Close();
  return out;
}

std::string EncodeServerMetadata(const ServerMetadata& metadata) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", metadata.name);
  o.String("version", metadata.version);
  json_writer::AppendStringArray(o.Key("extensions"), metadata.extensions);
  o.Close();
  return out;
}

std::string EncodeModelMetadata(const ModelMetadata& metadata) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", metadata.name);
  json_writer::AppendStringArray(o.Key("versions"), metadata.versions);
  o.String("platform", metadata.platform);
  tensor_json::AppendTensorSpecs(o.Key("inputs"), metadata.inputs);
  tensor_json::AppendTensorSpecs(o.Key("outputs"), metadata.outputs);
  o.Close();
  return out;
}

std::string EncodeModelReady(std::string_view name, bool ready) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", absl::string_view(name.data(), name.size()));
  o.Bool("ready", ready);
  o.Close();
  return out;
}

std::string EncodeRepositoryIndex(const std::vector<ModelIndexEntry>& entries) {
  std::string out = "[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const ModelIndexEntry& e = entries[i];
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("name", e.name);
    if (!e.version.empty()) o.String("version", e.version);
    o.String("state", e.state);
    if (!e.reason.empty()) o.String("reason", e.reason);
    o.Close();
  }
  out.push_back(']');
  return out;
}

std::string EncodeLive(bool live) { return BoolBody("live", live); }
std::string EncodeReady(bool ready) { return BoolBody("ready", ready); }

std::string EncodeModelStatistics(const std::vector<ModelStatistics>& stats) {
  std::string out;
  json_writer::Object top(out);
  top.Key("model_stats").push_back('[');
  const DurationStat untimed;  // what Ferry does not time separately
  for (size_t i = 0; i < stats.size(); ++i) {
    const ModelStatistics& s = stats[i];
    if (i != 0) out.push_back(',');
    json_writer::Object o(out);
    o.String("name", s.name);
    o.String("version", s.version);
    json_writer::AppendInt(o.Key("last_inference"), s.last_inference_ms);
    json_writer::AppendInt(o.Key("inference_count"), s.inference_count);
    json_writer::AppendInt(o.Key("execution_count"), s.execution_count);
    json_writer::Object infer(o.Key("inference_stats"));
    AppendDuration(infer.Key("success"), s.success);
    AppendDuration(infer.Key("fail"), s.fail);
    AppendDuration(infer.Key("queue"), s.queue);
    AppendDuration(infer.Key("compute_input"), untimed);
    AppendDuration(infer.Key("compute_infer"), s.compute_infer);
    AppendDuration(infer.Key("compute_output"), untimed);
    AppendDuration(infer.Key("cache_hit"), untimed);
    AppendDuration(infer.Key("cache_miss"), untimed);
    infer.Close();
    o.Key("batch_stats").push_back('[');
    for (size_t b = 0; b < s.batch_stats.size(); ++b) {
      const BatchStat& batch = s.batch_stats[b];
      if (b != 0) out.push_back(',');
      json_writer::Object bo(out);
      json_writer::AppendInt(bo.Key("batch_size"), batch.batch_size);
      AppendDuration(bo.Key("compute_input"), untimed);
      AppendDuration(bo.Key("compute_infer"), batch.compute_infer);
      AppendDuration(bo.Key("compute_output"), untimed);
      bo.Close();
    }
    out.push_back(']');
    o.Close();
  }
  out.push_back(']');
  top.Close();
  return out;
}

std::string EncodeModelControl(std::string_view name, std::string_view action) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", absl::string_view(name.data(), name.size()));
  o.Bool(absl::string_view(action.data(), action.size()), true);
  o.Close();
  return out;
}

}  // namespace ferry
