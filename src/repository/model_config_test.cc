#include "repository/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::HasSubstr;

constexpr char kMinimal[] = R"(
platform = "torchscript"
[[inputs]]
name = "x"
datatype = "FP32"
shape = [-1, 4]
[[outputs]]
name = "y"
datatype = "FP32"
shape = [-1, 2]
)";

std::string ErrorFor(const std::string& text) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "m/config.toml", "m");
  EXPECT_FALSE(c.ok());
  return std::string(c.status().message());
}

TEST(ModelConfigTest, MinimalConfigGetsDocumentedDefaults) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(kMinimal, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "m");
  EXPECT_EQ(c->platform, "torchscript");
  EXPECT_EQ(c->signature.max_batch_size, 8);
  EXPECT_EQ(c->batching.max_queue_delay_us, 100);
  EXPECT_TRUE(c->batching.preferred_batch_sizes.empty());
  EXPECT_EQ(c->batching.max_queue_size, 1024);
  EXPECT_EQ(c->execution.workers, 1);
  EXPECT_EQ(c->execution.intra_op_threads, 1);
  EXPECT_EQ(c->execution.warmup_batch_sizes, (std::vector<int64_t>{1, 8}));
  ASSERT_EQ(c->signature.inputs.size(), 1u);
  EXPECT_EQ(c->signature.inputs[0].name, "x");
  EXPECT_EQ(c->signature.inputs[0].dtype, DataType::kFp32);
  EXPECT_EQ(c->signature.inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_TRUE(c->labels_file.empty());
}

TEST(ModelConfigTest, FullConfig) {
  const std::string text = std::string(kMinimal) + R"(
max_batch_size = 64
labels = "labels.txt"
[batching]
max_queue_delay_us = 250
preferred_batch_sizes = [32, 64]
max_queue_size = 16
[execution]
workers = 2
intra_op_threads = 3
warmup_batch_sizes = [1, 64]
)";
  // max_batch_size and labels must precede the tables in TOML, so rebuild the order.
  const std::string ordered = "max_batch_size = 64\nlabels = \"labels.txt\"\n" + std::string(kMinimal) + R"(
[batching]
max_queue_delay_us = 250
preferred_batch_sizes = [32, 64]
max_queue_size = 16
[execution]
workers = 2
intra_op_threads = 3
warmup_batch_sizes = [1, 64]
)";
  absl::StatusOr<ModelConfig> c = ParseModelConfig(ordered, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signature.max_batch_size, 64);
  EXPECT_EQ(c->labels_file, "labels.txt");
  EXPECT_EQ(c->batching.max_queue_delay_us, 250);
  EXPECT_EQ(c->batching.preferred_batch_sizes, (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(c->batching.max_queue_size, 16);
  EXPECT_EQ(c->execution.workers, 2);
  EXPECT_EQ(c->execution.intra_op_threads, 3);
  EXPECT_EQ(c->execution.warmup_batch_sizes, (std::vector<int64_t>{1, 64}));
  // Keys placed after [[outputs]] belong to that table and are rejected by name.
  EXPECT_THAT(ErrorFor(text), testing::MatchesRegex(".*outputs\\[0\\]\\.(max_batch_size|labels): unknown key"));
}

TEST(ModelConfigTest, ErrorsNameFileKeyAndProblem) {
  EXPECT_THAT(ErrorFor("platform = "), HasSubstr("m/config.toml:1"));
  EXPECT_THAT(ErrorFor("max_batch_size = 4"), HasSubstr("m/config.toml: platform: is required"));
  EXPECT_THAT(ErrorFor("platform = \"onnx\""), HasSubstr("platform: unknown platform \"onnx\""));
  EXPECT_THAT(ErrorFor("colour = 1\n" + std::string(kMinimal)), HasSubstr("colour: unknown key"));
  EXPECT_THAT(ErrorFor("max_batch_size = 0\n" + std::string(kMinimal)),
              HasSubstr("max_batch_size: must be at least 1; was 0"));
  EXPECT_THAT(ErrorFor("max_batch_size = \"big\"\n" + std::string(kMinimal)),
              HasSubstr("max_batch_size: must be an integer"));
  EXPECT_THAT(ErrorFor("platform = \"torchscript\""), HasSubstr("inputs: is required"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[batching]\nmax_queue_size = 0\n"),
              HasSubstr("batching.max_queue_size: must be at least 1; was 0"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[batching]\nmax_queue_delay_us = -5\n"),
              HasSubstr("batching.max_queue_delay_us: must be at least 0"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[batching]\npreferred_batch_sizes = [16]\n"),
              HasSubstr("batching.preferred_batch_sizes: 16 exceeds max_batch_size 8"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[batching]\nspeed = 3\n"),
              HasSubstr("batching.speed: unknown key"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[execution]\nworkers = 0\n"),
              HasSubstr("execution.workers: must be at least 1; was 0"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[execution]\nwarmup_batch_sizes = [1, 99]\n"),
              HasSubstr("execution.warmup_batch_sizes: 99 exceeds max_batch_size"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[execution]\nwarmup_batch_sizes = \"every\"\n"),
              HasSubstr("execution.warmup_batch_sizes: must be an array of integers or \"all\""));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[execution]\nwarmup_batch_sizes = 8\n"),
              HasSubstr("execution.warmup_batch_sizes: must be an array of integers"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "batching = 3\n"), HasSubstr("unknown key"));
}

TEST(ModelConfigTest, WarmupAllMeansEverySizeUpToMaxBatchSize) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(
      std::string(kMinimal) + "[execution]\nwarmup_batch_sizes = \"all\"\n", "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->execution.warmup_batch_sizes, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(ModelConfigTest, TensorErrors) {
  const std::string head = "platform = \"torchscript\"\n[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1]\n";
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\ndatatype = \"FP32\"\nshape = [-1]\n"),
              HasSubstr("inputs[0].name: is required"));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FLOAT\"\nshape = [-1]\n"),
              HasSubstr("inputs[0].datatype: unknown datatype \"FLOAT\""));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\n"),
              HasSubstr("inputs[0].shape: is required"));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [3, 4]\n"),
              HasSubstr("inputs[0].shape: must start with -1"));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, -2]\n"),
              HasSubstr("inputs[0].shape: values must be at least -1"));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1]\n"
                              "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1]\n"),
              HasSubstr("inputs[1].name: 'x' appears twice"));
  EXPECT_THAT(ErrorFor(head + "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1]\nsize = 2\n"),
              HasSubstr("inputs[0].size: unknown key"));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(ModelConfigUncertaintyTest, DefaultsWithoutTheTable) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(kMinimal, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uncertainty.logits, "logits");
  EXPECT_EQ(c->uncertainty.score, ConformalScore::kLac);
  EXPECT_EQ(c->uncertainty.alpha, 0.1);
  EXPECT_EQ(c->uncertainty.alphas, (std::vector<double>{0.05, 0.1, 0.2}));
  EXPECT_EQ(c->uncertainty.min_confidence, 0.7);
}

TEST(ModelConfigUncertaintyTest, ParsesTheTable) {
  const std::string text = std::string(kMinimal) + R"(
[uncertainty]
logits = "y"
score = "aps"
alpha = 0.2
alphas = [0.2, 0.01, 0.1]
min_confidence = 0
)";
  absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->uncertainty.logits, "y");
  EXPECT_EQ(c->uncertainty.score, ConformalScore::kAps);
  EXPECT_EQ(c->uncertainty.alpha, 0.2);
  EXPECT_EQ(c->uncertainty.alphas, (std::vector<double>{0.01, 0.1, 0.2}));
  EXPECT_EQ(c->uncertainty.min_confidence, 0.0);
}

TEST(ModelConfigUncertaintyTest, RejectsBadValues) {
  const std::string base = std::string(kMinimal) + "\n[uncertainty]\nlogits = \"y\"\n";
  using testing::HasSubstr;
  EXPECT_THAT(ErrorFor(base + "colour = 1\n"), HasSubstr("m/config.toml: uncertainty.colour: unknown key"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[uncertainty]\nlogits = \"z\"\n"),
              HasSubstr("uncertainty.logits: 'z' is not one of the outputs"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[uncertainty]\nscore = \"lac\"\n"),
              HasSubstr("uncertainty.logits: 'logits' is not one of the outputs"));
  EXPECT_THAT(ErrorFor(base + "score = \"raps\"\n"), HasSubstr("uncertainty.score: must be \"lac\" or \"aps\""));
  EXPECT_THAT(ErrorFor(base + "alpha = 1.5\n"), HasSubstr("uncertainty.alpha: must be in (0, 1)"));
  EXPECT_THAT(ErrorFor(base + "alpha = \"0.1\"\n"), HasSubstr("uncertainty.alpha: must be a number"));
  EXPECT_THAT(ErrorFor(base + "alpha = 0.3\n"), HasSubstr("uncertainty.alpha: 0.3 must be one of uncertainty.alphas"));
  EXPECT_THAT(ErrorFor(base + "alphas = []\n"), HasSubstr("uncertainty.alphas: must be a non-empty array"));
  EXPECT_THAT(ErrorFor(base + "alphas = [0.1, 0]\n"), HasSubstr("uncertainty.alphas: must be a non-empty array of numbers in (0, 1)"));
  EXPECT_THAT(ErrorFor(base + "alphas = [0.1, 0.1]\n"), HasSubstr("listed twice"));
  EXPECT_THAT(ErrorFor(base + "min_confidence = 1.2\n"), HasSubstr("uncertainty.min_confidence: must be in [0, 1]"));
  EXPECT_THAT(ErrorFor("uncertainty = 3\n" + std::string(kMinimal)), HasSubstr("uncertainty: must be a table"));
  const std::string int_output = R"(
platform = "torchscript"
[[inputs]]
name = "x"
datatype = "FP32"
shape = [-1, 4]
[[outputs]]
name = "logits"
datatype = "INT32"
shape = [-1, 2]
[uncertainty]
score = "lac"
)";
  EXPECT_THAT(ErrorFor(int_output), HasSubstr("uncertainty.logits: output 'logits' is INT32 [-1, 2]"));
  // Without the table, such a model still parses (it is just never calibrated).
  std::string plain = int_output.substr(0, int_output.find("[uncertainty]"));
  EXPECT_TRUE(ParseModelConfig(plain, "m/config.toml", "m").ok());
}

std::string Composite(const std::string& platform, const std::string& table) {
  std::string text = kMinimal;
  text.replace(text.find("torchscript"), 11, platform);
  return text + table;
}

TEST(ModelConfigCompositeTest, ParsesEnsembleAndCascade) {
  absl::StatusOr<ModelConfig> e =
      ParseModelConfig(Composite("ensemble", "[ensemble]\nmembers = [\"a\", \"b\"]\n"), "m/config.toml", "m");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->is_composite());
  EXPECT_EQ(e->composite.members, (std::vector<ModelRef>{{"a", 0}, {"b", 0}}));
  absl::StatusOr<ModelConfig> c = ParseModelConfig(
      Composite("cascade", "[cascade]\nstages = [\"fast\", \"slow\"]\nmin_confidence = 0.9\nalpha = 0.05\n"),
      "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->composite.members, (std::vector<ModelRef>{{"fast", 0}, {"slow", 0}}));
  EXPECT_DOUBLE_EQ(c->composite.min_confidence, 0.9);
  ASSERT_TRUE(c->composite.alpha.has_value());
  EXPECT_DOUBLE_EQ(*c->composite.alpha, 0.05);
  absl::StatusOr<ModelConfig> d =
      ParseModelConfig(Composite("cascade", "[cascade]\nstages = [\"fast\", \"slow\"]\n"), "m/config.toml", "m");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_DOUBLE_EQ(d->composite.min_confidence, 1.0);
  EXPECT_FALSE(d->composite.alpha.has_value());
  absl::StatusOr<ModelConfig> pinned = ParseModelConfig(
      Composite("ensemble", "[ensemble]\nmembers = [\"a\", { model = \"b\", version = 3 }, { model = \"c\" }]\n"),
      "m/config.toml", "m");
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->composite.members, (std::vector<ModelRef>{{"a", 0}, {"b", 3}, {"c", 0}}));
  absl::StatusOr<ModelConfig> plain = ParseModelConfig(kMinimal, "m/config.toml", "m");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->is_composite());
}

TEST(ModelConfigCompositeTest, ErrorsNameTheKey) {
  EXPECT_THAT(ErrorFor(Composite("ensemble", "")), HasSubstr("ensemble: is required"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = []\n")),
              HasSubstr("ensemble.members: must list at least 1"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"only\"]\n")),
              HasSubstr("cascade.stages: must list at least 2"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"a\", 3]\n")),
              HasSubstr("cascade.stages[1]: must be a model name or { model = \"name\", version = N }"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"\", \"b\"]\n")),
              HasSubstr("cascade.stages[0]: must be a model name"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ version = 2 }]\n")),
              HasSubstr("ensemble.members[0].model: must be a model name"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ model = 7 }]\n")),
              HasSubstr("ensemble.members[0].model: must be a model name"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ model = \"a\", version = 0 }]\n")),
              HasSubstr("ensemble.members[0].version: must be at least 1; was 0"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ model = \"a\", version = \"2\" }]\n")),
              HasSubstr("ensemble.members[0].version: must be an integer"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ model = \"a\", alias = \"x\" }]\n")),
              HasSubstr("ensemble.members[0].alias: unknown key"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [{ model = \"m\", version = 1 }]\n")),
              HasSubstr("must not name the model itself"));
  EXPECT_THAT(ErrorFor(Composite("ensemble", "[ensemble]\nmembers = [\"m\"]\n")),
              HasSubstr("must not name the model itself"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"a\", \"b\"]\nmin_confidence = 0\n")),
              HasSubstr("cascade.min_confidence: must be in (0, 1]"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"a\", \"b\"]\nalpha = 1.5\n")),
              HasSubstr("cascade.alpha: must be in (0, 1)"));
  EXPECT_THAT(ErrorFor(Composite("cascade", "[cascade]\nstages = [\"a\", \"b\"]\nmembers = [\"c\"]\n")),
              HasSubstr("cascade.members"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[cascade]\nstages = [\"a\", \"b\"]\n"),
              HasSubstr("cascade: is only for platform \"cascade\""));
  std::string nine = "[cascade]\nstages = [";
  for (int i = 0; i < 9; ++i) nine += absl::StrCat(i ? ", " : "", "\"s", i, "\"");
  EXPECT_THAT(ErrorFor(Composite("cascade", nine + "]\n")), HasSubstr("at most 8 stages"));
}

TEST(ModelConfigMcDropoutTest, OffByDefaultAndParsesPasses) {
  absl::StatusOr<ModelConfig> pinned = ParseModelConfig(
      Composite("ensemble", "[ensemble]\nmembers = [\"a\", { model = \"b\", version = 3 }, { model = \"c\" }]\n"),
      "m/config.toml", "m");
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->composite.members, (std::vector<ModelRef>{{"a", 0}, {"b", 3}, {"c", 0}}));
  absl::StatusOr<ModelConfig> plain = ParseModelConfig(kMinimal, "m/config.toml", "m");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->mc_dropout.passes, 0);
  absl::StatusOr<ModelConfig> mc =
      ParseModelConfig(std::string(kMinimal) + "[mc_dropout]\npasses = 16\n", "m/config.toml", "m");
  ASSERT_TRUE(mc.ok()) << mc.status();
  EXPECT_EQ(mc->mc_dropout.passes, 16);
  EXPECT_TRUE(ParseModelConfig(std::string(kMinimal) + "[mc_dropout]\npasses = 256\n", "m", "m").ok());
}

TEST(ModelConfigMcDropoutTest, ErrorsNameTheKey) {
  const std::string minimal = kMinimal;
  EXPECT_THAT(ErrorFor(minimal + "[mc_dropout]\n"), HasSubstr("mc_dropout.passes: is required"));
  EXPECT_THAT(ErrorFor(minimal + "[mc_dropout]\npasses = 1\n"),
              HasSubstr("mc_dropout.passes: must be at least 2; was 1"));
  EXPECT_THAT(ErrorFor(minimal + "[mc_dropout]\npasses = 257\n"),
              HasSubstr("mc_dropout.passes: must be at most 256; was 257"));
  EXPECT_THAT(ErrorFor(minimal + "[mc_dropout]\npasses = 2.5\n"),
              HasSubstr("mc_dropout.passes: must be an integer"));
  EXPECT_THAT(ErrorFor(minimal + "[mc_dropout]\npasses = 8\nrate = 0.5\n"),
              HasSubstr("mc_dropout.rate: unknown key"));
  EXPECT_THAT(ErrorFor("mc_dropout = 8\n" + minimal), HasSubstr("mc_dropout: must be a table"));
  std::string xgb = minimal;
  xgb.replace(xgb.find("torchscript"), 11, "xgboost");
  EXPECT_THAT(ErrorFor(xgb + "[mc_dropout]\npasses = 8\n"),
              HasSubstr("mc_dropout: is only for platform \"torchscript\""));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

// A model folder in a fresh temporary directory, removed at the end of the test.
class VersionOverrideTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ferry_override_test_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "m" / "2");
    std::ofstream(dir_ / "m" / "config.toml")
        << "platform = \"torchscript\"\nmax_batch_size = 8\n"
           "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 4]\n"
           "[[outputs]]\nname = \"y\"\ndatatype = \"FP32\"\nshape = [-1, 2]\n"
           "[batching]\nmax_queue_delay_us = 300\nmax_queue_size = 64\n"
           "[execution]\nworkers = 2\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Model() const { return (dir_ / "m").string(); }
  std::string Version() const { return (dir_ / "m" / "2").string(); }
  void Override(const std::string& text) const { std::ofstream(dir_ / "m" / "2" / "config.toml") << text; }

  std::filesystem::path dir_;
};

TEST_F(VersionOverrideTest, WithoutAnOverrideTheVersionHasTheModelsConfig) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(Model(), Version());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->batching.max_queue_delay_us, 300);
  EXPECT_EQ(c->execution.workers, 2);
}

TEST_F(VersionOverrideTest, TablesMergeKeyByKeyAndOtherValuesReplace) {
  Override("max_batch_size = 16\n[batching]\nmax_queue_delay_us = 50\n"
           "[[outputs]]\nname = \"z\"\ndatatype = \"FP32\"\nshape = [-1, 3]\n");
  absl::StatusOr<ModelConfig> c = LoadModelConfig(Model(), Version());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signature.max_batch_size, 16);
  EXPECT_EQ(c->batching.max_queue_delay_us, 50);
  EXPECT_EQ(c->batching.max_queue_size, 64);  // not named by the override: the model's
  EXPECT_EQ(c->execution.workers, 2);
  ASSERT_EQ(c->signature.outputs.size(), 1u);  // the list is replaced, not appended to
  EXPECT_EQ(c->signature.outputs[0].name, "z");
  ASSERT_EQ(c->signature.inputs.size(), 1u);
  EXPECT_EQ(c->signature.inputs[0].name, "x");
  // The model-level config alone is unchanged.
  EXPECT_EQ(LoadModelConfig(Model())->batching.max_queue_delay_us, 300);
}

TEST_F(VersionOverrideTest, ABadOverrideIsAnErrorNamingBothFilesAndTheKey) {
  Override("[execution]\nworkers = 0\n");
  absl::StatusOr<ModelConfig> c = LoadModelConfig(Model(), Version());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), testing::HasSubstr("m/2/config.toml"));
  EXPECT_THAT(std::string(c.status().message()), testing::HasSubstr("execution.workers"));
  Override("[execution\n");
  c = LoadModelConfig(Model(), Version());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), testing::HasSubstr("m/2/config.toml:1"));
  Override("unknown_key = 1\n");
  EXPECT_THAT(std::string(LoadModelConfig(Model(), Version()).status().message()),
              testing::HasSubstr("unknown_key"));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

constexpr char kBuiltin[] = R"(
platform = "builtin"
[builtin]
operation = "add_sub"
[[inputs]]
name = "INPUT0"
datatype = "BYTES"
shape = [-1, 16]
[[outputs]]
name = "OUTPUT0"
datatype = "BYTES"
shape = [-1, 16]
)";

TEST(ModelConfigBuiltinTest, ParsesTheOperation) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(kBuiltin, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->platform, "builtin");
  EXPECT_EQ(c->builtin.operation, "add_sub");
}

TEST(ModelConfigBuiltinTest, ErrorsNameTheKey) {
  std::string text = kBuiltin;
  EXPECT_THAT(ErrorFor(text.substr(0, text.find("[builtin]")) + text.substr(text.find("[[inputs]]"))),
              HasSubstr("builtin: is required for platform \"builtin\""));
  std::string empty = text;
  empty.replace(empty.find("\"add_sub\""), 9, "\"\"");
  EXPECT_THAT(ErrorFor(empty), HasSubstr("builtin.operation: must name an operation"));
  std::string extra = text;
  extra.replace(extra.find("operation"), 0, "speed = 1\n");
  EXPECT_THAT(ErrorFor(extra), HasSubstr("builtin.speed: unknown key"));
  EXPECT_THAT(ErrorFor(std::string(kMinimal) + "[builtin]\noperation = \"identity\"\n"),
              HasSubstr("builtin: is only for platform \"builtin\""));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

constexpr char kSequence[] = R"(
platform = "builtin"
[builtin]
operation = "accumulate"
[[inputs]]
name = "INPUT"
datatype = "INT32"
shape = [-1, 1]
[[outputs]]
name = "OUTPUT"
datatype = "INT32"
shape = [-1, 1]
[sequence]
max_sequences = 3
idle_timeout_ms = 500
state_input = "STATE_IN"
state_output = "STATE_OUT"
state_datatype = "INT32"
state_shape = [-1, 1]
initial_state = 7
)";

TEST(ModelConfigSequenceTest, ParsesTheTableAndAddsTheStateToTheExecutionSignature) {
  absl::StatusOr<ModelConfig> c = ParseModelConfig(kSequence, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->sequence.enabled);
  EXPECT_EQ(c->sequence.max_sequences, 3);
  EXPECT_EQ(c->sequence.idle_timeout_ms, 500);
  EXPECT_EQ(c->sequence.initial_state, 7);
  EXPECT_EQ(c->signature.inputs.size(), 1u);  // clients see no state
  const ModelSignature sig = ExecutionSignature(*c);
  ASSERT_EQ(sig.inputs.size(), 2u);
  EXPECT_EQ(sig.inputs[1].name, "STATE_IN");
  EXPECT_EQ(sig.inputs[1].dtype, DataType::kInt32);
  ASSERT_EQ(sig.outputs.size(), 2u);
  EXPECT_EQ(sig.outputs[1].name, "STATE_OUT");
  EXPECT_EQ(sig.outputs[1].shape, (std::vector<int64_t>{-1, 1}));
  // Without the table (or disabled) nothing changes.
  absl::StatusOr<ModelConfig> plain = ParseModelConfig(kMinimal, "m/config.toml", "m");
  EXPECT_FALSE(plain->sequence.enabled);
  EXPECT_EQ(ExecutionSignature(*plain).inputs.size(), 1u);
  std::string off = kSequence;
  off.replace(off.find("max_sequences"), 0, "enabled = false\n");
  absl::StatusOr<ModelConfig> disabled = ParseModelConfig(off, "m/config.toml", "m");
  ASSERT_TRUE(disabled.ok());
  EXPECT_EQ(ExecutionSignature(*disabled).inputs.size(), 1u);
}

TEST(ModelConfigSequenceTest, ErrorsNameTheKey) {
  const auto with = [](const std::string& from, const std::string& to) {
    std::string text = kSequence;
    text.replace(text.find(from), from.size(), to);
    return ErrorFor(text);
  };
  EXPECT_THAT(with("max_sequences = 3", "max_sequences = 0"),
              HasSubstr("sequence.max_sequences: must be at least 1; was 0"));
  EXPECT_THAT(with("idle_timeout_ms = 500", "idle_timeout_ms = \"soon\""),
              HasSubstr("sequence.idle_timeout_ms: must be an integer"));
  EXPECT_THAT(with("state_input = \"STATE_IN\"", "state_input = \"INPUT\""),
              HasSubstr("sequence.state_input: 'INPUT' must not be one of [[inputs]]"));
  EXPECT_THAT(with("state_output = \"STATE_OUT\"\n", ""), HasSubstr("sequence.state_output: is required"));
  EXPECT_THAT(with("\"INT32\"\nstate_shape", "\"BYTES\"\nstate_shape"),
              HasSubstr("sequence.state_datatype: must be a numeric or BOOL datatype"));
  EXPECT_THAT(with("state_shape = [-1, 1]", "state_shape = [-1, -1]"),
              HasSubstr("sequence.state_shape: must be fixed past the batch dimension"));
  EXPECT_THAT(with("state_shape = [-1, 1]", "state_shape = [1]"),
              HasSubstr("sequence.state_shape: must start with -1"));
  EXPECT_THAT(with("max_sequences", "state = \"explicit\"\nmax_sequences"),
              HasSubstr("sequence.state: must be \"implicit\""));
  EXPECT_THAT(with("max_sequences", "colour = 1\nmax_sequences"), HasSubstr("sequence.colour: unknown key"));
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

TEST(ModelConfigTest, AnImageInputMayNameItsLayout) {
  const std::string with_format = R"(
platform = "torchscript"
[[inputs]]
name = "x"
datatype = "FP32"
shape = [-1, 1, 28, 28]
format = "NCHW"
[[outputs]]
name = "y"
datatype = "FP32"
shape = [-1, 2]
)";
  absl::StatusOr<ModelConfig> c = ParseModelConfig(with_format, "m/config.toml", "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signature.inputs[0].format, "NCHW");
  EXPECT_EQ(c->signature.outputs[0].format, "");
  std::string bad = with_format;
  bad.replace(bad.find("\"NCHW\""), 6, "\"CHW\"");
  EXPECT_THAT(ErrorFor(bad), HasSubstr("inputs[0].format: must be \"NCHW\" or \"NHWC\""));
  std::string on_output = std::string(kMinimal) + "format = \"NHWC\"\n";
  EXPECT_THAT(ErrorFor(on_output), HasSubstr("outputs[0].format: is for inputs only"));
}

}  // namespace
}  // namespace ferry
