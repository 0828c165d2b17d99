// The SAX handler behind DecodeInferHeader: a stack of frames says where in the request
// the parser is, object frames remember which field the next value belongs to, and tensor
// data is converted as it arrives. Internal to api/http; its methods are split between
// json_codec.cc (the request's structure and tensor data) and json_codec_extensions.cc
// (what the protocol's extensions add: request parameters, binary tensor data).
#ifndef FERRY_API_HTTP_REQUEST_HANDLER_H_
#define FERRY_API_HTTP_REQUEST_HANDLER_H_

#include <boost/json/error.hpp>
#include <boost/json/string_view.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/http/json_codec.h"
#include "api/http/tensor_json.h"

namespace ferry {
namespace json_decode {

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

// kSkip: a value nobody reads (unknown keys, unknown tensor parameters).
enum class Ctx : uint8_t {
  kTop,
  kRequest,
  kRequestParams,
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
  kBinaryDataSize,
  kBinaryData,
  kShmRegion,   // system shared memory extension: "shared_memory_region"
  kShmOffset,   // "shared_memory_offset"
  kShmByteSize  // "shared_memory_byte_size"
};

// A tensor's shared-memory parameters as they arrive.
struct ShmParams {
  bool has_region = false;
  bool has_offset = false;
  bool has_byte_size = false;
  SharedMemoryRef ref;
};

enum class Json : uint8_t { kObject, kArray, kString, kInt, kUint, kDouble, kBool, kNull };

inline const char* JsonName(Json kind) {
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
  int64_t binary_size = -1;  // "binary_data_size", when given
  ShmParams shm;
  std::string datatype_text;
  std::string label;  // "input 'x'" or "inputs[3]" until the name is known

  // "data": leaves go straight into `bytes` when the datatype is known before "data"
  // (the usual key order); otherwise they are stored and converted at the end.
  bool direct = false;
  int64_t leaves = 0;
  int64_t scanned = 0;            // leading elements number_scan took; the parser never saw them
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
  RestInferRequest& result() {
    result_.request = std::move(request_);
    return result_;
  }

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

  // Whether the parser has just read the '[' of a "data" array whose elements go straight
  // into the tensor, so that ScanData may take over; meaningful only when the last
  // character the parser read was a '[' outside any string.
  bool AtDataStart() const {
    return stack_.back().ctx == Ctx::kData && input_.direct && input_.depth == 1 &&
           input_.max_depth == 1 && input_.leaves == 0;
  }
  // Converts the array's leading numbers from `body` at `pos` (just past the '[') and
  // returns where the parser must go on, as if it had just read the '['.
  size_t ScanData(absl::string_view body, size_t pos);

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
  bool RequestParamValue(Json kind, const Leaf& leaf, json::error_code& ec);
  bool SequenceParamValue(Json kind, const Leaf& leaf, json::error_code& ec);
  bool InputParamValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec);
  bool OutputParamValue(Field field, Json kind, const Leaf& leaf, json::error_code& ec);
  bool FinishBinaryInput(json::error_code& ec);
  bool ShmParamValue(ShmParams& shm, const std::string& label, Field field, Json kind,
                     const Leaf& leaf, json::error_code& ec);
  // Checks a tensor's shared-memory parameters once its object ends.
  bool CheckShmParams(const ShmParams& shm, const std::string& label, json::error_code& ec);
  bool FinishShmInput(json::error_code& ec);
  bool FinishOutput(json::error_code& ec);
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
  RestInferRequest result_;  // the binary extension's choices; request_ joins it at the end
  std::string param_key_;    // the request parameter whose value comes next
  std::vector<Frame> stack_;
  InputState input_;
  bool output_named_ = false;
  ShmParams output_shm_;  // the output being parsed
  std::string key_buf_;
  std::string str_buf_;
  std::string num_buf_;
};

// DecodeInferHeader with or without number_scan; without it is the general path alone,
// which tests compare the fast path against.
absl::StatusOr<RestInferRequest> DecodeInferHeaderWith(std::string_view body,
                                                       const DecodeOptions& options,
                                                       bool scan_numbers);

}  // namespace json_decode
}  // namespace ferry

#endif  // FERRY_API_HTTP_REQUEST_HANDLER_H_
