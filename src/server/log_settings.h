// The logging and trace extensions' settings (Triton's `v2/logging`, `v2/trace/setting`,
// gRPC LogSettings and TraceSetting), decided here once for both transports.
//
// Logging: Ferry logs through spdlog, whose default logger has one threshold, so Triton's
// four switches map onto it as one ladder: log_verbose_level 2 = trace, 1 = debug, then
// log_info = info, log_warnings = warn, log_errors = error, and none of them = off. A
// combination no threshold gives (INFO on but WARNING off, verbose without INFO) is refused
// rather than half applied. log_format "default" is spdlog's pattern, "ISO8601" puts UTC
// timestamps in ISO 8601 first. log_file only accepts "" (stderr): a client must not make
// the server write files where it chooses.
//
// Trace: Ferry has no request tracing, so trace_level is ["OFF"] and stays so; a request
// that sets anything else is refused, naming the setting.
//
// Concurrency: any thread; updates are serialized, and the log level changes atomically.
#ifndef FERRY_SERVER_LOG_SETTINGS_H_
#define FERRY_SERVER_LOG_SETTINGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry {

// A setting's value as the client sent it: a boolean, an integer or a string.
using SettingValue = std::variant<bool, int64_t, std::string>;
// Settings in the order the client gave them.
using SettingUpdates = std::vector<std::pair<std::string, SettingValue>>;

// Triton's log settings, as they are now.
struct LogSettings {
  std::string log_file;  // always "": stderr
  bool log_info = true;
  bool log_warnings = true;
  bool log_errors = true;
  uint32_t log_verbose_level = 0;
  std::string log_format = "default";  // or "ISO8601"
};

// What the process logs now (read from spdlog's default logger).
LogSettings CurrentLogSettings();

// Applies `updates` on top of the current settings, all or nothing, and returns the result.
// InvalidArgument naming the setting for an unknown name, a value of the wrong type, a
// value out of range, or a combination spdlog's one threshold cannot express.
absl::StatusOr<LogSettings> UpdateLogSettings(const SettingUpdates& updates);

// Trace settings: each a list of strings, as Triton's protocol carries them.
using TraceSettings = std::vector<std::pair<std::string, std::vector<std::string>>>;

// {"trace_level": ["OFF"]} after checking `updates`: setting trace_level to ["OFF"] or to
// nothing (clear) is accepted and changes nothing; any other value, and any other setting,
// is InvalidArgument naming it and saying Ferry does not trace.
absl::StatusOr<TraceSettings> UpdateTraceSettings(const TraceSettings& updates);

}  // namespace ferry

#endif  // FERRY_SERVER_LOG_SETTINGS_H_
