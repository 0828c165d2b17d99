// The number scanner on its own, and differential tests: every body, valid or not, must
// decode with the scanner exactly as without it (tensor bytes, shapes, names, parameters,
// outputs, id), or fail with the same status and message.
#include "api/http/number_scanner.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/http/request_handler.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using number_scan::FindDataArray;
using number_scan::kNotFound;
using number_scan::Scanned;
using number_scan::ScanNumbers;

// Scans `array` (which starts with its '[') as `dtype`.
Scanned Scan(const std::string& array, DataType dtype, std::vector<uint8_t>* bytes = nullptr) {
  tensor_json::ByteBuffer out;
  const Scanned s = ScanNumbers(array, 1, dtype, out);
  std::vector<uint8_t> taken = out.Take();
  if (bytes != nullptr) *bytes = std::move(taken);
  return s;
}

TEST(ScanNumbersTest, TakesAWholeArrayOfPlainNumbers) {
  std::vector<uint8_t> bytes;
  const std::string array = "[ 1,-2 ,\n3\t]";
  const Scanned s = Scan(array, DataType::kInt32, &bytes);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.resume, array.find(']'));
  const std::vector<int32_t> want = {1, -2, 3};
  ASSERT_EQ(bytes.size(), want.size() * sizeof(int32_t));
  EXPECT_EQ(std::memcmp(bytes.data(), want.data(), bytes.size()), 0);
}

TEST(ScanNumbersTest, StopsBeforeTheFirstElementItLeavesToTheParser) {
  struct Case {
    std::string array;
    DataType dtype;
    int64_t count;
    std::string rest;  // the body from `resume` on
  };
  const std::vector<Case> cases = {
      {"[]", DataType::kFp32, 0, "]"},
      {"[ ]", DataType::kFp32, 0, "]"},
      {"[1,2,]", DataType::kFp32, 1, "2,]"},  // a trailing comma stays the parser's error
      {"[1,2", DataType::kFp32, 1, "2"},
      {"[1,2,", DataType::kFp32, 1, "2,"},
      {"[1,,2]", DataType::kFp32, 1, ",2]"},  // the parser reads ",2]" as it would have
      {"[1,\"a\"]", DataType::kFp32, 1, "\"a\"]"},
      {"[1,01]", DataType::kFp32, 1, "01]"},
      {"[1 2]", DataType::kFp32, 0, "1 2]"},
      {"[1,127,128]", DataType::kInt8, 2, "128]"},
      {"[0,-1]", DataType::kUint8, 1, "-1]"},
      {"[1,2.0]", DataType::kInt64, 1, "2.0]"},
      {"[1,1e2]", DataType::kInt64, 1, "1e2]"},
      {"[1,123456789012345678]", DataType::kInt64, 2, "]"},
      {"[1,1234567890123456789]", DataType::kInt64, 1, "1234567890123456789]"},
      {"[0.5,1.25e1,-0.0]", DataType::kFp64, 3, "]"},
      {"[0.5,1e23]", DataType::kFp64, 1, "1e23]"},
      {"[0.5,16777217.0]", DataType::kFp32, 1, "16777217.0]"},  // a float halfway point
      {"[0.5,16777217]", DataType::kFp32, 2, "]"},              // an integer: cast, not parsed
      {"[1,NaN]", DataType::kFp32, 1, "NaN]"},
      {"[1,2]", DataType::kBool, 0, "1,2]"},
      {"[1,2]", DataType::kBytes, 0, "1,2]"},
  };
  for (const Case& c : cases) {
    const Scanned s = Scan(c.array, c.dtype);
    EXPECT_EQ(s.count, c.count) << c.array;
    EXPECT_EQ(c.array.substr(s.resume), c.rest) << c.array;
  }
}

TEST(FindDataArrayTest, FindsOnlyTheKeyOutsideStrings) {
  const std::string body = R"({"id":"x\"data\":[1]\\","a":"data","data" : [1]})";
  const size_t at = FindDataArray(body, 0);
  ASSERT_NE(at, kNotFound);
  EXPECT_EQ(body.substr(at), "1]}");
  EXPECT_EQ(FindDataArray(body, at), kNotFound);
  EXPECT_EQ(FindDataArray(R"({"data":1,"data2":[1],"dat":[1]})", 0), kNotFound);
  EXPECT_EQ(FindDataArray(R"({"data)", 0), kNotFound);
  EXPECT_EQ(FindDataArray(R"({"data":)", 0), kNotFound);
}

// ---- differential tests ----------------------------------------------------------------

void ExpectSameTensor(const Tensor& a, const Tensor& b, const std::string& body) {
  EXPECT_EQ(a.name, b.name) << body;
  EXPECT_EQ(a.dtype, b.dtype) << body;
  EXPECT_EQ(a.shape, b.shape) << body;
  EXPECT_TRUE(a.data == b.data) << "tensor '" << a.name << "' bytes differ for\n" << body;
}

// Decodes `body` with and without the scanner; returns whether it decoded.
bool ExpectSameDecoding(const std::string& body, const DecodeOptions& options = {}) {
  const absl::StatusOr<RestInferRequest> fast =
      json_decode::DecodeInferHeaderWith(body, options, /*scan_numbers=*/true);
  const absl::StatusOr<RestInferRequest> general =
      json_decode::DecodeInferHeaderWith(body, options, /*scan_numbers=*/false);
  if (!general.ok() || !fast.ok()) {
    EXPECT_EQ(fast.status(), general.status()) << body;
    return false;
  }
  const InferRequest& f = fast->request;
  const InferRequest& g = general->request;
  EXPECT_EQ(f.id, g.id) << body;
  EXPECT_TRUE(f.parameters == g.parameters) << body;
  EXPECT_EQ(fast->binary_data_size, general->binary_data_size) << body;
  EXPECT_EQ(fast->binary_data, general->binary_data) << body;
  EXPECT_EQ(fast->binary_data_output, general->binary_data_output) << body;
  EXPECT_EQ(f.outputs.size(), g.outputs.size()) << body;
  for (size_t i = 0; i < f.outputs.size() && i < g.outputs.size(); ++i) {
    EXPECT_EQ(f.outputs[i].name, g.outputs[i].name) << body;
    EXPECT_EQ(f.outputs[i].classification, g.outputs[i].classification) << body;
  }
  EXPECT_EQ(f.inputs.size(), g.inputs.size()) << body;
  for (size_t i = 0; i < f.inputs.size() && i < g.inputs.size(); ++i) {
    ExpectSameTensor(f.inputs[i], g.inputs[i], body);
  }
  return true;
}

// A decimal within half a double ULP of a point halfway between two floats in [8, 8.5):
// it rounds to that point as a double but away from it as a float, so a scanner that
// rounded to double and then to float would get it wrong.
std::string NearFloatHalfway(std::mt19937_64& rng) {
  const uint64_t odd = 2 * (rng() % (1 << 19)) + 1;
  // (8 + odd / 2^21) * 10^15 rounded down or up; 10^15 / 2^21 = 5^15 / 64.
  const uint64_t scaled = odd * 30517578125u / 64 + rng() % 2;
  const std::string fraction = absl::StrCat(scaled + 1000000000000000u).substr(1);
  if (rng() % 2) return absl::StrCat("8.", fraction);
  return absl::StrCat(8000000000000000u + scaled, "e-15");
}

constexpr DataType kNumberTypes[] = {
    DataType::kFp32,  DataType::kFp64,  DataType::kInt8,   DataType::kInt16,  DataType::kInt32,
    DataType::kInt64, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64};

// Random request bodies that are mostly valid and mostly decodable, with the number texts,
// layouts and mistakes that could make the two paths part ways.
class BodyGenerator {
 public:
  explicit BodyGenerator(uint64_t seed) : rng_(seed) {}

  std::string Body() {
    std::string body = "{";
    std::vector<std::string> fields;
    if (Chance(0.3)) fields.push_back(absl::StrCat(Key("id"), Pick(kIds)));
    if (Chance(0.2)) fields.push_back(absl::StrCat(Key("parameters"), Pick(kRequestParams)));
    if (Chance(0.05)) fields.push_back(absl::StrCat(Key("data"), "[1,2,3]"));
    std::string inputs = absl::StrCat(Key("inputs"), "[");
    const int n = Chance(0.8) ? 1 : Uniform(0, 3);
    for (int i = 0; i < n; ++i) absl::StrAppend(&inputs, i == 0 ? "" : Comma(), Input(i));
    fields.push_back(inputs + "]");
    if (Chance(0.3)) fields.push_back(absl::StrCat(Key("outputs"), Pick(kOutputs)));
    Shuffle(fields);
    for (size_t i = 0; i < fields.size(); ++i)
      absl::StrAppend(&body, i == 0 ? "" : Comma(), fields[i]);
    body += Space() + "}";
    if (Chance(0.05)) body.resize(Uniform(0, static_cast<int>(body.size())));
    if (Chance(0.02)) body += Pick({" ", "x", "{}", "]", "\"data\":[1]"});
    return body;
  }

  // A numeric datatype most of the time.
  DataType dtype() const { return dtype_; }
  // The first input's data array text, for coverage statistics.
  const std::string& data() const { return data_; }

  std::string Number(DataType dtype) {
    const int kind = Uniform(0, 99);
    if (kind < 35) return absl::StrCat(Uniform(0, 255));
    if (kind < 45) return absl::StrCat(-Uniform(0, 40000));
    if (kind < 55) return Edge(dtype);
    if (kind < 70) return Decimal();
    if (kind < 75) return Halfway();
    if (kind < 80) return Digits(Uniform(15, 30));
    if (kind < 85) return absl::StrCat(Chance(0.5) ? "-" : "", Digits(Uniform(1, 19)));
    return Pick(kOdd);
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Pick(const std::vector<std::string>& v) {
    return v[Uniform(0, static_cast<int>(v.size()) - 1)];
  }
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    std::shuffle(v.begin(), v.end(), rng_);
  }

  std::string Space() { return Chance(0.85) ? "" : Pick({" ", "\n", "\t", "\r\n  ", "  "}); }
  std::string Comma() { return Space() + "," + Space(); }
  std::string Key(const std::string& k) {
    return absl::StrCat("\"", k, "\"", Space(), ":", Space());
  }

  std::string Digits(int n) {
    std::string s(1, static_cast<char>('1' + Uniform(0, 8)));
    while (static_cast<int>(s.size()) < n) s.push_back(static_cast<char>('0' + Uniform(0, 9)));
    return s;
  }

  // Integers at and just beyond the limits of every type, and where floats stop being exact.
  std::string Edge(DataType dtype) {
    const int64_t lo = dtype == DataType::kInt8    ? -128
                       : dtype == DataType::kInt16 ? -32768
                       : dtype == DataType::kInt32 ? std::numeric_limits<int32_t>::min()
                                                   : 0;
    const uint64_t hi = dtype == DataType::kInt8     ? 127
                        : dtype == DataType::kInt16  ? 32767
                        : dtype == DataType::kInt32  ? 2147483647
                        : dtype == DataType::kUint8  ? 255
                        : dtype == DataType::kUint16 ? 65535
                        : dtype == DataType::kUint32 ? 4294967295u
                                                     : std::numeric_limits<uint64_t>::max();
    switch (Uniform(0, 9)) {
      case 0:
        return absl::StrCat(lo);
      case 1:
        return absl::StrCat(lo - 1);
      case 2:
        return absl::StrCat(hi);
      case 3:
        return absl::StrCat(hi + 1);
      case 4:
        return absl::StrCat(hi - 1);
      default:
        return Pick(kEdges);
    }
  }

  // Decimal literals of every length, with and without exponents.
  std::string Decimal() {
    std::string s = Chance(0.3) ? "-" : "";
    s += Chance(0.4) ? "0" : Digits(Uniform(1, 10));
    if (Chance(0.8)) {
      s += ".";
      for (int i = Uniform(1, 18); i > 0; --i) s.push_back(static_cast<char>('0' + Uniform(0, 9)));
    }
    if (Chance(0.3)) {
      s += Pick({"e", "E", "e+", "e-", "E-"});
      s += absl::StrCat(Uniform(0, 40));
    }
    return s;
  }

  // Decimal texts on or next to a point halfway between two floats, where a double rounding
  // would go wrong.
  std::string Halfway() {
    if (Chance(0.5)) return NearFloatHalfway(rng_);
    const int64_t base = int64_t{1} << Uniform(24, 40);
    const int64_t step = base >> 23;  // the float spacing above base
    const int64_t mid = base + step * Uniform(0, 1000) + step / 2;
    switch (Uniform(0, 4)) {
      case 0:
        return absl::StrCat(mid, ".0");
      case 1:
        return absl::StrCat(mid, "e0");
      case 2:
        return absl::StrCat(mid, ".", Digits(1), "e-1");
      case 3:
        return absl::StrCat(mid / 10, ".", mid % 10, "e1");
      default:
        return absl::StrCat(mid);
    }
  }

  std::string Element(DataType dtype) {
    if (dtype == DataType::kBool && Chance(0.8)) return Chance(0.5) ? "true" : "false";
    if (dtype == DataType::kBytes && Chance(0.8)) return Pick({"\"a\"", "\"\"", "\"da\\\"ta\""});
    return Number(dtype);
  }

  std::string Input(int index) {
    DataType dtype = kNumberTypes[Uniform(0, 9)];
    std::string dtype_text(DataTypeName(dtype));
    if (Chance(0.05)) {
      dtype = DataType::kBool;
      dtype_text = "BOOL";
    } else if (Chance(0.05)) {
      dtype = DataType::kBytes;
      dtype_text = "BYTES";
    }
    if (Chance(0.02)) dtype_text = Pick({"FP16", "fp32", "FOO"});
    // Mostly one or two rows of up to a few dozen values; now and then an image's worth.
    const int rows = Chance(0.7) ? 1 : Uniform(0, 4);
    const int cols = Chance(0.05) ? 784 : Uniform(0, 30);
    // Most arrays are all numbers the scanner takes; the rest hold the odd element.
    const bool plain = Chance(0.5);
    std::vector<std::string> elements;
    for (int i = 0; i < rows * cols; ++i) {
      elements.push_back(plain && Chance(0.98) ? absl::StrCat(Uniform(0, 127)) : Element(dtype));
    }
    std::string data;
    const bool nested = rows > 1 && Chance(0.4);
    if (nested) {
      data = "[";
      for (int r = 0; r < rows; ++r) {
        absl::StrAppend(&data, r == 0 ? "" : Comma(), "[");
        for (int c = 0; c < cols; ++c) {
          absl::StrAppend(&data, c == 0 ? "" : Comma(), elements[r * cols + c]);
        }
        data += "]";
      }
      data += "]";
    } else {
      data = "[" + Space();
      for (size_t i = 0; i < elements.size(); ++i) {
        absl::StrAppend(&data, i == 0 ? "" : Comma(), elements[i]);
      }
      if (Chance(0.03)) data += ",";
      data += Space() + "]";
    }
    std::string shape = nested || Chance(0.3) ? absl::StrCat("[", rows, ",", cols, "]")
                                              : absl::StrCat("[", rows * cols, "]");
    if (Chance(0.03)) shape = absl::StrCat("[", rows * cols + 1, "]");
    if (index == 0) {
      dtype_ = dtype;
      data_ = data;
    }

    std::vector<std::string> fields = {
        absl::StrCat(Key("name"), "\"", Pick({"x", "y", "x", "data"}), "\""),
        absl::StrCat(Key("shape"), shape),
        absl::StrCat(Key("datatype"), "\"", dtype_text, "\""),
        absl::StrCat(Key("data"), data),
    };
    if (Chance(0.1)) fields.push_back(absl::StrCat(Key("parameters"), Pick(kInputParams)));
    if (Chance(0.03)) fields.pop_back();  // no data at all
    // The usual order puts data last; others make the decoder store leaves for later.
    if (Chance(0.2)) Shuffle(fields);
    std::string input = "{" + Space();
    for (size_t i = 0; i < fields.size(); ++i)
      absl::StrAppend(&input, i == 0 ? "" : Comma(), fields[i]);
    return input + Space() + "}";
  }

  inline static const std::vector<std::string> kEdges = {"0",
                                                         "-0",
                                                         "0.0",
                                                         "-0.0",
                                                         "0e0",
                                                         "-0e-0",
                                                         "9223372036854775807",
                                                         "-9223372036854775808",
                                                         "9223372036854775808",
                                                         "-9223372036854775809",
                                                         "18446744073709551615",
                                                         "18446744073709551616",
                                                         "16777216",
                                                         "16777217",
                                                         "-16777217",
                                                         "9007199254740993",
                                                         "-9007199254740993",
                                                         "999999999999999999",
                                                         "-999999999999999999",
                                                         "1000000000000000000",
                                                         "4294967296",
                                                         "-2147483649",
                                                         "2147483648",
                                                         "65536",
                                                         "-32769",
                                                         "256",
                                                         "-129",
                                                         "128"};
  inline static const std::vector<std::string> kOdd = {
      "NaN",  "-NaN",  "Infinity", "-Infinity",    "nan",    "inf",    "true",   "false",
      "null", "\"7\"", "[1]",      "{}",           "",       "1x",     "--1",    "-",
      "+1",   "1.",    ".5",       "1e",           "1e+",    "00",     "01",     "-01",
      "007",  "1.e5",  "0x1",      "1e99999",      "1e400",  "-1e400", "1e-400", "1e22",
      "1e23", "1e-22", "1e-23",    "3.4028235e38", "3.5e38", "1.0e0",  "4.0",    "-0.5e1",
      " 5 ",  "1 2",   "1,,2",     "1e-0005",      "1e0004", "2.5E+2"};
  inline static const std::vector<std::string> kIds = {
      "\"req\"", "null", "7", R"("x\"data\":[1,2]")", R"("data")", R"("\\")"};
  inline static const std::vector<std::string> kRequestParams = {
      R"({"alpha": 0.1})", R"({"data": [1, 2]})", R"({"data": 3, "binary_data_output": true})",
      "[]"};
  inline static const std::vector<std::string> kInputParams = {
      R"({"binary_data_size": 16})", R"({"data": [1.5, 2]})", R"({"content_type": "data"})"};
  inline static const std::vector<std::string> kOutputs = {
      R"([{"name": "y"}])", R"([{"name": "y", "parameters": {"classification": 3}}])",
      R"([{"parameters": {"data": [1]}}])"};

  std::mt19937_64 rng_;
  DataType dtype_ = DataType::kInvalid;
  std::string data_;
};

TEST(NumberScannerDifferentialTest, RandomBodiesDecodeAsWithoutTheScanner) {
  BodyGenerator gen(20240611);
  int decoded = 0;
  int scanned = 0;  // bodies whose first data array the scanner takes at least in part
  constexpr int kBodies = 30000;
  for (int i = 0; i < kBodies; ++i) {
    const std::string body = gen.Body();
    DecodeOptions options;
    if (i % 10 == 0) options.max_depth = 3 + i % 4;
    if (ExpectSameDecoding(body, options)) ++decoded;
    if (Scan(gen.data(), gen.dtype()).count > 0) ++scanned;
    if (HasFailure()) return;
  }
  // The comparison means something only if both outcomes are common.
  EXPECT_GT(decoded, kBodies / 5);
  EXPECT_LT(decoded, kBodies * 4 / 5);
  EXPECT_GT(scanned, kBodies / 2);
}

// Every number text the generator makes, in every numeric datatype, as the only element
// and after a scanned prefix.
TEST(NumberScannerDifferentialTest, EachNumberTextInEachDatatype) {
  BodyGenerator gen(7);
  for (DataType dtype : kNumberTypes) {
    const std::string name(DataTypeName(dtype));
    for (int i = 0; i < 3000; ++i) {
      const std::string number = gen.Number(dtype);
      ExpectSameDecoding(absl::StrCat(R"({"inputs":[{"name":"x","datatype":")", name,
                                      R"(","shape":[1],"data":[)", number, "]}]}"));
      ExpectSameDecoding(absl::StrCat(R"({"inputs":[{"name":"x","datatype":")", name,
                                      R"(","shape":[3],"data":[1,)", number, ",2]}]}"));
      if (HasFailure()) return;
    }
  }
}

// Decimal literals of up to 9 significant digits across the whole float range, and ones
// next to float halfway points, each as FP32 and FP64: the scanner's rounding must match
// from_chars and the parser's path.
TEST(NumberScannerDifferentialTest, FloatRounding) {
  std::mt19937_64 rng(99);
  for (const char* dtype : {"FP32", "FP64"}) {
    for (int batch = 0; batch < 200; ++batch) {
      std::string data;
      for (int i = 0; i < 200; ++i) {
        absl::StrAppend(&data, i == 0 ? "" : ",", rng() % 2 ? "-" : "");
        if (i % 4 == 0) {
          data += NearFloatHalfway(rng);
          continue;
        }
        const uint64_t digits = rng() % 1000000000;
        const int exp = static_cast<int>(rng() % 61) - 30;
        absl::StrAppend(&data, digits, "e", exp);
      }
      ExpectSameDecoding(absl::StrCat(R"({"inputs":[{"name":"x","datatype":")", dtype,
                                      R"(","shape":[200],"data":[)", data, "]}]}"));
      if (HasFailure()) return;
    }
  }
}

// Every prefix of a few bodies, and every one-byte replacement or deletion with characters
// that matter to JSON numbers and arrays.
TEST(NumberScannerDifferentialTest, EveryPrefixAndOneByteEdit) {
  const std::vector<std::string> bodies = {
      R"({"inputs":[{"name":"x","shape":[2,3],"datatype":"INT16","data":[1, -20,300,4000 ,0,-6]}]})",
      R"({"id":"a","inputs":[{"name":"x","shape":[4],"datatype":"FP32","data":[0.5,1e1,-0,7]},)"
      R"({"name":"y","shape":[1],"datatype":"UINT8","data":[255]}],"outputs":[{"name":"z"}]})",
      R"({"inputs":[{"name":"x","shape":[3],"datatype":"FP64","data":[1.25,2,3],"data":[1]}]})",
  };
  const std::string replacements = ",[] -.e0\"9x";
  int decoded = 0;
  for (const std::string& body : bodies) {
    for (size_t i = 0; i <= body.size(); ++i) {
      ExpectSameDecoding(body.substr(0, i));
      if (i == body.size()) break;
      std::string edited = body;
      edited.erase(i, 1);
      ExpectSameDecoding(edited);
      for (char c : replacements) {
        edited = body;
        edited[i] = c;
        if (ExpectSameDecoding(edited)) ++decoded;
      }
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(decoded, 100);
}

// The scanner may only run where leaves go straight into the tensor; when "data" comes
// before the name or datatype they are kept and converted (and reported) at the end.
TEST(NumberScannerDifferentialTest, EveryKeyOrder) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"INT8", "[1,2,300]"},  {"UINT8", "[1,2,-3]"}, {"FP32", R"([1,2,"a"])"},
      {"FP32", "[1,2,1e99]"}, {"INT32", "[1,2]"},    {"FP64", "[1,2.5,-0]"},
  };
  for (const auto& [dtype, data] : cases) {
    std::vector<std::string> fields = {R"("name":"x")", R"("shape":[3])",
                                       absl::StrCat(R"("datatype":")", dtype, "\""),
                                       absl::StrCat(R"("data":)", data)};
    std::sort(fields.begin(), fields.end());
    do {
      ExpectSameDecoding(absl::StrCat(R"({"inputs":[{)", absl::StrJoin(fields, ","), "}]}"));
      ExpectSameDecoding(absl::StrCat(R"({"inputs":[{)",
                                      absl::StrJoin(fields.begin() + 1, fields.end(), ","), "}]}"));
    } while (std::next_permutation(fields.begin(), fields.end()));
  }
}

TEST(NumberScannerDifferentialTest, NestingLimitAndSeveralDataArrays) {
  const std::string two_inputs =
      R"({"inputs":[{"name":"a","datatype":"INT8","shape":[2],"data":[1,2]},)"
      R"({"name":"b","datatype":"FP32","shape":[2],"data":[3,4]}]})";
  EXPECT_TRUE(ExpectSameDecoding(two_inputs));
  for (int depth = 1; depth <= 5; ++depth) {
    ExpectSameDecoding(two_inputs, DecodeOptions{.max_depth = depth});
  }
  EXPECT_FALSE(ExpectSameDecoding(two_inputs + R"( "data":[1])"));
  EXPECT_FALSE(ExpectSameDecoding(
      R"({"inputs":[{"name":"a","datatype":"INT8","shape":[2],"data":[1,2]}]}"data":[1])"));
}

}  // namespace
}  // namespace ferry
