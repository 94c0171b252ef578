#pragma once
// A monitor target as the user wrote it: scheme://HOST:PORT, parsed.
#include <optional>
#include <string>

#include "target.h"

namespace echo_probe::monitor {

/// How a target is reached: tls:// is TCP with TLS on top (the same probers).
enum class Transport { kTcp, kUdp, kTls };

const char* transport_name(Transport t);

/// One TARGET: the text as given (the `target` label value), its transport and endpoint.
struct MonitorTarget {
  std::string text;
  Transport transport = Transport::kTcp;
  HostPort endpoint;
};

/// "tcp://HOST:PORT", "udp://HOST:PORT", "tls://HOST:PORT" ([V6] hosts in brackets), or
/// nullopt with `why` set to a one-line reason (unknown scheme, bad HOST:PORT).
std::optional<MonitorTarget> parse_monitor_target(const std::string& text, std::string* why);

}  // namespace echo_probe::monitor
