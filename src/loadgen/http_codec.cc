#include "loadgen/http_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/json.hpp"
#include "loadgen/elements.h"

namespace ferry::loadgen {
namespace json = boost::json;
namespace {

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", u);
      out->append(escaped);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendShape(const std::vector<int64_t>& shape, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, shape[i]);
  }
  out->push_back(']');
}

void AppendTensorHead(const Tensor& input, std::string* out) {
  out->append("{\"name\":");
  AppendJsonString(input.name, out);
  out->append(",\"shape\":");
  AppendShape(input.shape, out);
  absl::StrAppend(out, ",\"datatype\":\"", DataTypeName(input.dtype), "\"");
}

template <typename T>
void AppendShortest(T value, std::string* out) {
  if (!std::isfinite(value)) {  // JSON has no NaN or Inf.
    out->append("null");
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

void AppendJsonData(const Tensor& input, std::string* out) {
  out->push_back('[');
  const uint8_t* p = input.data.data();
  const uint8_t* end = p + input.data.size();
  bool first = true;
  const size_t size = DataTypeByteSize(input.dtype);
  while (p < end) {
    if (!first) out->push_back(',');
    first = false;
    switch (input.dtype) {
      case DataType::kBytes: {
        uint32_t length;
        std::memcpy(&length, p, 4);
        AppendJsonString(absl::string_view(reinterpret_cast<const char*>(p) + 4, length), out);
        p += 4 + length;
        continue;
      }
      case DataType::kBool:
        out->append(*p != 0 ? "true" : "false");
        break;
      case DataType::kFp32:
      case DataType::kFp16:
      case DataType::kBf16:
        AppendShortest(static_cast<float>(ReadNumber(input.dtype, p)), out);
        break;
      case DataType::kFp64:
        AppendShortest(ReadNumber(input.dtype, p), out);
        break;
      case DataType::kUint64: {
        uint64_t v;
        std::memcpy(&v, p, 8);
        absl::StrAppend(out, v);
        break;
      }
      case DataType::kInt64: {
        int64_t v;
        std::memcpy(&v, p, 8);
        absl::StrAppend(out, v);
        break;
      }
      default:
        absl::StrAppend(out, static_cast<int64_t>(ReadNumber(input.dtype, p)));
    }
    p += size;
  }
  out->push_back(']');
}

}  // namespace

std::string EncodeJsonInferRequest(const RequestData& request) {
  std::string out = "{\"inputs\":[";
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendTensorHead(request.inputs[i], &out);
    out.append(",\"data\":");
    AppendJsonData(request.inputs[i], &out);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::string EncodeShmInferRequest(const RequestData& request, absl::string_view region,
                                  const std::vector<std::pair<std::string, uint64_t>>& outputs) {
  std::string out = "{\"inputs\":[";
  uint64_t offset = 0;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendTensorHead(request.inputs[i], &out);
    // Region names come from the client itself: letters, digits, '-' and '_' only.
    absl::StrAppend(&out, ",\"parameters\":{\"shared_memory_region\":\"", region,
                    "\",\"shared_memory_offset\":", offset, ",\"shared_memory_byte_size\":",
                    request.inputs[i].data.size(), "}}");
    offset += request.inputs[i].data.size();
  }
  out.append("]");
  if (!outputs.empty()) {
    out.append(",\"outputs\":[");
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (i > 0) out.push_back(',');
      absl::StrAppend(&out, "{\"name\":\"", outputs[i].first,
                      "\",\"parameters\":{\"shared_memory_region\":\"", region,
                      "\",\"shared_memory_offset\":", offset,
                      ",\"shared_memory_byte_size\":", outputs[i].second, "}}");
      offset += outputs[i].second;
    }
    out.append("]");
  }
  out.append(",\"parameters\":{\"binary_data_output\":true}}");
  return out;
}

uint64_t ShmInputBytes(const RequestData& request) {
  uint64_t total = 0;
  for (const Tensor& input : request.inputs) total += input.data.size();
  return total;
}

BinaryInferRequest EncodeBinaryInferRequest(const RequestData& request) {
  BinaryInferRequest result;
  std::string& out = result.body;
  out = "{\"inputs\":[";
  size_t binary_bytes = 0;
  for (size_t i = 0; i < request.inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendTensorHead(request.inputs[i], &out);
    absl::StrAppend(&out, ",\"parameters\":{\"binary_data_size\":", request.inputs[i].data.size(),
                    "}}");
    binary_bytes += request.inputs[i].data.size();
  }
  out.append("],\"parameters\":{\"binary_data_output\":true}}");
  result.header_length = out.size();
  out.reserve(out.size() + binary_bytes);
  for (const Tensor& input : request.inputs) {
    out.append(reinterpret_cast<const char*>(input.data.data()), input.data.size());
  }
  return result;
}

std::string ModelPath(absl::string_view model, absl::string_view version,
                      absl::string_view suffix) {
  std::string path = absl::StrCat("/v2/models/", model);
  if (!version.empty()) absl::StrAppend(&path, "/versions/", version);
  absl::StrAppend(&path, suffix);
  return path;
}

std::string BuildHttpPost(absl::string_view target, absl::string_view host,
                          absl::string_view content_type, absl::string_view body,
                          std::optional<size_t> header_length) {
  std::string message =
      absl::StrCat("POST ", target, " HTTP/1.1\r\nHost: ", host,
                   "\r\nUser-Agent: ferry-bench\r\nContent-Type: ", content_type, "\r\n");
  if (header_length) {
    absl::StrAppend(&message, "Inference-Header-Content-Length: ", *header_length, "\r\n");
  }
  absl::StrAppend(&message, "Content-Length: ", body.size(), "\r\n\r\n");
  message.reserve(message.size() + body.size());
  message.append(body.data(), body.size());
  return message;
}

// ---- response checking --------------------------------------------------------------------

struct ResponseChecker::Scratch {
  // Big enough for the JSON of a batch-64 classifier response; larger ones spill to the heap
  // (still correct, just not allocation-free).
  static constexpr size_t kArenaBytes = 256 << 10;
  std::unique_ptr<unsigned char[]> arena{new unsigned char[kArenaBytes]};
  unsigned char parser_stack[4096];
  json::parser parser{json::storage_ptr(), json::parse_options(), parser_stack,
                      sizeof(parser_stack)};
};

ResponseChecker::ResponseChecker(std::vector<TensorSpec> expected_outputs)
    : expected_(std::move(expected_outputs)), scratch_(std::make_unique<Scratch>()) {}

ResponseChecker::~ResponseChecker() = default;

namespace {

uint64_t CountLeaves(const json::value& v) {
  if (!v.is_array()) return 1;
  uint64_t n = 0;
  for (const json::value& item : v.get_array()) n += CountLeaves(item);
  return n;
}

}  // namespace

absl::Status ResponseChecker::Check(absl::string_view body, std::optional<uint64_t> header_length,
                                    ResponseSummary* summary) {
  *summary = ResponseSummary{};
  absl::string_view header = body;
  if (header_length) {
    if (*header_length > body.size()) {
      return absl::InvalidArgumentError(absl::StrCat("Inference-Header-Content-Length ",
                                                     *header_length, " exceeds the body's ",
                                                     body.size(), " bytes"));
    }
    header = body.substr(0, *header_length);
  }
  json::monotonic_resource arena(scratch_->arena.get(), Scratch::kArenaBytes);
  json::parser& parser = scratch_->parser;
  parser.reset(json::storage_ptr(&arena));
  // Detach the parser from the arena before the arena goes out of scope, on every path.
  struct Detach {
    json::parser& parser;
    ~Detach() { parser.reset(); }
  } detach{parser};
  json::error_code ec;
  parser.write(header.data(), header.size(), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("response JSON does not parse: ", ec.message(), ": ", header.substr(0, 120)));
  }
  const json::value root = parser.release();
  const json::object* object = root.if_object();
  const json::value* outputs = object ? object->if_contains("outputs") : nullptr;
  if (outputs == nullptr || !outputs->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response has no \"outputs\" array: ", header.substr(0, 120)));
  }
  uint64_t binary_total = 0;
  for (const json::value& item : outputs->get_array()) {
    const json::object* output = item.if_object();
    const json::value* name = output ? output->if_contains("name") : nullptr;
    const json::value* datatype = output ? output->if_contains("datatype") : nullptr;
    const json::value* shape = output ? output->if_contains("shape") : nullptr;
    if (name == nullptr || !name->is_string() || datatype == nullptr || !datatype->is_string() ||
        shape == nullptr || !shape->is_array()) {
      return absl::InvalidArgumentError(
          "response output lacks \"name\", \"datatype\" or \"shape\"");
    }
    const absl::string_view name_text(name->get_string().data(), name->get_string().size());
    const DataType type = ParseDataType(
        absl::string_view(datatype->get_string().data(), datatype->get_string().size()));
    if (type == DataType::kInvalid) {
      return absl::InvalidArgumentError(
          absl::StrCat("response output '", name_text, "' has unknown datatype"));
    }
    if (!expected_.empty()) {
      bool found = false;
      for (const TensorSpec& spec : expected_) {
        if (spec.name != name_text) continue;
        found = true;
        if (spec.dtype != type) {
          return absl::InvalidArgumentError(
              absl::StrCat("response output '", name_text, "' is ", DataTypeName(type),
                           "; the model's metadata says ", DataTypeName(spec.dtype)));
        }
      }
      if (!found) {
        return absl::InvalidArgumentError(
            absl::StrCat("response has output '", name_text, "', not in the model's metadata"));
      }
    }
    uint64_t elements = 1;
    for (const json::value& dim : shape->get_array()) {
      if (!dim.is_int64() || dim.get_int64() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("response output '", name_text, "' has a bad shape dim"));
      }
      elements *= static_cast<uint64_t>(dim.get_int64());
    }
    const json::value* parameters = output->if_contains("parameters");
    const json::value* binary_size = parameters && parameters->is_object()
                                         ? parameters->get_object().if_contains("binary_data_size")
                                         : nullptr;
    const json::value* shm_size =
        parameters && parameters->is_object()
            ? parameters->get_object().if_contains("shared_memory_byte_size")
            : nullptr;
    if (shm_size != nullptr) {
      // Written into a shared-memory region: the size must fit the shape.
      const uint64_t size = DataTypeByteSize(type);
      if (!shm_size->is_int64() ||
          (size != 0 && static_cast<uint64_t>(shm_size->get_int64()) != elements * size)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "response output '", name_text, "': shared_memory_byte_size does not match its shape"));
      }
    } else if (binary_size != nullptr) {
      if (!header_length) {
        return absl::InvalidArgumentError(absl::StrCat(
            "response output '", name_text,
            "' has binary_data_size but the response has no Inference-Header-Content-Length"));
      }
      if (!binary_size->is_int64() || binary_size->get_int64() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("response output '", name_text, "' has a bad binary_data_size"));
      }
      const uint64_t bytes = static_cast<uint64_t>(binary_size->get_int64());
      const uint64_t size = DataTypeByteSize(type);
      if (size != 0 && bytes != elements * static_cast<uint64_t>(size)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "response output '", name_text, "': binary_data_size ", bytes, " but shape needs ",
            elements, " x ", size, " = ", elements * size, " bytes"));
      }
      binary_total += bytes;
    } else {
      const json::value* data = output->if_contains("data");
      if (data == nullptr || !data->is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "response output '", name_text, "' has neither \"data\" nor binary_data_size"));
      }
      const uint64_t count = CountLeaves(*data);
      if (count != elements) {
        return absl::InvalidArgumentError(absl::StrCat("response output '", name_text, "' has ",
                                                       count, " data elements; its shape needs ",
                                                       elements));
      }
    }
    ++summary->outputs;
    summary->elements += elements;
  }
  // Each output was checked against the model's above. A calibrated model lists outputs
  // (probabilities, prediction_set, ...) that come back only when asked for by name, so a
  // response may hold fewer than the metadata lists, but never none.
  if (!expected_.empty() && summary->outputs == 0) {
    return absl::InvalidArgumentError("response has no outputs");
  }
  const uint64_t after_header = header_length ? body.size() - *header_length : 0;
  if (binary_total != after_header) {
    return absl::InvalidArgumentError(absl::StrCat(
        binary_total > after_header ? "response truncated: " : "response has extra bytes: ",
        "outputs announce ", binary_total, " binary bytes, the body has ", after_header,
        " after the JSON header"));
  }
  summary->binary_bytes = binary_total;
  return absl::OkStatus();
}

}  // namespace ferry::loadgen
