// The parts of a request's JSON that the protocol's extensions define: request-level
// parameters, and the binary tensor data extension's "binary_data_size" (inputs) and
// "binary_data" (outputs). Methods of the handler in request_handler.h.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/http/request_handler.h"
#include "core/sequence_parameters.h"

namespace ferry {
namespace json_decode {

using tensor_json::Leaf;

// A request-level parameter: kept as the wire gave it, for the server to interpret.
bool RequestHandler::RequestParamValue(Json kind, const Leaf& leaf, json::error_code& ec) {
  const std::string& key = param_key_;
  if (key == "binary_data_output") {
    if (kind != Json::kBool) {
      return Fail(absl::StrCat("request: parameter 'binary_data_output' must be true or false, "
                               "not ",
                               JsonName(kind)),
                  ec);
    }
    result_.binary_data_output = leaf.b;
  }
  if (IsSequenceParameter(key) && kind != Json::kNull && kind != Json::kObject &&
      kind != Json::kArray) {
    return SequenceParamValue(kind, leaf, ec);
  }
  switch (kind) {
    case Json::kBool:
      request_.parameters.emplace(key, leaf.b);
      return true;
    case Json::kInt:
      request_.parameters.emplace(key, leaf.i);
      return true;
    case Json::kUint:
      return Fail(absl::StrCat("request: parameter '", key, "' = ", leaf.text,
                               " is out of range; integers must fit in int64"),
                  ec);
    case Json::kDouble: {
      double d = 0;
      if (!tensor_json::ParseFloat(leaf.text, d)) {
        return Fail(
            absl::StrCat("request: parameter '", key, "' = ", leaf.text, " is not a finite number"),
            ec);
      }
      request_.parameters.emplace(key, d);
      return true;
    }
    case Json::kString:
      request_.parameters.emplace(key, std::string(leaf.text));
      return true;
    default:
      return Fail(absl::StrCat("request: parameter '", key,
                               "' must be a string, number or boolean, not ", JsonName(kind)),
                  ec);
  }
}

// sequence_id, sequence_start, sequence_end: typed into the request's SequenceControl
// (core/sequence_parameters.h); a sequence_id beyond int64 is fine here.
bool RequestHandler::SequenceParamValue(Json kind, const Leaf& leaf, json::error_code& ec) {
  SequenceParameterValue value;
  switch (kind) {
    case Json::kBool:
      value = leaf.b;
      break;
    case Json::kInt:
      value = leaf.i;
      break;
    case Json::kUint:
      value = leaf.u;
      break;
    case Json::kString:
      value = std::string(leaf.text);
      break;
    default:
      value = leaf.parsed;
      break;
  }
  const absl::Status status = ApplySequenceParameter(param_key_, value, request_.sequence);
  if (!status.ok()) return Fail(absl::StrCat("request: ", status.message()), ec);
  // Also kept as the wire gave it (when it fits a ParameterValue), so that a repeated key
  // is caught like any other.
  if (kind == Json::kBool) request_.parameters.emplace(param_key_, leaf.b);
  if (kind == Json::kInt) request_.parameters.emplace(param_key_, leaf.i);
  if (kind == Json::kString) request_.parameters.emplace(param_key_, std::string(leaf.text));
  return true;
}

namespace {

// How a bad parameter value is shown in a message: numbers as written, else their kind.
std::string Shown(Json kind, const Leaf& leaf) {
  if (kind == Json::kInt || kind == Json::kUint || kind == Json::kDouble) {
    return std::string(leaf.text);
  }
  return JsonName(kind);
}

}  // namespace

bool RequestHandler::InputParamValue(Field field, Json kind, const Leaf& leaf,
                                     json::error_code& ec) {
  if (field == Field::kShmRegion || field == Field::kShmOffset || field == Field::kShmByteSize) {
    return ShmParamValue(input_.shm, input_.label, field, kind, leaf, ec);
  }
  if (field != Field::kBinaryDataSize) return SkipValue(kind);
  if (kind != Json::kInt || leaf.i < 0) {
    return Fail(absl::StrCat(input_.label,
                             ": parameter 'binary_data_size' must be a non-negative integer, "
                             "not ",
                             Shown(kind, leaf)),
                ec);
  }
  if (input_.has_data) {
    return Fail(absl::StrCat(input_.label,
                             ": has both 'data' and 'binary_data_size'; send its values in one "
                             "place"),
                ec);
  }
  input_.binary_size = leaf.i;
  return true;
}

bool RequestHandler::OutputParamValue(Field field, Json kind, const Leaf& leaf,
                                      json::error_code& ec) {
  switch (field) {
    case Field::kClassification:
      if (kind != Json::kInt || leaf.i < 0) {
        return Fail(absl::StrCat(OutputLabel(),
                                 ": parameter 'classification' must be a non-negative integer, "
                                 "not ",
                                 Shown(kind, leaf)),
                    ec);
      }
      request_.outputs.back().classification = leaf.i;
      return true;
    case Field::kBinaryData:
      if (kind != Json::kBool) {
        return Fail(absl::StrCat(OutputLabel(),
                                 ": parameter 'binary_data' must be true or false, "
                                 "not ",
                                 JsonName(kind)),
                    ec);
      }
      result_.binary_data.back() = leaf.b ? 1 : 0;
      return true;
    case Field::kShmRegion:
    case Field::kShmOffset:
    case Field::kShmByteSize:
      return ShmParamValue(output_shm_, OutputLabel(), field, kind, leaf, ec);
    default:
      return SkipValue(kind);
  }
}

// System shared memory extension: "shared_memory_region" (a string), and
// "shared_memory_offset" and "shared_memory_byte_size" (non-negative integers).
bool RequestHandler::ShmParamValue(ShmParams& shm, const std::string& label, Field field,
                                   Json kind, const Leaf& leaf, json::error_code& ec) {
  if (field == Field::kShmRegion) {
    if (kind != Json::kString) {
      return Fail(absl::StrCat(label, ": parameter '", kShmRegionParam, "' must be a string, not ",
                               JsonName(kind)),
                  ec);
    }
    shm.ref.region.assign(leaf.text.data(), leaf.text.size());
    shm.has_region = true;
    return true;
  }
  const char* name = field == Field::kShmOffset ? kShmOffsetParam : kShmByteSizeParam;
  uint64_t value = 0;
  if (kind == Json::kInt && leaf.i >= 0) {
    value = static_cast<uint64_t>(leaf.i);
  } else if (kind == Json::kUint) {
    value = leaf.u;
  } else {
    return Fail(absl::StrCat(label, ": parameter '", name,
                             "' must be a non-negative integer, not ", Shown(kind, leaf)),
                ec);
  }
  if (field == Field::kShmOffset) {
    shm.ref.offset = value;
    shm.has_offset = true;
  } else {
    shm.ref.byte_size = value;
    shm.has_byte_size = true;
  }
  return true;
}

bool RequestHandler::CheckShmParams(const ShmParams& shm, const std::string& label,
                                    json::error_code& ec) {
  if (!shm.has_region) {
    return Fail(absl::StrCat(label, ": parameter '",
                             shm.has_offset ? kShmOffsetParam : kShmByteSizeParam,
                             "' needs '", kShmRegionParam, "' (the registered region)"),
                ec);
  }
  if (!shm.has_byte_size) {
    return Fail(absl::StrCat(label, ": parameter '", kShmRegionParam, "' needs '",
                             kShmByteSizeParam, "'"),
                ec);
  }
  return true;
}

// An input whose bytes are in a shared-memory region: they are read once the request is
// decoded (ResolveSharedMemory), which also checks the byte size against the shape.
bool RequestHandler::FinishShmInput(json::error_code& ec) {
  InputState& in = input_;
  if (!CheckShmParams(in.shm, in.label, ec)) return false;
  if (in.has_data || in.binary_size >= 0) {
    return Fail(absl::StrCat(in.label, ": has both '", in.has_data ? "data" : "binary_data_size",
                             "' and '", kShmRegionParam,
                             "'; send its values in one place"),
                ec);
  }
  if (!in.has_shape) return Fail(absl::StrCat(in.label, ": 'shape' is required"), ec);
  result_.shared_memory.inputs.emplace_back(request_.inputs.size(), std::move(in.shm.ref));
  request_.inputs.push_back(std::move(in.tensor));
  result_.binary_data_size.push_back(-1);
  return true;
}

bool RequestHandler::FinishOutput(json::error_code& ec) {
  if (!output_named_) return Fail(absl::StrCat(OutputLabel(), ": 'name' is required"), ec);
  const ShmParams& shm = output_shm_;
  if (!shm.has_region && !shm.has_offset && !shm.has_byte_size) return true;
  if (!CheckShmParams(shm, OutputLabel(), ec)) return false;
  if (result_.binary_data.back() == 1) {
    return Fail(absl::StrCat(OutputLabel(), ": has both 'binary_data' and '", kShmRegionParam,
                             "'; its values go to one place"),
                ec);
  }
  result_.shared_memory.outputs.emplace_back(request_.outputs.back().name, shm.ref);
  return true;
}

// An input whose bytes follow the JSON. Its size is checked against the shape here when
// the datatype has a fixed width; BYTES framing is checked when the bytes are split off.
bool RequestHandler::FinishBinaryInput(json::error_code& ec) {
  InputState& in = input_;
  if (!in.has_shape) return Fail(absl::StrCat(in.label, ": 'shape' is required"), ec);
  const std::vector<int64_t>& shape = in.tensor.shape;
  const int64_t count = ElementCount(shape);
  if (count < 0) {
    return Fail(absl::StrCat(in.label, ": shape ", ShapeToString(shape), " has too many elements"),
                ec);
  }
  const DataType dt = in.tensor.dtype;
  const uint64_t size = static_cast<uint64_t>(in.binary_size);
  if (dt == DataType::kBytes) {
    // Every element has at least its 4-byte length.
    if (size / sizeof(uint32_t) < static_cast<uint64_t>(count)) {
      return Fail(absl::StrCat(in.label, ": 'binary_data_size' is ", size, " but shape ",
                               ShapeToString(shape), " of BYTES needs at least ",
                               static_cast<uint64_t>(count) * sizeof(uint32_t),
                               " bytes (a 4-byte length per element)"),
                  ec);
    }
  } else {
    const uint64_t elem = DataTypeByteSize(dt);
    if (static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / elem ||
        size != static_cast<uint64_t>(count) * elem) {
      return Fail(absl::StrCat(in.label, ": 'binary_data_size' is ", size, " but shape ",
                               ShapeToString(shape), " of ", DataTypeName(dt), " needs ",
                               static_cast<uint64_t>(count) * elem, " bytes"),
                  ec);
    }
  }
  request_.inputs.push_back(std::move(in.tensor));
  result_.binary_data_size.push_back(in.binary_size);
  return true;
}

}  // namespace json_decode
}  // namespace ferry
