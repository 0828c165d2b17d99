#include "uncertainty/labeled_set.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

LabeledSet Small() {
  LabeledSet s;
  s.dtype = DataType::kFp32;
  s.shape = {3, 2, 2};
  s.classes = 4;
  s.description = "three \"rows\"";
  s.labels = {0, 3, 1};
  s.data.resize(3 * 4 * sizeof(float));
  float* f = reinterpret_cast<float*>(s.data.data());
  for (int i = 0; i < 12; ++i) f[i] = static_cast<float>(i) * 0.5f;
  return s;
}

std::string ErrorFor(const std::string& bytes) {
  absl::StatusOr<LabeledSet> s = ParseLabeledSet(bytes, "d.ferryset");
  EXPECT_FALSE(s.ok());
  return std::string(s.status().message());
}

// The bytes of Small() with its header replaced.
std::string WithHeader(const std::string& header, size_t rows = 3, size_t row_bytes = 16) {
  std::string out = "FERRYSET";
  const uint32_t version = 1, len = static_cast<uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&version), 4);
  out.append(reinterpret_cast<const char*>(&len), 4);
  out += header;
  out.append(rows * 8, '\0');
  out.append(rows * row_bytes, '\0');
  return out;
}

TEST(LabeledSetTest, RoundTrip) {
  const std::string bytes = SerializeLabeledSet(Small());
  // Preamble 16 + header + 3 labels * 8 + 12 floats * 4.
  EXPECT_EQ(bytes.substr(0, 8), "FERRYSET");
  absl::StatusOr<LabeledSet> s = ParseLabeledSet(bytes, "x");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->dtype, DataType::kFp32);
  EXPECT_EQ(s->shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(s->classes, 4);
  EXPECT_EQ(s->description, "three \"rows\"");
  EXPECT_EQ(s->labels, (std::vector<int64_t>{0, 3, 1}));
  EXPECT_EQ(s->data, Small().data);
  EXPECT_EQ(s->rows(), 3);
  EXPECT_EQ(s->row_bytes(), 16u);
}

TEST(LabeledSetTest, RowsSlicesATensor) {
  const LabeledSet s = Small();
  const Tensor t = s.Rows("image", 1, 2);
  EXPECT_EQ(t.name, "image");
  EXPECT_EQ(t.dtype, DataType::kFp32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2, 2}));
  ASSERT_EQ(t.data.size(), 32u);
  EXPECT_EQ(t.data_as<float>()[0], 2.0f);   // element 4 of the set
  EXPECT_EQ(t.data_as<float>()[7], 5.5f);   // element 11
}

TEST(LabeledSetTest, RejectsBadFiles) {
  const std::string good = SerializeLabeledSet(Small());
  EXPECT_THAT(ErrorFor(""), HasSubstr("not a Ferry labeled set"));
  EXPECT_THAT(ErrorFor("FERRYSEX" + good.substr(8)), HasSubstr("not a Ferry labeled set"));
  std::string v2 = good;
  v2[8] = 2;
  EXPECT_THAT(ErrorFor(v2), HasSubstr("format version 2"));
  std::string long_header = good;
  long_header[13] = 0x7f;
  EXPECT_THAT(ErrorFor(long_header), HasSubstr("runs past the end"));
  EXPECT_THAT(ErrorFor(good.substr(0, good.size() - 1)), HasSubstr("but the file has"));
  EXPECT_THAT(ErrorFor(good + "x"), HasSubstr("but the file has"));
  EXPECT_THAT(ErrorFor(WithHeader("{nope")), HasSubstr("header: not valid JSON"));
  EXPECT_THAT(ErrorFor(WithHeader("[]")), HasSubstr("header: must be a JSON object"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "FP32", "shape": [3, 2, 2], "classes": 4, "label": 1})")),
              HasSubstr("header: label: unknown key"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"shape": [3, 2, 2], "classes": 4})")),
              HasSubstr("header: datatype: is required"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "BYTES", "shape": [3, 2, 2], "classes": 4})")),
              HasSubstr("not a fixed-size protocol datatype"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "FP32", "shape": [3, 0], "classes": 4})")),
              HasSubstr("every dimension must be an integer of at least 1"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "FP32", "shape": [], "classes": 4})")),
              HasSubstr("header: shape: is required"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "FP32", "shape": [3, 2, 2], "classes": 1})")),
              HasSubstr("classes: is required, an integer of at least 2"));
  EXPECT_THAT(ErrorFor(WithHeader(R"({"datatype": "FP32", "shape": [4611686018427387904, 4], "classes": 2})")),
              HasSubstr("is too large"));
}

TEST(LabeledSetTest, RejectsLabelsOutOfRange) {
  LabeledSet s = Small();
  s.labels[2] = 4;
  EXPECT_THAT(ErrorFor(SerializeLabeledSet(s)), HasSubstr("label of row 2 is 4; labels must be in [0, 4)"));
  s.labels[2] = -1;
  EXPECT_THAT(ErrorFor(SerializeLabeledSet(s)), HasSubstr("label of row 2 is -1"));
}

TEST(LabeledSetTest, ReadsFiles) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ferry_set_" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << SerializeLabeledSet(Small());
  absl::StatusOr<LabeledSet> s = ReadLabeledSet(path.string());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->labels, Small().labels);
  std::filesystem::remove(path);
  EXPECT_EQ(ReadLabeledSet(path.string()).status().code(), absl::StatusCode::kNotFound);
}

TEST(LabeledSetTest, ChecksTheFitWithAModel) {
  const LabeledSet s = Small();
  EXPECT_TRUE(CheckLabeledSetFits(s, {"x", DataType::kFp32, {-1, 2, 2}}, 4, "d").ok());
  EXPECT_TRUE(CheckLabeledSetFits(s, {"x", DataType::kFp32, {-1, -1, 2}}, 4, "d").ok());
  EXPECT_THAT(std::string(CheckLabeledSetFits(s, {"x", DataType::kUint8, {-1, 2, 2}}, 4, "d").message()),
              HasSubstr("d: rows are FP32 but input 'x' takes UINT8"));
  EXPECT_THAT(std::string(CheckLabeledSetFits(s, {"x", DataType::kFp32, {-1, 4}}, 4, "d").message()),
              HasSubstr("do not fit input 'x' of shape [-1, 4]"));
  EXPECT_THAT(std::string(CheckLabeledSetFits(s, {"x", DataType::kFp32, {-1, 2, 3}}, 4, "d").message()),
              HasSubstr("do not fit"));
  EXPECT_THAT(std::string(CheckLabeledSetFits(s, {"x", DataType::kFp32, {-1, 2, 2}}, 10, "d").message()),
              HasSubstr("labels have 4 classes but the model has 10"));
}

}  // namespace
}  // namespace ferry
