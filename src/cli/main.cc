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
  ferry::AddRegistryCommands(app, run);
  CLI11_PARSE(app, argc, argv);
  // A peer that closes a connection mid-write must give an error, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil is built with deadlock detection on: every absl::Mutex lock (the
  // batchers', the model snapshot's, gRPC's inside every call) walks a lock graph. In the
  // server that is about 0.5 % of its CPU at 32 requests in flight (perf, fashion_mlp over
  // HTTP), and in a load generator a few percent of the client's; a detected cycle would
  // abort the process. Lock discipline is checked before the binary exists instead:
  // clang's -Wthread-safety over every library (ctest thread_safety), and the unit tests,
  // whose own main keeps Abseil's default, so a lock-order cycle there still aborts.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return run ? run() : 1;
}
