#include "proxy_protocol.h"

#include <arpa/inet.h>

#include <cstring>

namespace echod {
namespace {

using Status = ProxyHeader::Status;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV2FixedBytes = 16;

ProxyHeader invalid(std::string why) {
  ProxyHeader h;
  h.status = Status::kInvalid;
  h.error = std::move(why);
  return h;
}

ProxyHeader incomplete(std::size_t needed) {
  ProxyHeader h;
  h.status = Status::kIncomplete;
  h.needed = needed;
  return h;
}

/// `got` is a prefix of `want` (or the other way round): nothing contradicts it yet.
bool agrees(std::string_view got, std::string_view want) {
  const std::size_t n = std::min(got.size(), want.size());
  return got.substr(0, n) == want.substr(0, n);
}

bool parse_port(std::string_view text, std::uint16_t* out) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535 || (text.size() > 1 && text[0] == '0')) return false;
  *out = static_cast<std::uint16_t>(value);
  return true;
}

/// Splits "a b c" on single spaces; false on empty fields or too many.
bool split_fields(std::string_view line, std::string_view* fields, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t space = line.find(' ');
    if (i + 1 < count) {
      if (space == std::string_view::npos || space == 0) return false;
      fields[i] = line.substr(0, space);
      line.remove_prefix(space + 1);
    } else {
      if (space != std::string_view::npos || line.empty()) return false;
      fields[i] = line;
    }
  }
  return true;
}

ProxyHeader parse_v1(std::string_view bytes) {
  if (!agrees(bytes, kV1Prefix)) return invalid("not a PROXY protocol v1 header");
  const std::size_t window = std::min(bytes.size(), kProxyV1MaxBytes);
  const std::size_t cr = bytes.substr(0, window).find("\r\n");
  if (cr == std::string_view::npos) {
    // A lone '\n', or 107 bytes without the end of the line, can never become valid
    // (except in an UNKNOWN line, whose rest up to CRLF is ignored whatever it holds).
    const bool maybe_unknown = bytes.size() <= kV1Prefix.size() ||
                               agrees(bytes.substr(kV1Prefix.size()), "UNKNOWN");
    if (!maybe_unknown && bytes.substr(0, window).find('\n') != std::string_view::npos) {
      return invalid("PROXY v1 line not ended by CRLF");
    }
    if (bytes.size() >= kProxyV1MaxBytes) return invalid("PROXY v1 line longer than 107 bytes");
    return incomplete(bytes.size() + 1);
  }
  ProxyHeader h;
  h.version = 1;
  h.length = cr + 2;
  const std::string_view line = bytes.substr(kV1Prefix.size(), cr - kV1Prefix.size());
  if (line.substr(0, 7) == "UNKNOWN" && (line.size() == 7 || line[7] == ' ')) {
    // The sender does not know the client (e.g. a health check): use the socket's peer.
    h.status = Status::kComplete;
    h.local = true;
    return h;
  }
  // Printable US-ASCII only: a NUL inside an address would end it early for inet_pton.
  for (char c : line) {
    if (c < 0x20 || c > 0x7E) return invalid("PROXY v1 line holds a non-printable byte");
  }
  std::string_view f[5];  // protocol, source, destination, source port, destination port
  if (!split_fields(line, f, 5)) return invalid("PROXY v1 line malformed");
  const bool v4 = f[0] == "TCP4";
  if (!v4 && f[0] != "TCP6") return invalid("PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN");
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  if (!parse_port(f[3], &sport) || !parse_port(f[4], &dport)) {
    return invalid("PROXY v1 port malformed");
  }
  const std::string src(f[1]);
  const std::string dst(f[2]);
  if (v4) {
    in_addr s{};
    in_addr d{};
    if (inet_pton(AF_INET, src.c_str(), &s) != 1 || inet_pton(AF_INET, dst.c_str(), &d) != 1) {
      return invalid("PROXY v1 TCP4 address malformed");
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&h.source);
    a->sin_family = AF_INET;
    a->sin_addr = s;
    a->sin_port = htons(sport);
  } else {
    in6_addr s{};
    in6_addr d{};
    if (inet_pton(AF_INET6, src.c_str(), &s) != 1 || inet_pton(AF_INET6, dst.c_str(), &d) != 1) {
      return invalid("PROXY v1 TCP6 address malformed");
    }
    auto* a = reinterpret_cast<sockaddr_in6*>(&h.source);
    a->sin6_family = AF_INET6;
    a->sin6_addr = s;
    a->sin6_port = htons(sport);
  }
  h.status = Status::kComplete;
  return h;
}

std::uint16_t be16(std::string_view b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                    static_cast<unsigned char>(b[at + 1]));
}

ProxyHeader parse_v2(std::string_view bytes) {
  if (!agrees(bytes, kV2Signature)) return invalid("not a PROXY protocol v2 signature");
  if (bytes.size() < kV2FixedBytes) return incomplete(kV2FixedBytes);
  const auto ver_cmd = static_cast<unsigned char>(bytes[12]);
  const auto fam = static_cast<unsigned char>(bytes[13]);
  if ((ver_cmd >> 4) != 2) return invalid("PROXY v2 version nibble is not 2");
  const unsigned command = ver_cmd & 0x0F;
  if (command > 1) return invalid("PROXY v2 command is neither LOCAL nor PROXY");
  const std::size_t total = kV2FixedBytes + be16(bytes, 14);
  if (total > kProxyV2MaxBytes) return invalid("PROXY v2 header longer than echod accepts");
  if (bytes.size() < total) return incomplete(total);

  ProxyHeader h;
  h.version = 2;
  h.length = total;
  const unsigned family = fam >> 4;
  const unsigned transport = fam & 0x0F;
  if (family > 3 || transport > 2) return invalid("PROXY v2 address family or protocol unknown");
  std::size_t address_bytes = 0;
  if (family == 1) address_bytes = 12;  // IPv4: src, dst, sport, dport
  if (family == 2) address_bytes = 36;  // IPv6
  if (family == 3) address_bytes = 216;  // UNIX: two 108-byte paths
  if (total - kV2FixedBytes < address_bytes) return invalid("PROXY v2 address block too short");
  // TLVs after the addresses: type (1), length (2), value; they must tile the rest exactly.
  for (std::size_t at = kV2FixedBytes + address_bytes; at < total;) {
    if (total - at < 3) return invalid("PROXY v2 TLV truncated");
    const std::size_t len = be16(bytes, at + 1);
    if (total - at - 3 < len) return invalid("PROXY v2 TLV longer than the header");
    at += 3 + len;
  }
  h.status = Status::kComplete;
  // LOCAL is a health check from the balancer itself; UNSPEC and UNIX carry no IP address.
  // Either way the connection's own peer address stands.
  if (command == 0 || family == 0 || family == 3) {
    h.local = true;
    return h;
  }
  const std::string_view addr = bytes.substr(kV2FixedBytes);
  if (family == 1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&h.source);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, addr.data(), 4);
    std::memcpy(&a->sin_port, addr.data() + 8, 2);  // network order, like the header
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&h.source);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, addr.data(), 16);
    std::memcpy(&a->sin6_port, addr.data() + 32, 2);
  }
  return h;
}

}  // namespace

ProxyHeader parse_proxy_header(std::string_view bytes, ProxyProtocolMode mode) {
  switch (mode) {
    case ProxyProtocolMode::kOff:
      return invalid("PROXY protocol is off");
    case ProxyProtocolMode::kV1:
      return parse_v1(bytes);
    case ProxyProtocolMode::kV2:
      return parse_v2(bytes);
    case ProxyProtocolMode::kAny:
      break;
  }
  if (bytes.empty()) return incomplete(1);
  // The two versions differ in their first byte: 'P' or '\r'.
  return bytes[0] == 'P' ? parse_v1(bytes) : parse_v2(bytes);
}

}  // namespace echod
