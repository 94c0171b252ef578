#pragma once
#include <string>
#include <vector>

#include "config.h"
#include "config_loader.h"

namespace echod {

/// Runs echod until a signal ends it: binds both ports, serves, reloads the config file on
/// SIGHUP, and on SIGTERM/SIGINT runs the graceful shutdown of SPEC ("Signals and shutdown").
/// `args` and `env` are kept to re-merge the sources on SIGHUP. Returns the exit code.
int run_daemon(const Config& config, const std::vector<std::string>& args,
               const Environment& env);

}  // namespace echod
