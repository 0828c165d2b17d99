#include "api/grpc/tensor_codec.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "core/error_text.h"
#include "core/sequence_parameters.h"

namespace ferry {
namespace grpc_api {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor bytes are little-endian; a big-endian host needs byte swaps here");

using InputTensor = inference::ModelInferRequest::InferInputTensor;
using google::protobuf::RepeatedField;
using google::protobuf::RepeatedPtrField;

// The typed-contents fields, in proto field order.
enum class Field { kBool, kInt, kInt64, kUint, kUint64, kFp32, kFp64, kBytes, kNone };

const char* FieldName(Field f) {
  switch (f) {
    case Field::kBool: return "bool_contents";
    case Field::kInt: return "int_contents";
    case Field::kInt64: return "int64_contents";
    case Field::kUint: return "uint_contents";
    case Field::kUint64: return "uint64_contents";
    case Field::kFp32: return "fp32_contents";
    case Field::kFp64: return "fp64_contents";
    case Field::kBytes: return "bytes_contents";
    case Field::kNone: break;
  }
  return "none";
}

// The field that carries `dtype`; kNone for FP16/BF16, which only travel raw.
Field FieldFor(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return Field::kBool;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32: return Field::kInt;
    case DataType::kInt64: return Field::kInt64;
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32: return Field::kUint;
    case DataType::kUint64: return Field::kUint64;
    case DataType::kFp32: return Field::kFp32;
    case DataType::kFp64: return Field::kFp64;
    case DataType::kBytes: return Field::kBytes;
    default: return Field::kNone;
  }
}

int FieldSize(const inference::InferTensorContents& c, Field f) {
  switch (f) {
    case Field::kBool: return c.bool_contents_size();
    case Field::kInt: return c.int_contents_size();
    case Field::kInt64: return c.int64_contents_size();
    case Field::kUint: return c.uint_contents_size();
    case Field::kUint64: return c.uint64_contents_size();
    case Field::kFp32: return c.fp32_contents_size();
    case Field::kFp64: return c.fp64_contents_size();
    case Field::kBytes: return c.bytes_contents_size();
    case Field::kNone: break;
  }
  return 0;
}

constexpr Field kAllFields[] = {Field::kBool,   Field::kInt,  Field::kInt64, Field::kUint,
                                Field::kUint64, Field::kFp32, Field::kFp64,  Field::kBytes};

bool HasContents(const InputTensor& input) {
  if (!input.has_contents()) return false;
  for (Field f : kAllFields) {
    if (FieldSize(input.contents(), f) > 0) return true;
  }
  return false;
}

std::string InputLabel(const InputTensor& input) {
  return absl::StrCat("input '", input.name(), "'");
}

// Name, datatype and shape, checked; `count` receives the element count.
absl::StatusOr<Tensor> StartTensor(const InputTensor& input, int64_t* count) {
  Tensor t;
  t.name = input.name();
  t.dtype = ParseDataType(input.datatype());
  if (t.dtype == DataType::kInvalid) {
    return absl::InvalidArgumentError(absl::StrCat(
        InputLabel(input), ": unknown datatype '", input.datatype(),
        "'; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
        "FP16, BF16, FP32, FP64, BYTES"));
  }
  t.shape.assign(input.shape().begin(), input.shape().end());
  for (int64_t d : t.shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          InputLabel(input), ": shape ", ShapeToString(t.shape), " has a negative dimension"));
    }
  }
  *count = t.element_count();
  if (*count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(InputLabel(input), ": shape ", ShapeToString(t.shape), " is too large"));
  }
  return t;
}

// Appends `src` as `Dst` values, rejecting any value `Dst` cannot hold exactly.
template <typename Dst, typename Src>
absl::Status PutChecked(const RepeatedField<Src>& src, const InputTensor& input, Field field,
                        std::vector<uint8_t>& out) {
  out.resize(static_cast<size_t>(src.size()) * sizeof(Dst));
  uint8_t* p = out.data();
  for (int i = 0; i < src.size(); ++i) {
    const Src v = src.Get(i);
    if constexpr (!std::is_same_v<Src, Dst>) {
      // Both sides are integers of the same signedness, so the comparisons are exact.
      static_assert(std::is_signed_v<Src> == std::is_signed_v<Dst>);
      bool below = false;
      if constexpr (std::is_signed_v<Src>) below = v < std::numeric_limits<Dst>::min();
      if (below || v > static_cast<Src>(std::numeric_limits<Dst>::max())) {
        return absl::InvalidArgumentError(absl::StrCat(
            InputLabel(input), ": ", FieldName(field), "[", i, "] = ", v, " is out of range for ",
            input.datatype(), " [", static_cast<int64_t>(std::numeric_limits<Dst>::min()), ", ",
            static_cast<uint64_t>(std::numeric_limits<Dst>::max()), "]"));
      }
    }
    const Dst d = static_cast<Dst>(v);
    std::memcpy(p, &d, sizeof(Dst));
    p += sizeof(Dst);
  }
  return absl::OkStatus();
}

void PutBool(const RepeatedField<bool>& src, std::vector<uint8_t>& out) {
  out.resize(src.size());
  for (int i = 0; i < src.size(); ++i) out[i] = src.Get(i) ? 1 : 0;
}

absl::Status PutBytes(const RepeatedPtrField<std::string>& src, const InputTensor& input,
                      std::vector<uint8_t>& out) {
  size_t total = 0;
  for (const std::string& s : src) total += sizeof(uint32_t) + s.size();
  out.resize(total);
  uint8_t* p = out.data();
  for (int i = 0; i < src.size(); ++i) {
    const std::string& s = src.Get(i);
    // Cannot happen under the default 64 MiB message limit, but the length prefix is
    // 32 bits and a larger limit would otherwise truncate it silently.
    if (s.size() > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat(InputLabel(input), ": bytes_contents[", i, "] is longer than 4 GiB"));
    }
    const uint32_t len = static_cast<uint32_t>(s.size());
    std::memcpy(p, &len, sizeof(len));
    std::memcpy(p + sizeof(len), s.data(), s.size());
    p += sizeof(len) + s.size();
  }
  return absl::OkStatus();
}

absl::Status ConvertTyped(const inference::InferTensorContents& c, const InputTensor& input,
                          DataType dtype, std::vector<uint8_t>& out) {
  switch (dtype) {
    case DataType::kBool: PutBool(c.bool_contents(), out); return absl::OkStatus();
    case DataType::kInt8: return PutChecked<int8_t>(c.int_contents(), input, Field::kInt, out);
    case DataType::kInt16: return PutChecked<int16_t>(c.int_contents(), input, Field::kInt, out);
    case DataType::kInt32: return PutChecked<int32_t>(c.int_contents(), input, Field::kInt, out);
    case DataType::kInt64:
      return PutChecked<int64_t>(c.int64_contents(), input, Field::kInt64, out);
    case DataType::kUint8: return PutChecked<uint8_t>(c.uint_contents(), input, Field::kUint, out);
    case DataType::kUint16:
      return PutChecked<uint16_t>(c.uint_contents(), input, Field::kUint, out);
    case DataType::kUint32:
      return PutChecked<uint32_t>(c.uint_contents(), input, Field::kUint, out);
    case DataType::kUint64:
      return PutChecked<uint64_t>(c.uint64_contents(), input, Field::kUint64, out);
    case DataType::kFp32: return PutChecked<float>(c.fp32_contents(), input, Field::kFp32, out);
    case DataType::kFp64: return PutChecked<double>(c.fp64_contents(), input, Field::kFp64, out);
    case DataType::kBytes: return PutBytes(c.bytes_contents(), input, out);
    default: break;
  }
  return absl::InternalError("unreachable: datatype without a typed field");
}

using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

// A tensor's system shared memory parameters: nullopt when it has none. InvalidArgument
// naming the tensor and the parameter for a wrong kind of value, a negative number, an
// offset or size without a region, or a region without a byte size.
absl::StatusOr<std::optional<SharedMemoryRef>> DecodeShmParams(const ParameterMap& params,
                                                               const std::string& label) {
  const auto region = params.find(kShmRegionParam);
  const auto offset = params.find(kShmOffsetParam);
  const auto size = params.find(kShmByteSizeParam);
  if (region == params.end()) {
    if (offset == params.end() && size == params.end()) return std::nullopt;
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": parameter '", offset != params.end() ? kShmOffsetParam : kShmByteSizeParam,
        "' needs '", kShmRegionParam, "' (the registered region)"));
  }
  if (region->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": parameter '", kShmRegionParam, "' must be a string (string_param)"));
  }
  if (size == params.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": parameter '", kShmRegionParam, "' needs '", kShmByteSizeParam, "'"));
  }
  const auto number = [&](const inference::InferParameter& p, const char* name,
                          uint64_t& out) -> absl::Status {
    if (p.parameter_choice_case() == inference::InferParameter::kUint64Param) {
      out = p.uint64_param();
      return absl::OkStatus();
    }
    if (p.parameter_choice_case() == inference::InferParameter::kInt64Param &&
        p.int64_param() >= 0) {
      out = static_cast<uint64_t>(p.int64_param());
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": parameter '", name,
                     "' must be a non-negative integer (int64_param or uint64_param)"));
  };
  SharedMemoryRef ref;
  ref.region = region->second.string_param();
  FERRY_RETURN_IF_ERROR(number(size->second, kShmByteSizeParam, ref.byte_size));
  if (offset != params.end()) FERRY_RETURN_IF_ERROR(number(offset->second, kShmOffsetParam, ref.offset));
  return ref;
}

absl::StatusOr<RequestedOutput> DecodeRequestedOutput(
    const inference::ModelInferRequest::InferRequestedOutputTensor& output) {
  RequestedOutput out;
  out.name = output.name();
  auto it = output.parameters().find("classification");
  if (it == output.parameters().end()) return out;
  const inference::InferParameter& p = it->second;
  const std::string label = absl::StrCat("output '", output.name(), "'");
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      if (p.int64_param() < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": parameter 'classification' must be >= 0, got ", p.int64_param()));
      }
      out.classification = p.int64_param();
      return out;
    case inference::InferParameter::kUint64Param:
      if (p.uint64_param() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return absl::InvalidArgumentError(
            absl::StrCat(label, ": parameter 'classification' is too large: ", p.uint64_param()));
      }
      out.classification = static_cast<int64_t>(p.uint64_param());
      return out;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": parameter 'classification' must be an integer (int64_param)"));
  }
}

// sequence_id, sequence_start, sequence_end: typed into the request's SequenceControl.
absl::Status DecodeSequenceParameter(const std::string& key, const inference::InferParameter& p,
                                     SequenceControl& sequence) {
  SequenceParameterValue value;
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam: value = p.bool_param(); break;
    case inference::InferParameter::kInt64Param: value = p.int64_param(); break;
    case inference::InferParameter::kUint64Param: value = p.uint64_param(); break;
    case inference::InferParameter::kDoubleParam: value = p.double_param(); break;
    case inference::InferParameter::kStringParam: value = p.string_param(); break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("request parameter '", key, "' has no value"));
  }
  return ApplySequenceParameter(key, value, sequence);
}

// Request-level parameters as the wire gave them; the server interprets the ones it knows.
absl::Status DecodeParameters(const inference::ModelInferRequest& request, InferRequest& out) {
  for (const auto& [key, p] : request.parameters()) {
    if (IsSequenceParameter(key)) {
      FERRY_RETURN_IF_ERROR(DecodeSequenceParameter(key, p, out.sequence));
      continue;
    }
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kBoolParam:
        out.parameters.emplace(key, p.bool_param());
        break;
      case inference::InferParameter::kInt64Param:
        out.parameters.emplace(key, p.int64_param());
        break;
      case inference::InferParameter::kDoubleParam:
        out.parameters.emplace(key, p.double_param());
        break;
      case inference::InferParameter::kStringParam:
        out.parameters.emplace(key, p.string_param());
        break;
      case inference::InferParameter::kUint64Param:
        if (p.uint64_param() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return absl::InvalidArgumentError(absl::StrCat("request parameter '", key,
                                                         "' is too large: ", p.uint64_param()));
        }
        out.parameters.emplace(key, static_cast<int64_t>(p.uint64_param()));
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("request parameter '", key, "' has no value"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Tensor> DecodeTypedInput(const InputTensor& input) {
  int64_t count = 0;
  FERRY_ASSIGN_OR_RETURN(Tensor t, StartTensor(input, &count));
  const Field want = FieldFor(t.dtype);
  if (want == Field::kNone) {
    return absl::InvalidArgumentError(
        absl::StrCat(InputLabel(input), ": ", input.datatype(),
                     " has no typed contents field; send it in raw_input_contents"));
  }
  const inference::InferTensorContents& c = input.contents();
  for (Field f : kAllFields) {
    if (f != want && FieldSize(c, f) > 0) {
      return absl::InvalidArgumentError(absl::StrCat(InputLabel(input), ": datatype ",
                                                     input.datatype(), " takes ", FieldName(want),
                                                     ", but ", FieldName(f), " was set"));
    }
  }
  const int given = FieldSize(c, want);
  if (given != count) {
    if (given == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          InputLabel(input), " has no data: shape ", ShapeToString(t.shape), " needs ", count,
          " values in contents.", FieldName(want), " (or use raw_input_contents)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(InputLabel(input), ": shape ", ShapeToString(t.shape), " needs ", count,
                     " values, but ", FieldName(want), " has ", given));
  }
  FERRY_RETURN_IF_ERROR(ConvertTyped(c, input, t.dtype, t.data));
  return t;
}

absl::StatusOr<Tensor> DecodeRawInput(const InputTensor& input, const std::string& raw, int index) {
  int64_t count = 0;
  FERRY_ASSIGN_OR_RETURN(Tensor t, StartTensor(input, &count));
  const size_t elem = DataTypeByteSize(t.dtype);
  if (elem > 0) {
    // Compare before copying: a mismatched buffer should cost nothing but the message.
    const uint64_t want = static_cast<uint64_t>(count) * elem;
    if (static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / elem ||
        raw.size() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "raw_input_contents[", index, "] for ", InputLabel(input), " has ", raw.size(),
          " bytes, but shape ", ShapeToString(t.shape), " of ", input.datatype(), " needs ", want));
    }
  }
  t.data.assign(raw.begin(), raw.end());
  if (t.dtype == DataType::kBytes) {
    // Each element is a 4-byte little-endian length and that many bytes, exactly the
    // core's layout, so validating is all there is to do.
    if (absl::Status s = CheckByteSize(t); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("raw_input_contents[", index, "]: ", s.message()));
    }
  }
  return t;
}

absl::StatusOr<InferRequest> DecodeInferRequest(const inference::ModelInferRequest& request,
                                                SharedMemoryTensors* shared_memory) {
  InferRequest out;
  out.id = request.id();
  FERRY_RETURN_IF_ERROR(DecodeParameters(request, out));
  // Inputs in shared memory take no raw_input_contents entry: the entries belong to the
  // other inputs, in order (as Triton's clients send them).
  std::vector<std::optional<SharedMemoryRef>> in_shm(request.inputs_size());
  int body_inputs = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const InputTensor& input = request.inputs(i);
    FERRY_ASSIGN_OR_RETURN(in_shm[i], DecodeShmParams(input.parameters(), InputLabel(input)));
    if (!in_shm[i]) {
      ++body_inputs;
      continue;
    }
    if (shared_memory == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(InputLabel(input), ": shared memory is not served here"));
    }
    if (HasContents(input)) {
      return absl::InvalidArgumentError(
          absl::StrCat(InputLabel(input), " sets both contents and '", kShmRegionParam,
                       "'; send its values in one place"));
    }
  }
  const int raw_count = request.raw_input_contents_size();
  if (raw_count > 0) {
    for (int i = 0; i < request.inputs_size(); ++i) {
      const InputTensor& input = request.inputs(i);
      if (!in_shm[i] && HasContents(input)) {
        return absl::InvalidArgumentError(absl::StrCat(
            error_text::ContentsWithRaw(input.name(), request.model_name()),
            ": use one or the other for all inputs"));
      }
    }
    if (raw_count != body_inputs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "raw_input_contents has ", raw_count, " entries for ", body_inputs,
          " inputs", body_inputs != request.inputs_size() ? " not in shared memory" : "",
          "; expected one per input, in the order of 'inputs'"));
    }
  }
  out.inputs.reserve(request.inputs_size());
  int raw_index = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const InputTensor& input = request.inputs(i);
    if (in_shm[i]) {
      // Its bytes come from the region (ResolveSharedMemory), which checks them.
      int64_t count = 0;
      FERRY_ASSIGN_OR_RETURN(Tensor t, StartTensor(input, &count));
      shared_memory->inputs.emplace_back(out.inputs.size(), *std::move(in_shm[i]));
      out.inputs.push_back(std::move(t));
      continue;
    }
    absl::StatusOr<Tensor> t =
        raw_count > 0 ? DecodeRawInput(input, request.raw_input_contents(raw_index), raw_index)
                      : DecodeTypedInput(input);
    ++raw_index;
    if (!t.ok()) return t.status();
    out.inputs.push_back(std::move(*t));
  }
  out.outputs.reserve(request.outputs_size());
  for (const auto& output : request.outputs()) {
    FERRY_ASSIGN_OR_RETURN(RequestedOutput o, DecodeRequestedOutput(output));
    const std::string label = absl::StrCat("output '", output.name(), "'");
    FERRY_ASSIGN_OR_RETURN(std::optional<SharedMemoryRef> ref,
                           DecodeShmParams(output.parameters(), label));
    if (ref) {
      if (shared_memory == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(label, ": shared memory is not served here"));
      }
      shared_memory->outputs.emplace_back(output.name(), *std::move(ref));
    }
    out.outputs.push_back(std::move(o));
  }
  return out;
}

void EncodeInferResponse(InferResponse response, inference::ModelInferResponse* out,
                         const std::vector<std::optional<SharedMemoryRef>>* shared_memory) {
  out->set_model_name(std::move(response.model_name));
  out->set_model_version(std::move(response.model_version));
  out->set_id(std::move(response.id));
  out->mutable_outputs()->Reserve(static_cast<int>(response.outputs.size()));
  out->mutable_raw_output_contents()->Reserve(static_cast<int>(response.outputs.size()));
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    Tensor& t = response.outputs[i];
    auto* o = out->add_outputs();
    o->set_name(std::move(t.name));
    o->set_datatype(std::string(DataTypeName(t.dtype)));
    o->mutable_shape()->Add(t.shape.begin(), t.shape.end());
    if (shared_memory != nullptr && i < shared_memory->size() && (*shared_memory)[i]) {
      // Written into the region: the output names it, and its raw entry stays empty.
      const SharedMemoryRef& ref = *(*shared_memory)[i];
      auto& params = *o->mutable_parameters();
      params[kShmRegionParam].set_string_param(ref.region);
      params[kShmOffsetParam].set_int64_param(static_cast<int64_t>(ref.offset));
      params[kShmByteSizeParam].set_int64_param(static_cast<int64_t>(ref.byte_size));
      out->add_raw_output_contents();
      continue;
    }
    // Always present, even at 0 bytes, so entry i stays output i.
    out->add_raw_output_contents()->assign(reinterpret_cast<const char*>(t.data.data()),
                                           t.data.size());
  }
}

}  // namespace grpc_api
}  // namespace ferry
