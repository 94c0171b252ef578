#include "socket_ops.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace echod::net {
namespace {

constexpr int kListenBacklog = 4096;

struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_UNSPEC;
};

// Resolves a listen host. Empty host: IPv6 any (dual-stack) first, the caller falls back.
std::optional<ResolvedAddress> resolve(const std::string& host, std::uint16_t port, int socktype,
                                       bool want_v6_any, std::string* error) {
  ResolvedAddress r;
  if (host.empty()) {
    if (want_v6_any) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&r.addr);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_any;
      a->sin6_port = htons(port);
      r.len = sizeof(sockaddr_in6);
      r.family = AF_INET6;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&r.addr);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_ANY);
      a->sin_port = htons(port);
      r.len = sizeof(sockaddr_in);
      r.family = AF_INET;
    }
    return r;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    if (error) *error = "cannot resolve \"" + host + "\": " + gai_strerror(rc);
    return std::nullopt;
  }
  std::memcpy(&r.addr, res->ai_addr, res->ai_addrlen);
  r.len = res->ai_addrlen;
  r.family = res->ai_family;
  freeaddrinfo(res);
  return r;
}

int set_int(int fd, int level, int opt, int value) {
  return ::setsockopt(fd, level, opt, &value, sizeof value);
}

// Creates, configures and binds a socket; -1 with `error` set on failure.
int bind_socket(const Endpoint& at, int socktype, bool reuse_port, std::string* error) {
  auto addr = resolve(at.host, at.port, socktype, true, error);
  if (!addr) return -1;
  int fd = ::socket(addr->family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && at.host.empty() && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
    // No IPv6 in this kernel (or it is disabled): all interfaces means IPv4 only.
    addr = resolve(at.host, at.port, socktype, false, error);
    fd = ::socket(addr->family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (addr->family == AF_INET6 && at.host.empty()) set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (reuse_port) set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr->addr), addr->len) != 0) {
    if (error) *error = "bind " + at.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

namespace {
int listen_stream(const Endpoint& at, bool reuse_port, std::string* error) {
  const int fd = bind_socket(at, SOCK_STREAM, reuse_port, error);
  if (fd < 0) return -1;
  // Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here
  // instead of one per connection. Echo replies must not wait for Nagle.
  set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (::listen(fd, kListenBacklog) != 0) {
    if (error) *error = "listen " + at.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

int listen_tcp(const Endpoint& at, std::string* error) { return listen_stream(at, true, error); }

int listen_tcp_exclusive(const Endpoint& at, std::string* error) {
  return listen_stream(at, false, error);
}

PeerAddress peer_address(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  PeerAddress out;
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    out.port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    out.port = ntohs(a->sin_port);
  }
  out.ip = host;
  return out;
}

bool in_cidr(const sockaddr_storage& addr, const Cidr& cidr) {
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    return cidr.contains(false, reinterpret_cast<const std::uint8_t*>(&a.sin_addr));
  }
  if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&a.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) return cidr.contains(false, b + 12);
    return cidr.contains(true, b);
  }
  return false;
}

int bind_udp(const Endpoint& at, std::string* error) {
  return bind_socket(at, SOCK_DGRAM, true, error);
}

std::optional<std::string> check_port_free(const Endpoint& at) {
  if (at.port == 0) return std::nullopt;
  std::string error;
  const int fd = bind_socket(at, SOCK_STREAM, false, &error);
  if (fd < 0) return error;
  ::close(fd);  // bound but never listening: closing it leaves no TIME_WAIT behind
  return std::nullopt;
}

std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

}  // namespace echod::net
