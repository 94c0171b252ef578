#include "socket_ops.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace echo_probe {

int open_tcp_socket(const Address& a) {
  const int fd = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void epoll_add(int epoll_fd, int fd, std::uint32_t events, void* ptr) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = ptr;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

void epoll_modify(int epoll_fd, int fd, std::uint32_t events, void* ptr) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = ptr;
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
}

void arm_timerfd(int timer_fd, Nanos at) {
  itimerspec spec{};
  spec.it_value.tv_sec = at / kNanosPerSecond;
  spec.it_value.tv_nsec = at % kNanosPerSecond;
  timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &spec, nullptr);
}

int open_connected_udp_socket(const Address& a) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int fd = ::socket(a.storage.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, a.sa(), a.length) != 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      return -1;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    const bool self = ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
                      len == a.length && std::memcmp(&local, &a.storage, len) == 0;
    if (!self) return fd;
    ::close(fd);
  }
  errno = EADDRINUSE;
  return -1;
}

}  // namespace echo_probe
