#include "json/writer.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "boost/json/parse.hpp"
#include "gtest/gtest.h"

namespace ferry {
namespace {

namespace bj = boost::json;

constexpr char kFffd[] = "\xef\xbf\xbd";

// What AppendString wrote, after checking it is one JSON string Boost.JSON accepts (Boost
// rejects ill-formed UTF-8 by default, so this also checks the output is valid UTF-8).
std::string RoundTrip(absl::string_view s) {
  std::string out;
  json_writer::AppendString(out, s);
  bj::error_code ec;
  const bj::value v = bj::parse(out, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << out;
  if (ec || !v.is_string()) return "<not a JSON string>";
  return std::string(v.as_string());
}

std::string Quoted(absl::string_view s) {
  std::string out;
  json_writer::AppendString(out, s);
  return out;
}

// UTF-8 for a scalar value, written out here so the tests do not lean on the code under test.
std::string Encode(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xe0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    s += static_cast<char>(0xf0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

TEST(JsonStringTest, PlainAsciiIsCopied) {
  EXPECT_EQ(Quoted(""), "\"\"");
  EXPECT_EQ(Quoted("fashion_cnn"), "\"fashion_cnn\"");
  // Longer than one eight-byte block, with the tail shorter than a block.
  const std::string text = "The quick brown fox jumps over the lazy dog 0123456789 ~!@#$%^&*()";
  EXPECT_EQ(Quoted(text), "\"" + text + "\"");
  EXPECT_EQ(Quoted("\x7f"), "\"\x7f\"");  // DEL needs no escape in JSON
}

TEST(JsonStringTest, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(Quoted("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(Quoted("C:\\models"), R"("C:\\models")");
  EXPECT_EQ(Quoted("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(Quoted(absl::string_view("\0\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(Quoted("/"), "\"/\"");
}

TEST(JsonStringTest, EscapesAreFoundAtEveryPositionOfABlock) {
  // The eight-at-a-time scan must not skip a special byte wherever it sits, nor stop early.
  for (const char special : {'"', '\\', '\n', '\x01', '\x1f'}) {
    for (size_t at = 0; at < 24; ++at) {
      std::string s(24, 'a');
      s[at] = special;
      ASSERT_EQ(RoundTrip(s), s) << "byte " << int{special} << " at " << at;
    }
  }
  for (size_t at = 0; at < 24; ++at) {
    std::string s(24, ' ');  // 0x20, the first byte that needs no escape
    s[at] = '\x1f';
    std::string expected = "\"" + s.substr(0, at) + "\\u001f" + s.substr(at + 1) + "\"";
    ASSERT_EQ(Quoted(s), expected) << at;
  }
}

TEST(JsonStringTest, WellFormedMultiByteSequencesPassThrough) {
  // Each length's smallest and largest scalar value, the edges around the surrogates, and
  // some text.
  for (const uint32_t cp : {0x80u, 0x7ffu, 0x800u, 0xd7ffu, 0xe000u, 0xfffdu, 0xffffu, 0x10000u,
                            0x10ffffu, 0xe9u, 0x20acu, 0x1f600u}) {
    const std::string s = "x" + Encode(cp) + "y";
    EXPECT_EQ(Quoted(s), "\"" + s + "\"") << std::hex << cp;
    EXPECT_EQ(RoundTrip(s), s) << std::hex << cp;
  }
  const std::string text = "caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
  EXPECT_EQ(RoundTrip(text), text);
}

TEST(JsonStringTest, RandomValidUtf8RoundTrips) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any(0, 0x10ffff);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int k = 0; k < 12; ++k) {
      uint32_t cp = any(rng);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 'z';
      if (k % 3 == 0) cp &= 0x7f;  // plenty of ASCII, controls included
      s += Encode(cp);
    }
    ASSERT_EQ(RoundTrip(s), s);
  }
}

TEST(JsonStringTest, StrayContinuationBytesAreReplaced) {
  EXPECT_EQ(RoundTrip("a\x80z"), std::string("a") + kFffd + "z");
  EXPECT_EQ(RoundTrip("\xbf\xbf"), std::string(kFffd) + kFffd);
}

TEST(JsonStringTest, TruncatedSequencesBecomeOneReplacementEach) {
  EXPECT_EQ(RoundTrip("\xc3"), kFffd);                                  // at the end
  EXPECT_EQ(RoundTrip("\xe2\x82z"), std::string(kFffd) + "z");          // 2 of 3 bytes
  EXPECT_EQ(RoundTrip("\xf0\x9f\x98"), kFffd);                          // 3 of 4, at the end
  EXPECT_EQ(RoundTrip("\xf0\x9f\x98\""), std::string(kFffd) + "\"");  // cut by a quote
  EXPECT_EQ(RoundTrip("\xc3\xc3\xa9"), std::string(kFffd) + "\xc3\xa9");
}

TEST(JsonStringTest, OverlongEncodingsAreReplaced) {
  // '/' as two bytes, NUL as two bytes, U+07FF as three, U+FFFF as four.
  EXPECT_EQ(RoundTrip("\xc0\xaf"), std::string(kFffd) + kFffd);
  EXPECT_EQ(RoundTrip("\xc1\xbf"), std::string(kFffd) + kFffd);
  EXPECT_EQ(RoundTrip("\xc0\x80"), std::string(kFffd) + kFffd);
  EXPECT_EQ(RoundTrip("\xe0\x9f\xbf"), std::string(kFffd) + kFffd + kFffd);
  EXPECT_EQ(RoundTrip("\xf0\x8f\xbf\xbf"), std::string(kFffd) + kFffd + kFffd + kFffd);
}

TEST(JsonStringTest, EncodedSurrogatesAreReplaced) {
  for (const char* s : {"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xb0\x80", "\xed\xbf\xbf"}) {
    EXPECT_EQ(RoundTrip(s), std::string(kFffd) + kFffd + kFffd) << Quoted(s);
  }
  // A surrogate pair written as two three-byte sequences (CESU-8) is not UTF-8 either.
  std::string six;
  for (int i = 0; i < 6; ++i) six += kFffd;
  EXPECT_EQ(RoundTrip("\xed\xa0\xbd\xed\xb8\x80"), six);
}

TEST(JsonStringTest, CodePointsPastU10ffffAreReplaced) {
  EXPECT_EQ(RoundTrip("\xf4\x90\x80\x80"), std::string(kFffd) + kFffd + kFffd + kFffd);
  EXPECT_EQ(RoundTrip("\xf5\x80\x80\x80"), std::string(kFffd) + kFffd + kFffd + kFffd);
  EXPECT_EQ(RoundTrip("\xf7\xbf\xbf\xbf"), std::string(kFffd) + kFffd + kFffd + kFffd);
  EXPECT_EQ(RoundTrip("\xff\xfe"), std::string(kFffd) + kFffd);
}

TEST(JsonStringTest, MaximalSubpartsAsInTheUnicodeStandard) {
  // The example of Table 3-8 ("U+FFFD for Non-Shortest Form Sequences" and its neighbours)
  // in the Unicode Standard, chapter 3: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  const std::string in = "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64";
  const std::string r = kFffd;
  EXPECT_EQ(RoundTrip(in), "a" + r + r + r + "b" + r + "c" + r + r + "d");
}

TEST(JsonStringTest, RandomBytesAlwaysGiveValidJson) {
  // Mostly bytes from the interesting ranges, so every branch is hit often.
  std::mt19937 rng(9);
  const std::vector<uint8_t> interesting = {0x00, 0x1f, 0x20, '"',  '\\', 'a',  0x7f, 0x80,
                                            0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
                                            0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90};
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) {
      c = static_cast<char>(rng() % 2 ? interesting[rng() % interesting.size()] : rng() % 256);
    }
    const std::string back = RoundTrip(s);
    ASSERT_NE(back, "<not a JSON string>") << Quoted(s);
    if (HasFailure()) return;
  }
}

TEST(JsonNumberTest, ShortestAndNullWhenNotFinite) {
  EXPECT_EQ(JsonNumber(0.1), "0.1");
  EXPECT_EQ(JsonNumber(1.0), "1");
  EXPECT_EQ(JsonNumber(-2.5e-7), "-2.5e-07");
  EXPECT_EQ(JsonNumber(std::nan("")), "null");
  EXPECT_EQ(JsonNumber(-INFINITY), "null");
  std::string out;
  json_writer::AppendFloat(out, 0.1f);  // a float's shortest text, not the double's
  EXPECT_EQ(out, "0.1");
  out.clear();
  json_writer::AppendInt(out, int64_t{-9223372036854775807 - 1});
  EXPECT_EQ(out, "-9223372036854775808");
}

TEST(JsonObjectTest, WritesMembersInOrderWithEscapedValues) {
  std::string out;
  json_writer::Object o(out);
  o.String("name", "a\"b");
  o.Bool("ready", true);
  json_writer::AppendStringArray(o.Key("versions"), {"1", "2"});
  o.Close();
  EXPECT_EQ(out, R"({"name":"a\"b","ready":true,"versions":["1","2"]})");
  EXPECT_EQ(JsonString("tab\there"), R"("tab\there")");
}

}  // namespace
}  // namespace ferry
