#pragma once
// Socket and epoll syscalls the probe engine and the monitor share, as free functions.
#include <cstdint>

#include "clock.h"
#include "target.h"

namespace echo_probe {

/// A non-blocking, close-on-exec TCP socket for `a`'s family with TCP_NODELAY (one small
/// message at a time must not wait for Nagle). -1 with errno set on failure.
int open_tcp_socket(const Address& a);

/// A non-blocking UDP socket connected to `a`. The kernel may hand the socket the very port
/// it is sent to (a loopback target whose port was just freed): such a socket talks to
/// itself and would "verify" its own datagrams, so it is replaced by a fresh one.
/// -1 with errno set on failure.
int open_connected_udp_socket(const Address& a);

/// epoll_ctl ADD / MOD with `ptr` as the event's data.
void epoll_add(int epoll_fd, int fd, std::uint32_t events, void* ptr);
void epoll_modify(int epoll_fd, int fd, std::uint32_t events, void* ptr);

/// Arms `timer_fd` (CLOCK_MONOTONIC) to fire once at `at`; 0 disarms it.
void arm_timerfd(int timer_fd, Nanos at);

}  // namespace echo_probe
