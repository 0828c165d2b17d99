// Runs the bundled TorchScript models through the backend (real libtorch, no server).
#include "backends/torch/torch_backend.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backends/create_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "repository/model_config.h"
#include "testing/requests.h"

namespace ferry {
namespace {

using testing::HasSubstr;

BackendOptions OptionsFor(const std::string& model, bool optimize = true) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig("models/" + model);
  EXPECT_TRUE(config.ok()) << config.status();
  BackendOptions o;
  o.platform = config->platform;
  o.version_path = "models/" + model + "/1";
  o.signature = config->signature;
  o.intra_op_threads = 1;
  o.optimize = optimize;
  return o;
}

TEST(TorchBackendTest, SimpleAddsAndSubtracts) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(OptionsFor("simple"));
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<int32_t> a(32), b(32);
  for (int i = 0; i < 32; ++i) {
    a[i] = i;
    b[i] = 100 - 3 * i;
  }
  std::vector<Tensor> inputs = {Int32Tensor("INPUT0", {2, 16}, a), Int32Tensor("INPUT1", {2, 16}, b)};
  absl::StatusOr<std::vector<Tensor>> out = (*backend)->Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "OUTPUT0");
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{2, 16}));
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ((*out)[0].data_as<int32_t>()[i], a[i] + b[i]);
    EXPECT_EQ((*out)[1].data_as<int32_t>()[i], a[i] - b[i]);
  }
}

TEST(TorchBackendTest, OptimizedAndPlainCnnAgree) {
  absl::StatusOr<std::unique_ptr<Backend>> fast = CreateBackend(OptionsFor("fashion_cnn", true));
  absl::StatusOr<std::unique_ptr<Backend>> plain = CreateBackend(OptionsFor("fashion_cnn", false));
  ASSERT_TRUE(fast.ok()) << fast.status();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->Describe(), "plain module");
  std::vector<Tensor> in1 = ZeroInputs(OptionsFor("fashion_cnn").signature, 3);
  for (size_t i = 0; i < in1[0].data.size() / 4; ++i) in1[0].mutable_data_as<float>()[i] = (i * 37) % 256;
  std::vector<Tensor> in2 = in1;
  absl::StatusOr<std::vector<Tensor>> a = (*fast)->Execute(in1);
  absl::StatusOr<std::vector<Tensor>> b = (*plain)->Execute(in2);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ((*a)[0].shape, (std::vector<int64_t>{3, 10}));
  for (int i = 0; i < 30; ++i) {
    EXPECT_NEAR((*a)[0].data_as<float>()[i], (*b)[0].data_as<float>()[i], 1e-3);
  }
}

TEST(TorchBackendTest, MissingAndGarbageFilesAreClearErrors) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ferry_torch_test_" + std::to_string(::getpid()));
  fs::create_directories(dir / "1");
  BackendOptions o = OptionsFor("simple");
  o.version_path = (dir / "1").string();
  absl::StatusOr<std::unique_ptr<Backend>> missing = CreateBackend(o);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("model.pt: file not found"));

  std::ofstream(dir / "1" / "model.pt") << "this is not a zip archive";
  absl::StatusOr<std::unique_ptr<Backend>> garbage = CreateBackend(o);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(garbage.status().message()), HasSubstr("not a loadable TorchScript file"));
  fs::remove_all(dir);
}

TEST(TorchBackendTest, SignatureThatDoesNotMatchTheGraphFailsAtLoad) {
  BackendOptions o = OptionsFor("fashion_cnn");
  o.signature.inputs[0].shape = {-1, 3, 5};  // not an image
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(o);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("does not run on inputs shaped like its config"));

  o = OptionsFor("simple");
  o.signature.outputs[0].dtype = DataType::kFp32;  // the graph returns INT32
  b = CreateBackend(o);
  EXPECT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("output 'OUTPUT0'"));

  o = OptionsFor("simple");
  o.signature.inputs[0].dtype = DataType::kUint32;
  b = CreateBackend(o);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("UINT32 is not supported"));
}

TEST(TorchBackendTest, KeepDropoutActiveSamplesNewMasksEachForward) {
  // fashion_mlp was scripted with one nn.Dropout module (off in eval mode) after its hidden layer.
  BackendOptions o = OptionsFor("fashion_mlp");
  auto Logits = [](Backend& backend, const ModelSignature& signature) {
    std::vector<Tensor> in = ZeroInputs(signature, 4);
    for (size_t i = 0; i < in[0].data.size() / 4; ++i) in[0].mutable_data_as<float>()[i] = (i * 53) % 256;
    absl::StatusOr<std::vector<Tensor>> out = backend.Execute(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0].data : std::vector<uint8_t>();
  };
  absl::StatusOr<std::unique_ptr<Backend>> fixed = CreateBackend(o);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(Logits(**fixed, o.signature), Logits(**fixed, o.signature));

  o.keep_dropout_active = true;
  absl::StatusOr<std::unique_ptr<Backend>> stochastic = CreateBackend(o);
  ASSERT_TRUE(stochastic.ok()) << stochastic.status();
  EXPECT_EQ((*stochastic)->Describe(), "plain module, dropout active in 1 module(s)");
  const std::vector<uint8_t> first = Logits(**stochastic, o.signature);
  EXPECT_EQ(first.size(), 4u * 10u * sizeof(float));
  EXPECT_NE(first, Logits(**stochastic, o.signature));
}

TEST(TorchBackendTest, KeepDropoutActiveOnAModelWithoutDropoutIsAnError) {
  BackendOptions o = OptionsFor("simple");
  o.keep_dropout_active = true;
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend(o);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("mc_dropout: the model has no dropout layers"));
}

}  // namespace
}  // namespace ferry
