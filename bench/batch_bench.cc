// The per-request cost of dynamic batching: the batcher concatenates the single-image
// requests it collected into one input tensor (ConcatRows) and, after the forward pass,
// cuts the output back into one tensor per request (SplitRows). Measured at the batch the
// fashion models prefer under load (32) and at their largest (64); divide by the batch for
// the cost per request.
#include <cstring>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/tensor.h"

namespace ferry {
namespace {

Tensor Fp32(const char* name, std::vector<int64_t> shape, uint32_t seed) {
  Tensor t;
  t.name = name;
  t.dtype = DataType::kFp32;
  t.shape = std::move(shape);
  t.data.resize(static_cast<size_t>(t.element_count()) * sizeof(float));
  std::mt19937 rng(seed);
  float* p = t.mutable_data_as<float>();
  for (int64_t i = 0; i < t.element_count(); ++i) p[i] = static_cast<float>(rng() % 256);
  return t;
}

// ConcatRows of `batch` images [1, 1, 28, 28] into [batch, 1, 28, 28].
void BM_ConcatRowsImages(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  std::vector<Tensor> images;
  for (int i = 0; i < batch; ++i) images.push_back(Fp32("image", {1, 1, 28, 28}, i));
  std::vector<const Tensor*> parts;
  for (const Tensor& t : images) parts.push_back(&t);
  for (auto _ : state) {
    Tensor joined = ConcatRows(parts);
    benchmark::DoNotOptimize(joined.data.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);  // items = requests
  state.SetBytesProcessed(state.iterations() * batch * 784 * 4);
}
BENCHMARK(BM_ConcatRowsImages)->Arg(32)->Arg(64);

// SplitRows of logits [batch, 10] into `batch` tensors [1, 10].
void BM_SplitRowsLogits(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const Tensor logits = Fp32("logits", {batch, 10}, 99);
  const std::vector<int64_t> rows(static_cast<size_t>(batch), 1);
  for (auto _ : state) {
    absl::StatusOr<std::vector<Tensor>> pieces = SplitRows(logits, rows);
    if (!pieces.ok()) state.SkipWithError("SplitRows failed");
    benchmark::DoNotOptimize(pieces);
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_SplitRowsLogits)->Arg(32)->Arg(64);

}  // namespace
}  // namespace ferry

BENCHMARK_MAIN();
