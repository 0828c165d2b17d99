// The request bodies the codec microbenchmarks decode (codec_bench, json_parse_bench), so
// that every figure is for the same bytes.
#ifndef FERRY_BENCH_CODEC_BODIES_H_
#define FERRY_BENCH_CODEC_BODIES_H_

#include <random>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry {
namespace bench_bodies {

// One 28x28 image with integer pixel values, as a client sending raw pixels writes it.
inline std::string ImageRequest() {
  std::mt19937 rng(7);
  std::string data;
  for (int i = 0; i < 784; ++i) absl::StrAppend(&data, i == 0 ? "" : ",", rng() % 256);
  return absl::StrCat(R"({"id":"bench","inputs":[{"name":"image","shape":[1,1,28,28],)",
                      R"("datatype":"FP32","data":[)", data, "]}]}");
}

// The same image with pixels scaled to [0, 1], so every element is a float literal.
inline std::string NormalizedImageRequest() {
  std::mt19937 rng(7);
  std::string data;
  for (int i = 0; i < 784; ++i) {
    absl::StrAppend(&data, i == 0 ? "" : ",", static_cast<float>(rng() % 256) / 255.0f);
  }
  return absl::StrCat(R"({"id":"bench","inputs":[{"name":"image","shape":[1,1,28,28],)",
                      R"("datatype":"FP32","data":[)", data, "]}]}");
}

}  // namespace bench_bodies
}  // namespace ferry

#endif  // FERRY_BENCH_CODEC_BODIES_H_
