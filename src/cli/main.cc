// ferry: the model server's command line.
#include <signal.h>

#include <functional>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Ferry serves TorchScript models over the Open Inference Protocol (KServe V2, HTTP and\n"
      "gRPC), with dynamic batching and Prometheus metrics. `ferry bench` measures a server.",
      "ferry"};
  app.require_subcommand(1);
  std::function<int()> run;
  ferry::AddServeCommand(app, run);
  ferry::AddBenchCommand(app, run);
  ferry::AddCalibrateCommand(app, run);
  ferry::AddEvaluateCommand(app, run);
  CLI11_PARSE(app, argc, argv);
  // A peer that closes a connection mid-write must give an error, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  if (app.got_subcommand("bench")) {
    // Debian's Abseil is built with deadlock detection on: every absl::Mutex lock (the
    // runner's on each completion, and gRPC's inside every call) would walk a lock graph,
    // showing up as a few percent of the client's CPU in a profile. A load generator does
    // not need it; the server's commands keep Abseil's default.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return run ? run() : 1;
}
