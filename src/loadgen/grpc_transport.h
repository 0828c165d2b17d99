// gRPC implementation of the transport seam:
// inference.GRPCInferenceService/ModelInfer over Ferry's generated stubs,
// inputs as raw_input_contents.
//
// Cost model (client and server share the machine): each Transport owns one
// channel (its own HTTP/2 connection) and one completion queue, drained by a
// single poller thread that also does the channel's network I/O inside
// CompletionQueue::Next. Finished calls are handed to the io_context thread in
// batches (one post per batch, not per call), where they are checked and
// delivered to the sink. So a worker is two threads whatever the concurrency:
// all N outstanding calls are multiplexed on the one connection.
//
// Errors: DEADLINE_EXCEEDED (the per-request timeout is the call's deadline) is
// a timeout; UNAVAILABLE while the channel is not connected, or a call cut off
// by Close(), is a connection error; any other non-OK status the server sent is
// counted by its code (Outcome::kRpcStatus); an OK response whose outputs do
// not check out is a bad response.
#ifndef FERRY_LOADGEN_GRPC_TRANSPORT_H_
#define FERRY_LOADGEN_GRPC_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "loadgen/transport.h"

namespace ferry::loadgen {

// REQUIRES: options.protocol is kGrpc. Does not connect: the first calls wait
// for the connection.
absl::StatusOr<std::unique_ptr<TransportFactory>> CreateGrpcTransportFactory(
    const TransportOptions &options, const Workload &workload);

// ModelMetadata and ModelStatistics over a channel of its own.
absl::StatusOr<std::unique_ptr<ControlClient>> CreateGrpcControlClient(
    const TransportOptions &options);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_GRPC_TRANSPORT_H_
