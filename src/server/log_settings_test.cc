// The logging and trace extensions' settings: Triton's switches onto spdlog's one threshold,
// and every setting Ferry refuses. Each test puts the process's log level back.
#include "server/log_settings.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace ferry {
namespace {

using testing::HasSubstr;

class LogSettingsTest : public testing::Test {
 protected:
  void SetUp() override { saved_ = spdlog::get_level(); }
  void TearDown() override {
    spdlog::set_level(saved_);
    ASSERT_TRUE(UpdateLogSettings({{"log_format", std::string("default")}}).ok());
  }

  // The message of the refusal of `updates`, which must leave the settings as they were.
  std::string Refused(const SettingUpdates& updates) {
    const spdlog::level::level_enum before = spdlog::get_level();
    absl::StatusOr<LogSettings> s = UpdateLogSettings(updates);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(spdlog::get_level(), before) << "a refused update must change nothing";
    return std::string(s.status().message());
  }

  spdlog::level::level_enum saved_ = spdlog::level::info;
};

TEST_F(LogSettingsTest, ReportsTheCurrentLevelAsTritonsSwitches) {
  spdlog::set_level(spdlog::level::info);
  LogSettings s = CurrentLogSettings();
  EXPECT_EQ(s.log_file, "");
  EXPECT_TRUE(s.log_info && s.log_warnings && s.log_errors);
  EXPECT_EQ(s.log_verbose_level, 0u);
  EXPECT_EQ(s.log_format, "default");
  spdlog::set_level(spdlog::level::warn);
  s = CurrentLogSettings();
  EXPECT_FALSE(s.log_info);
  EXPECT_TRUE(s.log_warnings && s.log_errors);
  spdlog::set_level(spdlog::level::debug);
  EXPECT_EQ(CurrentLogSettings().log_verbose_level, 1u);
  spdlog::set_level(spdlog::level::trace);
  EXPECT_EQ(CurrentLogSettings().log_verbose_level, 2u);
  spdlog::set_level(spdlog::level::off);
  s = CurrentLogSettings();
  EXPECT_FALSE(s.log_info || s.log_warnings || s.log_errors);
}

TEST_F(LogSettingsTest, EachSwitchMovesTheThreshold) {
  spdlog::set_level(spdlog::level::info);
  struct Case {
    SettingUpdates updates;
    spdlog::level::level_enum level;
  };
  for (const Case& c : std::vector<Case>{
           {{{"log_verbose_level", int64_t{1}}}, spdlog::level::debug},
           {{{"log_verbose_level", int64_t{2}}}, spdlog::level::trace},
           {{{"log_verbose_level", int64_t{0}}}, spdlog::level::info},
           {{{"log_info", false}}, spdlog::level::warn},
           {{{"log_warnings", false}}, spdlog::level::err},
           {{{"log_errors", false}}, spdlog::level::off},
           {{{"log_errors", true}}, spdlog::level::err},
           {{{"log_info", true}, {"log_warnings", true}}, spdlog::level::info},
       }) {
    absl::StatusOr<LogSettings> s = UpdateLogSettings(c.updates);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(spdlog::get_level(), c.level) << c.updates[0].first;
  }
}

TEST_F(LogSettingsTest, VerboseLevelsPastTwoAreTrace) {
  absl::StatusOr<LogSettings> s = UpdateLogSettings({{"log_verbose_level", int64_t{7}}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->log_verbose_level, 2u);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::trace);
}

TEST_F(LogSettingsTest, FormatAndFile) {
  absl::StatusOr<LogSettings> s = UpdateLogSettings({{"log_format", std::string("ISO8601")}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->log_format, "ISO8601");
  EXPECT_EQ(CurrentLogSettings().log_format, "ISO8601");
  EXPECT_TRUE(UpdateLogSettings({{"log_file", std::string()}}).ok());
  EXPECT_THAT(Refused({{"log_file", std::string("/tmp/ferry.log")}}), HasSubstr("'log_file'"));
  EXPECT_THAT(Refused({{"log_format", std::string("json")}}),
              HasSubstr("'log_format' must be \"default\" or \"ISO8601\", not \"json\""));
}

TEST_F(LogSettingsTest, RefusesWhatOneThresholdCannotDo) {
  spdlog::set_level(spdlog::level::info);
  EXPECT_THAT(Refused({{"log_warnings", false}, {"log_info", true}}),
              HasSubstr("'log_warnings' cannot be false while log_info is true"));
  EXPECT_THAT(Refused({{"log_errors", false}}), HasSubstr("'log_errors'"));
  EXPECT_THAT(Refused({{"log_info", false}, {"log_verbose_level", int64_t{1}}}),
              HasSubstr("'log_verbose_level' 1 needs log_info"));
  spdlog::set_level(spdlog::level::warn);
  EXPECT_THAT(Refused({{"log_errors", false}}),
              HasSubstr("'log_errors' cannot be false while log_warnings is true"));
}

TEST_F(LogSettingsTest, RefusesWrongTypesAndUnknownNamesAllOrNothing) {
  spdlog::set_level(spdlog::level::info);
  EXPECT_THAT(Refused({{"log_info", std::string("false")}}),
              HasSubstr("'log_info' must be a boolean, not a string"));
  EXPECT_THAT(Refused({{"log_info", int64_t{0}}}), HasSubstr("not an integer"));
  EXPECT_THAT(Refused({{"log_verbose_level", true}}),
              HasSubstr("'log_verbose_level' must be a non-negative integer, not a boolean"));
  EXPECT_THAT(Refused({{"log_verbose_level", int64_t{-1}}}), HasSubstr("not -1"));
  EXPECT_THAT(Refused({{"log_format", false}}), HasSubstr("'log_format' must be a string"));
  EXPECT_THAT(Refused({{"log_warning", false}}), HasSubstr("unknown log setting 'log_warning'"));
  // The first setting was good; the second is not, so neither applies.
  EXPECT_THAT(Refused({{"log_verbose_level", int64_t{2}}, {"colour", true}}),
              HasSubstr("'colour'"));
  EXPECT_EQ(spdlog::get_level(), spdlog::level::info);
}

TEST(TraceSettingsTest, TracingIsOffAndStaysOff) {
  using Settings = TraceSettings;
  const Settings off = {{"trace_level", {"OFF"}}};
  EXPECT_EQ(*UpdateTraceSettings({}), off);
  EXPECT_EQ(*UpdateTraceSettings({{"trace_level", {"OFF"}}}), off);
  EXPECT_EQ(*UpdateTraceSettings({{"trace_level", {}}}), off);  // clearing
  absl::StatusOr<Settings> on = UpdateTraceSettings({{"trace_level", {"TIMESTAMPS"}}});
  EXPECT_EQ(on.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(on.status().message()),
              HasSubstr("'trace_level' cannot be \"TIMESTAMPS\": Ferry does not trace"));
  absl::StatusOr<Settings> rate = UpdateTraceSettings({{"trace_rate", {"1"}}});
  EXPECT_EQ(rate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rate.status().message()), HasSubstr("'trace_rate' cannot be set"));
}

}  // namespace
}  // namespace ferry
