#pragma once
// `--proxy-protocol`: which PROXY header versions the echo listeners expect. A config value,
// so it lives here; the header parser (echo/proxy_protocol.h) takes it as its mode.
#include <optional>
#include <string_view>

namespace echod {

/// No auto-detection: with any of v1, v2, any on, a connection that does not start with a
/// valid header of an accepted version is closed.
enum class ProxyProtocolMode { kOff, kV1, kV2, kAny };

constexpr std::string_view to_string(ProxyProtocolMode m) {
  switch (m) {
    case ProxyProtocolMode::kOff: return "off";
    case ProxyProtocolMode::kV1: return "v1";
    case ProxyProtocolMode::kV2: return "v2";
    case ProxyProtocolMode::kAny: return "any";
  }
  return "off";
}

constexpr std::optional<ProxyProtocolMode> parse_proxy_protocol_mode(std::string_view text) {
  for (auto m : {ProxyProtocolMode::kOff, ProxyProtocolMode::kV1, ProxyProtocolMode::kV2,
                 ProxyProtocolMode::kAny}) {
    if (text == to_string(m)) return m;
  }
  return std::nullopt;
}

}  // namespace echod
