// ferry: the model server's command line.
#include <functional>

#include "CLI/CLI.hpp"
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
  return run ? run() : 1;
}
