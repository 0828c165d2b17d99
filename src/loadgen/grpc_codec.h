// The gRPC wire forms `ferry bench` sends and checks, over Ferry's generated V2
// messages (inference.proto): ModelInferRequest with raw_input_contents, the
// check of a ModelInferResponse, and the metadata and statistics replies mapped
// onto the loadgen's own types. Pure functions; no I/O. Only the gRPC transport
// and its tests include this header, so protobuf stays out of the rest of the
// load generator.
#ifndef FERRY_LOADGEN_GRPC_CODEC_H_
#define FERRY_LOADGEN_GRPC_CODEC_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "inference.pb.h"
#include "loadgen/http_codec.h"
#include "loadgen/stats.h"
#include "loadgen/workload.h"

namespace ferry::loadgen {

// One input tensor per RequestData input (name, datatype, shape) and its bytes
// as raw_input_contents, in input order; no requested outputs, so the server
// returns all.
inference::ModelInferRequest EncodeGrpcInferRequest(const RequestData &request,
                                                    absl::string_view model,
                                                    absl::string_view version);

// Checks a ModelInferResponse against the model's outputs (`expected` may be
// empty = accept any): every expected output present once with its datatype and
// nothing else, a non-negative shape, and the tensor's data of exactly the
// shape's size, either as raw_output_contents (one entry per output,
// product(shape) x element size bytes; BYTES: product(shape) length-prefixed
// elements filling the entry exactly) or, when no raw contents are sent at all,
// as typed contents with product(shape) elements. InvalidArgument says what was
// wrong; `summary` is then unspecified.
absl::Status CheckGrpcInferResponse(const inference::ModelInferResponse &response,
                                    const std::vector<TensorSpec> &expected,
                                    ResponseSummary *summary);

// ModelMetadataResponse -> ModelSignature (inputs and outputs only), with the
// checks of ParseModelMetadata (inputs non-empty, every datatype a V2 name).
absl::StatusOr<ModelSignature> SignatureFromGrpc(const inference::ModelMetadataResponse &metadata);

// Sums the entries of `model` (and `version`, when not empty) as
// ParseModelStats does for the REST form. InvalidArgument when there is none.
absl::StatusOr<ModelStats> StatsFromGrpc(const inference::ModelStatisticsResponse &response,
                                         absl::string_view model, absl::string_view version);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_GRPC_CODEC_H_
