// The server's wiring of stateful models: models/simple_sequence (and simple_string)
// served by the builtin backend, with sequences routed through the SequenceBatcher.
#include <memory>
#include <string>

#include "backends/builtin/builtin_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference_server.h"
#include "testing/requests.h"
#include "testing/temp_repository.h"

namespace ferry {
namespace {

using testing::HasSubstr;

class SequenceServerTest : public testing::Test {
 protected:
  void SetUp() override {
    repo_.AddCopyOf("simple_sequence", "simple_sequence");
    repo_.AddSimple("simple");
    ServerOptions options;
    options.model_repository = repo_.path().string();
    // The builtin backend for the stateful model, fakes for `simple`.
    const BackendFactory fakes = repo_.fakes().factory();
    options.backend_factory = [fakes](const BackendOptions& o) {
      return o.platform == "builtin" ? CreateBuiltinBackend(o) : fakes(o);
    };
    auto server = InferenceServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  absl::StatusOr<int32_t> Step(uint64_t id, int32_t value, bool start = false, bool end = false) {
    InferRequest request;
    request.inputs.push_back(Int32Tensor("INPUT", {1, 1}, {value}));
    request.sequence.id = id;
    request.sequence.start = start;
    request.sequence.end = end;
    absl::StatusOr<InferResponse> response = InferAndWait(*server_, "simple_sequence", std::move(request));
    if (!response.ok()) return response.status();
    EXPECT_EQ(response->outputs.size(), 1u);  // the state stays in the server
    return ValuesOf<int32_t>(response->outputs[0])[0];
  }

  TempRepository repo_{"ferry_sequence_server_test"};
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(SequenceServerTest, InterleavedSequencesAccumulateSeparately) {
  EXPECT_EQ(*Step(1, 11, true), 11);
  EXPECT_EQ(*Step(2, -11, true), -11);
  EXPECT_EQ(*Step(1, 7), 18);
  EXPECT_EQ(*Step(2, -7), -18);
  EXPECT_EQ(*Step(1, 5, false, true), 23);
  absl::StatusOr<int32_t> gone = Step(1, 1);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(gone.status().message()), HasSubstr("sequence 1 is not live"));
}

TEST_F(SequenceServerTest, MetadataHidesTheStateAndListsTheExtension) {
  absl::StatusOr<ModelMetadata> meta = server_->GetModelMetadata("simple_sequence", "");
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_EQ(meta->inputs.size(), 1u);
  EXPECT_EQ(meta->inputs[0].name, "INPUT");
  ASSERT_EQ(meta->outputs.size(), 1u);
  EXPECT_EQ(meta->outputs[0].name, "OUTPUT");
  EXPECT_THAT(server_->Metadata().extensions, testing::Contains("sequence"));
}

TEST_F(SequenceServerTest, SequenceParametersWhereTheyDoNotBelongAre400s) {
  InferRequest request;
  request.inputs.push_back(Int32Tensor("INPUT", {1, 1}, {1}));
  absl::StatusOr<InferResponse> r = InferAndWait(*server_, "simple_sequence", request);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("needs the parameter 'sequence_id'"));
  InferRequest simple = SimpleRequest();
  simple.sequence.id = 3;
  r = InferAndWait(*server_, "simple", simple);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("model 'simple' is not stateful"));
  EXPECT_TRUE(InferAndWait(*server_, "simple", SimpleRequest()).ok());
}

}  // namespace
}  // namespace ferry
