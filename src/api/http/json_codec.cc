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
#include "api/http/number_scanner.h"
#include "api/http/request_handler.h"
#include "api/http/tensor_json.h"

namespace ferry {
namespace json_decode {

using tensor_json::Leaf;
using tensor_json::LeafKind;
using tensor_json::PutLeaf;

namespace {

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
      if (key == kShmRegionParam) return Field::kShmRegion;
      if (key == kShmOffsetParam) return Field::kShmOffset;
      if (key == kShmByteSizeParam) return Field::kShmByteSize;
      break;
    case Ctx::kOutputParams:
      if (key == "classification") return Field::kClassification;
      if (key == "binary_data") return Field::kBinaryData;
      if (key == kShmRegionParam) return Field::kShmRegion;
      if (key == kShmOffsetParam) return Field::kShmOffset;
      if (key == kShmByteSizeParam) return Field::kShmByteSize;
      break;
    default:
      break;
  }
  return Field::kUnknown;
}

}  // namespace

bool RequestHandler::Key(absl::string_view key, json::error_code& ec) {
  Frame& frame = stack_.back();
  if (frame.ctx == Ctx::kSkip) return true;
  if (frame.ctx == Ctx::kRequestParams) {
    param_key_.assign(key.data(), key.size());
    if (request_.parameters.count(param_key_) != 0) {
      return Fail(absl::StrCat("request: parameter '", key, "' appears more than once"), ec);
    }
    return true;
  }
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
    case Ctx::kRequestParams:
      return RequestParamValue(kind, leaf, ec);
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
      return InputParamValue(frame.field, kind, leaf, ec);
    case Ctx::kOutputs:
      if (kind != Json::kObject) {
        return Fail(absl::StrCat("request: 'outputs' must be an array of objects, but element ",
                                 request_.outputs.size(), " is ", JsonName(kind)),
                    ec);
      }
      request_.outputs.emplace_back();
      result_.binary_data.push_back(-1);
      output_named_ = false;
      output_shm_ = ShmParams();
      return Push(Ctx::kOutput);
    case Ctx::kOutput:
      return OutputValue(frame.field, kind, leaf, ec);
    case Ctx::kOutputParams:
      return OutputParamValue(frame.field, kind, leaf, ec);
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
      if (kind == Json::kObject) return Push(Ctx::kRequestParams);
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
  if (in.binary_size >= 0) {
    return Fail(absl::StrCat(in.label,
                             ": has both 'data' and 'binary_data_size'; send its values in one "
                             "place"),
                ec);
  }
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
  if (in.depth == 1) n += static_cast<std::size_t>(in.scanned);
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

size_t RequestHandler::ScanData(absl::string_view body, size_t pos) {
  InputState& in = input_;
  const number_scan::Scanned s = number_scan::ScanNumbers(body, pos, in.tensor.dtype, in.bytes);
  if (s.count > 0) {
    // What DataValue would have recorded for these elements.
    in.leaf_depth = 1;
    in.leaves += s.count;
    in.scanned += s.count;
  }
  return s.resume;
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
  if (in.shm.has_region || in.shm.has_offset || in.shm.has_byte_size) return FinishShmInput(ec);
  if (in.binary_size >= 0) return FinishBinaryInput(ec);
  if (dt == DataType::kFp16 || dt == DataType::kBf16) {
    return Fail(absl::StrCat(in.label, ": ", DataTypeName(dt),
                             " values cannot be sent as JSON numbers; send this input as binary "
                             "tensor data or use FP32"),
                ec);
  }
  if (!in.has_shape) return Fail(absl::StrCat(in.label, ": 'shape' is required"), ec);
  if (!in.has_data) {
    return Fail(absl::StrCat(in.label,
                             ": 'data' is required (or the parameter 'binary_data_size' with "
                             "binary tensor data)"),
                ec);
  }
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
  result_.binary_data_size.push_back(-1);
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
      ok = FinishOutput(ec);
      break;
    default:
      break;
  }
  stack_.pop_back();
  return ok;
}

absl::StatusOr<RestInferRequest> DecodeInferHeaderWith(std::string_view body_in,
                                                       const DecodeOptions& options,
                                                       bool scan_numbers) {
  const absl::string_view body(body_in.data(), body_in.size());
  if (body.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    return absl::InvalidArgumentError("request body is not valid JSON: the body is empty");
  }
  json::parse_options parse_options;
  parse_options.max_depth = options.max_depth > 0 ? options.max_depth : 1;
  try {
    json::basic_parser<RequestHandler> parser(parse_options, body.size());
    RequestHandler& handler = parser.handler();
    json::error_code ec;
    // The parser is fed the body in pieces, each ending just past the '[' of a "data"
    // array, so that number_scan can convert the array's leading numbers and the parser go
    // on after them (see number_scanner.h). No token spans two pieces, and Boost.JSON
    // parses pieces as it parses the whole, so errors and byte offsets come out the same.
    size_t pos = 0;
    size_t used = 0;
    bool finished = false;
    while (scan_numbers) {
      const size_t cut = number_scan::FindDataArray(body, pos);
      if (cut == number_scan::kNotFound) break;
      const size_t n = parser.write_some(true, body.data() + pos, cut - pos, ec);
      used = pos + n;
      // A piece not read to its end held the end of the document (and data after it).
      if (ec || n != cut - pos) {
        finished = true;
        break;
      }
      pos = handler.AtDataStart() ? handler.ScanData(body, cut) : cut;
    }
    if (!finished) used = pos + parser.write_some(false, body.data() + pos, body.size() - pos, ec);
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
    return std::move(handler.result());
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while decoding the request");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("decoding the request failed: ", e.what()));
  }
}

}  // namespace json_decode

absl::StatusOr<RestInferRequest> DecodeInferHeader(std::string_view body,
                                                   const DecodeOptions& options) {
  return json_decode::DecodeInferHeaderWith(body, options, /*scan_numbers=*/true);
}

absl::Status CheckNoBinaryInputs(const RestInferRequest& request) {
  for (size_t i = 0; i < request.binary_data_size.size(); ++i) {
    if (request.binary_data_size[i] >= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", request.request.inputs[i].name,
          "': 'binary_data_size' is set, but the request has no binary part: send the JSON "
          "length in the Inference-Header-Content-Length header and the tensor bytes after "
          "the JSON"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<InferRequest> DecodeInferRequest(std::string_view body,
                                                const DecodeOptions& options) {
  absl::StatusOr<RestInferRequest> decoded = DecodeInferHeader(body, options);
  if (!decoded.ok()) return decoded.status();
  if (absl::Status s = CheckNoBinaryInputs(*decoded); !s.ok()) return s;
  return std::move(decoded->request);
}

}  // namespace ferry
