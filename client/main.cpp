// echo-probe: verify and load an echo service, check its admin port (SPEC "echo-probe").
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "options.h"
#include "probe.h"
#include "run_monitor.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "monitor") {
    return echo_probe::monitor::run_monitor(std::vector<std::string>(argv + 2, argv + argc));
  }
  const auto parsed = echo_probe::parse_options(argc, argv);
  if (!parsed.options) {
    std::fputs((parsed.text + "\n").c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  return echo_probe::run_probe(*parsed.options);
}
