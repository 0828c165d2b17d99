// The fake the server and transport tests stand on: its outputs, errors, gate and
// counters, and the factory's choice of settings by model and version.
#include "testing/fake_backend.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/gate.h"
#include "testing/requests.h"

namespace ferry {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

ModelSignature SimpleSignature() {
  ModelSignature sig;
  for (const char* name : {"INPUT0", "INPUT1"}) sig.inputs.push_back({name, DataType::kInt32, {-1, 2}});
  for (const char* name : {"OUTPUT0", "OUTPUT1"}) sig.outputs.push_back({name, DataType::kInt32, {-1, 2}});
  sig.max_batch_size = 8;
  return sig;
}

TEST(FakeBackendTest, SimpleAddsAndSubtracts) {
  FakeBackend fake({}, SimpleSignature());
  std::vector<Tensor> inputs = {Int32Tensor("INPUT0", {2, 2}, {1, 2, 3, 4}),
                                Int32Tensor("INPUT1", {2, 2}, {10, 20, 30, 40})};
  absl::StatusOr<std::vector<Tensor>> out = fake.Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].name, "OUTPUT0");
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_THAT(ValuesOf<int32_t>((*out)[0]), ElementsAre(11, 22, 33, 44));
  EXPECT_EQ((*out)[1].name, "OUTPUT1");
  EXPECT_THAT(ValuesOf<int32_t>((*out)[1]), ElementsAre(-9, -18, -27, -36));
  EXPECT_EQ(fake.calls(), 1);
  EXPECT_EQ(fake.rows(), 2);
  EXPECT_EQ(fake.Describe(), "fake backend");
}

TEST(FakeBackendTest, LogitsFollowTheRowSums) {
  // Row sums 3, 13.25 and 57, rounded down, with 5 classes: class 3 with logit 3 / 5 = 0,
  // class 3 with 13 / 5 = 2, class 2 with (57 / 5) % 8 = 3.
  std::vector<Tensor> inputs = {Fp32Tensor("x", {3, 2}, {1.5f, 1.5f, 10.0f, 3.25f, 50.0f, 7.0f})};
  Tensor logits = FakeLogits(inputs, 5);
  EXPECT_EQ(logits.name, "logits");
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{3, 5}));
  EXPECT_THAT(ValuesOf<float>(logits), ElementsAre(0, 0, 0, 0, 0,  //
                                          0, 0, 0, 2, 0,  //
                                          0, 0, 3, 0, 0));
  // The default for a classifier's signature answers the same.
  ModelSignature sig;
  sig.inputs.push_back({"x", DataType::kFp32, {-1, 2}});
  sig.outputs.push_back({"scores", DataType::kFp32, {-1, 5}});
  sig.outputs.push_back({"extra", DataType::kInt64, {-1, -1}});
  FakeBackend fake({}, sig);
  absl::StatusOr<std::vector<Tensor>> out = fake.Execute(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].name, "scores");
  EXPECT_EQ((*out)[0].data, logits.data);
  EXPECT_EQ((*out)[1].shape, (std::vector<int64_t>{3, 1}));
  EXPECT_EQ((*out)[1].data, std::vector<uint8_t>(24, 0));
}

TEST(FakeBackendTest, FailsFromTheNthCallAndChecksTheSignature) {
  FakeBackendOptions options;
  options.error = absl::InternalError("boom");
  options.fail_from_call = 2;
  FakeBackend fake(options, SimpleSignature());
  std::vector<Tensor> inputs = SimpleRequest({1, 2}, {3, 4}).inputs;
  EXPECT_TRUE(fake.Execute(inputs).ok());
  EXPECT_EQ(fake.Execute(inputs).status(), absl::InternalError("boom"));
  EXPECT_EQ(fake.Execute(inputs).status(), absl::InternalError("boom"));
  EXPECT_EQ(fake.calls(), 3);

  FakeBackendOptions wrong;
  wrong.outputs = ClassifierOutputs(3);
  FakeBackend mismatched(wrong, SimpleSignature());
  absl::Status s = mismatched.Execute(inputs).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("answered 1 outputs; the signature has 2"));
}

TEST(FakeBackendTest, AGateHoldsEveryCallUntilReleased) {
  Gate gate;
  FakeBackendOptions options;
  options.gate = &gate;
  FakeBackend fake(options, SimpleSignature());
  std::vector<Tensor> inputs = SimpleRequest({1, 2}, {3, 4}).inputs;
  absl::StatusOr<std::vector<Tensor>> out;
  std::thread call([&] { out = fake.Execute(inputs); });
  gate.WaitEntered(1);
  EXPECT_EQ(fake.calls(), 1);
  gate.Release(1);
  call.join();
  EXPECT_TRUE(out.ok()) << out.status();
}

TEST(FakeBackendFactoryTest, ConfiguresByModelAndVersion) {
  FakeBackendFactory fakes;
  FakeBackendOptions model;
  model.description = "every version of m";
  fakes.Set("m", model);
  FakeBackendOptions v2;
  v2.description = "m version 2";
  fakes.Set("m", 2, v2);
  fakes.FailLoad("m", 3, absl::InvalidArgumentError("not a model"));
  BackendFactory create = fakes.factory();

  BackendOptions options;
  options.signature = SimpleSignature();
  const auto describe = [&](const std::string& path) {
    options.version_path = path;
    absl::StatusOr<std::unique_ptr<Backend>> b = create(options);
    return b.ok() ? (*b)->Describe() : std::string(b.status().message());
  };
  EXPECT_EQ(describe("/repo/m/1"), "every version of m");
  EXPECT_EQ(describe("/repo/m/2"), "m version 2");
  EXPECT_EQ(describe("/repo/m/3"), "not a model");
  EXPECT_EQ(describe("/repo/other/1"), "fake backend");
  EXPECT_EQ(describe("/repo/m/1"), "every version of m");
  fakes.FailLoad("m", 3, absl::OkStatus());
  EXPECT_EQ(describe("/repo/m/3"), "every version of m");

  EXPECT_EQ(fakes.Builds("m", 1), 2);
  EXPECT_EQ(fakes.Builds("m", 3), 1);  // the failed load made nothing
  EXPECT_EQ(fakes.Builds("nope", 1), 0);
  EXPECT_EQ(fakes.Counters("nope", 1), nullptr);

  // The counters of the last build, readable after the backend is gone.
  options.version_path = "/repo/other/1";
  {
    std::unique_ptr<Backend> backend = *create(options);
    std::vector<Tensor> inputs = SimpleRequest({1, 2}, {3, 4}).inputs;
    ASSERT_TRUE(backend->Execute(inputs).ok());
  }
  ASSERT_NE(fakes.Counters("other", 1), nullptr);
  EXPECT_EQ(fakes.Counters("other", 1)->calls.load(), 1);
  EXPECT_EQ(fakes.Counters("other", 1)->rows.load(), 1);
}

}  // namespace
}  // namespace ferry
