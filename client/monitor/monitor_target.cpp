#include "monitor_target.h"

namespace echo_probe::monitor {

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kTcp:
      return "tcp";
    case Transport::kUdp:
      return "udp";
    case Transport::kTls:
      return "tls";
  }
  return "tcp";
}

std::optional<MonitorTarget> parse_monitor_target(const std::string& text, std::string* why) {
  const auto sep = text.find("://");
  if (sep == std::string::npos) {
    *why = "'" + text + "' is not SCHEME://HOST:PORT (tcp, udp or tls)";
    return std::nullopt;
  }
  const std::string scheme = text.substr(0, sep);
  MonitorTarget t;
  t.text = text;
  if (scheme == "tcp") {
    t.transport = Transport::kTcp;
  } else if (scheme == "udp") {
    t.transport = Transport::kUdp;
  } else if (scheme == "tls") {
    t.transport = Transport::kTls;
  } else {
    *why = "'" + text + "': unknown scheme '" + scheme + "' (tcp, udp or tls)";
    return std::nullopt;
  }
  const auto endpoint = parse_host_port(text.substr(sep + 3));
  if (!endpoint) {
    *why = "'" + text + "': expected " + scheme + "://HOST:PORT or " + scheme + "://[IPV6]:PORT";
    return std::nullopt;
  }
  t.endpoint = *endpoint;
  return t;
}

}  // namespace echo_probe::monitor
