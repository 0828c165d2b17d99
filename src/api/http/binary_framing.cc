#include "api/http/binary_framing.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace ferry {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "binary tensor data is little-endian; a big-endian host needs byte swaps here");

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Label(const Tensor& t) { return absl::StrCat("input '", t.name, "'"); }

// Checks that `bytes` holds exactly `count` BYTES elements, each a 4-byte little-endian
// length and that many bytes.
absl::Status CheckBytesFraming(const Tensor& t, std::string_view bytes, int64_t count) {
  size_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    uint32_t len = 0;
    if (bytes.size() - offset < sizeof(len)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Label(t), ": binary BYTES data ends after ", i, " of the ", count,
                       " elements its shape ", ShapeToString(t.shape), " calls for (", bytes.size(),
                       " bytes; each element is a 4-byte length and that many bytes)"));
    }
    std::memcpy(&len, bytes.data() + offset, sizeof(len));
    offset += sizeof(len);
    if (bytes.size() - offset < len) {
      return absl::InvalidArgumentError(
          absl::StrCat(Label(t), ": binary BYTES element ", i, " has length ", len, " but only ",
                       bytes.size() - offset, " bytes of its 'binary_data_size' remain"));
    }
    offset += len;
  }
  if (offset != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Label(t), ": binary BYTES data has ", bytes.size() - offset, " bytes left over after the ",
        count, " elements its shape ", ShapeToString(t.shape), " calls for ('binary_data_size' is ",
        bytes.size(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<size_t> ParseInferenceHeaderLength(std::string_view value, size_t body_size) {
  // HTTP allows spaces around a field value; Beast trims them, but be lenient anyway.
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  uint64_t n = 0;
  bool valid = !value.empty() && value.size() <= 19;
  for (char c : value) {
    if (c < '0' || c > '9') {
      valid = false;
      break;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(
        kInferenceHeaderContentLength, " header '", AbslView(value.substr(0, 40)),
        "' is not a non-negative integer (the length of the JSON at the start of the body)"));
  }
  if (n > body_size) {
    return absl::InvalidArgumentError(absl::StrCat(kInferenceHeaderContentLength, " header is ", n,
                                                   " but the body has only ", body_size, " bytes"));
  }
  return static_cast<size_t>(n);
}

absl::Status SplitBinaryInputs(std::string_view binary, RestInferRequest& request) {
  std::vector<Tensor>& inputs = request.request.inputs;
  // Check the total before copying anything, so a bad request costs no copies.
  uint64_t total = 0;
  std::vector<std::string> parts;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t size = request.binary_data_size[i];
    if (size < 0) continue;
    total += static_cast<uint64_t>(size);  // each size <= 2^63, so two cannot wrap
    if (total > binary.size()) total = static_cast<uint64_t>(binary.size()) + 1;
    parts.push_back(absl::StrCat("'", inputs[i].name, "' ", size));
  }
  if (parts.empty()) {
    if (binary.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        binary.size(), " bytes follow the JSON header (", kInferenceHeaderContentLength,
        "), but no input has the parameter 'binary_data_size' to take them"));
  }
  if (total != binary.size()) {
    uint64_t sum = 0;
    for (int64_t size : request.binary_data_size) sum += size < 0 ? 0 : size;
    return absl::InvalidArgumentError(
        absl::StrCat("the inputs' 'binary_data_size' add up to ", sum, " bytes (",
                     absl::StrJoin(parts, ", "), "), but ", binary.size(),
                     " bytes follow the JSON header (", kInferenceHeaderContentLength, ")"));
  }
  size_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t size = request.binary_data_size[i];
    if (size < 0) continue;
    Tensor& t = inputs[i];
    const std::string_view bytes = binary.substr(offset, static_cast<size_t>(size));
    offset += bytes.size();
    if (t.dtype == DataType::kBytes) {
      if (absl::Status s = CheckBytesFraming(t, bytes, t.element_count()); !s.ok()) return s;
    }
    // Fixed-size datatypes had their size checked against the shape with the JSON.
    t.data.assign(reinterpret_cast<const uint8_t*>(bytes.data()),
                  reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<RestInferRequest> DecodeRestInferRequest(std::string_view body,
                                                        std::optional<size_t> json_size,
                                                        const DecodeOptions& options) {
  if (!json_size) {
    absl::StatusOr<RestInferRequest> decoded = DecodeInferHeader(body, options);
    if (!decoded.ok()) return decoded.status();
    if (absl::Status s = CheckNoBinaryInputs(*decoded); !s.ok()) return s;
    return decoded;
  }
  if (*json_size > body.size()) {
    return absl::InvalidArgumentError(absl::StrCat(kInferenceHeaderContentLength, " header is ",
                                                   *json_size, " but the body has only ",
                                                   body.size(), " bytes"));
  }
  absl::StatusOr<RestInferRequest> decoded = DecodeInferHeader(body.substr(0, *json_size), options);
  if (!decoded.ok()) return decoded.status();
  if (absl::Status s = SplitBinaryInputs(body.substr(*json_size), *decoded); !s.ok()) return s;
  return decoded;
}

absl::StatusOr<RestInferRequest> DecodeRawInferRequest(std::string_view body,
                                                       const ModelMetadata& model) {
  const std::string where =
      absl::StrCat("a raw binary request (", kInferenceHeaderContentLength, ": 0)");
  if (model.inputs.size() != 1) {
    std::vector<std::string> names;
    for (const TensorSpec& spec : model.inputs) names.push_back(spec.name);
    return absl::InvalidArgumentError(
        absl::StrCat(where, " needs a model with exactly one input, but model '", model.name,
                     "' has ", model.inputs.size(), " (", absl::StrJoin(names, ", "),
                     "); send a JSON header that names the inputs"));
  }
  const TensorSpec& spec = model.inputs[0];
  const std::string label =
      absl::StrCat("input '", spec.name, "' of shape ", ShapeToString(spec.shape), " and datatype ",
                   DataTypeName(spec.dtype));
  if (body.empty()) return absl::InvalidArgumentError(absl::StrCat(where, " has an empty body"));
  Tensor t;
  t.name = spec.name;
  t.dtype = spec.dtype;
  t.shape = spec.shape;
  // The first dimension is the batch: one row.
  if (!t.shape.empty() && t.shape[0] == -1) t.shape[0] = 1;
  int variable = -1;
  uint64_t fixed = 1;  // product of the known dimensions
  for (size_t d = 0; d < t.shape.size(); ++d) {
    if (t.shape[d] >= 0) {
      if (__builtin_mul_overflow(fixed, static_cast<uint64_t>(t.shape[d]), &fixed) ||
          fixed > (uint64_t{1} << 56)) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", label, " is too large"));
      }
      continue;
    }
    if (variable != -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " cannot work out the shape of ", label,
                       ": it has more than one variable dimension besides the batch"));
    }
    variable = static_cast<int>(d);
  }
  if (t.dtype == DataType::kBytes) {
    if (variable != -1 || fixed != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " sends one BYTES element, but ", label,
                       " does not hold exactly one element per row (it needs shape [-1, 1])"));
    }
    if (body.size() > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is too large for one BYTES element"));
    }
    const uint32_t len = static_cast<uint32_t>(body.size());
    t.data.resize(sizeof(len) + body.size());
    std::memcpy(t.data.data(), &len, sizeof(len));
    std::memcpy(t.data.data() + sizeof(len), body.data(), body.size());
  } else {
    const uint64_t row = fixed * DataTypeByteSize(t.dtype);
    if (variable != -1) {
      if (row == 0 || body.size() % row != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " has ", body.size(), " bytes, which is not a whole number of ",
                         label, " (", row, " bytes per step of the variable dimension)"));
      }
      t.shape[variable] = static_cast<int64_t>(body.size() / row);
    } else if (row != body.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has ", body.size(), " bytes, but ",
                                                     label, " needs ", row, " bytes for one row"));
    }
    t.data.assign(reinterpret_cast<const uint8_t*>(body.data()),
                  reinterpret_cast<const uint8_t*>(body.data()) + body.size());
  }
  RestInferRequest out;
  out.binary_data_size.push_back(static_cast<int64_t>(body.size()));
  out.request.inputs.push_back(std::move(t));
  out.binary_data_output = true;
  return out;
}

BinaryOutputs::BinaryOutputs(const RestInferRequest& request)
    : all_(request.binary_data_output), any_(request.binary_data_output) {
  const std::vector<RequestedOutput>& outputs = request.request.outputs;
  for (size_t i = 0; i < outputs.size() && i < request.binary_data.size(); ++i) {
    if (request.binary_data[i] < 0) continue;
    named_.emplace_back(outputs[i].name, request.binary_data[i] == 1);
    any_ |= request.binary_data[i] == 1;
  }
}

std::vector<bool> BinaryOutputs::Flags(const InferResponse& response) const {
  std::vector<bool> flags(response.outputs.size(), all_);
  if (named_.empty()) return flags;
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    for (const auto& [name, binary] : named_) {
      if (name == response.outputs[i].name) {
        flags[i] = binary;
        break;
      }
    }
  }
  return flags;
}

}  // namespace ferry
