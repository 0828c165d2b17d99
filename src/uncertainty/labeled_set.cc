#include "uncertainty/labeled_set.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/json.hpp"
#include "common/status_macros.h"
#include "json/writer.h"

namespace ferry {
namespace json = boost::json;
namespace {

constexpr size_t kPreamble = 16;  // magic, version, header length

uint32_t ReadU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void AppendU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

absl::Status Bad(absl::string_view source, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", problem));
}

absl::Status ParseHeader(absl::string_view text, absl::string_view source, LabeledSet& set) {
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Bad(source, absl::StrCat("header: not valid JSON: ", ec.message()));
  if (!root.is_object()) return Bad(source, "header: must be a JSON object");
  const json::object& h = root.as_object();
  for (const auto& kv : h) {
    const std::string key(kv.key().data(), kv.key().size());
    if (key != "datatype" && key != "shape" && key != "classes" && key != "description") {
      return Bad(source, absl::StrCat("header: ", key,
                                      ": unknown key (expected datatype, shape, classes, description)"));
    }
  }
  const json::value* dtype = h.if_contains("datatype");
  if (dtype == nullptr || !dtype->is_string()) {
    return Bad(source, "header: datatype: is required, a string such as \"FP32\"");
  }
  const std::string name(dtype->as_string().data(), dtype->as_string().size());
  set.dtype = ParseDataType(name);
  if (set.dtype == DataType::kInvalid || set.dtype == DataType::kBytes) {
    return Bad(source, absl::StrCat("header: datatype: \"", name,
                                    "\" is not a fixed-size protocol datatype (FP32, UINT8, ...)"));
  }
  const json::value* shape = h.if_contains("shape");
  if (shape == nullptr || !shape->is_array() || shape->as_array().empty()) {
    return Bad(source, "header: shape: is required, [N, d1, ..., dk] with N the number of rows");
  }
  for (const json::value& d : shape->as_array()) {
    if (!d.is_int64() || d.as_int64() < 1) {
      return Bad(source, "header: shape: every dimension must be an integer of at least 1");
    }
    set.shape.push_back(d.as_int64());
  }
  const json::value* classes = h.if_contains("classes");
  if (classes == nullptr || !classes->is_int64() || classes->as_int64() < 2) {
    return Bad(source, "header: classes: is required, an integer of at least 2");
  }
  set.classes = classes->as_int64();
  if (const json::value* d = h.if_contains("description")) {
    if (!d->is_string()) return Bad(source, "header: description: must be a string");
    set.description.assign(d->as_string().data(), d->as_string().size());
  }
  return absl::OkStatus();
}

}  // namespace

size_t LabeledSet::row_bytes() const {
  int64_t elements = 1;
  for (size_t d = 1; d < shape.size(); ++d) elements *= shape[d];
  return static_cast<size_t>(elements) * DataTypeByteSize(dtype);
}

Tensor LabeledSet::Rows(const std::string& name, int64_t begin, int64_t count) const {
  Tensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = shape;
  t.shape[0] = count;
  const size_t row = row_bytes();
  t.data.assign(data.begin() + begin * row, data.begin() + (begin + count) * row);
  return t;
}

absl::StatusOr<LabeledSet> ParseLabeledSet(absl::string_view bytes, absl::string_view source) {
  if (bytes.size() < kPreamble || bytes.substr(0, 8) != kLabeledSetMagic) {
    return Bad(source, "not a Ferry labeled set (it must start with the 8 bytes \"FERRYSET\"; "
                       "docs/uncertainty.md describes the format)");
  }
  const uint32_t version = ReadU32(bytes.data() + 8);
  if (version != kLabeledSetVersion) {
    return Bad(source, absl::StrCat("format version ", version, "; this Ferry reads version ",
                                    kLabeledSetVersion));
  }
  const uint32_t header_len = ReadU32(bytes.data() + 12);
  if (header_len > bytes.size() - kPreamble) {
    return Bad(source, absl::StrCat("header length ", header_len, " runs past the end of the ",
                                    bytes.size(), "-byte file"));
  }
  LabeledSet set;
  FERRY_RETURN_IF_ERROR(ParseHeader(bytes.substr(kPreamble, header_len), source, set));

  // The size the header promises, with overflow checks, so a lying header fails here.
  const int64_t n = set.shape[0];
  const int64_t elements = ElementCount(set.shape);
  const size_t elem_size = DataTypeByteSize(set.dtype);
  const size_t max = std::numeric_limits<size_t>::max() / 16;
  if (elements < 0 || static_cast<size_t>(elements) > max / elem_size ||
      static_cast<size_t>(n) > max / 8) {
    return Bad(source, absl::StrCat("shape ", ShapeToString(set.shape), " is too large"));
  }
  const size_t labels_at = kPreamble + header_len;
  const size_t data_at = labels_at + 8 * static_cast<size_t>(n);
  const size_t expected = data_at + static_cast<size_t>(elements) * elem_size;
  if (bytes.size() != expected) {
    return Bad(source, absl::StrCat("the header promises ", n, " labels and ", DataTypeName(set.dtype),
                                    " rows of shape ", ShapeToString(set.shape), ", ", expected,
                                    " bytes in all, but the file has ", bytes.size(), " bytes"));
  }
  set.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | static_cast<unsigned char>(bytes[labels_at + 8 * i + b]);
    const int64_t label = static_cast<int64_t>(v);
    if (label < 0 || label >= set.classes) {
      return Bad(source, absl::StrCat("label of row ", i, " is ", label, "; labels must be in [0, ",
                                      set.classes, ")"));
    }
    set.labels[i] = label;
  }
  set.data.assign(bytes.begin() + data_at, bytes.end());
  return set;
}

absl::StatusOr<LabeledSet> ReadLabeledSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return ParseLabeledSet(bytes.str(), path);
}

std::string SerializeLabeledSet(const LabeledSet& set) {
  std::string header = absl::StrCat("{\"datatype\": \"", DataTypeName(set.dtype), "\", \"shape\": [");
  for (size_t d = 0; d < set.shape.size(); ++d) absl::StrAppend(&header, d ? ", " : "", set.shape[d]);
  absl::StrAppend(&header, "], \"classes\": ", set.classes);
  if (!set.description.empty()) absl::StrAppend(&header, ", \"description\": ", JsonString(set.description));
  header += "}";
  std::string out(kLabeledSetMagic);
  AppendU32(out, kLabeledSetVersion);
  AppendU32(out, static_cast<uint32_t>(header.size()));
  out += header;
  for (int64_t label : set.labels) {
    for (int b = 0; b < 8; ++b) out += static_cast<char>((static_cast<uint64_t>(label) >> (8 * b)) & 0xff);
  }
  out.append(reinterpret_cast<const char*>(set.data.data()), set.data.size());
  return out;
}

absl::Status CheckLabeledSetFits(const LabeledSet& set, const TensorSpec& input, int64_t classes,
                                 absl::string_view source) {
  if (set.dtype != input.dtype) {
    return Bad(source, absl::StrCat("rows are ", DataTypeName(set.dtype), " but input '", input.name,
                                    "' takes ", DataTypeName(input.dtype)));
  }
  bool fits = set.shape.size() == input.shape.size();
  for (size_t d = 1; fits && d < set.shape.size(); ++d) {
    fits = input.shape[d] < 0 || input.shape[d] == set.shape[d];
  }
  if (!fits) {
    return Bad(source, absl::StrCat("rows of shape ", ShapeToString(set.shape), " do not fit input '",
                                    input.name, "' of shape ", ShapeToString(input.shape)));
  }
  if (set.classes != classes) {
    return Bad(source, absl::StrCat("labels have ", set.classes, " classes but the model has ", classes));
  }
  return absl::OkStatus();
}

}  // namespace ferry
