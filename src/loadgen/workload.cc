#include "loadgen/workload.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/json.hpp"
#include "common/status_macros.h"
#include "loadgen/elements.h"

namespace ferry::loadgen {
namespace json = boost::json;
namespace {

absl::StatusOr<std::vector<TensorSpec>> ParseTensorList(const json::object& root,
                                                        absl::string_view field, bool required) {
  std::vector<TensorSpec> specs;
  const json::value* list = root.if_contains(json::string_view(field.data(), field.size()));
  if (list == nullptr) {
    if (required) {
      return absl::InvalidArgumentError(absl::StrCat("model metadata: no \"", field, "\""));
    }
    return specs;
  }
  if (!list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model metadata: \"", field, "\" is not an array"));
  }
  for (const json::value& item : list->as_array()) {
    const json::object* tensor = item.if_object();
    const json::value* name = tensor ? tensor->if_contains("name") : nullptr;
    const json::value* datatype = tensor ? tensor->if_contains("datatype") : nullptr;
    const json::value* shape = tensor ? tensor->if_contains("shape") : nullptr;
    if (name == nullptr || !name->is_string() || datatype == nullptr || !datatype->is_string() ||
        shape == nullptr || !shape->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model metadata: each of \"", field,
          "\" needs \"name\" (string), \"datatype\" (string) and \"shape\" (array); got ",
          json::serialize(item)));
    }
    TensorSpec spec;
    spec.name = std::string(name->as_string());
    spec.dtype = ParseDataType(
        absl::string_view(datatype->as_string().data(), datatype->as_string().size()));
    if (spec.dtype == DataType::kInvalid) {
      return absl::InvalidArgumentError(absl::StrCat("model metadata: ", field, " '", spec.name,
                                                     "' has unknown datatype '",
                                                     std::string(datatype->as_string()), "'"));
    }
    for (const json::value& dim : shape->as_array()) {
      if (!dim.is_int64() && !dim.is_uint64()) {
        return absl::InvalidArgumentError(absl::StrCat("model metadata: ", field, " '", spec.name,
                                                       "' has a non-integer dim ",
                                                       json::serialize(dim)));
      }
      spec.shape.push_back(dim.is_int64() ? dim.as_int64() : static_cast<int64_t>(dim.as_uint64()));
    }
    specs.push_back(std::move(spec));
  }
  if (required && specs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("model metadata: \"", field, "\" is empty"));
  }
  return specs;
}

// Random values that every model accepts: small non-negative numbers (so integer models
// such as `simple` cannot overflow), 0/1 for BOOL, short ASCII strings for BYTES.
void AppendRandomElement(DataType type, std::mt19937_64& rng, std::vector<uint8_t>* out) {
  switch (type) {
    case DataType::kBytes: {
      constexpr uint32_t kLength = 8;
      const size_t at = out->size();
      out->resize(at + 4);
      std::memcpy(out->data() + at, &kLength, 4);
      for (uint32_t i = 0; i < kLength; ++i) out->push_back(static_cast<uint8_t>('a' + rng() % 26));
      return;
    }
    case DataType::kBool:
      return AppendNumber(type, static_cast<double>(rng() & 1), out);
    case DataType::kFp16:
    case DataType::kFp32:
    case DataType::kFp64:
    case DataType::kBf16:
      return AppendNumber(type, static_cast<double>(rng() >> 11) * 0x1.0p-53, out);
    case DataType::kUint8:
      return AppendNumber(type, static_cast<double>(rng() % 256), out);
    default:
      return AppendNumber(type, static_cast<double>(rng() % 100), out);
  }
}

// Bytes of one row (or whole tensor) from an idx array, converted to `type`.
void AppendIdxRow(const IdxArray& data, uint64_t row, DataType type, std::vector<uint8_t>* out) {
  const uint64_t n = data.row_elements();
  const int size = IdxElementSize(data.type);
  const char* p = data.data.data() + row * n * static_cast<uint64_t>(size);
  for (uint64_t i = 0; i < n; ++i, p += size) {
    double value = 0;
    switch (data.type) {
      case 0x08:
        value = static_cast<uint8_t>(*p);
        break;
      case 0x09:
        value = static_cast<int8_t>(*p);
        break;
      default: {  // Big-endian integers and floats.
        uint64_t raw = 0;
        for (int b = 0; b < size; ++b) raw = (raw << 8) | static_cast<uint8_t>(p[b]);
        if (data.type == 0x0B) value = static_cast<int16_t>(raw);
        if (data.type == 0x0C) value = static_cast<int32_t>(raw);
        if (data.type == 0x0D) {
          uint32_t bits = static_cast<uint32_t>(raw);
          float f;
          std::memcpy(&f, &bits, 4);
          value = f;
        }
        if (data.type == 0x0E) std::memcpy(&value, &raw, 8);
      }
    }
    AppendNumber(type, value, out);
  }
}

}  // namespace

absl::StatusOr<ModelSignature> ParseModelMetadata(absl::string_view text) {
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model metadata is not a JSON object: ", text.substr(0, 200)));
  }
  const json::object& object = root.as_object();
  ModelSignature signature;
  FERRY_ASSIGN_OR_RETURN(signature.inputs, ParseTensorList(object, "inputs", true));
  FERRY_ASSIGN_OR_RETURN(signature.outputs, ParseTensorList(object, "outputs", false));
  return signature;
}

absl::StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeOverride(
    absl::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shape-override '", text, "': expected NAME:D1,D2,... e.g. image:1,28,28"));
  }
  std::vector<int64_t> dims;
  for (absl::string_view part : absl::StrSplit(text.substr(colon + 1), ',')) {
    int64_t dim = 0;
    if (!absl::SimpleAtoi(part, &dim) || dim < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape-override '", text, "': dim '", part, "' is not an integer >= -1"));
    }
    dims.push_back(dim);
  }
  return std::make_pair(std::string(text.substr(0, colon)), std::move(dims));
}

absl::StatusOr<std::vector<int64_t>> ResolveShape(const TensorSpec& spec, int batch,
                                                  const std::vector<int64_t>* override_shape) {
  const std::vector<int64_t>& meta = spec.shape;
  const bool batched = !meta.empty() && meta[0] == -1;
  if (batch > 1 && !batched) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", spec.name, "' has shape ", ShapeToString(meta),
        " with no batch dim (-1 first), so --batch ", batch, " cannot apply; use --batch 1"));
  }
  std::vector<int64_t> shape = meta;
  if (override_shape != nullptr) {
    if (override_shape->size() == meta.size()) {
      shape = *override_shape;
    } else if (batched && override_shape->size() + 1 == meta.size()) {
      shape = {-1};
      shape.insert(shape.end(), override_shape->begin(), override_shape->end());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shape-override for '", spec.name, "' has ", override_shape->size(),
          " dims; the model's shape ", ShapeToString(meta), " needs ", meta.size(),
          batched ? absl::StrCat(" (or ", meta.size() - 1, " without the batch dim)") : ""));
    }
    for (size_t i = 0; i < meta.size(); ++i) {
      if (meta[i] != -1 && shape[i] != meta[i] && !(i == 0 && shape[i] == -1)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--shape-override for '", spec.name, "' gives ", ShapeToString(shape), " but dim ", i,
            " is fixed at ", meta[i], " in the model's shape ", ShapeToString(meta)));
      }
    }
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) shape[i] = (i == 0 && batched) ? batch : 1;
  }
  return shape;
}

absl::StatusOr<Workload> BuildWorkload(const ModelSignature& signature,
                                       const WorkloadOptions& options) {
  if (options.batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--batch must be >= 1; was ", options.batch));
  }
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("--pool-size must be >= 1; was 0");
  }
  for (const auto& entry : options.shape_overrides) {
    const std::string& name = entry.first;
    const bool known = std::any_of(signature.inputs.begin(), signature.inputs.end(),
                                   [&](const TensorSpec& s) { return s.name == name; });
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape-override names '", name, "', which is not an input of the model"));
    }
  }
  std::vector<std::vector<int64_t>> shapes;
  uint64_t request_bytes = 0;
  for (const TensorSpec& spec : signature.inputs) {
    auto it = options.shape_overrides.find(spec.name);
    FERRY_ASSIGN_OR_RETURN(
        std::vector<int64_t> shape,
        ResolveShape(spec, options.batch,
                     it == options.shape_overrides.end() ? nullptr : &it->second));
    const size_t size = DataTypeByteSize(spec.dtype);
    request_bytes += static_cast<uint64_t>(ElementCount(shape)) * (size == 0 ? 12 : size);
    shapes.push_back(std::move(shape));
  }

  size_t pool = options.pool_size;
  pool = std::min<uint64_t>(
      pool, std::max<uint64_t>(1, options.max_pool_bytes / std::max<uint64_t>(1, request_bytes)));
  uint64_t rows_per_request = 1;
  if (options.data != nullptr) {
    const IdxArray& data = *options.data;
    if (signature.inputs.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data fills a single input, but the model has ", signature.inputs.size()));
    }
    const TensorSpec& spec = signature.inputs[0];
    if (spec.dtype == DataType::kBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data cannot fill input '", spec.name, "' of datatype BYTES"));
    }
    const bool batched = !spec.shape.empty() && spec.shape[0] == -1;
    rows_per_request = batched ? static_cast<uint64_t>(options.batch) : 1;
    const uint64_t elements = static_cast<uint64_t>(ElementCount(shapes[0]));
    if (data.rows() == 0 || elements != rows_per_request * data.row_elements()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--data rows have ", data.row_elements(), " elements but input '", spec.name,
                       "' of shape ", ShapeToString(shapes[0]), " takes ",
                       elements / rows_per_request, " per row"));
    }
    const uint64_t needed = (data.rows() + rows_per_request - 1) / rows_per_request;
    pool = std::min<uint64_t>(pool, needed);
  }

  Workload workload;
  workload.batch = options.batch;
  workload.outputs = signature.outputs;
  workload.requests.reserve(pool);
  std::mt19937_64 rng(options.seed);
  for (size_t r = 0; r < pool; ++r) {
    RequestData request;
    for (size_t i = 0; i < signature.inputs.size(); ++i) {
      const TensorSpec& spec = signature.inputs[i];
      Tensor input;
      input.name = spec.name;
      input.dtype = spec.dtype;
      input.shape = shapes[i];
      const int64_t elements = ElementCount(input.shape);
      const size_t size = DataTypeByteSize(spec.dtype);
      input.data.reserve(static_cast<size_t>(elements) * (size == 0 ? 12 : size));
      if (options.data != nullptr) {
        for (uint64_t row = 0; row < rows_per_request; ++row) {
          const uint64_t index = (r * rows_per_request + row) % options.data->rows();
          AppendIdxRow(*options.data, index, spec.dtype, &input.data);
        }
      } else {
        for (int64_t e = 0; e < elements; ++e) AppendRandomElement(spec.dtype, rng, &input.data);
      }
      request.inputs.push_back(std::move(input));
    }
    workload.requests.push_back(std::move(request));
  }
  return workload;
}

}  // namespace ferry::loadgen
