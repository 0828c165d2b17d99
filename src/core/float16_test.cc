#include "core/float16.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gtest/gtest.h"

namespace ferry {
namespace {

bool IsHalfNaN(uint16_t h) { return (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0; }
bool IsBf16NaN(uint16_t b) { return (b & 0x7F80u) == 0x7F80u && (b & 0x7Fu) != 0; }

// Every 16-bit pattern is a float, so a round trip through float must give back the same
// bits (any NaN for a NaN: payloads need not survive).
void ExpectEveryPatternRoundTrips(float (*to_float)(uint16_t), uint16_t (*from_float)(float),
                                  bool (*is_nan)(uint16_t)) {
  for (uint32_t pattern = 0; pattern <= 0xFFFFu; ++pattern) {
    const auto bits = static_cast<uint16_t>(pattern);
    const float f = to_float(bits);
    if (is_nan(bits)) {
      EXPECT_TRUE(std::isnan(f)) << pattern;
      EXPECT_TRUE(is_nan(from_float(f))) << pattern;
    } else {
      EXPECT_EQ(from_float(f), bits) << pattern;
    }
  }
}

TEST(Float16Test, EveryHalfRoundTrips) {
  ExpectEveryPatternRoundTrips(HalfToFloat, FloatToHalf, IsHalfNaN);
}

TEST(Float16Test, HalfValues) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);               // the largest finite half
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // the smallest subnormal
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -30)), 0x0000);  // below half the smallest subnormal
}

TEST(Float16Test, HalfRoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 (0x3C00) and 1 + 2^-10 (0x3C01): the even one wins.
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3C01);
  // 65520 is halfway between 65504 and the next step, 65536, which is Inf in half.
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7BFF);
  // Halfway between 0 and the smallest subnormal rounds to 0; a hair above, to 0x0001.
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25) * 1.001f), 0x0001);
}

TEST(Float16Test, EveryBf16RoundTrips) {
  ExpectEveryPatternRoundTrips(Bf16ToFloat, FloatToBf16, IsBf16NaN);
}

TEST(Float16Test, Bf16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(Bf16ToFloat(0xC060), -3.5f);
  EXPECT_EQ(FloatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(FloatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(FloatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3F81);
  // A NaN whose payload sits only in the low bits must not truncate to Inf.
  const uint32_t low_nan_bits = 0x7F800001u;
  float low_nan;
  std::memcpy(&low_nan, &low_nan_bits, sizeof(low_nan));
  EXPECT_TRUE(IsBf16NaN(FloatToBf16(low_nan)));
}

}  // namespace
}  // namespace ferry
