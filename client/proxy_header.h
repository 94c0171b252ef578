#pragma once
// The PROXY protocol header a client sends first (HAProxy doc/proxy-protocol.txt), built
// from a connected socket's own and peer addresses. Pure: no I/O.
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace echo_probe {

enum class ProxyVersion : std::uint8_t { kOff, kV1, kV2 };

/// "off", "v1", "v2".
const char* proxy_version_name(ProxyVersion v);

/// "v1" / "v2" for `setting` (the flag's name), else a UsageError naming it.
ProxyVersion parse_proxy_version(const std::string& setting, const std::string& text);

/// The header for a TCP connection from `source` (the socket's local address) to
/// `destination` (its peer), both AF_INET or both AF_INET6. v1: "PROXY TCP4 SRC DST SPORT
/// DPORT\r\n" (TCP6 for IPv6); v2: the 12-byte signature, 0x21 (version 2, PROXY), 0x11 or
/// 0x21 (TCP over IPv4 / IPv6), the address length, then addresses and ports in network
/// order. Empty for kOff or addresses of another family.
std::string proxy_header(ProxyVersion v, const sockaddr_storage& source,
                         const sockaddr_storage& destination);

/// proxy_header() for connected socket `fd` (getsockname / getpeername); nullopt with
/// errno set when either call fails.
std::optional<std::string> proxy_header_for_socket(ProxyVersion v, int fd);

}  // namespace echo_probe
