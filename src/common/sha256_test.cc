#include "common/sha256.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace ferry {
namespace {

// Published test vectors: FIPS 180-2 appendix B (and NIST's SHA-256 examples).
constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char k448Bits[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char k448BitsDigest[] =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionA[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string Hex(absl::string_view data) {
  absl::StatusOr<std::string> hex = Sha256Hex(data);
  EXPECT_TRUE(hex.ok()) << hex.status();
  return hex.value_or("");
}

class Sha256FileTest : public testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }
  const std::string& Write(const std::string& data) {
    std::ofstream(path_, std::ios::binary) << data;
    return path_;
  }
  const std::string path_ = (std::filesystem::temp_directory_path() /
                             ("ferry_sha256_test_" + std::to_string(::getpid())))
                                .string();
};

TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(Hex(""), kEmpty);
  EXPECT_EQ(Hex("abc"), kAbc);
  ASSERT_EQ(std::string(k448Bits).size() * 8, 448u);
  EXPECT_EQ(Hex(k448Bits), k448BitsDigest);
  EXPECT_EQ(Hex(std::string(1000000, 'a')), kMillionA);
}

TEST(Sha256Test, BytesAfterANulCount) {
  EXPECT_NE(Hex(absl::string_view("a\0b", 3)), Hex("a"));
}

TEST_F(Sha256FileTest, MultiChunkFileMatchesThePublishedDigest) {
  // One million 'a's span about sixteen of the reader's 64 KiB chunks.
  absl::StatusOr<std::string> hex = Sha256FileHex(Write(std::string(1000000, 'a')));
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, kMillionA);
}

TEST_F(Sha256FileTest, FileOfWholeChunksMatchesTheInMemoryDigest) {
  // Exactly two chunks: the last read returns zero bytes and must add nothing.
  std::string data(2 << 16, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  absl::StatusOr<std::string> hex = Sha256FileHex(Write(data));
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, Hex(data));
}

TEST_F(Sha256FileTest, EmptyFile) {
  absl::StatusOr<std::string> hex = Sha256FileHex(Write(""));
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, kEmpty);
}

TEST(Sha256Test, MissingFileIsNotFound) {
  absl::StatusOr<std::string> hex = Sha256FileHex("/nonexistent/ferry/data.ferryset");
  EXPECT_EQ(hex.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(hex.status().message().find("/nonexistent/ferry/data.ferryset"), std::string::npos);
}

TEST(Sha256Test, DirectoryIsAnErrorNotADigest) {
  EXPECT_FALSE(Sha256FileHex(std::filesystem::temp_directory_path().string()).ok());
}

}  // namespace
}  // namespace ferry
