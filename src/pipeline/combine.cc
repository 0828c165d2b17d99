#include "pipeline/combine.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry {
namespace {

int64_t Rows(const Tensor& t) { return t.shape.empty() ? 0 : t.shape[0]; }
int64_t Cols(const Tensor& t) { return t.shape.size() < 2 ? 0 : t.shape[1]; }

// Entropy in nats of one row of probabilities.
double Entropy(const float* p, int64_t cols) {
  double h = 0;
  for (int64_t c = 0; c < cols; ++c) {
    if (p[c] > 0) h -= p[c] * std::log(static_cast<double>(p[c]));
  }
  return h;
}

Tensor Fp32(std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = DataType::kFp32;
  t.shape = std::move(shape);
  t.data.assign(static_cast<size_t>(ElementCount(t.shape)) * sizeof(float), 0);
  return t;
}

}  // namespace

absl::StatusOr<Tensor> MeanProbabilities(absl::Span<const Tensor> members) {
  if (members.empty()) return absl::InvalidArgumentError("an ensemble needs at least one member");
  const Tensor& first = members[0];
  for (size_t m = 0; m < members.size(); ++m) {
    const Tensor& t = members[m];
    if (t.dtype != DataType::kFp32 || t.shape.size() != 2 || t.shape != first.shape ||
        t.data.size() != static_cast<size_t>(ElementCount(t.shape)) * sizeof(float)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", m, " gave probabilities of ", DataTypeName(t.dtype), " ",
          ShapeToString(t.shape), "; expected FP32 ", ShapeToString(first.shape)));
    }
  }
  Tensor mean = Fp32(first.shape);
  mean.name = "probabilities";
  float* out = mean.mutable_data_as<float>();
  const int64_t n = mean.element_count();
  for (const Tensor& t : members) {
    const float* p = t.data_as<float>();
    for (int64_t i = 0; i < n; ++i) out[i] += p[i];
  }
  const float scale = 1.0f / static_cast<float>(members.size());
  for (int64_t i = 0; i < n; ++i) out[i] *= scale;
  return mean;
}

Tensor MutualInformation(absl::Span<const Tensor> members, const Tensor& mean) {
  const int64_t rows = Rows(mean), cols = Cols(mean);
  Tensor mi = Fp32({rows});
  mi.name = "epistemic";
  float* out = mi.mutable_data_as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    double expected = 0;
    for (const Tensor& t : members) expected += Entropy(t.data_as<float>() + r * cols, cols);
    expected /= static_cast<double>(members.size());
    // Rounding can leave a hair below zero when every member agrees.
    out[r] = static_cast<float>(std::max(0.0, Entropy(mean.data_as<float>() + r * cols, cols) - expected));
  }
  return mi;
}

Tensor LogProbabilities(const Tensor& probabilities) {
  Tensor out = Fp32(probabilities.shape);
  out.name = "logits";
  const float* p = probabilities.data_as<float>();
  float* l = out.mutable_data_as<float>();
  const float floor = std::numeric_limits<float>::min();
  for (int64_t i = 0; i < out.element_count(); ++i) l[i] = std::log(std::max(p[i], floor));
  return out;
}

std::vector<bool> StageAnswers(const Tensor& probabilities, const Tensor* prediction_set,
                               double min_confidence) {
  const int64_t rows = Rows(probabilities), cols = Cols(probabilities);
  std::vector<bool> answers(static_cast<size_t>(rows), false);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = probabilities.data_as<float>() + r * cols;
    const float top = cols == 0 ? 0.0f : *std::max_element(p, p + cols);
    bool singleton = false;
    if (prediction_set != nullptr) {
      const uint8_t* in = prediction_set->data_as<uint8_t>() + r * cols;
      singleton = std::count_if(in, in + cols, [](uint8_t b) { return b != 0; }) == 1;
    }
    answers[static_cast<size_t>(r)] = singleton || top >= min_confidence;
  }
  return answers;
}

}  // namespace ferry
