#include "api/http/content_encoding.h"

#include <zlib.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// Compresses with zlib: windowBits 15 + 16 writes gzip, 15 writes the zlib format.
std::string Deflate(const std::string& in, bool gzip) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string kBody = R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1.5]}]})";

TEST(ContentEncodingTest, GzipAndDeflateInflate) {
  absl::StatusOr<std::string> gzip = DecodeContentEncoding("gzip", Deflate(kBody, true), 1 << 20);
  ASSERT_TRUE(gzip.ok()) << gzip.status();
  EXPECT_EQ(*gzip, kBody);
  absl::StatusOr<std::string> deflate = DecodeContentEncoding("Deflate", Deflate(kBody, false), 1 << 20);
  ASSERT_TRUE(deflate.ok()) << deflate.status();
  EXPECT_EQ(*deflate, kBody);
}

TEST(ContentEncodingTest, IdentityAndListsAreUndoneInReverseOrder) {
  EXPECT_EQ(*DecodeContentEncoding("identity", kBody, 1 << 20), kBody);
  // deflate applied first, then gzip: "deflate, gzip".
  const std::string twice = Deflate(Deflate(kBody, false), true);
  absl::StatusOr<std::string> both = DecodeContentEncoding("deflate, identity ,gzip", twice, 1 << 20);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(*both, kBody);
  EXPECT_FALSE(DecodeContentEncoding("gzip, deflate", twice, 1 << 20).ok());
}

TEST(ContentEncodingTest, OtherCodingsAreUnimplementedAndNamed) {
  absl::StatusOr<std::string> br = DecodeContentEncoding("br", kBody, 1 << 20);
  EXPECT_EQ(br.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(br.status().message(), HasSubstr("'br' is not supported"));
  EXPECT_EQ(DecodeContentEncoding("gzip, compress", Deflate(kBody, true), 1 << 20).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(ContentEncodingTest, CorruptTruncatedAndTrailingDataAreInvalid) {
  const std::string gz = Deflate(kBody, true);
  absl::StatusOr<std::string> plain = DecodeContentEncoding("gzip", kBody, 1 << 20);
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plain.status().message(), HasSubstr("not valid gzip data"));
  absl::StatusOr<std::string> cut = DecodeContentEncoding("gzip", gz.substr(0, gz.size() / 2), 1 << 20);
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cut.status().message(), HasSubstr("ends before the stream does"));
  EXPECT_EQ(DecodeContentEncoding("gzip", "", 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> trailing = DecodeContentEncoding("gzip", gz + "junk", 1 << 20);
  EXPECT_EQ(trailing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(trailing.status().message(), HasSubstr("bytes after the end"));
}

TEST(ContentEncodingTest, InflatingPastTheLimitStops) {
  // 8 MiB of zeros compress to a few KiB: a small body must not become a large allocation.
  const std::string bomb = Deflate(std::string(8 << 20, '\0'), true);
  EXPECT_LT(bomb.size(), 64u << 10);
  absl::StatusOr<std::string> big = DecodeContentEncoding("gzip", bomb, 1 << 20);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(big.status().message(), HasSubstr("limit of 1048576 bytes"));
  // Exactly at the limit is fine.
  EXPECT_TRUE(DecodeContentEncoding("gzip", Deflate(std::string(1 << 20, 'a'), true), 1 << 20).ok());
}

}  // namespace
}  // namespace ferry
