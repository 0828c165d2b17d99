#include "uncertainty/calibration_file.h"

#include <filesystem>
#include <fstream>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;
constexpr double kInf = std::numeric_limits<double>::infinity();

Calibration Sample() {
  Calibration c;
  c.model = "fashion \"cnn\"";
  c.version = "3";
  c.logits_output = "logits";
  c.classes = 10;
  c.n = 5000;
  c.data_file = "data/fashion_calib.ferryset";
  c.data_sha256 = std::string(64, 'a');
  c.created = "2024-05-01T10:00:00Z";
  c.temperature = 1.2345678901234567;
  c.accuracy = 0.9102;
  c.nll_before = 0.31;
  c.nll_after = 0.25;
  c.ece_before = 0.03;
  c.ece_after = 0.008;
  c.levels = {{0.05, 4751, 0.9, kInf}, {0.1, 4501, 0.7, 0.999}, {0.2, 4001, 0.1, 0.95}};
  return c;
}

std::string ErrorFor(const std::string& text) {
  absl::StatusOr<Calibration> c = ParseCalibration(text, "v/calibration.json");
  EXPECT_FALSE(c.ok());
  return std::string(c.status().message());
}

// A valid file with one line replaced.
std::string With(const std::string& key, const std::string& value) {
  std::string text = SerializeCalibration(Sample());
  const size_t at = text.find("\"" + key + "\":");
  EXPECT_NE(at, std::string::npos) << key;
  // "conformal" is the last key and spans lines up to the closing brace.
  const size_t end = key == "conformal" ? text.rfind("\n}") : text.find('\n', at);
  const bool comma = text[end - 1] == ',';
  return text.substr(0, at) + "\"" + key + "\": " + value + (comma ? "," : "") + text.substr(end);
}

TEST(CalibrationFileTest, RoundTripsExactly) {
  const Calibration c = Sample();
  const std::string text = SerializeCalibration(c);
  EXPECT_THAT(text, HasSubstr("\"temperature\": 1.2345678901234567,"));
  EXPECT_THAT(text, HasSubstr("\"aps\": null"));  // +inf
  EXPECT_THAT(text, HasSubstr("{\"alpha\": 0.1, \"rank\": 4501, \"lac\": 0.7, \"aps\": 0.999}"));
  absl::StatusOr<Calibration> back = ParseCalibration(text, "x");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << text;
  EXPECT_EQ(back->model, c.model);
  EXPECT_EQ(back->version, "3");
  EXPECT_EQ(back->logits_output, "logits");
  EXPECT_EQ(back->classes, 10);
  EXPECT_EQ(back->n, 5000);
  EXPECT_EQ(back->data_file, c.data_file);
  EXPECT_EQ(back->data_sha256, c.data_sha256);
  EXPECT_EQ(back->created, c.created);
  EXPECT_EQ(back->temperature, c.temperature);
  EXPECT_EQ(back->accuracy, c.accuracy);
  EXPECT_EQ(back->nll_before, c.nll_before);
  EXPECT_EQ(back->nll_after, c.nll_after);
  EXPECT_EQ(back->ece_before, c.ece_before);
  EXPECT_EQ(back->ece_after, c.ece_after);
  ASSERT_EQ(back->levels.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->levels[i].alpha, c.levels[i].alpha);
    EXPECT_EQ(back->levels[i].rank, c.levels[i].rank);
    EXPECT_EQ(back->levels[i].lac, c.levels[i].lac);
    EXPECT_EQ(back->levels[i].aps, c.levels[i].aps);
  }
  EXPECT_EQ(back->levels[0].Threshold(ConformalScore::kAps), kInf);
  EXPECT_EQ(back->levels[1].Threshold(ConformalScore::kLac), 0.7);
}

TEST(CalibrationFileTest, FindsLevels) {
  const Calibration c = Sample();
  EXPECT_EQ(c.FindLevel(0.05), 0);
  EXPECT_EQ(c.FindLevel(0.1), 1);
  EXPECT_EQ(c.FindLevel(0.30000000000000004 - 0.1), 2);  // 0.2 with rounding noise
  EXPECT_EQ(c.FindLevel(0.15), -1);
  EXPECT_EQ(c.LevelList(), "0.05, 0.1, 0.2");
}

TEST(CalibrationFileTest, OnlyRequiredKeysNeeded) {
  absl::StatusOr<Calibration> c = ParseCalibration(
      R"({"format": 1, "logits_output": "y", "classes": 3, "n": 20, "temperature": 2,
          "conformal": [{"alpha": 0.1, "lac": 0.5, "aps": null}], "comment": "ignored"})",
      "x");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->temperature, 2.0);
  EXPECT_EQ(c->levels[0].aps, kInf);
}

TEST(CalibrationFileTest, RejectsBadFiles) {
  EXPECT_THAT(ErrorFor("{"), HasSubstr("v/calibration.json: not valid JSON"));
  EXPECT_THAT(ErrorFor("[]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(ErrorFor(With("format", "2")), HasSubstr("format: this Ferry reads format 1"));
  EXPECT_THAT(ErrorFor(With("temperature", "0")), HasSubstr("temperature: must be positive"));
  EXPECT_THAT(ErrorFor(With("temperature", "\"1\"")), HasSubstr("temperature: must be a number"));
  EXPECT_THAT(ErrorFor(With("classes", "1")), HasSubstr("classes: must be at least 2"));
  EXPECT_THAT(ErrorFor(With("n", "2.5")), HasSubstr("n: must be an integer"));
  EXPECT_THAT(ErrorFor(With("logits_output", "\"\"")), HasSubstr("logits_output"));
  EXPECT_THAT(ErrorFor(With("conformal", "[]")), HasSubstr("conformal: must be a non-empty array"));
  EXPECT_THAT(ErrorFor(With("conformal", R"([{"alpha": 1.5, "lac": 0.1, "aps": 0.1}])")),
              HasSubstr("conformal[0].alpha: must be in (0, 1)"));
  EXPECT_THAT(ErrorFor(With("conformal", R"([{"alpha": 0.2, "lac": 0.1, "aps": 0.1},
                                            {"alpha": 0.1, "lac": 0.1, "aps": 0.1}])")),
              HasSubstr("conformal[1].alpha: levels must be in ascending order"));
  EXPECT_THAT(ErrorFor(With("conformal", R"([{"alpha": 0.1, "lac": "x", "aps": 0.1}])")),
              HasSubstr("conformal[0].lac: must be a number"));
  EXPECT_THAT(ErrorFor(With("conformal", R"([{"alpha": 0.1, "lac": 0.1}])")),
              HasSubstr("conformal[0].aps: is required"));
  std::string text = SerializeCalibration(Sample());
  text.erase(text.find("  \"temperature\""), text.find("\"accuracy\"") - text.find("  \"temperature\""));
  EXPECT_THAT(ErrorFor(text), HasSubstr("temperature: is required"));
}

TEST(CalibrationFileTest, WritesAtomicallyAndReadsBack) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ferry_calfile_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / kCalibrationFileName).string();
  EXPECT_EQ(ReadCalibrationFile(path).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteCalibrationFile(path, Sample()).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  absl::StatusOr<Calibration> back = ReadCalibrationFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->temperature, Sample().temperature);
  std::ofstream(path) << "{\"format\": 1}";
  EXPECT_THAT(std::string(ReadCalibrationFile(path).status().message()),
              HasSubstr(path + ": logits_output: is required"));
  EXPECT_FALSE(WriteCalibrationFile((dir / "missing" / "c.json").string(), Sample()).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ferry
