#include "config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace echod {
namespace {

using json = nlohmann::json;
using Reason = std::optional<std::string>;  // why a value was refused; nullopt = accepted

constexpr std::uint64_t kMaxConnectionsLimit = 10'000'000;
constexpr std::uint64_t kMinPendingBytes = 1024;
constexpr std::uint64_t kMaxPendingBytes = 64ull << 20;
constexpr unsigned kMaxWorkers = 1024;
constexpr Duration kMaxShutdownPhase = std::chrono::hours(1);

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// nlohmann's parse errors quote the bytes last read, which may be any bytes at all (0xFF,
// half a UTF-8 sequence). The reason is served as JSON by PUT /config and logged as JSON,
// so it must be valid UTF-8: keep printable ASCII and write every other byte as \xNN.
std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
    }
  }
  return out;
}

Reason in_range(std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
  if (v < lo || v > hi) {
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
           std::to_string(v);
  }
  return std::nullopt;
}

// One setting's setters. Text comes from env and flags, JSON from the file and PUT /config;
// both end in the same typed setter so validation exists once.
struct Setting {
  SettingInfo info;
  std::function<Reason(Config&, std::string_view)> from_text;
  std::function<Reason(Config&, const json&)> from_json;
  std::function<json(const Config&)> value;  // as the config file writes it
};

// Builders for each kind of value.
Setting uint_setting(SettingInfo info, std::uint64_t lo, std::uint64_t hi,
                     std::function<void(Config&, std::uint64_t)> set,
                     std::function<std::uint64_t(const Config&)> get) {
  auto apply = [lo, hi, set](Config& c, std::uint64_t v) -> Reason {
    if (auto r = in_range(v, lo, hi)) return r;
    set(c, v);
    return std::nullopt;
  };
  return {info,
          [apply](Config& c, std::string_view text) -> Reason {
            auto v = parse_uint(text);
            if (!v) return "expected a non-negative integer, got \"" + std::string(text) + "\"";
            return apply(c, *v);
          },
          [apply](Config& c, const json& j) -> Reason {
            if (!j.is_number_unsigned()) {
              return "expected a non-negative integer, got " + j.dump();
            }
            return apply(c, j.get<std::uint64_t>());
          },
          [get](const Config& c) { return json(get(c)); }};
}

Setting duration_setting(SettingInfo info, Duration max, std::function<void(Config&, Duration)> set,
                         std::function<Duration(const Config&)> get) {
  auto apply = [max, set](Config& c, std::string_view text) -> Reason {
    auto d = parse_duration(text);
    if (!d) {
      return "expected a duration like 250ms, 5s, 2m or 1h, got \"" + std::string(text) + "\"";
    }
    if (*d > max) return "must be at most " + format_duration(max);
    set(c, *d);
    return std::nullopt;
  };
  return {info, apply, [apply](Config& c, const json& j) -> Reason {
            if (!j.is_string()) return "expected a duration string like \"5s\", got " + j.dump();
            return apply(c, j.get<std::string>());
          },
          [get](const Config& c) { return json(format_duration(get(c))); }};
}

// A duration where 0 makes no sense (a header timeout of 0 would close every connection
// before its first byte): the same setting, refusing 0 after a successful parse.
Setting positive_duration_setting(SettingInfo info, Duration max,
                                  std::function<void(Config&, Duration)> set,
                                  std::function<Duration(const Config&)> get) {
  Setting s = duration_setting(info, max, set, get);
  auto refuse_zero = [get](Reason r, const Config& c) -> Reason {
    if (!r && get(c) <= Duration{0}) return "must be more than 0";
    return r;
  };
  s.from_text = [inner = s.from_text, refuse_zero](Config& c, std::string_view t) {
    Config next = c;
    Reason r = refuse_zero(inner(next, t), next);
    if (!r) c = std::move(next);
    return r;
  };
  s.from_json = [inner = s.from_json, refuse_zero](Config& c, const json& j) {
    Config next = c;
    Reason r = refuse_zero(inner(next, j), next);
    if (!r) c = std::move(next);
    return r;
  };
  return s;
}

Setting string_setting(SettingInfo info, std::function<Reason(Config&, std::string_view)> set,
                       std::function<std::string(const Config&)> get) {
  return {info, set,
          [set](Config& c, const json& j) -> Reason {
            if (!j.is_string()) return "expected a string, got " + j.dump();
            return set(c, j.get<std::string>());
          },
          [get](const Config& c) { return json(get(c)); }};
}

// A file path taken as given (read later, by whoever needs the file); "" = none.
Setting path_setting(SettingInfo info, std::string Config::*member) {
  return string_setting(
      info,
      [member](Config& c, std::string_view t) -> Reason {
        c.*member = std::string(t);
        return std::nullopt;
      },
      [member](const Config& c) { return c.*member; });
}

Setting bool_setting(SettingInfo info, std::function<void(Config&, bool)> set,
                     std::function<bool(const Config&)> get) {
  return {info,
          [set](Config& c, std::string_view text) -> Reason {
            if (text == "true" || text == "1") {
              set(c, true);
            } else if (text == "false" || text == "0") {
              set(c, false);
            } else {
              return "expected true or false, got \"" + std::string(text) + "\"";
            }
            return std::nullopt;
          },
          [set](Config& c, const json& j) -> Reason {
            if (!j.is_boolean()) return "expected true or false, got " + j.dump();
            set(c, j.get<bool>());
            return std::nullopt;
          },
          [get](const Config& c) { return json(get(c)); }};
}

Reason set_endpoint(Endpoint& target, std::string_view text) {
  auto ep = parse_endpoint(text);
  if (!ep) return "expected [HOST]:PORT (e.g. :7007, 127.0.0.1:7007, [::1]:7007), got \"" +
                  std::string(text) + "\"";
  target = *ep;
  return std::nullopt;
}

Reason read_token_file(Config& c, std::string_view path) {
  if (path.empty()) {
    c.admin_token_file.clear();
    c.admin_token.clear();
    return std::nullopt;
  }
  std::ifstream in{std::string(path)};
  if (!in) return "cannot read token file \"" + std::string(path) + "\"";
  std::stringstream buf;
  buf << in.rdbuf();
  std::string token = buf.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty()) return "token file \"" + std::string(path) + "\" is empty";
  c.admin_token_file = std::string(path);
  c.admin_token = std::move(token);
  return std::nullopt;
}

// The rule grammar lives in fault_rules.cpp; the error names the field inside the list.
Reason set_faults(Config& c, std::string_view text) {
  FaultRules next;
  if (auto err = parse_fault_rule_list(text, "faults", next)) {
    return (err->setting.empty() ? std::string() : err->setting + ": ") + err->reason;
  }
  c.runtime.faults = std::move(next);
  return std::nullopt;
}

// "10.0.0.0/8,192.0.2.7" (or, in JSON, also an array of such strings); empty = any source.
Reason set_trusted_sources(Config& c, std::string_view text) {
  std::vector<Cidr> list;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto cidr = parse_cidr(item);
    if (!cidr) {
      return "expected CIDRs separated by commas like 10.0.0.0/8,192.0.2.7,::1/128, got \"" +
             printable(item) + "\"";
    }
    list.push_back(*cidr);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return "a trailing comma leaves an empty CIDR";
  }
  c.runtime.proxy_protocol_trusted = std::move(list);
  return std::nullopt;
}

std::string trusted_sources_text(const Config& c) {
  std::string out;
  for (const Cidr& cidr : c.runtime.proxy_protocol_trusted) {
    if (!out.empty()) out += ',';
    out += to_string(cidr);
  }
  return out;
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      string_setting({"listen", "--listen", "ECHOD_LISTEN",
                      "echo port address [HOST]:PORT; no host = all interfaces", false},
                     [](Config& c, std::string_view t) { return set_endpoint(c.listen, t); },
                     [](const Config& c) { return c.listen.to_string(); }),
      string_setting({"admin_listen", "--admin-listen", "ECHOD_ADMIN_LISTEN",
                      "admin HTTP address [HOST]:PORT", false},
                     [](Config& c, std::string_view t) { return set_endpoint(c.admin_listen, t); },
                     [](const Config& c) { return c.admin_listen.to_string(); }),
      bool_setting({"udp", "--udp", "ECHOD_UDP", "also serve UDP echo on the echo port", false},
                   [](Config& c, bool v) { c.udp = v; }, [](const Config& c) { return c.udp; }),
      string_setting({"proxy_protocol", "--proxy-protocol", "ECHOD_PROXY_PROTOCOL",
                      "off|v1|v2|any: expect a PROXY protocol header first on every echo "
                      "connection (no auto-detection: without one it is closed)",
                      false},
                     [](Config& c, std::string_view t) -> Reason {
                       auto m = parse_proxy_protocol_mode(t);
                       if (!m) return "expected off, v1, v2 or any, got \"" + printable(t) + "\"";
                       c.proxy_protocol = *m;
                       return std::nullopt;
                     },
                     [](const Config& c) { return std::string(to_string(c.proxy_protocol)); }),
      Setting{{"proxy_protocol_trusted", "--proxy-protocol-trusted", "ECHOD_PROXY_PROTOCOL_TRUSTED",
               "CIDR[,CIDR...] allowed to send a PROXY header; others are closed; empty = any",
               true},
              set_trusted_sources,
              [](Config& c, const json& j) -> Reason {
                if (j.is_string()) return set_trusted_sources(c, j.get<std::string>());
                if (!j.is_array()) return "expected a string or an array of CIDR strings, got " + j.dump();
                std::string joined;
                for (const json& item : j) {
                  if (!item.is_string() || item.get<std::string>().empty()) {
                    return "expected CIDR strings like \"10.0.0.0/8\", got " + item.dump();
                  }
                  joined += (joined.empty() ? "" : ",") + item.get<std::string>();
                }
                return set_trusted_sources(c, joined);
              },
              [](const Config& c) { return json(trusted_sources_text(c)); }},
      positive_duration_setting({"proxy_protocol_timeout", "--proxy-protocol-timeout",
                        "ECHOD_PROXY_PROTOCOL_TIMEOUT",
                        "the whole PROXY header must arrive within this long", true},
                       kMaxShutdownPhase,
                       [](Config& c, Duration d) { c.runtime.proxy_protocol_timeout = d; },
                       [](const Config& c) { return c.runtime.proxy_protocol_timeout; }),
      uint_setting({"workers", "--workers", "ECHOD_WORKERS",
                    "event-loop threads; 0 = CPUs this process may use", false},
                   0, kMaxWorkers, [](Config& c, std::uint64_t v) { c.workers = static_cast<unsigned>(v); },
                   [](const Config& c) -> std::uint64_t { return c.workers; }),
      uint_setting({"max_connections", "--max-connections", "ECHOD_MAX_CONNECTIONS",
                    "beyond it new connections are closed at once and counted", true},
                   1, kMaxConnectionsLimit,
                   [](Config& c, std::uint64_t v) { c.runtime.max_connections = v; },
                   [](const Config& c) { return c.runtime.max_connections; }),
      duration_setting({"idle_timeout", "--idle-timeout", "ECHOD_IDLE_TIMEOUT",
                        "close a connection silent this long; 0 = never", true},
                       Duration::max(), [](Config& c, Duration d) { c.runtime.idle_timeout = d; },
                       [](const Config& c) { return c.runtime.idle_timeout; }),
      uint_setting({"max_pending_bytes", "--max-pending-bytes", "ECHOD_MAX_PENDING_BYTES",
                    "unsent bytes held per connection before it stops reading", true},
                   kMinPendingBytes, kMaxPendingBytes,
                   [](Config& c, std::uint64_t v) { c.runtime.max_pending_bytes = v; },
                   [](const Config& c) { return c.runtime.max_pending_bytes; }),
      uint_setting({"max_connection_bytes", "--max-connection-bytes", "ECHOD_MAX_CONNECTION_BYTES",
                    "close a connection after echoing this many bytes; 0 = no cap", true},
                   0, std::numeric_limits<std::int64_t>::max(),
                   [](Config& c, std::uint64_t v) { c.runtime.max_connection_bytes = v; },
                   [](const Config& c) { return c.runtime.max_connection_bytes; }),
      duration_setting({"max_connection_lifetime", "--max-connection-lifetime",
                        "ECHOD_MAX_CONNECTION_LIFETIME",
                        "close a connection this long after it opened; 0 = never", true},
                       Duration::max(),
                       [](Config& c, Duration d) { c.runtime.max_connection_lifetime = d; },
                       [](const Config& c) { return c.runtime.max_connection_lifetime; }),
      duration_setting({"shutdown_delay", "--shutdown-delay", "ECHOD_SHUTDOWN_DELAY",
                        "after SIGTERM, keep serving while /readyz says 503", true},
                       kMaxShutdownPhase, [](Config& c, Duration d) { c.runtime.shutdown_delay = d; },
                       [](const Config& c) { return c.runtime.shutdown_delay; }),
      duration_setting({"drain_timeout", "--drain-timeout", "ECHOD_DRAIN_TIMEOUT",
                        "then wait this long for connections to finish", true},
                       kMaxShutdownPhase, [](Config& c, Duration d) { c.runtime.drain_timeout = d; },
                       [](const Config& c) { return c.runtime.drain_timeout; }),
      string_setting({"log_level", "--log-level", "ECHOD_LOG_LEVEL", "debug|info|warn|error", true},
                     [](Config& c, std::string_view t) -> Reason {
                       auto l = parse_log_level(t);
                       if (!l) return "expected debug, info, warn or error, got \"" + std::string(t) + "\"";
                       c.runtime.log_level = *l;
                       return std::nullopt;
                     },
                     [](const Config& c) { return std::string(to_string(c.runtime.log_level)); }),
      string_setting({"log_format", "--log-format", "ECHOD_LOG_FORMAT", "json|text", false},
                     [](Config& c, std::string_view t) -> Reason {
                       if (t == "json") {
                         c.log_format = LogFormat::kJson;
                       } else if (t == "text") {
                         c.log_format = LogFormat::kText;
                       } else {
                         return "expected json or text, got \"" + std::string(t) + "\"";
                       }
                       return std::nullopt;
                     },
                     [](const Config& c) {
                       return std::string(c.log_format == LogFormat::kJson ? "json" : "text");
                     }),
      Setting{{"faults", "--faults", "ECHOD_FAULTS",
               "fault-injection rules, a JSON array (see GET /faults); [] = none", true},
              [](Config& c, std::string_view t) { return set_faults(c, t); },
              [](Config& c, const json& j) { return set_faults(c, j.dump()); },
              [](const Config& c) { return json::parse(fault_rules_to_json(c.runtime.faults)); }},
      string_setting({"tls_listen", "--tls-listen", "ECHOD_TLS_LISTEN",
                      "TLS echo port address [HOST]:PORT; unset = no TLS listener", false},
                     [](Config& c, std::string_view t) -> Reason {
                       if (t.empty()) {
                         c.tls_listen.reset();
                         return std::nullopt;
                       }
                       Endpoint ep;
                       if (auto r = set_endpoint(ep, t)) return r;
                       c.tls_listen = ep;
                       return std::nullopt;
                     },
                     [](const Config& c) {
                       return c.tls_listen ? c.tls_listen->to_string() : std::string();
                     }),
      path_setting({"tls_cert", "--tls-cert", "ECHOD_TLS_CERT",
                    "PEM certificate chain of the TLS listener (re-read on SIGHUP and when it "
                    "changes on disk)",
                    false},
                   &Config::tls_cert_file),
      path_setting({"tls_key", "--tls-key", "ECHOD_TLS_KEY",
                    "PEM private key of the TLS certificate (re-read with it)", false},
                   &Config::tls_key_file),
      path_setting({"tls_client_ca", "--tls-client-ca", "ECHOD_TLS_CLIENT_CA",
                    "require TLS client certificates signed by this PEM CA (mTLS)", false},
                   &Config::tls_client_ca_file),
      string_setting({"tls_min_version", "--tls-min-version", "ECHOD_TLS_MIN_VERSION",
                      "lowest TLS version accepted: 1.2|1.3", false},
                     [](Config& c, std::string_view t) -> Reason {
                       if (t == "1.2") {
                         c.tls_min_version = 12;
                       } else if (t == "1.3") {
                         c.tls_min_version = 13;
                       } else {
                         return "expected 1.2 or 1.3, got \"" + std::string(t) + "\"";
                       }
                       return std::nullopt;
                     },
                     [](const Config& c) {
                       return std::string(c.tls_min_version == 13 ? "1.3" : "1.2");
                     }),
      duration_setting({"tls_handshake_timeout", "--tls-handshake-timeout",
                        "ECHOD_TLS_HANDSHAKE_TIMEOUT",
                        "close a TLS connection whose handshake is not done this long after "
                        "accept; 0 = never",
                        true},
                       kMaxShutdownPhase,
                       [](Config& c, Duration d) { c.runtime.tls_handshake_timeout = d; },
                       [](const Config& c) { return c.runtime.tls_handshake_timeout; }),
      string_setting({"admin_token_file", "--admin-token-file", "ECHOD_ADMIN_TOKEN_FILE",
                      "file holding the bearer token for PUT /config (env ECHOD_ADMIN_TOKEN "
                      "holds the token itself)",
                      false},
                     read_token_file, [](const Config& c) { return c.admin_token_file; }),
  };
  return table;
}

const Setting* find(std::string_view key) {
  for (const auto& s : settings()) {
    if (s.info.key == key) return &s;
  }
  return nullptr;
}

std::vector<SettingInfo> infos() {
  std::vector<SettingInfo> out;
  for (const auto& s : settings()) out.push_back(s.info);
  return out;
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return std::nullopt;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const auto port = parse_uint(text.substr(colon + 1));
  if (!port || *port > 65535) return std::nullopt;
  Endpoint ep;
  ep.port = static_cast<std::uint16_t>(*port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    ep.host = std::string(host.substr(1, host.size() - 2));
    in6_addr a6{};
    if (inet_pton(AF_INET6, ep.host.c_str(), &a6) != 1) return std::nullopt;
    return ep;
  }
  if (host.find_first_of("[]: \t") != std::string_view::npos) return std::nullopt;
  ep.host = std::string(host);
  // Literal IPv4 or a name ("localhost"); a name is resolved when binding.
  for (char ch : ep.host) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-')) {
      return std::nullopt;
    }
  }
  return ep;
}

std::string ConfigError::message() const {
  std::string m = source;
  if (!setting.empty()) m += ": setting " + setting;
  m += ": " + reason;
  return m;
}

const SettingInfo* find_setting(std::string_view key) {
  const Setting* s = find(key);
  return s ? &s->info : nullptr;
}

const std::vector<SettingInfo>& all_settings() {
  static const std::vector<SettingInfo> list = infos();
  return list;
}

std::optional<ConfigError> apply_text(Config& config, const SettingInfo& setting,
                                      std::string_view value, const std::string& source) {
  const Setting* s = find(setting.key);
  if (!s) return ConfigError{source, std::string(setting.key), "unknown setting"};
  if (auto reason = s->from_text(config, value)) {
    return ConfigError{source, std::string(setting.key), *reason};
  }
  return std::nullopt;
}

std::optional<ConfigError> apply_json(Config& config, std::string_view json_text, JsonScope scope,
                                      const std::string& source) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    // parse_error, and also out_of_range for numbers no double holds ("1e400"): uncaught,
    // that one aborted echod at start and on SIGHUP.
    return ConfigError{source, "", "malformed JSON: " + printable(e.what())};
  }
  if (!doc.is_object()) return ConfigError{source, "", "expected a JSON object"};
  Config next = config;
  for (const auto& [key, value] : doc.items()) {
    const Setting* s = find(key);
    if (!s) return ConfigError{source, key, "unknown setting"};
    if (scope == JsonScope::kRuntime && !s->info.runtime_changeable) {
      return ConfigError{source, key, "not changeable at runtime (restart echod to change it)"};
    }
    if (auto reason = s->from_json(next, value)) return ConfigError{source, key, *reason};
  }
  if (auto err = validate(next)) {
    err->source = source;
    return err;
  }
  config = std::move(next);
  return std::nullopt;
}

std::optional<ConfigError> validate(const Config& config) {
  if (!config.tls_listen) return std::nullopt;
  const auto readable = [](std::string_view key, const std::string& path) -> std::optional<ConfigError> {
    if (::access(path.c_str(), R_OK) == 0) return std::nullopt;
    return ConfigError{"config", std::string(key),
                       "cannot read " + path + ": " + std::strerror(errno)};
  };
  if (config.tls_cert_file.empty()) {
    return ConfigError{"config", "tls_cert", "needed with tls_listen (PEM certificate chain)"};
  }
  if (config.tls_key_file.empty()) {
    return ConfigError{"config", "tls_key", "needed with tls_listen (PEM private key)"};
  }
  if (auto e = readable("tls_cert", config.tls_cert_file)) return e;
  if (auto e = readable("tls_key", config.tls_key_file)) return e;
  if (!config.tls_client_ca_file.empty()) {
    if (auto e = readable("tls_client_ca", config.tls_client_ca_file)) return e;
  }
  return std::nullopt;
}

std::string to_json(const Config& config, bool pretty) {
  json j = json::object();
  for (const auto& s : settings()) {
    json v = s.value(config);
    if (v.is_string() && v.get<std::string>().empty()) continue;  // unset file path
    j[std::string(s.info.key)] = std::move(v);
  }
  return pretty ? j.dump(2) : j.dump();
}

std::string setting_value_text(const Config& config, std::string_view key) {
  const Setting* s = find(key);
  if (s == nullptr) return "none";
  const json v = s->value(config);
  if (v.is_string()) return v.get<std::string>().empty() ? "none" : v.get<std::string>();
  return v.dump();
}

std::string describe_changes(const RuntimeSettings& before, const RuntimeSettings& after) {
  Config a;
  a.runtime = before;
  Config b;
  b.runtime = after;
  std::string out;
  for (const auto& s : settings()) {
    if (!s.info.runtime_changeable) continue;
    const json va = s.value(a);
    const json vb = s.value(b);
    if (va == vb) continue;
    if (!out.empty()) out += ", ";
    const auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    out += std::string(s.info.key) + " " + text(va) + " -> " + text(vb);
  }
  return out;
}

}  // namespace echod
