// ferry: the model server's command line.
#include <functional>

#include "CLI/CLI.hpp"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Ferry serves TorchScript models over the Open Inference Protocol (KServe V2), with\n"
      "dynamic batching and Prometheus metrics.",
      "ferry"};
  app.require_subcommand(1);
  std::function<int()> run;
  ferry::AddServeCommand(app, run);
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 1;
}
