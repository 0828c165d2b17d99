#include "json/reader.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "boost/json/parse.hpp"
#include "gtest/gtest.h"
#include "json/writer.h"

namespace ferry {
namespace {

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

TEST(JsonReaderTest, ExactReaderGetsBackTheNumberThatBoostMisrounds) {
  // The reason this reader exists (docs/json.md): Boost.JSON 1.81's own parse is one ULP low
  // here. If this first check fails, Boost has become exact and the reader could go.
  EXPECT_TRUE(SameBits(boost::json::parse("1.1254533818669081").as_double(), 1.1254533818669079));
  absl::StatusOr<boost::json::value> v = ParseJsonExact("{\"t\": 1.1254533818669081}");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(SameBits(v->at("t").as_double(), 1.1254533818669081));
}

TEST(JsonReaderTest, EveryWrittenDoubleReadsBackBitForBit) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> bits;
  int checked = 0;
  while (checked < 20000) {
    const uint64_t b = bits(rng);
    double d = 0;
    std::memcpy(&d, &b, sizeof d);
    if (!std::isfinite(d)) continue;
    // Half of them in the range calibration files hold, half anywhere.
    if (checked % 2 == 0) d = std::fmod(std::fabs(d), 4.0);
    const std::string text = "[" + JsonNumber(d) + "]";
    absl::StatusOr<boost::json::value> v = ParseJsonExact(text);
    ASSERT_TRUE(v.ok()) << text;
    const boost::json::value& x = v->as_array().at(0);
    const double back = x.is_double() ? x.as_double() : x.to_number<double>();
    ASSERT_TRUE(SameBits(back, d) || (d == 0 && back == 0)) << text;
    ++checked;
  }
}

TEST(JsonReaderTest, ExactReaderBuildsTheSameDocumentAsBoost) {
  const std::string text =
      R"({"a": [1, -2, 18446744073709551615, 2.5, true, false, null, "s\"\u00e9"],)"
      R"( "b": {"c": {}, "d": []}, "e": -0.0, "f": 1e-320})";
  absl::StatusOr<boost::json::value> v = ParseJsonExact(text);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, boost::json::parse(text));
  EXPECT_TRUE(v->at("a").as_array().at(2).is_uint64());
  EXPECT_TRUE(v->at("a").as_array().at(1).is_int64());
  EXPECT_EQ(v->at("a").as_array().at(7).as_string(), "s\"\xc3\xa9");
  EXPECT_TRUE(std::signbit(v->at("e").as_double()));
  EXPECT_TRUE(SameBits(v->at("f").as_double(), 1e-320));  // subnormal
}

TEST(JsonReaderTest, ExactReaderKeepsOutOfRangeNumbersInfiniteForTheCaller) {
  absl::StatusOr<boost::json::value> v = ParseJsonExact("[1e999, -1e999]");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(std::isinf(v->as_array().at(0).as_double()));
  EXPECT_LT(v->as_array().at(1).as_double(), 0);
}

TEST(JsonReaderTest, ExactReaderRejectsWhatIsNotOneJsonDocument) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "[1] [2]", "nul", "[01]", "{\"a\":1}x"}) {
    absl::StatusOr<boost::json::value> v = ParseJsonExact(bad);
    EXPECT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(v.status().message().empty()) << bad;
  }
  EXPECT_TRUE(ParseJsonExact("  [1]  \n").ok());
}

}  // namespace
}  // namespace ferry
