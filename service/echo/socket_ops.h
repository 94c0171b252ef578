#pragma once
// Free functions over socket syscalls, so the loop and connection code reads as policy.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "config.h"

namespace echod::net {

/// A non-blocking, close-on-exec TCP listener on `at` with SO_REUSEPORT (so every worker
/// can own one on the same port) and TCP_NODELAY (inherited by accepted sockets).
/// An empty host binds [::] dual-stack, or 0.0.0.0 where the kernel has no IPv6.
/// Returns the fd, or -1 with `error` set.
int listen_tcp(const Endpoint& at, std::string* error);

/// The same listener without SO_REUSEPORT, for a port one socket must own alone (the admin
/// port): a second echod on it fails to bind instead of sharing it.
int listen_tcp_exclusive(const Endpoint& at, std::string* error);

/// A peer's address as the HTTP layer reports it: "127.0.0.1" / "::1" and the port.
struct PeerAddress {
  std::string ip;
  int port = 0;
};
PeerAddress peer_address(const sockaddr_storage& ss);

/// Whether `addr` lies in `cidr`. An IPv4-mapped IPv6 address (a dual-stack listener's
/// IPv4 peer) is matched as the IPv4 address it is.
bool in_cidr(const sockaddr_storage& addr, const Cidr& cidr);

/// A non-blocking UDP socket bound to `at` with SO_REUSEPORT. -1 with `error` on failure.
int bind_udp(const Endpoint& at, std::string* error);

/// Fails with EADDRINUSE-style text if something already holds `at` (TCP): SO_REUSEPORT
/// would otherwise let a second echod silently share the port with the first.
std::optional<std::string> check_port_free(const Endpoint& at);

/// The address a socket is bound to, as "127.0.0.1:7007" or "[::]:7007".
std::string local_address(int fd);
std::uint16_t local_port(int fd);

// recv()/send() for the echo path, issued as raw system calls. glibc treats recv and send as
// thread-cancellation points and, in any process with more than one thread, wraps each call
// in enable/disable-asynccancel bookkeeping: measured with callgrind, that is about 80 of
// the 220 user-space instructions echod spent per echoed message. echod never cancels a
// thread, so the bookkeeping buys nothing. Same return value and errno as recv()/send().
inline ssize_t recv_raw(int fd, void* buf, std::size_t len, int flags) {
  return ::syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
}
inline ssize_t send_raw(int fd, const void* buf, std::size_t len, int flags) {
  return ::syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0);
}
// accept4() and close() are cancellation points too: ~70 of the ~800 user-space instructions
// per connection (callgrind, bench.py cost-conn) were their asynccancel bookkeeping. For the
// per-connection path only (the accept loop and a connection's close).
inline int accept_raw(int listen_fd, int flags) {
  return static_cast<int>(::syscall(SYS_accept4, listen_fd, nullptr, nullptr, flags));
}
inline int close_raw(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }

}  // namespace echod::net
