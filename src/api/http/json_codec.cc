#include "api/http/json_codec.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/http/json_writer.h"
#include "api/http/tensor_json.h"

namespace ferry {
namespace {

namespace json = boost::json;
using tensor_json::Leaf;
using tensor_json::LeafKind;
using tensor_json::PutLeaf;

// A leaf kept until the input's datatype is known; its text lives in InputState::arena.
struct StoredLeaf {
  Leaf leaf;  // without text
  uint32_t offset;
  uint32_t size;
};

// The SAX handler. A stack of frames says where in the request the parser is; object
// frames remember which field the next value belongs to.

// kSkip: a value nobody reads (unknown keys, request parameters).
enum class Ctx : uint8_t {
  kTop,
  kRequest,
  kInputs,
  kInput,
  kShape,
  kData,
  kInputParams,
  kOutputs,
  kOutput,
  kOutputParams,
  kSkip
};

enum class Field : uint8_t {
  kUnknown,
  kId,
  kParameters,
  kInputs,
  kOutputs,
  kName,
  kShape,
  kDatatype,
  kData,
  kClassification,
  kBinaryDataSize
};

enum class Json : uint8_t { kObject, kArray, kString, kInt, kUint, kDouble, kBool, kNull };

const char* JsonName(Json kind) {
  static constexpr const char* kNames[] = {"an object", "an array", "a string",  "a number",
                                           "a number",  "a number", "a boolean", "null"};
  return kNames[static_cast<int>(kind)];
}

struct Frame {
  Ctx ctx;
  Field field = Field::kUnknown;  // object frames: the field whose value comes next
  uint32_t seen = 0;              // object frames: bit per Field already given
};

// Everything known about the input being parsed.
struct InputState {
  Tensor tensor;
  bool has_name = false;
  bool has_shape = false;
  bool has_datatype = false;
  bool has_data = false;
  std::string datatype_text;
  std::string label;  // "input 'x'" or "inputs[3]" until the name is known

  // "data": leaves go straight into `bytes` when the datatype is known before "data"
  // (the usual key order); otherwise they are stored and converted at the end.
  bool direct = false;
  int64_t leaves = 0;
  int depth = 0;                  // data arrays open now
  int max_depth = 0;              // most data arrays ever open at once
  int leaf_depth = -1;            // depth at which leaves appear
  std::vector<int64_t> dims;      // length of the arrays at each depth, -1 until known
  tensor_json::ByteBuffer bytes;  // becomes tensor.data
  std::vector<StoredLeaf> stored;
  std::string arena;
};

class RequestHandler {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  explicit RequestHandler(size_t body_size) : body_size_(body_size) {
    stack_.reserve(16);
    stack_.push_back({Ctx::kTop});
  }

  const absl::Status& status() const { return status_; }
  InferRequest& request() { return request_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) { return Value(Json::kObject, Leaf{}, ec); }
  bool on_array_begin(json::error_code& ec) { return Value(Json::kArray, Leaf{}, ec); }
  bool on_object_end(std::size_t, json::error_code& ec) { return End(0, ec); }
  bool on_array_end(std::size_t n, json::error_code& ec) { return End(n, ec); }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_buf_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    absl::string_view key(s.data(), s.size());
    if (!key_buf_.empty()) {
      key_buf_.append(key.data(), key.size());
      key = key_buf_;
    }
    const bool ok = Key(key, ec);
    key_buf_.clear();
    return ok;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    str_buf_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    Leaf leaf(LeafKind::kString);
    leaf.text = absl::string_view(s.data(), s.size());
    if (!str_buf_.empty()) {
      str_buf_.append(leaf.text.data(), leaf.text.size());
      leaf.text = str_buf_;
    }
    const bool ok = Value(Json::kString, leaf, ec);
    str_buf_.clear();
    return ok;
  }

  bool on_number_part(json::string_view s, json::error_code&) {
    num_buf_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view s, json::error_code& ec) {
    Leaf leaf(LeafKind::kInt);
    leaf.i = i;
    return Number(Json::kInt, leaf, s, ec);
  }
  bool on_uint64(uint64_t u, json::string_view s, json::error_code& ec) {
    Leaf leaf(LeafKind::kUint);
    leaf.u = u;
    return Number(Json::kUint, leaf, s, ec);
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    // The text is reparsed with from_chars where correct rounding needs it.
    Leaf leaf(LeafKind::kDouble);
    leaf.parsed = d;
    return Number(Json::kDouble, leaf, s, ec);
  }
  bool on_bool(bool b, json::error_code& ec) {
    Leaf leaf(LeafKind::kBool);
    leaf.b = b;
    return Value(Json::kBool, leaf, ec);
  }
  bool on_null(json::error_code& ec) { return Value(Json::kNull, Leaf{}, ec); }

 private:
  bool Number(Json kind, Leaf leaf, json::string_view s, json::error_code& ec) {
    leaf.text = absl::string_view(s.data(), s.size());
    if (num_buf_.empty() && AtDirectLeaf()) return DirectLeaf(leaf, ec);
    if (!num_buf_.empty()) {
      num_buf_.append(leaf.text.data(), leaf.text.size());
      leaf.text = num_buf_;
    }
    const bool ok = Value(kind, leaf, ec);
    num_buf_.clear();
    return ok;
  }

  // The hot path: one more element of "data", converted as it arrives. Only taken once the
  // first element has fixed the nesting depth, so the consistency checks hold already.
  bool AtDirectLeaf() const {
    return stack_.back().ctx == Ctx::kData && input_.direct && input_.leaf_depth == input_.depth &&
           input_.max_depth == input_.depth;
  }
  bool DirectLeaf(const Leaf& leaf, json::error_code& ec) {
    absl::Status s = tensor_json::PutLeafFast(
        leaf, {input_.label, input_.tensor.dtype, input_.leaves}, input_.bytes);
    if (!s.ok()) return Fail(std::move(s), ec);
    ++input_.leaves;
    return true;
  }

  bool Fail(std::string message, json::error_code& ec) {
    status_ = absl::InvalidArgumentError(std::move(message));
    ec = json::error::exception;
    return false;
  }
  // "<where>: '<field>' must be <expected>, not <what it was>".
  bool WrongType(absl::string_view where, absl::string_view field, absl::string_view expected,
                 Json kind, json::error_code& ec) {
    return Fail(absl::StrCat(where, ": '", field, "' must be ", expected, ", not ", JsonName(kind)),
                ec);
  }
  bool Fail(absl::Status status, json::error_code& ec) {
    status_ = std::move(status);
    ec = json::error::exception;
    return false;
  }

  bool Push(Ctx ctx) {
    stack_.push_back({ctx});
    return true;
  }

  static bool IsContainer(Json kind) { return kind == Json::kObject || kind == Json::kArray; }
  bool SkipValue(Json kind) { return IsContainer(kind) ? Push(Ctx::kSkip) : true; }

  bool Key(absl::string_view key, json::error_code& ec);
  bool Value(Json kind, const Leaf& leaf, json::error_code& ec);
  bool End(std::size_t n, json::error_code& ec);

  bool RequestValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec);
  bool InputValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec);
  bool ShapeValue(Json kind, const Leaf& leaf, json::error_code& ec);
  bool DataValue(Json kind, const Leaf& leaf, json::error_code& ec);
  bool OutputValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec);
  bool BeginData(json::error_code& ec);
  bool EndDataArray(std::size_t n, json::error_code& ec);
  bool FinishInput(json::error_code& ec);
  bool FinishRequest(json::error_code& ec);

  std::string OutputLabel() const {
    const RequestedOutput& out = request_.outputs.back();
    if (!output_named_) return absl::StrCat("outputs[", request_.outputs.size() - 1, "]");
    return absl::StrCat("output '", out.name, "'");
  }

  const size_t body_size_;
  absl::Status status_;
  InferRequest request_;
  std::vector<Frame> stack_;
  InputState input_;
  bool output_named_ = false;
  std::string key_buf_;
  std::string str_buf_;
  std::string num_buf_;
};

Field FieldOf(Ctx ctx, absl::string_view key) {
  switch (ctx) {
    case Ctx::kRequest:
      if (key == "inputs") return Field::kInputs;
      if (key == "outputs") return Field::kOutputs;
      if (key == "id") return Field::kId;
      if (key == "parameters") return Field::kParameters;
      break;
    case Ctx::kInput:
      if (key == "data") return Field::kData;
      if (key == "name") return Field::kName;
      if (key == "shape") return Field::kShape;
      if (key == "datatype") return Field::kDatatype;
      if (key == "parameters") return Field::kParameters;
      break;
    case Ctx::kOutput:
      if (key == "name") return Field::kName;
      if (key == "parameters") return Field::kParameters;
      break;
    case Ctx::kInputParams:
      if (key == "binary_data_size") return Field::kBinaryDataSize;
      break;
    case Ctx::kOutputParams:
      if (key == "classification") return Field::kClassification;
      break;
    default:
      break;
  }
  return Field::kUnknown;
}

bool RequestHandler::Key(absl::string_view key, json::error_code& ec) {
  Frame& frame = stack_.back();
  if (frame.ctx == Ctx::kSkip) return true;
  frame.field = FieldOf(frame.ctx, key);
  if (frame.field == Field::kUnknown) return true;
  const uint32_t bit = 1u << static_cast<unsigned>(frame.field);
  if (frame.seen & bit) {
    std::string where = "request";
    if (frame.ctx == Ctx::kInput || frame.ctx == Ctx::kInputParams) where = input_.label;
    if (frame.ctx == Ctx::kOutput || frame.ctx == Ctx::kOutputParams) where = OutputLabel();
    return Fail(absl::StrCat(where, ": key '", key, "' appears more than once"), ec);
  }
  frame.seen |= bit;
  return true;
}

bool RequestHandler::Value(Json kind, const Leaf& leaf, json::error_code& ec) {
  const Frame& frame = stack_.back();
  switch (frame.ctx) {
    case Ctx::kTop:
      if (kind != Json::kObject) {
        return Fail(absl::StrCat("request body must be a JSON object, not ", JsonName(kind)), ec);
      }
      return Push(Ctx::kRequest);
    case Ctx::kSkip:
      return SkipValue(kind);
    case Ctx::kRequest:
      return RequestValue(frame.field, kind, leaf, ec);
    case Ctx::kInputs:
      if (kind != Json::kObject) {
        return Fail(absl::StrCat("request: 'inputs' must be an array of objects, but element ",
                                 request_.inputs.size(), " is ", JsonName(kind)),
                    ec);
      }
      input_ = InputState();
      input_.label = absl::StrCat("inputs[", request_.inputs.size(), "]");
      return Push(Ctx::kInput);
    case Ctx::kInput:
      return InputValue(frame.field, kind, leaf, ec);
    case Ctx::kShape:
      return ShapeValue(kind, leaf, ec);
    case Ctx::kData:
      return DataValue(kind, leaf, ec);
    case Ctx::kInputParams:
      if (frame.field == Field::kBinaryDataSize) {
        return Fail(absl::StrCat(input_.label,
                                 ": binary tensor data ('binary_data_size') is not supported; "
                                 "send the values in 'data'"),
                    ec);
      }
      return SkipValue(kind);
    case Ctx::kOutputs:
      if (kind != Json::kObject) {
        return Fail(absl::StrCat("request: 'outputs' must be an array of objects, but element ",
                                 request_.outputs.size(), " is ", JsonName(kind)),
                    ec);
      }
      request_.outputs.emplace_back();
      output_named_ = false;
      return Push(Ctx::kOutput);
    case Ctx::kOutput:
      return OutputValue(frame.field, kind, leaf, ec);
    case Ctx::kOutputParams:
      if (frame.field != Field::kClassification) return SkipValue(kind);
      if (kind != Json::kInt || leaf.i < 0) {
        return Fail(absl::StrCat(OutputLabel(),
                                 ": parameter 'classification' must be a non-negative integer, "
                                 "not ",
                                 kind == Json::kInt ? std::string(leaf.text) : JsonName(kind)),
                    ec);
      }
      request_.outputs.back().classification = leaf.i;
      return true;
  }
  return true;
}

bool RequestHandler::RequestValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec) {
  switch (field) {
    case Field::kId:
      if (kind == Json::kString) {
        request_.id.assign(leaf.text.data(), leaf.text.size());
        return true;
      }
      if (kind == Json::kNull) return true;
      return WrongType("request", "id", "a string", kind, ec);
    case Field::kParameters:
      // No request parameter changes what Ferry does yet; unknown ones are ignored.
      if (kind == Json::kObject) return Push(Ctx::kSkip);
      if (kind == Json::kNull) return true;
      return WrongType("request", "parameters", "an object", kind, ec);
    case Field::kInputs:
      if (kind == Json::kArray) return Push(Ctx::kInputs);
      return WrongType("request", "inputs", "an array", kind, ec);
    case Field::kOutputs:
      if (kind == Json::kArray) return Push(Ctx::kOutputs);
      if (kind == Json::kNull) return true;
      return WrongType("request", "outputs", "an array", kind, ec);
    default:
      return SkipValue(kind);
  }
}

bool RequestHandler::InputValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec) {
  switch (field) {
    case Field::kName:
      if (kind != Json::kString) {
        return WrongType(input_.label, "name", "a string", kind, ec);
      }
      input_.tensor.name.assign(leaf.text.data(), leaf.text.size());
      input_.has_name = true;
      input_.label = absl::StrCat("input '", input_.tensor.name, "'");
      return true;
    case Field::kShape:
      if (kind != Json::kArray) {
        return WrongType(input_.label, "shape", "an array of non-negative integers", kind, ec);
      }
      input_.has_shape = true;
      return Push(Ctx::kShape);
    case Field::kDatatype:
      if (kind != Json::kString) {
        return WrongType(input_.label, "datatype", "a string", kind, ec);
      }
      input_.datatype_text.assign(leaf.text.data(), leaf.text.size());
      input_.tensor.dtype = ParseDataType(leaf.text);
      input_.has_datatype = true;
      return true;
    case Field::kParameters:
      if (kind == Json::kObject) return Push(Ctx::kInputParams);
      if (kind == Json::kNull) return true;
      return WrongType(input_.label, "parameters", "an object", kind, ec);
    case Field::kData:
      if (kind != Json::kArray) {
        return WrongType(input_.label, "data", "an array", kind, ec);
      }
      return BeginData(ec);
    default:
      return SkipValue(kind);
  }
}

bool RequestHandler::ShapeValue(Json kind, const Leaf& leaf, json::error_code& ec) {
  if (kind == Json::kInt && leaf.i >= 0) {
    input_.tensor.shape.push_back(leaf.i);
    return true;
  }
  if (kind == Json::kInt) {
    return Fail(absl::StrCat(input_.label, ": 'shape' has a negative dimension ", leaf.i), ec);
  }
  if (kind == Json::kUint) {
    return Fail(absl::StrCat(input_.label, ": 'shape' dimension ", leaf.u, " is too large"), ec);
  }
  return Fail(
      absl::StrCat(input_.label, ": 'shape' must be an array of non-negative integers, but holds ",
                   JsonName(kind)),
      ec);
}

// Checks what can be checked about the datatype before any element arrives, so a bad
// datatype fails fast and a good one lets the leaves be converted as they come.
bool RequestHandler::BeginData(json::error_code& ec) {
  InputState& in = input_;
  in.has_data = true;
  if (in.has_datatype && in.has_name) {
    const DataType dt = in.tensor.dtype;
    if (dt == DataType::kInvalid) return FinishInput(ec);  // reports the datatype error
    if (dt == DataType::kFp16 || dt == DataType::kBf16) return FinishInput(ec);
    in.direct = true;
    if (in.has_shape) {
      // Every element takes at least two bytes of body, so the shape cannot make this
      // reserve more than the body could fill.
      const int64_t count = ElementCount(in.tensor.shape);
      const size_t elem = dt == DataType::kBytes ? 4 : DataTypeByteSize(dt);
      if (count > 0) {
        in.bytes.Reserve(std::min<size_t>(count, body_size_ / 2 + 1) * elem);
      }
    }
  }
  in.depth = 1;
  in.max_depth = 1;
  in.dims.assign(1, -1);
  return Push(Ctx::kData);
}

bool RequestHandler::DataValue(Json kind, const Leaf& leaf, json::error_code& ec) {
  InputState& in = input_;
  if (kind == Json::kArray) {
    if (in.leaf_depth != -1 && in.depth >= in.leaf_depth) {
      return Fail(absl::StrCat(in.label,
                               ": 'data' is not a consistent nested array: it mixes "
                               "values and arrays at depth ",
                               in.depth),
                  ec);
    }
    ++in.depth;
    in.max_depth = std::max(in.max_depth, in.depth);
    if (static_cast<int>(in.dims.size()) < in.depth) in.dims.push_back(-1);
    return Push(Ctx::kData);
  }
  if (kind == Json::kObject || kind == Json::kNull) {
    return Fail(absl::StrCat(in.label, ": element ", in.leaves, " of 'data' is ", JsonName(kind),
                             "; elements must be numbers, booleans or strings"),
                ec);
  }
  if (in.leaf_depth == -1) {
    in.leaf_depth = in.depth;
  } else if (in.depth != in.leaf_depth) {
    return Fail(absl::StrCat(in.label,
                             ": 'data' is not a consistent nested array: values "
                             "appear at depths ",
                             in.leaf_depth, " and ", in.depth),
                ec);
  }
  if (in.max_depth > in.depth) {
    return Fail(absl::StrCat(in.label,
                             ": 'data' is not a consistent nested array: it mixes "
                             "values and arrays at depth ",
                             in.depth),
                ec);
  }
  if (in.direct) {
    absl::Status s = PutLeaf(leaf, {in.label, in.tensor.dtype, in.leaves}, in.bytes);
    if (!s.ok()) return Fail(std::move(s), ec);
  } else {
    if (in.arena.size() + leaf.text.size() > std::numeric_limits<uint32_t>::max()) {
      return Fail(absl::StrCat(in.label, ": 'data' is too large"), ec);
    }
    Leaf stored = leaf;
    stored.text = {};
    in.stored.push_back(
        {stored, static_cast<uint32_t>(in.arena.size()), static_cast<uint32_t>(leaf.text.size())});
    in.arena.append(leaf.text.data(), leaf.text.size());
  }
  ++in.leaves;
  return true;
}

bool RequestHandler::EndDataArray(std::size_t n, json::error_code& ec) {
  InputState& in = input_;
  int64_t& dim = in.dims[in.depth - 1];
  if (dim == -1) {
    dim = static_cast<int64_t>(n);
  } else if (dim != static_cast<int64_t>(n)) {
    return Fail(absl::StrCat(in.label,
                             ": 'data' is not a consistent nested array: arrays at "
                             "depth ",
                             in.depth, " have lengths ", dim, " and ", n),
                ec);
  }
  --in.depth;
  return true;
}

bool RequestHandler::OutputValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec) {
  switch (field) {
    case Field::kName:
      if (kind != Json::kString) {
        return WrongType(OutputLabel(), "name", "a string", kind, ec);
      }
      request_.outputs.back().name.assign(leaf.text.data(), leaf.text.size());
      output_named_ = true;
      return true;
    case Field::kParameters:
      if (kind == Json::kObject) return Push(Ctx::kOutputParams);
      if (kind == Json::kNull) return true;
      return WrongType(OutputLabel(), "parameters", "an object", kind, ec);
    default:
      return SkipValue(kind);
  }
}

bool RequestHandler::FinishInput(json::error_code& ec) {
  InputState& in = input_;
  if (!in.has_name) return Fail(absl::StrCat(in.label, ": 'name' is required"), ec);
  if (!in.has_datatype) return Fail(absl::StrCat(in.label, ": 'datatype' is required"), ec);
  const DataType dt = in.tensor.dtype;
  if (dt == DataType::kInvalid) {
    return Fail(absl::StrCat(in.label, ": datatype \"", in.datatype_text,
                             "\" is not a known datatype (expected one of BOOL, UINT8, UINT16, "
                             "UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, "
                             "BF16, BYTES)"),
                ec);
  }
  if (dt == DataType::kFp16 || dt == DataType::kBf16) {
    return Fail(absl::StrCat(in.label, ": ", DataTypeName(dt),
                             " values cannot be sent as JSON numbers; send this input as binary "
                             "tensor data or use FP32"),
                ec);
  }
  if (!in.has_shape) return Fail(absl::StrCat(in.label, ": 'shape' is required"), ec);
  if (!in.has_data) return Fail(absl::StrCat(in.label, ": 'data' is required"), ec);
  const std::vector<int64_t>& shape = in.tensor.shape;
  if (in.leaf_depth != -1 && in.leaf_depth != in.max_depth) {
    return Fail(absl::StrCat(in.label,
                             ": 'data' is not a consistent nested array: it mixes "
                             "values and arrays at depth ",
                             in.leaf_depth),
                ec);
  }
  const int64_t count = ElementCount(shape);
  if (count < 0) {
    return Fail(absl::StrCat(in.label, ": shape ", ShapeToString(shape), " has too many elements"),
                ec);
  }
  if (count != in.leaves) {
    return Fail(absl::StrCat(in.label, ": expected ", count, " elements for shape ",
                             ShapeToString(shape), " but data has ", in.leaves),
                ec);
  }
  // Nesting as deep as the shape is a statement about every dimension; check it so a
  // transposed [3, 2] array is not silently read as [2, 3].
  if (in.max_depth > 1 && in.max_depth == static_cast<int>(shape.size())) {
    for (size_t d = 0; d < shape.size(); ++d) {
      if (in.dims[d] != shape[d] && in.dims[d] != -1) {
        return Fail(absl::StrCat(in.label, ": nested 'data' has shape ", ShapeToString(in.dims),
                                 " but 'shape' is ", ShapeToString(shape)),
                    ec);
      }
    }
  }
  if (!in.direct) {
    const size_t elem = dt == DataType::kBytes ? 4 : DataTypeByteSize(dt);
    in.bytes.Reserve(in.stored.size() * elem + (dt == DataType::kBytes ? in.arena.size() : 0));
    for (size_t i = 0; i < in.stored.size(); ++i) {
      const StoredLeaf& s = in.stored[i];
      Leaf leaf = s.leaf;
      leaf.text = absl::string_view(in.arena).substr(s.offset, s.size);
      absl::Status status = PutLeaf(leaf, {in.label, dt, static_cast<int64_t>(i)}, in.bytes);
      if (!status.ok()) return Fail(std::move(status), ec);
    }
  }
  in.tensor.data = in.bytes.Take();
  request_.inputs.push_back(std::move(in.tensor));
  return true;
}

bool RequestHandler::FinishRequest(json::error_code& ec) {
  const Frame& frame = stack_.back();
  if (!(frame.seen & (1u << static_cast<unsigned>(Field::kInputs)))) {
    return Fail("request: 'inputs' is required", ec);
  }
  if (request_.inputs.empty()) return Fail("request: 'inputs' must not be empty", ec);
  if (request_.inputs.size() > 1) {
    absl::flat_hash_set<absl::string_view> names;
    for (const Tensor& t : request_.inputs) {
      if (!names.insert(t.name).second) {
        return Fail(absl::StrCat("request: input '", t.name, "' appears more than once"), ec);
      }
    }
  }
  return true;
}

bool RequestHandler::End(std::size_t n, json::error_code& ec) {
  bool ok = true;
  switch (stack_.back().ctx) {
    case Ctx::kRequest:
      ok = FinishRequest(ec);
      break;
    case Ctx::kInput:
      // The datatype may have failed already in BeginData; FinishInput reports it then.
      ok = FinishInput(ec);
      break;
    case Ctx::kData:
      ok = EndDataArray(n, ec);
      break;
    case Ctx::kOutput:
      if (!output_named_) ok = Fail(absl::StrCat(OutputLabel(), ": 'name' is required"), ec);
      break;
    default:
      break;
  }
  stack_.pop_back();
  return ok;
}

// {"<key>": <value>}.
std::string BoolBody(absl::string_view key, bool value) {
  std::string out;
  json_writer::Object o(out);
  o.Bool(key, value);
  o.Close();
  return out;
}

}  // namespace

absl::StatusOr<InferRequest> DecodeInferRequest(std::string_view body_in,
                                                const DecodeOptions& options) {
  const absl::string_view body(body_in.data(), body_in.size());
  if (body.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    return absl::InvalidArgumentError("request body is not valid JSON: the body is empty");
  }
  json::parse_options parse_options;
  parse_options.max_depth = options.max_depth > 0 ? options.max_depth : 1;
  try {
    json::basic_parser<RequestHandler> parser(parse_options, body.size());
    json::error_code ec;
    const size_t used = parser.write_some(false, body.data(), body.size(), ec);
    RequestHandler& handler = parser.handler();
    if (!handler.status().ok()) return handler.status();
    if (ec) {
      if (ec == json::error::too_deep) {
        return absl::InvalidArgumentError(
            absl::StrCat("request body is not valid JSON: nesting is deeper than the limit of ",
                         parse_options.max_depth, " levels"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("request body is not valid JSON: ", ec.message(), " at byte ", used));
    }
    if (used != body.size() && body.find_first_not_of(" \t\r\n", used) != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "request body is not valid JSON: unexpected data after the JSON value at byte ", used));
    }
    return std::move(handler.request());
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while decoding the request");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("decoding the request failed: ", e.what()));
  }
}

std::string EncodeInferResponse(const InferResponse& response) {
  size_t estimate = 96 + response.model_name.size() + response.id.size();
  for (const Tensor& t : response.outputs) {
    // Shortest floats average under 12 characters; BYTES text is about its byte size.
    const int64_t count = std::max<int64_t>(t.element_count(), 0);
    estimate += 64 + t.name.size() +
                (t.dtype == DataType::kBytes ? t.data.size() + t.data.size() / 2
                                             : static_cast<size_t>(count) * 13);
  }
  std::string out;
  out.reserve(estimate);
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
    tensor_json::AppendData(tensor.Key("data"), t);
    tensor.Close();
  }
  out.push_back(']');
  o.Close();
  return out;
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

}  // namespace ferry
