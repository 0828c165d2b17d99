// ferry-bench: `ferry bench` as its own small binary, without libtorch or the server, for
// running the load from another machine. Same flags as `ferry bench`.
#include <signal.h>

#include <functional>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"

namespace ferry {
// Defined in src/cli/bench.cc (declared for the `ferry` binary in src/cli/commands.h).
void AddBenchCommand(CLI::App& app, std::function<int()>& run);
}  // namespace ferry

int main(int argc, char** argv) {
  CLI::App app{"ferry-bench: load generator for Open Inference Protocol (KServe V2) servers",
               "ferry-bench"};
  app.require_subcommand(1);
  std::function<int()> run;
  ferry::AddBenchCommand(app, run);
  CLI11_PARSE(app, argc, argv);
  // A server that closes a connection mid-write must give an error, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil is built with deadlock detection on: every absl::Mutex lock (the
  // runner's on each completion, and gRPC's inside every call) would walk a lock graph,
  // showing up as a few percent of the client's CPU in a profile. A load generator does
  // not need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return run ? run() : 1;
}
