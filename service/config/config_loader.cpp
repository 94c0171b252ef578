#include "config_loader.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "version.h"

extern char** environ;

namespace echod {
namespace {

constexpr const char* kConfigEnv = "ECHOD_CONFIG";
constexpr const char* kTokenEnv = "ECHOD_ADMIN_TOKEN";

std::optional<ConfigError> apply_file(Config& config, const std::string& path) {
  const std::string source = "config file " + path;
  std::ifstream in(path);
  if (!in) return ConfigError{source, "", std::string("cannot read: ") + std::strerror(errno)};
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return ConfigError{source, "", "read error"};
  config.config_file = path;
  return apply_json(config, text.str(), JsonScope::kFile, source);
}

std::string describe(const SettingInfo& s, const Config& defaults) {
  return std::string(s.help) + " [env " + std::string(s.env) + ", default " +
         setting_value_text(defaults, s.key) + (s.runtime_changeable ? ", runtime" : "") + "]";
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("ECHOD_", 0) != 0) continue;
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

LoadResult load_config(const std::vector<std::string>& args, const Environment& env) {
  LoadResult result;
  const Config defaults;

  CLI::App app{"echod: a fast RFC 862 TCP echo microservice with an HTTP admin port.\n"
               "Sources, later wins: default < --config file < ECHOD_* env < flags.",
               "echod"};
  std::string config_path;
  bool check_config = false;
  bool version = false;
  bool udp = false;
  app.add_option("--config", config_path, "JSON config file with the keys below [env ECHOD_CONFIG]");
  std::vector<std::pair<const SettingInfo*, CLI::Option*>> options;
  std::map<std::string, std::string> values;
  for (const SettingInfo& s : all_settings()) {
    CLI::Option* opt = s.key == "udp"
                           ? app.add_flag(std::string(s.flag), udp, describe(s, defaults))
                           : app.add_option(std::string(s.flag), values[std::string(s.key)],
                                            describe(s, defaults));
    options.emplace_back(&s, opt);
  }
  app.add_flag("--check-config", check_config,
               "validate every source, print the effective config as JSON, exit 0 (or 2)");
  app.add_flag("--version", version, "print the version and exit");

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    result.action = LoadResult::Action::kPrintAndExit;
    result.output = app.help();
    return result;
  } catch (const CLI::ParseError& e) {
    result.error = ConfigError{"command line", "", e.what()};
    return result;
  }
  if (version) {
    result.action = LoadResult::Action::kPrintAndExit;
    result.output = std::string("echod ") + kVersion + " (revision " + kRevision + ")\n";
    return result;
  }

  Config config;
  if (config_path.empty()) {
    if (auto it = env.find(kConfigEnv); it != env.end()) config_path = it->second;
  }
  if (!config_path.empty()) {
    if (auto err = apply_file(config, config_path)) {
      result.error = err;
      return result;
    }
  }
  // Unknown ECHOD_* variables are ignored on purpose: Kubernetes injects ECHOD_PORT,
  // ECHOD_SERVICE_HOST... into pods of a namespace with a Service named echod.
  for (const SettingInfo& s : all_settings()) {
    if (auto it = env.find(std::string(s.env)); it != env.end()) {
      if (auto err = apply_text(config, s, it->second, "env " + std::string(s.env))) {
        result.error = err;
        return result;
      }
    }
  }
  if (auto it = env.find(kTokenEnv); it != env.end()) {
    if (it->second.empty()) {
      result.error = ConfigError{std::string("env ") + kTokenEnv, "admin_token", "is empty"};
      return result;
    }
    config.admin_token = it->second;
    config.admin_token_file.clear();
  }
  for (const auto& [setting, opt] : options) {
    if (opt->count() == 0) continue;
    const std::string source = "flag " + std::string(setting->flag);
    const std::string value = setting->key == "udp" ? (udp ? "true" : "false")
                                                    : values[std::string(setting->key)];
    if (auto err = apply_text(config, *setting, value, source)) {
      result.error = err;
      return result;
    }
  }
  if (auto err = validate(config)) {
    result.error = err;
    return result;
  }
  result.config = std::move(config);
  result.action = check_config ? LoadResult::Action::kCheckConfig : LoadResult::Action::kRun;
  return result;
}

ReloadResult reload_config(const std::vector<std::string>& args, const Environment& env) {
  LoadResult loaded = load_config(args, env);
  return {std::move(loaded.config), std::move(loaded.error)};
}

}  // namespace echod
