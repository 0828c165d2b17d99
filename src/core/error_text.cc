#include "core/error_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ferry {
namespace error_text {

std::string UnknownModel(absl::string_view model) {
  return absl::StrCat("Request for unknown model: '", model, "' is not found");
}

std::string UnknownVersion(absl::string_view model, int64_t version) {
  return absl::StrCat("Request for unknown model: '", model, "' version ", version,
                      " is not found");
}

std::string NoAvailableVersions(absl::string_view model) {
  return absl::StrCat("Request for unknown model: '", model, "' has no available versions");
}

std::string LoadUnknownModel(absl::string_view model) {
  return absl::StrCat("failed to load '", model, "', failed to poll from model repository");
}

std::string LoadFailed(absl::string_view model) {
  return absl::StrCat("load failed for model '", model, "'");
}

std::string UnexpectedInput(absl::string_view input, absl::string_view model) {
  return absl::StrCat("unexpected inference input '", input, "' for model '", model, "'");
}

std::string InputCount(size_t expected, size_t got, absl::string_view model) {
  return absl::StrCat("expected ", expected, " inputs but got ", got, " inputs for model '",
                      model, "'");
}

std::string InputDataType(absl::string_view input, absl::string_view got, absl::string_view model,
                          absl::string_view expected) {
  return absl::StrCat("inference input '", input, "' data-type is '", got, "', but model '",
                      model, "' expects '", expected, "'");
}

std::string InputShape(absl::string_view input, absl::string_view model,
                       const std::vector<int64_t>& expected, const std::vector<int64_t>& got) {
  return absl::StrCat("unexpected shape for input '", input, "' for model '", model,
                      "'. Expected [", absl::StrJoin(expected, ","), "], got [",
                      absl::StrJoin(got, ","), "]");
}

std::string BatchSize(int64_t max_batch_size, absl::string_view model) {
  return absl::StrCat("inference request batch-size must be <= ", max_batch_size, " for '",
                      model, "'");
}

std::string UnexpectedOutput(absl::string_view output, absl::string_view model) {
  return absl::StrCat("unexpected inference output '", output, "' for model '", model, "'");
}

std::string ContentsWithRaw(absl::string_view input, absl::string_view model) {
  return absl::StrCat("contents field must not be specified when using raw_input_contents for '",
                      input, "' for model '", model, "'");
}

}  // namespace error_text
}  // namespace ferry
