#include "registry/lineage.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const char kFull[] =
    R"({"training_data":[{"uri":"file:///d/train.gz","sha256":")"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    R"("}],"code_revision":"3f2c1e0","parameters":{"lr":0.001},"metrics":{"accuracy":0.91,"ece":0.0123456789012345},)"
    R"("calibration":[{"uri":"calibration.json"}],"parent":{"model":"base","version":2},"extra":{"k":[1,2]}})";

TEST(RegistryLineageTest, RoundTrips) {
  absl::StatusOr<Lineage> lineage = ParseLineage(kFull);
  ASSERT_TRUE(lineage.ok()) << lineage.status();
  EXPECT_EQ(lineage->training_data.size(), 1u);
  EXPECT_EQ(lineage->code_revision, "3f2c1e0");
  EXPECT_EQ(lineage->parent_model, "base");
  EXPECT_EQ(lineage->parent_version, 2);
  EXPECT_EQ(LineageToJson(*lineage), kFull);
  EXPECT_EQ(LineageToJson(*ParseLineage("")), "{}");
}

TEST(RegistryLineageTest, ErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"([1])", "lineage: expected a JSON object"},
      {R"({"training_data":[{"uri":"x","sha256":"abc"}]})", "lineage.training_data[0].sha256"},
      {R"({"training_data":[{"sha256":"abc"}]})", "lineage.training_data[0].sha256"},
      {R"({"training_data":[{}]})", "lineage.training_data[0].uri"},
      {R"({"parent":{"model":"m"}})", "lineage.parent.version"},
      {R"({"parent":{"version":0}})", "lineage.parent.version"},
      {R"({"metrics":[1]})", "lineage.metrics"},
      {R"({"colour":"red"})", "lineage.colour: unknown member"},
      {R"({"code_revision":1})", "lineage.code_revision"},
      {R"({)", "not valid JSON"},
  };
  for (const auto& [text, field] : cases) {
    absl::StatusOr<Lineage> lineage = ParseLineage(text);
    EXPECT_EQ(lineage.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(lineage.status().message(), HasSubstr(field)) << text;
  }
}

TEST(RegistryLineageTest, MapsTheBundledFormat) {
  absl::StatusOr<Lineage> cnn =
      LineageFromBundled(ReadFile("models/fashion_cnn/1/lineage.json"),
                         ReadFile("models/fashion_cnn/1/calibration.json"), std::string(64, 'c'));
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  ASSERT_EQ(cnn->training_data.size(), 2u);  // the train split; the test split is not lineage
  EXPECT_EQ(cnn->training_data[0].uri,
            "file:///usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  EXPECT_EQ(cnn->training_data[0].sha256,
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7");
  EXPECT_EQ(cnn->code_revision, "uncommitted");
  EXPECT_THAT(cnn->parameters_json, HasSubstr("\"lr\":"));
  EXPECT_THAT(cnn->parameters_json, HasSubstr("\"seed\":20240"));
  EXPECT_THAT(cnn->metrics_json, HasSubstr("\"accuracy\":0.9087"));
  EXPECT_THAT(cnn->metrics_json, HasSubstr("\"ece\":"));
  ASSERT_EQ(cnn->calibration.size(), 1u);
  EXPECT_EQ(cnn->parent_version, 0);
  // What it produces is a valid lineage document.
  EXPECT_TRUE(ParseLineage(LineageToJson(*cnn)).ok());

  absl::StatusOr<Lineage> int8 =
      LineageFromBundled(ReadFile("models/fashion_cnn_int8/1/lineage.json"), "", "");
  ASSERT_TRUE(int8.ok());
  EXPECT_EQ(int8->parent_model, "fashion_cnn");  // "source": models/fashion_cnn/1/model.pt
  EXPECT_EQ(int8->parent_version, 1);
  EXPECT_TRUE(int8->training_data.empty());  // quantized, not trained: test split only
  absl::StatusOr<Lineage> mc =
      LineageFromBundled(ReadFile("models/fashion_mlp_mc/1/lineage.json"), "", "");
  EXPECT_EQ(mc->parent_model, "fashion_mlp");  // "derived_from"
  EXPECT_EQ(mc->parent_version, 1);
  EXPECT_EQ(LineageFromBundled("[]", "", "").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry
