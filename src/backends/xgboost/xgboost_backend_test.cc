// The XGBoost backend on real libxgboost: the bundled fashion_xgb model on real
// Fashion-MNIST test images, broken model folders, signature mismatches, and tiny
// boosters trained here through the C API for the objectives fashion_xgb does not use.
#include "backends/xgboost/xgboost_backend.h"

#include <xgboost/c_api.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "repository/model_config.h"

namespace ferry {
namespace {

namespace fs = std::filesystem;
using testing::AllOf;
using testing::HasSubstr;

constexpr char kDataDir[] = "/usr/share/datasets/fashion-mnist";

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("ferry_xgb_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The payload of a gzip-compressed idx file (header skipped).
std::vector<uint8_t> ReadIdxGz(const std::string& path, int rank) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  if (f == nullptr) return {};
  std::vector<uint8_t> all;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) all.insert(all.end(), buf, buf + n);
  gzclose(f);
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  EXPECT_GT(all.size(), header) << path;
  return std::vector<uint8_t>(all.begin() + header, all.end());
}

struct TestSet {
  std::vector<uint8_t> images;  // 10000 x 784
  std::vector<uint8_t> labels;
};

const TestSet& FashionTest() {
  static const TestSet* set = [] {
    auto* s = new TestSet;
    s->images = ReadIdxGz(std::string(kDataDir) + "/t10k-images-idx3-ubyte.gz", 3);
    s->labels = ReadIdxGz(std::string(kDataDir) + "/t10k-labels-idx1-ubyte.gz", 1);
    return s;
  }();
  return *set;
}

// Test images [first, first + count) as the request tensor: raw pixels, FP32 [N, 1, 28, 28].
Tensor Images(int64_t first, int64_t count) {
  Tensor t{"image", DataType::kFp32, {count, 1, 28, 28}, {}};
  t.data.resize(static_cast<size_t>(count) * 784 * sizeof(float));
  float* out = t.mutable_data_as<float>();
  for (int64_t i = 0; i < count * 784; ++i) out[i] = FashionTest().images[first * 784 + i];
  return t;
}

BackendOptions FashionOptions(int threads = 1) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig("models/fashion_xgb");
  EXPECT_TRUE(config.ok()) << config.status();
  BackendOptions o;
  o.platform = config->platform;
  o.version_path = "models/fashion_xgb/1";
  o.signature = config->signature;
  o.intra_op_threads = threads;
  return o;
}

std::unique_ptr<Backend> MustCreate(const BackendOptions& options) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

std::vector<Tensor> Execute1(Backend& backend, Tensor input) {
  std::vector<Tensor> inputs = {std::move(input)};
  absl::StatusOr<std::vector<Tensor>> out = backend.Execute(inputs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::move(*out) : std::vector<Tensor>{};
}

TEST(XGBoostBackendTest, BundledModelClassifiesRealImages) {
  ASSERT_TRUE(fs::exists(kDataDir)) << "install dataset-fashion-mnist";
  const BackendOptions options = FashionOptions();
  ASSERT_EQ(options.platform, "xgboost");
  std::unique_ptr<Backend> backend = MustCreate(options);
  ASSERT_NE(backend, nullptr);
  EXPECT_THAT(backend->Describe(),
              AllOf(HasSubstr("gbtree"), HasSubstr("multi:softprob"), HasSubstr("10 classes"),
                    HasSubstr("784 features"), HasSubstr("concurrent")));

  constexpr int64_t kImages = 5000;
  constexpr int64_t kBatch = 64;  // the config's max_batch_size
  int64_t correct = 0;
  for (int64_t first = 0; first < kImages; first += kBatch) {
    const int64_t rows = std::min(kBatch, kImages - first);
    std::vector<Tensor> out = Execute1(*backend, Images(first, rows));
    ASSERT_EQ(out.size(), 2u);
    // The config's order: logits, then probabilities.
    ASSERT_EQ(out[0].name, "logits");
    ASSERT_EQ(out[1].name, "probabilities");
    ASSERT_EQ(out[0].shape, (std::vector<int64_t>{rows, 10}));
    ASSERT_EQ(out[1].shape, (std::vector<int64_t>{rows, 10}));
    for (int64_t r = 0; r < rows; ++r) {
      const float* logits = out[0].data_as<float>() + r * 10;
      const float* probs = out[1].data_as<float>() + r * 10;
      const int best = static_cast<int>(std::max_element(logits, logits + 10) - logits);
      EXPECT_EQ(best, std::max_element(probs, probs + 10) - probs);
      double sum = 0;
      for (int k = 0; k < 10; ++k) sum += probs[k];
      EXPECT_NEAR(sum, 1.0, 1e-5);
      correct += best == FashionTest().labels[first + r];
    }
  }
  const double accuracy = static_cast<double>(correct) / kImages;
  EXPECT_GE(accuracy, 0.88) << correct << " of " << kImages;
}

TEST(XGBoostBackendTest, BatchedEqualsOneByOne) {
  std::unique_ptr<Backend> backend = MustCreate(FashionOptions());
  ASSERT_NE(backend, nullptr);
  const std::vector<Tensor> batched = Execute1(*backend, Images(100, 64));
  ASSERT_EQ(batched.size(), 2u);
  for (int64_t r = 0; r < 64; ++r) {
    const std::vector<Tensor> one = Execute1(*backend, Images(100 + r, 1));
    ASSERT_EQ(one.size(), 2u);
    for (size_t o = 0; o < 2; ++o) {
      ASSERT_EQ(one[o].shape, (std::vector<int64_t>{1, 10}));
      EXPECT_EQ(0, std::memcmp(one[o].data.data(), batched[o].data.data() + r * 40, 40))
          << "row " << r << " of " << batched[o].name;
    }
  }
}

// Several threads predict on one booster at once, with batches of different sizes, and
// must get exactly the bytes a single thread gets.
void ExpectConcurrentEqualsSerial(Backend& backend, std::function<Tensor(int64_t, int64_t)> make,
                                  int64_t total_rows) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  struct Job {
    int64_t first, rows;
    std::vector<Tensor> expected;
  };
  std::vector<Job> jobs;
  for (int64_t first = 0, rows = 1; first + rows <= total_rows; first += rows, rows = rows % 64 + 7) {
    jobs.push_back({first, rows, Execute1(backend, make(first, rows))});
  }
  ASSERT_GE(jobs.size(), 5u);
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        const Job& job = jobs[(t * 7 + round * 3) % jobs.size()];
        std::vector<Tensor> inputs = {make(job.first, job.rows)};
        absl::StatusOr<std::vector<Tensor>> out = backend.Execute(inputs);
        if (!out.ok()) {
          ++failures;
          continue;
        }
        for (size_t o = 0; o < out->size(); ++o) {
          if ((*out)[o].shape != job.expected[o].shape || (*out)[o].data != job.expected[o].data) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(XGBoostBackendTest, ConcurrentPredictionsEqualSingleThreaded) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE(testing::Message() << "nthread " << threads);
    std::unique_ptr<Backend> backend = MustCreate(FashionOptions(threads));
    ASSERT_NE(backend, nullptr);
    EXPECT_THAT(backend->Describe(), HasSubstr("nthread " + std::to_string(threads)));
    ExpectConcurrentEqualsSerial(*backend, Images, 1000);
  }
}

TEST(XGBoostBackendTest, MissingModelFileIsNotFound) {
  TempDir dir;
  BackendOptions options = FashionOptions();
  options.version_path = dir.path();
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(backend.status().message(),
              AllOf(HasSubstr(dir.file("model.json")), HasSubstr("model.ubj"), HasSubstr("not found")));
}

TEST(XGBoostBackendTest, BothModelFilesAreAnError) {
  TempDir dir;
  fs::copy_file("models/fashion_xgb/1/model.ubj", dir.file("model.ubj"));
  WriteFile(dir.file("model.json"), "{}");
  BackendOptions options = FashionOptions();
  options.version_path = dir.path();
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(),
              AllOf(HasSubstr(dir.file("model.json")), HasSubstr(dir.file("model.ubj")),
                    HasSubstr("both exist")));
}

TEST(XGBoostBackendTest, GarbageModelFilesAreClearErrors) {
  std::mt19937 rng(7);
  std::string random_bytes(4096, '\0');
  for (char& c : random_bytes) c = static_cast<char>(rng());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"model.json", "this is not a model"},
      {"model.json", ""},
      {"model.json", "{\"learner\": 3}"},
      {"model.ubj", random_bytes},
      {"model.ubj", ""},
  };
  for (const auto& [name, bytes] : cases) {
    SCOPED_TRACE(name + " holding " + std::to_string(bytes.size()) + " bytes");
    TempDir dir;
    WriteFile(dir.file(name), bytes);
    BackendOptions options = FashionOptions();
    options.version_path = dir.path();
    absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(backend.status().message(),
                AllOf(HasSubstr(dir.file(name)), HasSubstr("not a loadable XGBoost model: ")));
    // XGBoost's own message follows, without its stack trace, in printable ASCII.
    const std::string message(backend.status().message());
    EXPECT_THAT(message, testing::Not(HasSubstr("Stack trace")));
    for (const char c : message) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " in " << message;
    }
    EXPECT_GT(backend.status().message().size(),
              dir.file(name).size() + std::string(": not a loadable XGBoost model: ").size() + 5);
  }
}

TEST(XGBoostBackendTest, FeatureCountMismatchNamesBoth) {
  BackendOptions options = FashionOptions();
  options.signature.inputs[0].shape = {-1, 1, 28, 27};
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(),
              AllOf(HasSubstr("models/fashion_xgb/1/model.ubj"), HasSubstr("784 features"),
                    HasSubstr("gives 756 per row")));

  options = FashionOptions();
  options.signature.inputs[0].shape = {-1, -1};
  backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(), HasSubstr("only the batch dimension may be -1"));

  options = FashionOptions();
  options.signature.inputs[0].dtype = DataType::kFp64;
  backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(), HasSubstr("an XGBoost model takes FP32"));
}

TEST(XGBoostBackendTest, ConfiguredOutputsAreChecked) {
  BackendOptions options = FashionOptions();
  options.signature.outputs[1].name = "scores";
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(backend.status().message(),
              AllOf(HasSubstr("output 'scores'"), HasSubstr("'logits' and 'probabilities' only")));

  options = FashionOptions();
  options.signature.outputs[0].shape = {-1, 9};
  backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(),
              AllOf(HasSubstr("output 'logits' is FP32 [-1, 9]"), HasSubstr("gives FP32 [-1, 10]")));

  options = FashionOptions();
  options.signature.outputs[1].dtype = DataType::kFp64;
  backend = CreateXGBoostBackend(options);
  ASSERT_FALSE(backend.ok());
  EXPECT_THAT(backend.status().message(), HasSubstr("output 'probabilities' is FP64"));
}

TEST(XGBoostBackendTest, ServesOnlyTheConfiguredOutputsInConfigOrder) {
  BackendOptions options = FashionOptions();
  std::unique_ptr<Backend> both = MustCreate(options);
  std::swap(options.signature.outputs[0], options.signature.outputs[1]);
  options.signature.outputs.pop_back();  // probabilities only
  std::unique_ptr<Backend> probs_only = MustCreate(options);
  ASSERT_NE(both, nullptr);
  ASSERT_NE(probs_only, nullptr);
  const std::vector<Tensor> a = Execute1(*both, Images(0, 8));
  const std::vector<Tensor> b = Execute1(*probs_only, Images(0, 8));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].name, "probabilities");
  EXPECT_EQ(b[0].data, a[1].data);
}

// ---- tiny boosters trained here -------------------------------------------------------

constexpr int kTinyRows = 300;
constexpr int kTinyFeatures = 4;

std::vector<float> TinyFeatures() {
  std::vector<float> x(kTinyRows * kTinyFeatures);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& v : x) v = u(rng);
  return x;
}

#define XGB_OK(call) ASSERT_EQ((call), 0) << XGBGetLastError()

// Trains a few rounds on TinyFeatures() and saves `dir`/`file`.
void TrainTiny(const std::vector<std::pair<std::string, std::string>>& params,
               const std::vector<float>& labels, const std::string& path) {
  const std::vector<float> x = TinyFeatures();
  DMatrixHandle dtrain = nullptr;
  XGB_OK(XGDMatrixCreateFromMat(x.data(), kTinyRows, kTinyFeatures, NAN, &dtrain));
  XGB_OK(XGDMatrixSetFloatInfo(dtrain, "label", labels.data(), labels.size()));
  BoosterHandle booster = nullptr;
  XGB_OK(XGBoosterCreate(&dtrain, 1, &booster));
  XGB_OK(XGBoosterSetParam(booster, "nthread", "1"));
  XGB_OK(XGBoosterSetParam(booster, "seed", "3"));
  for (const auto& [key, value] : params) XGB_OK(XGBoosterSetParam(booster, key.c_str(), value.c_str()));
  for (int i = 0; i < 8; ++i) XGB_OK(XGBoosterUpdateOneIter(booster, i, dtrain));
  XGB_OK(XGBoosterSaveModel(booster, path.c_str()));
  XGBoosterFree(booster);
  XGDMatrixFree(dtrain);
}

// XGBoost's own prediction for TinyFeatures() through a DMatrix: another code path
// than the backend's in-place prediction.
std::vector<float> ReferencePredict(const std::string& path, bool margin) {
  const std::vector<float> x = TinyFeatures();
  DMatrixHandle d = nullptr;
  BoosterHandle booster = nullptr;
  EXPECT_EQ(XGDMatrixCreateFromMat(x.data(), kTinyRows, kTinyFeatures, NAN, &d), 0);
  EXPECT_EQ(XGBoosterCreate(nullptr, 0, &booster), 0);
  EXPECT_EQ(XGBoosterLoadModel(booster, path.c_str()), 0) << XGBGetLastError();
  const char* config = margin ? R"({"type": 1, "training": false, "iteration_begin": 0,
      "iteration_end": 0, "strict_shape": true})"
                              : R"({"type": 0, "training": false, "iteration_begin": 0,
      "iteration_end": 0, "strict_shape": true})";
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  EXPECT_EQ(XGBoosterPredictFromDMatrix(booster, d, config, &shape, &dims, &result), 0)
      << XGBGetLastError();
  std::vector<float> out(result, result + kTinyRows);
  XGBoosterFree(booster);
  XGDMatrixFree(d);
  return out;
}

Tensor TinyInput(int64_t first, int64_t rows) {
  const std::vector<float> x = TinyFeatures();
  Tensor t{"x", DataType::kFp32, {rows, kTinyFeatures}, {}};
  t.data.resize(rows * kTinyFeatures * sizeof(float));
  std::memcpy(t.data.data(), x.data() + first * kTinyFeatures, t.data.size());
  return t;
}

BackendOptions TinyOptions(const std::string& dir, std::vector<TensorSpec> outputs) {
  BackendOptions o;
  o.platform = "xgboost";
  o.version_path = dir;
  o.signature.max_batch_size = kTinyRows;
  o.signature.inputs = {{"x", DataType::kFp32, {-1, kTinyFeatures}}};
  o.signature.outputs = std::move(outputs);
  return o;
}

TEST(XGBoostBackendTest, BinaryLogisticGivesTwoClasses) {
  TempDir dir;
  const std::vector<float> x = TinyFeatures();
  std::vector<float> y(kTinyRows);
  for (int r = 0; r < kTinyRows; ++r) y[r] = x[r * kTinyFeatures] + x[r * kTinyFeatures + 1] > 1.0f;
  TrainTiny({{"objective", "binary:logistic"}}, y, dir.file("model.json"));
  std::unique_ptr<Backend> backend =
      MustCreate(TinyOptions(dir.path(), {{"logits", DataType::kFp32, {-1, 2}},
                                          {"probabilities", DataType::kFp32, {-1, 2}}}));
  ASSERT_NE(backend, nullptr);
  EXPECT_THAT(backend->Describe(), HasSubstr("binary:logistic, 2 classes"));
  const std::vector<Tensor> out = Execute1(*backend, TinyInput(0, kTinyRows));
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{kTinyRows, 2}));
  const std::vector<float> margin = ReferencePredict(dir.file("model.json"), true);
  const std::vector<float> p = ReferencePredict(dir.file("model.json"), false);
  for (int r = 0; r < kTinyRows; ++r) {
    EXPECT_EQ(out[0].data_as<float>()[2 * r], 0.0f);
    EXPECT_EQ(out[0].data_as<float>()[2 * r + 1], margin[r]);
    EXPECT_NEAR(out[1].data_as<float>()[2 * r], 1.0f - p[r], 1e-6);
    EXPECT_NEAR(out[1].data_as<float>()[2 * r + 1], p[r], 1e-6);
  }

  // A binary classifier has two classes, not one.
  absl::StatusOr<std::unique_ptr<Backend>> wrong =
      CreateXGBoostBackend(TinyOptions(dir.path(), {{"probabilities", DataType::kFp32, {-1, 1}}}));
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("gives FP32 [-1, 2]"));
}

TEST(XGBoostBackendTest, RegressorServesOneNamedOutput) {
  TempDir dir;
  const std::vector<float> x = TinyFeatures();
  std::vector<float> y(kTinyRows);
  for (int r = 0; r < kTinyRows; ++r) y[r] = 2.0f * x[r * kTinyFeatures] - x[r * kTinyFeatures + 3];
  TrainTiny({{"objective", "reg:squarederror"}}, y, dir.file("model.ubj"));
  std::unique_ptr<Backend> backend =
      MustCreate(TinyOptions(dir.path(), {{"price", DataType::kFp32, {-1, 1}}}));
  ASSERT_NE(backend, nullptr);
  EXPECT_THAT(backend->Describe(), HasSubstr("reg:squarederror, regression"));
  const std::vector<Tensor> out = Execute1(*backend, TinyInput(0, kTinyRows));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "price");
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{kTinyRows, 1}));
  const std::vector<float> expected = ReferencePredict(dir.file("model.ubj"), false);
  for (int r = 0; r < kTinyRows; ++r) EXPECT_EQ(out[0].data_as<float>()[r], expected[r]) << r;

  absl::StatusOr<std::unique_ptr<Backend>> two = CreateXGBoostBackend(TinyOptions(
      dir.path(), {{"a", DataType::kFp32, {-1, 1}}, {"b", DataType::kFp32, {-1, 1}}}));
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("gives one output, FP32 [-1, 1]; the config lists 2"));
  absl::StatusOr<std::unique_ptr<Backend>> wide =
      CreateXGBoostBackend(TinyOptions(dir.path(), {{"price", DataType::kFp32, {-1, 3}}}));
  ASSERT_FALSE(wide.ok());
  EXPECT_THAT(wide.status().message(), HasSubstr("output 'price' is FP32 [-1, 3]"));
}

TEST(XGBoostBackendTest, LinearBoosterIsSerializedAndStillExact) {
  TempDir dir;
  const std::vector<float> x = TinyFeatures();
  std::vector<float> y(kTinyRows);
  for (int r = 0; r < kTinyRows; ++r) y[r] = x[r * kTinyFeatures + 2];
  TrainTiny({{"booster", "gblinear"}, {"objective", "reg:squarederror"}}, y, dir.file("model.json"));
  std::unique_ptr<Backend> backend =
      MustCreate(TinyOptions(dir.path(), {{"y", DataType::kFp32, {-1, 1}}}));
  ASSERT_NE(backend, nullptr);
  EXPECT_THAT(backend->Describe(), AllOf(HasSubstr("gblinear"), HasSubstr("serialized")));
  ExpectConcurrentEqualsSerial(*backend, TinyInput, kTinyRows);
}

TEST(XGBoostBackendTest, ZeroRowsGiveEmptyOutputs) {
  std::unique_ptr<Backend> backend = MustCreate(FashionOptions());
  ASSERT_NE(backend, nullptr);
  const std::vector<Tensor> out = Execute1(*backend, Images(0, 0));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{0, 10}));
  EXPECT_TRUE(out[0].data.empty());
}

}  // namespace
}  // namespace ferry
