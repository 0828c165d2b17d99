#include "core/sequence_parameters.h"

#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

// How a value of the wrong kind is shown in a message.
std::string Shown(const SequenceParameterValue& value) {
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const int64_t* i = std::get_if<int64_t>(&value)) return absl::StrCat(*i);
  if (const uint64_t* u = std::get_if<uint64_t>(&value)) return absl::StrCat(*u);
  if (const double* d = std::get_if<double>(&value)) return absl::StrCat(*d);
  return absl::StrCat("the string \"", std::get<std::string>(value).substr(0, 64), "\"");
}

}  // namespace

bool IsSequenceParameter(absl::string_view key) {
  return key == kSequenceIdParameter || key == kSequenceStartParameter ||
         key == kSequenceEndParameter;
}

absl::Status ApplySequenceParameter(absl::string_view key, const SequenceParameterValue& value,
                                    SequenceControl& sequence) {
  if (key == kSequenceIdParameter) {
    if (const int64_t* i = std::get_if<int64_t>(&value)) {
      if (*i < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "parameter 'sequence_id' must be an unsigned integer or a string; was ", *i));
      }
      sequence.id = static_cast<uint64_t>(*i);
      return absl::OkStatus();
    }
    if (const uint64_t* u = std::get_if<uint64_t>(&value)) {
      sequence.id = *u;
      return absl::OkStatus();
    }
    if (const std::string* s = std::get_if<std::string>(&value)) {
      sequence.string_id = *s;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter 'sequence_id' must be an unsigned integer or a string; was ", Shown(value)));
  }
  const bool* flag = std::get_if<bool>(&value);
  if (flag == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", key, "' must be true or false; was ", Shown(value)));
  }
  if (key == kSequenceStartParameter) {
    sequence.start = *flag;
  } else {
    sequence.end = *flag;
  }
  return absl::OkStatus();
}

}  // namespace ferry
