// The `ferry` subcommands. Each registers its flags on the app and returns the exit code
// when run.
#ifndef FERRY_CLI_COMMANDS_H_
#define FERRY_CLI_COMMANDS_H_

#include <functional>

#include "CLI/CLI.hpp"

namespace ferry {

// Adds `ferry serve` to `app`; `run` is set to the function that serves when chosen.
void AddServeCommand(CLI::App& app, std::function<int()>& run);

// Adds `ferry bench` (the load generator in src/loadgen/) to `app`; `run` is set to the
// function that runs the benchmark when chosen.
void AddBenchCommand(CLI::App& app, std::function<int()>& run);

// Adds `ferry calibrate` (temperature scaling and conformal thresholds for one model
// version, written to its calibration.json; src/uncertainty/) to `app`.
void AddCalibrateCommand(CLI::App& app, std::function<int()>& run);

// Adds `ferry evaluate` (probability quality, set coverage and uncertain answers of a
// calibrated model version on a labeled set; src/uncertainty/evaluation.h) to `app`.
void AddEvaluateCommand(CLI::App& app, std::function<int()>& run);

// Adds `ferry models list|show|register|alias|lineage` and `ferry audit list|verify`, which
// call a running server's /api/v1 (cli/registry_commands.cc).
void AddRegistryCommands(CLI::App& app, std::function<int()>& run);

}  // namespace ferry

#endif  // FERRY_CLI_COMMANDS_H_
