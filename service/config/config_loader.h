#pragma once
// Merges the four sources: built-in default < JSON config file < ECHOD_* env < flags.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config.h"

namespace echod {

using Environment = std::map<std::string, std::string>;

/// The environment of this process (only ECHOD_* variables are kept).
Environment process_environment();

struct LoadResult {
  enum class Action {
    kRun,          // start the daemon with `config`
    kCheckConfig,  // print `config` as JSON and exit 0
    kPrintAndExit  // --help / --version: print `output` and exit 0
  };
  Action action = Action::kRun;
  Config config;
  std::string output;                // for kPrintAndExit
  std::optional<ConfigError> error;  // set: print error->message() on stderr, exit 2
};

/// Parses argv and env, reads the config file if one is named, validates everything.
LoadResult load_config(const std::vector<std::string>& args, const Environment& env);

/// SIGHUP: re-reads `running.config_file` and re-applies env and flags over it exactly as at
/// start. Returns the new config or the error; never a half-applied config.
struct ReloadResult {
  Config config;
  std::optional<ConfigError> error;
};
ReloadResult reload_config(const std::vector<std::string>& args, const Environment& env);

}  // namespace echod
