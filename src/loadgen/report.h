// Turns measurements into what people and scripts read: a table, JSON, CSV, and a gnuplot
// PNG of p99 latency against throughput.
#ifndef FERRY_LOADGEN_REPORT_H_
#define FERRY_LOADGEN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "loadgen/runner.h"

namespace ferry::loadgen {

// The run's configuration, printed above the table and stored with the JSON.
struct ReportContext {
  std::string url;
  std::string model;
  std::string version;
  std::string protocol;
  std::string inputs;  // "random" or the --data file
  int batch = 1;
  int threads = 1;
  double warmup_seconds = 0;
  double duration_seconds = 0;
  uint64_t requests = 0;
  size_t pool_size = 0;
  uint64_t request_bytes = 0;
};

// A fixed-width table, one row per measurement, then the errors and warnings under it.
std::string FormatTable(const ReportContext& context, const std::vector<Measurement>& runs);
// {"config": {...}, "measurements": [{...}, ...]}.
std::string FormatJson(const ReportContext& context, const std::vector<Measurement>& runs);
// A header line, then one row per measurement.
std::string FormatCsv(const std::vector<Measurement>& runs);

// Warnings a reader must see next to the numbers (e.g. the client fell behind schedule).
std::vector<std::string> Warnings(const Measurement& run);

// Writes `path` with gnuplot (run as a child process). FailedPrecondition with an install hint
// when gnuplot is not on PATH; Internal when it fails.
absl::Status WritePlot(const ReportContext& context, const std::vector<Measurement>& runs,
                       const std::string& path);

}  // namespace ferry::loadgen

#endif  // FERRY_LOADGEN_REPORT_H_
