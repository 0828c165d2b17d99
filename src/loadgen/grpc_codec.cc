#include "loadgen/grpc_codec.h"

#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::loadgen {
namespace {

// Elements in typed contents of `type`; nullopt for FP16 / BF16, which have no
// typed field.
std::optional<uint64_t> TypedCount(const inference::InferTensorContents &c, DataType type) {
  switch (type) {
    case DataType::kBool:
      return c.bool_contents_size();
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return c.int_contents_size();
    case DataType::kInt64:
      return c.int64_contents_size();
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      return c.uint_contents_size();
    case DataType::kUint64:
      return c.uint64_contents_size();
    case DataType::kFp32:
      return c.fp32_contents_size();
    case DataType::kFp64:
      return c.fp64_contents_size();
    case DataType::kBytes:
      return c.bytes_contents_size();
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kInvalid:
      return std::nullopt;
  }
  return std::nullopt;
}

// Checks that `raw` holds exactly `elements` BYTES elements: each a 4-byte
// little-endian length, then that many bytes.
bool BytesElementsFit(const std::string &raw, uint64_t elements) {
  size_t at = 0;
  for (uint64_t i = 0; i < elements; ++i) {
    if (raw.size() - at < 4) return false;
    uint32_t length = 0;
    for (int b = 3; b >= 0; --b) length = (length << 8) | static_cast<uint8_t>(raw[at + b]);
    at += 4;
    if (raw.size() - at < length) return false;
    at += length;
  }
  return at == raw.size();
}

}  // namespace

inference::ModelInferRequest EncodeGrpcInferRequest(const RequestData &request,
                                                    absl::string_view model,
                                                    absl::string_view version) {
  inference::ModelInferRequest out;
  out.set_model_name(std::string(model));
  if (!version.empty()) out.set_model_version(std::string(version));
  for (const Tensor &input : request.inputs) {
    inference::ModelInferRequest::InferInputTensor *tensor = out.add_inputs();
    tensor->set_name(input.name);
    tensor->set_datatype(std::string(DataTypeName(input.dtype)));
    for (int64_t d : input.shape) tensor->add_shape(d);
    out.add_raw_input_contents(input.data.data(), input.data.size());
  }
  return out;
}

absl::Status CheckGrpcInferResponse(const inference::ModelInferResponse &response,
                                    const std::vector<TensorSpec> &expected,
                                    ResponseSummary *summary) {
  *summary = ResponseSummary{};
  const int outputs = response.outputs_size();
  const int raw_entries = response.raw_output_contents_size();
  if (raw_entries != 0 && raw_entries != outputs) {
    return absl::InvalidArgumentError(absl::StrCat("response has ", outputs, " outputs but ",
                                                   raw_entries, " raw_output_contents"));
  }
  for (int i = 0; i < outputs; ++i) {
    const inference::ModelInferResponse::InferOutputTensor &output = response.outputs(i);
    const std::string &name = output.name();
    const DataType type = ParseDataType(output.datatype());
    if (name.empty() || type == DataType::kInvalid) {
      return absl::InvalidArgumentError(absl::StrCat("response output ", i, " ('", name,
                                                     "') lacks a name or a V2 datatype ('",
                                                     output.datatype(), "')"));
    }
    if (!expected.empty()) {
      const TensorSpec *spec = nullptr;
      for (const TensorSpec &s : expected) {
        if (s.name == name) spec = &s;
      }
      if (spec == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("response has output '", name, "', not in the model's metadata"));
      }
      if (spec->dtype != type) {
        return absl::InvalidArgumentError(
            absl::StrCat("response output '", name, "' is ", DataTypeName(type),
                         "; the model's metadata says ", DataTypeName(spec->dtype)));
      }
      for (int j = 0; j < i; ++j) {
        if (response.outputs(j).name() == name) {
          return absl::InvalidArgumentError(absl::StrCat("response has output '", name, "' twice"));
        }
      }
    }
    uint64_t elements = 1;
    for (int64_t d : output.shape()) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("response output '", name, "' has a bad shape dim ", d));
      }
      elements *= static_cast<uint64_t>(d);
    }
    if (raw_entries > 0) {
      const std::string &raw = response.raw_output_contents(i);
      const uint64_t size = DataTypeByteSize(type);
      if (size == 0) {
        if (!BytesElementsFit(raw, elements)) {
          return absl::InvalidArgumentError(
              absl::StrCat("response output '", name, "': raw BYTES contents of ", raw.size(),
                           " bytes are not ", elements, " length-prefixed elements"));
        }
      } else if (raw.size() != elements * size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "response output '", name, "': ", raw.size(), " raw bytes but shape needs ", elements,
            " x ", size, " = ", elements * size, " bytes"));
      }
      summary->binary_bytes += raw.size();
    } else {
      const std::optional<uint64_t> count = TypedCount(output.contents(), type);
      if (!count) {
        return absl::InvalidArgumentError(
            absl::StrCat("response output '", name, "' is ", DataTypeName(type),
                         ", which travels only as raw_output_contents, and the response has "
                         "none"));
      }
      if (*count != elements) {
        return absl::InvalidArgumentError(absl::StrCat("response output '", name, "' has ", *count,
                                                       " elements; its shape needs ", elements));
      }
    }
    ++summary->outputs;
    summary->elements += elements;
  }
  // Each output was checked against the model's above. A calibrated model lists outputs
  // (probabilities, prediction_set, ...) that come back only when asked for by name, so a
  // response may hold fewer than the metadata lists, but never none.
  if (!expected.empty() && summary->outputs == 0) {
    return absl::InvalidArgumentError("response has no outputs");
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelSignature> SignatureFromGrpc(const inference::ModelMetadataResponse &metadata) {
  ModelSignature signature;
  auto convert = [](const auto &list, absl::string_view field,
                    std::vector<TensorSpec> *out) -> absl::Status {
    for (const inference::ModelMetadataResponse::TensorMetadata &t : list) {
      const DataType type = ParseDataType(t.datatype());
      if (t.name().empty() || type == DataType::kInvalid) {
        return absl::InvalidArgumentError(
            absl::StrCat("model metadata ", field, ": tensor '", t.name(),
                         "' needs a name and a V2 datatype (got '", t.datatype(), "')"));
      }
      TensorSpec spec;
      spec.name = t.name();
      spec.dtype = type;
      spec.shape.assign(t.shape().begin(), t.shape().end());
      out->push_back(std::move(spec));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = convert(metadata.inputs(), "inputs", &signature.inputs); !s.ok()) return s;
  if (absl::Status s = convert(metadata.outputs(), "outputs", &signature.outputs); !s.ok()) {
    return s;
  }
  if (signature.inputs.empty()) {
    return absl::InvalidArgumentError("model metadata lists no inputs");
  }
  return signature;
}

absl::StatusOr<ModelStats> StatsFromGrpc(const inference::ModelStatisticsResponse &response,
                                         absl::string_view model, absl::string_view version) {
  ModelStats stats;
  bool found = false;
  for (const inference::ModelStatistics &entry : response.model_stats()) {
    // Servers that answer for one model may leave the name out.
    if (!entry.name().empty() && entry.name() != model) continue;
    if (!version.empty() && !entry.version().empty() && entry.version() != version) continue;
    found = true;
    stats.inference_count += entry.inference_count();
    stats.execution_count += entry.execution_count();
    const inference::InferStatistics &d = entry.inference_stats();
    stats.success_count += d.success().count();
    stats.success_ns += d.success().ns();
    stats.fail_count += d.fail().count();
    stats.queue_count += d.queue().count();
    stats.queue_ns += d.queue().ns();
    stats.compute_infer_count += d.compute_infer().count();
    stats.compute_infer_ns += d.compute_infer().ns();
  }
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat("statistics response has no entry for model '", model, "'"));
  }
  return stats;
}

}  // namespace ferry::loadgen
