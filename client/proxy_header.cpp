#include "proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "usage_error.h"

namespace echo_probe {
namespace {

constexpr char kV2Signature[] = "\r\n\r\n\0\r\nQUIT\n";  // 12 bytes (plus the literal's NUL)
constexpr std::size_t kV2SignatureSize = 12;

void append_u16(std::string& out, std::uint16_t host_order) {
  out += static_cast<char>(host_order >> 8);
  out += static_cast<char>(host_order & 0xff);
}

}  // namespace

const char* proxy_version_name(ProxyVersion v) {
  switch (v) {
    case ProxyVersion::kV1:
      return "v1";
    case ProxyVersion::kV2:
      return "v2";
    case ProxyVersion::kOff:
      break;
  }
  return "off";
}

ProxyVersion parse_proxy_version(const std::string& setting, const std::string& text) {
  if (text == "v1") return ProxyVersion::kV1;
  if (text == "v2") return ProxyVersion::kV2;
  throw UsageError(setting, "'" + text + "' is not v1 or v2");
}

std::string proxy_header(ProxyVersion v, const sockaddr_storage& source,
                         const sockaddr_storage& destination) {
  const int family = source.ss_family;
  if (v == ProxyVersion::kOff || family != destination.ss_family ||
      (family != AF_INET && family != AF_INET6)) {
    return {};
  }
  const bool v6 = family == AF_INET6;
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&source);
  const auto* d4 = reinterpret_cast<const sockaddr_in*>(&destination);
  const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&source);
  const auto* d6 = reinterpret_cast<const sockaddr_in6*>(&destination);
  const void* src_addr = v6 ? static_cast<const void*>(&s6->sin6_addr) : &s4->sin_addr;
  const void* dst_addr = v6 ? static_cast<const void*>(&d6->sin6_addr) : &d4->sin_addr;
  const std::uint16_t sport = ntohs(v6 ? s6->sin6_port : s4->sin_port);
  const std::uint16_t dport = ntohs(v6 ? d6->sin6_port : d4->sin_port);

  if (v == ProxyVersion::kV1) {
    char src[INET6_ADDRSTRLEN] = {};
    char dst[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, src_addr, src, sizeof src);
    inet_ntop(family, dst_addr, dst, sizeof dst);
    return std::string("PROXY ") + (v6 ? "TCP6 " : "TCP4 ") + src + " " + dst + " " +
           std::to_string(sport) + " " + std::to_string(dport) + "\r\n";
  }
  const std::size_t addr_size = v6 ? 16 : 4;
  std::string out(kV2Signature, kV2SignatureSize);
  out += static_cast<char>(0x21);              // version 2, command PROXY
  out += static_cast<char>(v6 ? 0x21 : 0x11);  // AF_INET6 / AF_INET, STREAM
  append_u16(out, static_cast<std::uint16_t>(2 * addr_size + 4));
  out.append(static_cast<const char*>(src_addr), addr_size);
  out.append(static_cast<const char*>(dst_addr), addr_size);
  append_u16(out, sport);
  append_u16(out, dport);
  return out;
}

std::optional<std::string> proxy_header_for_socket(ProxyVersion v, int fd) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return std::nullopt;
  len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return std::nullopt;
  return proxy_header(v, local, peer);
}

}  // namespace echo_probe
