// The JSON of three Triton extensions Ferry serves over REST: model configuration
// (`GET /v2/models/{m}[/versions/{v}]/config`), logging (`GET|POST /v2/logging`) and trace
// (`GET|POST /v2[/models/{m}]/trace/setting`). The values come from server/ (one place for
// both transports); this file only writes and reads their JSON.
#ifndef FERRY_API_HTTP_EXTENSION_JSON_H_
#define FERRY_API_HTTP_EXTENSION_JSON_H_

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/log_settings.h"
#include "server/model_configuration.h"
#include "sharedmem/shared_memory.h"

namespace ferry {

// Triton's ModelConfig as its HTTP endpoint writes it: the proto3 JSON form with the proto's
// field names (snake_case), every field Ferry declares printed even at its default value,
// enums by name ("TYPE_FP32", "KIND_CPU") and 64-bit integers as JSON numbers (as Triton
// does, rather than proto3's strings).
std::string EncodeModelConfig(const TritonModelConfig& config);

// {"log_file": "", "log_info": true, "log_warnings": true, "log_errors": true,
//  "log_verbose_level": 0, "log_format": "default"}.
std::string EncodeLogSettings(const LogSettings& settings);

// {"<setting>": ["<value>", ...], ...}.
std::string EncodeTraceSettings(const TraceSettings& settings);

// A small request body that must be a JSON object (nesting at most 16 deep), or null for a
// body of only whitespace. InvalidArgument for JSON that does not parse ("request body is
// not valid JSON: ...") or is not an object.
absl::StatusOr<boost::json::value> ParseJsonObjectBody(std::string_view body);

// A POST /v2/logging body: a JSON object of settings, each a boolean, an integer or a string
// (checked further by UpdateLogSettings). An empty body changes nothing. InvalidArgument,
// naming the setting, for any other value; for JSON that does not parse or is not an object.
absl::StatusOr<SettingUpdates> DecodeLogSettingsRequest(std::string_view body);

// A POST trace/setting body: a JSON object whose values are a string, an array of strings,
// or null (clear: no values). An empty body changes nothing. InvalidArgument otherwise.
absl::StatusOr<TraceSettings> DecodeTraceSettingsRequest(std::string_view body);

// System shared memory extension: the status of regions, a bare array of
// {"name", "key", "offset", "byte_size"}.
std::string EncodeSharedMemoryStatus(const std::vector<SharedMemoryRegionStatus>& regions);

struct SharedMemoryRegistration {
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// A POST /v2/systemsharedmemory/region/{r}/register body: {"key": string, "offset":
// integer (default 0), "byte_size": integer}. InvalidArgument naming the field when one
// is missing or of the wrong kind.
absl::StatusOr<SharedMemoryRegistration> DecodeSharedMemoryRegister(std::string_view body);

}  // namespace ferry

#endif  // FERRY_API_HTTP_EXTENSION_JSON_H_
