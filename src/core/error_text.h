// The start of error messages that Triton's clients and test scripts match. Where an error
// has a Triton equivalent, Ferry's message begins with Triton's wording and then says more
// (which inputs the model takes, why a version is not ready, ...). docs/api.md lists them.
// Each returns the message text; the caller picks the status code.
#ifndef FERRY_CORE_ERROR_TEXT_H_
#define FERRY_CORE_ERROR_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ferry {
namespace error_text {

// "Request for unknown model: 'm' is not found"
std::string UnknownModel(absl::string_view model);
// "Request for unknown model: 'm' version 3 is not found"
std::string UnknownVersion(absl::string_view model, int64_t version);
// "Request for unknown model: 'm' has no available versions"
std::string NoAvailableVersions(absl::string_view model);
// "failed to load 'm', failed to poll from model repository"
std::string LoadUnknownModel(absl::string_view model);
// "load failed for model 'm'"
std::string LoadFailed(absl::string_view model);
// "unexpected inference input 'x' for model 'm'"
std::string UnexpectedInput(absl::string_view input, absl::string_view model);
// "expected 2 inputs but got 1 inputs for model 'm'"
std::string InputCount(size_t expected, size_t got, absl::string_view model);
// "inference input 'x' data-type is 'FP32', but model 'm' expects 'INT32'"
std::string InputDataType(absl::string_view input, absl::string_view got, absl::string_view model,
                          absl::string_view expected);
// "unexpected shape for input 'x' for model 'm'. Expected [-1,16], got [1,8]"
std::string InputShape(absl::string_view input, absl::string_view model,
                       const std::vector<int64_t>& expected, const std::vector<int64_t>& got);
// "inference request batch-size must be <= 8 for 'm'"
std::string BatchSize(int64_t max_batch_size, absl::string_view model);
// "unexpected inference output 'y' for model 'm'"
std::string UnexpectedOutput(absl::string_view output, absl::string_view model);
// "contents field must not be specified when using raw_input_contents for 'x' for model 'm'"
std::string ContentsWithRaw(absl::string_view input, absl::string_view model);

}  // namespace error_text
}  // namespace ferry

#endif  // FERRY_CORE_ERROR_TEXT_H_
