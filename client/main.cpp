// echo-probe: verify and load an echo service, check its admin port (SPEC "echo-probe").
#include <cstdio>

#include "options.h"
#include "probe.h"

int main(int argc, char** argv) {
  const auto parsed = echo_probe::parse_options(argc, argv);
  if (!parsed.options) {
    std::fputs((parsed.text + "\n").c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  return echo_probe::run_probe(*parsed.options);
}
