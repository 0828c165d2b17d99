#include "uncertainty/sha256.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace ferry {
namespace {

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                      "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, AnySplitGivesTheSameDigest) {
  std::string data;
  for (int i = 0; i < 200; ++i) data += static_cast<char>(i * 7 + 3);
  for (size_t len : {size_t{55}, size_t{56}, size_t{63}, size_t{64}, size_t{65}, size_t{119},
                     size_t{120}, size_t{128}, size_t{200}}) {
    const std::string whole = Sha256Hex(data.substr(0, len));
    for (size_t split = 0; split <= len; ++split) {
      Sha256 h;
      h.Update(data.substr(0, split));
      h.Update(data.substr(split, len - split));
      ASSERT_EQ(h.FinishHex(), whole) << "len " << len << " split " << split;
    }
  }
}

TEST(Sha256Test, File) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ferry_sha256_" + std::to_string(::getpid()));
  std::string data(150000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  std::ofstream(path, std::ios::binary) << data;
  absl::StatusOr<std::string> hex = Sha256File(path.string());
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, Sha256Hex(data));
  std::filesystem::remove(path);
  EXPECT_EQ(Sha256File(path.string()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ferry
