#include "loadgen/idx_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace ferry::loadgen {
namespace {

// An idx3 ubyte file: `images` images of rows x cols, pixel i = i % 251.
std::string IdxBytes(uint32_t images, uint32_t rows, uint32_t cols, size_t drop = 0) {
  std::string out = {0, 0, 0x08, 3};
  for (uint32_t d : {images, rows, cols}) {
    out.push_back(static_cast<char>(d >> 24));
    out.push_back(static_cast<char>(d >> 16));
    out.push_back(static_cast<char>(d >> 8));
    out.push_back(static_cast<char>(d));
  }
  for (uint32_t i = 0; i < images * rows * cols; ++i) out.push_back(static_cast<char>(i % 251));
  out.resize(out.size() - drop);
  return out;
}

class IdxReaderTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const std::string& path : written_) std::remove(path.c_str());
  }
  std::string Path(const std::string& name) {
    // The pid keeps concurrent runs of the suite (ctest -j, repeated runs) apart.
    return absl::StrCat(::testing::TempDir(), "/idx_reader_test_", getpid(), "_", name);
  }
  std::string WriteGz(const std::string& name, const std::string& bytes) {
    const std::string path = Path(name);
    written_.push_back(path);
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return path;
  }
  std::string WritePlain(const std::string& name, const std::string& bytes) {
    const std::string path = Path(name);
    written_.push_back(path);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::vector<std::string> written_;
};

TEST_F(IdxReaderTest, ReadsGzipImages) {
  const std::string path = WriteGz("ok.gz", IdxBytes(3, 2, 2));
  absl::StatusOr<IdxArray> array = ReadIdxFile(path);
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->type, 0x08);
  EXPECT_EQ(array->dims, (std::vector<uint32_t>{3, 2, 2}));
  EXPECT_EQ(array->rows(), 3u);
  EXPECT_EQ(array->row_elements(), 4u);
  ASSERT_EQ(array->data.size(), 12u);
  EXPECT_EQ(static_cast<uint8_t>(array->data[11]), 11);
}

TEST_F(IdxReaderTest, ReadsPlainFiles) {
  absl::StatusOr<IdxArray> array = ReadIdxFile(WritePlain("plain", IdxBytes(2, 28, 28)));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->row_elements(), 784u);
  EXPECT_EQ(static_cast<uint8_t>(array->data[300]), 300 % 251);
}

TEST_F(IdxReaderTest, TruncatedDataIsDataLoss) {
  absl::StatusOr<IdxArray> array = ReadIdxFile(WriteGz("short.gz", IdxBytes(3, 2, 2, 5)));
  EXPECT_EQ(array.status().code(), absl::StatusCode::kDataLoss) << array.status();
  EXPECT_NE(array.status().message().find("expected 12 bytes of data, got 7"), std::string::npos)
      << array.status();
}

TEST_F(IdxReaderTest, BadMagicAndTrailingBytesAreRejected) {
  std::string bad = IdxBytes(1, 1, 1);
  bad[0] = 1;
  EXPECT_EQ(ReadIdxFile(WriteGz("magic.gz", bad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadIdxFile(WriteGz("extra.gz", IdxBytes(1, 2, 2) + "x")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadIdxFile(WriteGz("empty.gz", "")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IdxReaderTest, HugeDimensionsAreRefusedBeforeAllocating) {
  absl::StatusOr<IdxArray> array = ReadIdxFile(WriteGz("huge.gz", IdxBytes(0, 0, 0)), 1000);
  EXPECT_TRUE(array.ok());  // zero images is a valid (empty) file
  std::string huge = IdxBytes(0, 0, 0);
  huge[4] = huge[5] = huge[6] = huge[7] = '\x7f';
  huge[8] = huge[9] = huge[10] = huge[11] = '\x7f';
  EXPECT_EQ(ReadIdxFile(WriteGz("huge2.gz", huge), 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IdxReaderTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadIdxFile(Path("does-not-exist")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ferry::loadgen
