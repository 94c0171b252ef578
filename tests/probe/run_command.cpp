#include "run_command.h"

#include "echod_process.h"

namespace echo_probe::test {

CommandResult run_command(const std::string& binary, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const echod::test::RunResult run = echod::test::run_to_exit(binary, args, {}, timeout);
  CommandResult result;
  result.exit_code = run.exit_code;
  result.out = run.out;
  result.err = run.err;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string loopback(unsigned port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace echo_probe::test
