// echod: config -> logger -> servers -> wait for signals. See daemon.cpp for the lifecycle.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config_loader.h"
#include "daemon.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const echod::Environment env = echod::process_environment();
  echod::LoadResult loaded = echod::load_config(args, env);
  if (loaded.error) {
    std::fprintf(stderr, "echod: %s\n", loaded.error->message().c_str());
    return 2;
  }
  switch (loaded.action) {
    case echod::LoadResult::Action::kPrintAndExit:
      std::fputs(loaded.output.c_str(), stdout);
      return 0;
    case echod::LoadResult::Action::kCheckConfig:
      std::printf("%s\n", echod::to_json(loaded.config).c_str());
      return 0;
    case echod::LoadResult::Action::kRun:
      break;
  }
  return echod::run_daemon(loaded.config, args, env);
}
