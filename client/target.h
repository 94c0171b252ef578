#pragma once
// Where to probe: HOST:PORT / [V6]:PORT / http://HOST:PORT parsing and name resolution.
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace echo_probe {

/// A target as the user named it: host (name or address, no brackets) and port.
struct HostPort {
  std::string host;  // without brackets
  std::uint16_t port = 0;
};

/// "HOST:PORT" or "[V6]:PORT" (port 1-65535), or nullopt.
std::optional<HostPort> parse_host_port(const std::string& text);
/// "http://HOST[:PORT][/]" (port defaults to 80), or nullopt.
std::optional<HostPort> parse_http_url(const std::string& text);

/// One resolved socket address.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // "127.0.0.1:7007" or "[::1]:7007"

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

/// Every distinct address `target` resolves to (getaddrinfo order; numeric hosts are not
/// looked up). Empty with `error` set when the name does not resolve.
std::vector<Address> resolve(const HostPort& target, int socktype, std::string* error);

}  // namespace echo_probe
