#pragma once
// `echo-probe monitor`: from the command line to the exit code.
#include <string>
#include <vector>

namespace echo_probe::monitor {

/// Parses `args` (the words after "monitor"), runs the monitor until --duration or
/// SIGTERM/SIGINT, writes --report, and returns the exit code: 0, 1 (a non-graceful break
/// with --fail-on-disruption, or a start-up failure such as a port in use), 2 (bad input).
int run_monitor(const std::vector<std::string>& args);

}  // namespace echo_probe::monitor
