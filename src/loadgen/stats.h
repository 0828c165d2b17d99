// The server's own account of where time went, from the statistics extension
// (GET /v2/models/{m}/stats): read before and after a measurement, the difference splits
// each request's latency into time queued and time computing, and gives the batch size the
// server actually formed.
#ifndef FERRY_LOADGEN_STATS_H_
#define FERRY_LOADGEN_STATS_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ferry::loadgen {

// Cumulative counters, summed over every version entry that matches.
struct ModelStats {
  uint64_t inference_count = 0;  // batch elements
  uint64_t execution_count = 0;  // model executions
  uint64_t success_count = 0;
  uint64_t success_ns = 0;
  uint64_t fail_count = 0;
  uint64_t queue_count = 0;
  uint64_t queue_ns = 0;
  uint64_t compute_infer_count = 0;
  uint64_t compute_infer_ns = 0;
};

// Parses a statistics response, keeping the entries named `model` (and `version`, when not
// empty). Missing counters read as 0. InvalidArgument when the body is not the extension's
// shape or has no entry for the model.
absl::StatusOr<ModelStats> ParseModelStats(absl::string_view json, absl::string_view model,
                                           absl::string_view version);

// Per-request averages over a measurement.
struct ServerSplit {
  uint64_t requests = 0;  // successful requests the server counted
  double queue_us = 0;    // mean time queued per request
  double compute_us = 0;  // mean compute_infer time per request
  double avg_batch = 0;   // inference_count delta / execution_count delta; 0 if none
};

// The split between two snapshots; nullopt when no request was counted in between.
std::optional<ServerSplit> ComputeServerSplit(const ModelStats& before, const ModelStats& after);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_STATS_H_
