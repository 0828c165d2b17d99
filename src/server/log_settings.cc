#include "server/log_settings.h"

#include <algorithm>
#include <limits>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

constexpr char kDefaultFormat[] = "default";
constexpr char kIsoFormat[] = "ISO8601";
// spdlog's own default pattern, with the time first in ISO 8601 (UTC).
constexpr char kIsoPattern[] = "%Y-%m-%dT%H:%M:%S.%fZ [%n] [%^%l%$] %v";
// Verbose levels past this log the same as it (spdlog's trace is its most verbose).
constexpr uint32_t kMaxVerbose = 2;

ABSL_CONST_INIT absl::Mutex g_mu(absl::kConstInit);
const char* g_format ABSL_GUARDED_BY(g_mu) = kDefaultFormat;

const char* TypeName(const SettingValue& v) {
  if (std::holds_alternative<bool>(v)) return "a boolean";
  if (std::holds_alternative<int64_t>(v)) return "an integer";
  return "a string";
}

absl::Status WrongType(const std::string& name, const char* wanted, const SettingValue& v) {
  return absl::InvalidArgumentError(
      absl::StrCat("log setting '", name, "' must be ", wanted, ", not ", TypeName(v)));
}

LogSettings FromLevel(spdlog::level::level_enum level) {
  LogSettings s;
  s.log_verbose_level = level == spdlog::level::trace ? 2 : level == spdlog::level::debug ? 1 : 0;
  s.log_info = level <= spdlog::level::info;
  s.log_warnings = level <= spdlog::level::warn;
  s.log_errors = level <= spdlog::level::err;
  return s;
}

// The one spdlog threshold that logs exactly what `s` asks for, or why there is none.
absl::StatusOr<spdlog::level::level_enum> ToLevel(const LogSettings& s) {
  constexpr char kWhy[] = ": Ferry's log has one threshold, so each level it logs brings every "
                          "more severe one";
  if (s.log_verbose_level > 0) {
    if (!s.log_info || !s.log_warnings || !s.log_errors) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log setting 'log_verbose_level' ", s.log_verbose_level,
          " needs log_info, log_warnings and log_errors true", kWhy));
    }
    return s.log_verbose_level >= 2 ? spdlog::level::trace : spdlog::level::debug;
  }
  if (s.log_info) {
    if (!s.log_warnings || !s.log_errors) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log setting '", s.log_warnings ? "log_errors" : "log_warnings",
          "' cannot be false while log_info is true", kWhy));
    }
    return spdlog::level::info;
  }
  if (s.log_warnings) {
    if (!s.log_errors) {
      return absl::InvalidArgumentError(
          absl::StrCat("log setting 'log_errors' cannot be false while log_warnings is true", kWhy));
    }
    return spdlog::level::warn;
  }
  return s.log_errors ? spdlog::level::err : spdlog::level::off;
}

// Applies one setting to `s`; `level_set` records that a level switch was named.
absl::Status Apply(const std::string& name, const SettingValue& value, LogSettings& s,
                   bool& level_set) {
  if (name == "log_info" || name == "log_warnings" || name == "log_errors") {
    const bool* b = std::get_if<bool>(&value);
    if (b == nullptr) return WrongType(name, "a boolean", value);
    (name == "log_info" ? s.log_info : name == "log_warnings" ? s.log_warnings : s.log_errors) = *b;
    level_set = true;
    return absl::OkStatus();
  }
  if (name == "log_verbose_level") {
    const int64_t* i = std::get_if<int64_t>(&value);
    if (i == nullptr) return WrongType(name, "a non-negative integer", value);
    if (*i < 0 || *i > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log setting 'log_verbose_level' must be an integer in [0, 4294967295], not ", *i));
    }
    s.log_verbose_level = static_cast<uint32_t>(std::min<int64_t>(*i, kMaxVerbose));
    level_set = true;
    return absl::OkStatus();
  }
  if (name == "log_format") {
    const std::string* f = std::get_if<std::string>(&value);
    if (f == nullptr) return WrongType(name, "a string", value);
    if (*f != kDefaultFormat && *f != kIsoFormat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "log setting 'log_format' must be \"default\" or \"ISO8601\", not \"", *f, "\""));
    }
    s.log_format = *f;
    return absl::OkStatus();
  }
  if (name == "log_file") {
    const std::string* f = std::get_if<std::string>(&value);
    if (f == nullptr) return WrongType(name, "a string", value);
    if (!f->empty()) {
      return absl::InvalidArgumentError(
          "log setting 'log_file' can only be \"\": Ferry logs to stderr, and does not let a "
          "client choose a file for the server to write");
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log setting '", name,
      "'; Ferry has log_info, log_warnings, log_errors, log_verbose_level, log_format and "
      "log_file"));
}

LogSettings CurrentLocked() ABSL_SHARED_LOCKS_REQUIRED(g_mu) {
  LogSettings s = FromLevel(spdlog::default_logger_raw()->level());
  s.log_format = g_format;
  return s;
}

}  // namespace

LogSettings CurrentLogSettings() {
  absl::MutexLock lock(&g_mu);
  return CurrentLocked();
}

absl::StatusOr<LogSettings> UpdateLogSettings(const SettingUpdates& updates) {
  absl::MutexLock lock(&g_mu);
  LogSettings s = CurrentLocked();
  bool level_set = false;
  for (const auto& [name, value] : updates) {
    if (absl::Status st = Apply(name, value, s, level_set); !st.ok()) return st;
  }
  if (level_set) {
    absl::StatusOr<spdlog::level::level_enum> level = ToLevel(s);
    if (!level.ok()) return level.status();
    spdlog::set_level(*level);
  }
  if (s.log_format != g_format) {
    const bool iso = s.log_format == kIsoFormat;
    if (iso) {
      spdlog::set_pattern(kIsoPattern, spdlog::pattern_time_type::utc);
    } else {
      spdlog::set_pattern("%+");  // spdlog's default
    }
    g_format = iso ? kIsoFormat : kDefaultFormat;
  }
  return CurrentLocked();
}

absl::StatusOr<TraceSettings> UpdateTraceSettings(const TraceSettings& updates) {
  for (const auto& [name, values] : updates) {
    if (name != "trace_level") {
      return absl::InvalidArgumentError(absl::StrCat(
          "trace setting '", name, "' cannot be set: Ferry does not trace requests, so "
          "trace_level stays OFF"));
    }
    for (const std::string& v : values) {
      if (v != "OFF") {
        return absl::InvalidArgumentError(absl::StrCat(
            "trace setting 'trace_level' cannot be \"", v,
            "\": Ferry does not trace requests; the only level is OFF"));
      }
    }
  }
  return TraceSettings{{"trace_level", {"OFF"}}};
}

}  // namespace ferry
