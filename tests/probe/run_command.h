#pragma once
// Runs a command to completion with its stdout and stderr captured (no echod needed).
#include <chrono>
#include <string>
#include <vector>

namespace echo_probe::test {

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
  double seconds = 0;  // wall time
};

/// Runs `binary args...`; SIGKILLs it after `timeout` (then exit_code is 128+9).
CommandResult run_command(const std::string& binary, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Runs the echo-probe under test (ECHO_PROBE_BINARY).
inline CommandResult run_probe(const std::vector<std::string>& args,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return run_command(ECHO_PROBE_BINARY, args, timeout);
}

/// "127.0.0.1:PORT".
std::string loopback(unsigned port);

}  // namespace echo_probe::test
