#pragma once
// echod's settings: the struct, how each source spells a setting, validation, JSON in and out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duration.h"
#include "fault_rules.h"
#include "proxy_protocol_mode.h"

namespace echod {

enum class LogLevel { kDebug, kInfo, kWarn, kError };
enum class LogFormat { kJson, kText };

std::string_view to_string(LogLevel level);
std::optional<LogLevel> parse_log_level(std::string_view text);

/// "[HOST]:PORT". An empty host means every interface (dual-stack where the kernel has it).
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
  std::string to_string() const;  // ":7007", "127.0.0.1:80", "[::1]:80"
};

/// Accepts ":PORT", "HOST:PORT", "[V6]:PORT"; the port may be 0 (ephemeral).
std::optional<Endpoint> parse_endpoint(std::string_view text);

/// The settings that may change while echod runs (SIGHUP, PUT /config). Workers copy this
/// struct when ConfigStore's version moves, so it must stay a plain value type.
struct RuntimeSettings {
  std::uint64_t max_connections = 10000;
  Duration idle_timeout = std::chrono::seconds(300);
  std::uint64_t max_pending_bytes = 65536;
  std::uint64_t max_connection_bytes = 0;       // 0 = no cap
  Duration max_connection_lifetime = Duration{0};  // 0 = never
  Duration shutdown_delay = Duration{0};
  Duration drain_timeout = std::chrono::seconds(20);
  LogLevel log_level = LogLevel::kInfo;
  FaultRules faults;  // fault injection; empty = none (the echo path pays nothing)
  // PROXY protocol (only read when Config::proxy_protocol is on): who may send a header
  // (empty = any source) and how long the whole header may take to arrive.
  std::vector<Cidr> proxy_protocol_trusted;
  Duration proxy_protocol_timeout = std::chrono::seconds(3);
  Duration tls_handshake_timeout = std::chrono::seconds(10);  // 0 = never
  bool operator==(const RuntimeSettings&) const = default;
};

/// Every setting, as the defaults < file < env < flags merge leaves it.
struct Config {
  std::string config_file;  // empty: none
  Endpoint listen{"", 7007};
  Endpoint admin_listen{"", 8080};
  bool udp = false;
  ProxyProtocolMode proxy_protocol = ProxyProtocolMode::kOff;
  unsigned workers = 0;  // 0 = CPUs this process may use
  LogFormat log_format = LogFormat::kJson;
  std::string admin_token_file;
  std::string admin_token;  // secret: never logged, never served, never in to_json()
  std::optional<Endpoint> tls_listen;  // none: no TLS listener
  std::string tls_cert_file;           // PEM chain, leaf first (reloaded on SIGHUP / change)
  std::string tls_key_file;
  std::string tls_client_ca_file;      // empty: no client certificates (no mTLS)
  int tls_min_version = 12;            // 12 = TLS 1.2, 13 = TLS 1.3
  RuntimeSettings runtime;
  bool operator==(const Config&) const = default;
};

/// Where a value came from; errors name it so an operator knows which source to fix.
enum class Source { kFile, kEnv, kFlag, kApi };

/// One line an operator can act on: the source, the setting, and why.
struct ConfigError {
  std::string source;   // "config file /etc/echod.json", "env ECHOD_WORKERS", "flag --workers", "PUT /config"
  std::string setting;  // file key, e.g. "max_connections"; empty when not about one setting
  std::string reason;
  std::string message() const;
};

/// Static facts about one setting; the table in config.cpp is the single list of settings.
struct SettingInfo {
  std::string_view key;   // file key / JSON key: "max_connections"
  std::string_view flag;  // "--max-connections"
  std::string_view env;   // "ECHOD_MAX_CONNECTIONS"
  std::string_view help;
  bool runtime_changeable;
};
const SettingInfo* find_setting(std::string_view key);
/// The value of setting `key` in `config` as text ("10000", "300s", ":7007").
std::string setting_value_text(const Config& config, std::string_view key);
/// Every setting but --config, in the order --help lists them.
const std::vector<SettingInfo>& all_settings();

/// Sets one setting from its textual form (env var or flag value). Validates the value.
std::optional<ConfigError> apply_text(Config& config, const SettingInfo& setting,
                                      std::string_view value, const std::string& source);

/// Which keys a JSON object may carry.
enum class JsonScope {
  kFile,     // every file key
  kRuntime,  // only runtime-changeable keys (PUT /config)
};

/// Applies a JSON object to `config`. All or nothing: on error `config` is untouched.
/// `source` names where the text came from in the error.
std::optional<ConfigError> apply_json(Config& config, std::string_view json_text,
                                      JsonScope scope, const std::string& source);

/// Cross-setting checks that no single value can make: a TLS listener needs a certificate
/// and a key, and the TLS files must be readable (TlsContext::load checks the rest).
std::optional<ConfigError> validate(const Config& config);

/// The effective config as a JSON object with file keys, which can be loaded back as a
/// config file. Never contains the admin token.
std::string to_json(const Config& config, bool pretty = true);

/// Names of runtime settings whose values differ, with old -> new, for change logs.
std::string describe_changes(const RuntimeSettings& before, const RuntimeSettings& after);

}  // namespace echod
