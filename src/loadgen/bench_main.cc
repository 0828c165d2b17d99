// ferry-bench: `ferry bench` as its own small binary, without libtorch or the server, for
// running the load from another machine. Same flags as `ferry bench`.
#include <functional>

#include "CLI/CLI.hpp"

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
  return run ? run() : 1;
}
