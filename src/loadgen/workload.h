// What `ferry bench` sends: the model's signature (from its V2 metadata) and a pool of
// request inputs built once before the run, so that making a request costs nothing while
// latency is being measured.
#ifndef FERRY_LOADGEN_WORKLOAD_H_
#define FERRY_LOADGEN_WORKLOAD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/signature.h"
#include "core/tensor.h"
#include "loadgen/idx_reader.h"

namespace ferry::loadgen {

// Parses the body of GET /v2/models/{m}[/versions/{v}] into the model's inputs and
// outputs. InvalidArgument names the field that is missing or wrong (inputs must be
// non-empty; datatypes must be V2 names). V2 metadata has no max_batch_size or labels (a
// leading -1 dim marks a batch dim instead), so those keep their defaults; nothing in the
// load generator reads them. The model's name, versions and platform are not kept.
absl::StatusOr<ModelSignature> ParseModelMetadata(absl::string_view json);

// One request: one core Tensor per model input, with its resolved shape and its bytes
// in core's layout, which is also the binary extension's and gRPC raw contents' form.
struct RequestData {
  std::vector<Tensor> inputs;
};

struct Workload {
  int batch = 1;
  // The model's outputs, for checking responses.
  std::vector<TensorSpec> outputs;
  // Sent round-robin.
  std::vector<RequestData> requests;
};

struct WorkloadOptions {
  // Rows per request; the first dimension of every input whose metadata shape starts with
  // -1 is set to it (the V2 convention for batching models). Must be >= 1.
  int batch = 1;
  // Requests to pre-build. Fewer when --data has fewer rows, or the pool would exceed
  // max_pool_bytes of tensor data.
  size_t pool_size = 100;
  uint64_t max_pool_bytes = 256ull << 20;
  // Seeds the random inputs.
  uint64_t seed = 1;
  // Input name -> shape, replacing -1 dims. Either the full rank, or the rank without the
  // leading batch dim (which then comes from `batch`). Other -1 dims default to 1.
  std::map<std::string, std::vector<int64_t>> shape_overrides;
  // When set, rows of this array (e.g. Fashion-MNIST images) fill the single model input,
  // converted to its datatype, cycling through the rows. Otherwise inputs are random.
  const IdxArray* data = nullptr;
};

// Builds the pool. InvalidArgument when the signature and options do not fit (batch > 1
// on a model without a batch dim, an override of the wrong rank or against a fixed dim,
// --data with a model of several inputs or a row size other than the input's).
absl::StatusOr<Workload> BuildWorkload(const ModelSignature& signature,
                                       const WorkloadOptions& options);

// Resolves the shape sent for `spec`, per the rules of WorkloadOptions. `override_shape`
// may be null.
absl::StatusOr<std::vector<int64_t>> ResolveShape(const TensorSpec& spec, int batch,
                                                  const std::vector<int64_t>* override_shape);

// Parses "NAME:D1,D2,..." (as given to --shape-override).
absl::StatusOr<std::pair<std::string, std::vector<int64_t>>> ParseShapeOverride(
    absl::string_view text);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_WORKLOAD_H_
