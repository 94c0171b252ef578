#include "fake_servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace echo_probe::test {
namespace {

int bound_socket(int type, const std::string& host, std::uint16_t port, std::uint16_t* bound) {
  const bool v6 = host.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind " + host + ":" + std::to_string(port) + " failed");
  }
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  *bound = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

bool send_all(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

void abort_connection(int fd) {
  linger l{1, 0};  // close() sends RST instead of FIN
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

}  // namespace

FakeTcpServer::FakeTcpServer(Behavior behavior, std::size_t trigger, const std::string& host,
                             std::uint16_t port)
    : behavior_(behavior), trigger_(trigger) {
  listen_fd_ = bound_socket(SOCK_STREAM, host, port, &port_);
  ::listen(listen_fd_, 1024);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

FakeTcpServer::~FakeTcpServer() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
  ::close(listen_fd_);
}

void FakeTcpServer::run() {
  struct Client {
    int fd;
    std::size_t offset;  // stream bytes seen so far
  };
  std::vector<Client> clients;
  std::vector<char> buf(65536);
  for (;;) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    std::vector<Client> alive;
    if (fds[1].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        ++accepted_;
        alive.push_back({fd, 0});  // polled from the next round on
      }
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      Client c = clients[i];
      if (!(fds[i + 2].revents & (POLLIN | POLLERR | POLLHUP))) {
        alive.push_back(c);
        continue;
      }
      const ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
      if (n <= 0) {
        ::close(c.fd);
        continue;
      }
      bytes_read_ += static_cast<std::uint64_t>(n);
      auto len = static_cast<std::size_t>(n);
      bool keep = true;
      switch (behavior_) {
        case Behavior::kEcho:
          keep = send_all(c.fd, buf.data(), len);
          break;
        case Behavior::kCorruptByte:
          if (trigger_ >= c.offset && trigger_ < c.offset + len) buf[trigger_ - c.offset] ^= 0x01;
          keep = send_all(c.fd, buf.data(), len);
          break;
        case Behavior::kStall:
          break;
        case Behavior::kSlowStart:
          // Blocks the whole server: meant for one connection.
          if (c.offset == 0) std::this_thread::sleep_for(std::chrono::milliseconds(trigger_));
          keep = send_all(c.fd, buf.data(), len);
          break;
        case Behavior::kCloseEarly:
        case Behavior::kReset: {
          const std::size_t allowed = trigger_ > c.offset ? trigger_ - c.offset : 0;
          if (allowed > 0) send_all(c.fd, buf.data(), std::min(allowed, len));
          if (c.offset + len >= trigger_) {
            if (behavior_ == Behavior::kReset) {
              abort_connection(c.fd);
            } else {
              ::close(c.fd);
            }
            keep = false;
            c.fd = -1;
          }
          break;
        }
      }
      c.offset += len;
      if (keep) {
        alive.push_back(c);
      } else if (c.fd >= 0) {
        ::close(c.fd);
      }
    }
    clients.swap(alive);
  }
  for (const auto& c : clients) ::close(c.fd);
}

FakeUdpServer::FakeUdpServer(Mode mode) : mode_(mode) {
  fd_ = bound_socket(SOCK_DGRAM, "127.0.0.1", 0, &port_);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

FakeUdpServer::~FakeUdpServer() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(wake_fd_);
  ::close(fd_);
}

void FakeUdpServer::run() {
  std::vector<char> buf(65536);
  for (;;) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    ++datagrams_;
    if (mode_ == Mode::kDrop) continue;
    if (mode_ == Mode::kCorrupt && n > 0) buf[static_cast<std::size_t>(n) / 2] ^= 0x01;
    ::sendto(fd_, buf.data(), static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from),
             len);
  }
}

ProxyCaptureServer::ProxyCaptureServer(const std::string& host) {
  listen_fd_ = bound_socket(SOCK_STREAM, host, 0, &port_);
  ::listen(listen_fd_, 128);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

ProxyCaptureServer::~ProxyCaptureServer() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);  // stays readable: wakes all
  thread_.join();
  for (auto& t : connections_) t.join();
  ::close(wake_fd_);
  ::close(listen_fd_);
}

std::vector<ProxyCaptureServer::Capture> ProxyCaptureServer::captures() const {
  std::lock_guard lock(mutex_);
  return captures_;
}

void ProxyCaptureServer::run() {
  for (;;) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    if (!(fds[1].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) connections_.emplace_back([this, fd] { serve(fd); });
  }
}

void ProxyCaptureServer::serve(int fd) {
  std::string in;  // bytes read and not yet echoed
  std::vector<char> buf(65536);
  bool header_done = false;
  for (;;) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    in.append(buf.data(), static_cast<std::size_t>(n));
    if (!header_done) {
      static const std::string kV2("\r\n\r\n\0\r\nQUIT\n", 12);
      std::size_t length = 0;
      if (in.rfind("PROXY ", 0) == 0) {
        const auto end = in.find("\r\n");
        if (end == std::string::npos) {
          if (in.size() > 107) break;
          continue;
        }
        length = end + 2;
      } else if (in.size() >= 16 && in.compare(0, 12, kV2) == 0) {
        length =
            16 + (static_cast<unsigned char>(in[14]) << 8 | static_cast<unsigned char>(in[15]));
        if (in.size() < length) continue;
      } else if (in.size() < 16 && (in.compare(0, std::min<std::size_t>(in.size(), 12), kV2, 0,
                                               std::min<std::size_t>(in.size(), 12)) == 0 ||
                                    std::string("PROXY ").compare(0, in.size(), in) == 0)) {
        continue;
      } else {
        ++rejected_;
        break;
      }
      Capture c{in.substr(0, length), {}, {}};
      socklen_t len = sizeof c.peer;
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&c.peer), &len);
      len = sizeof c.local;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&c.local), &len);
      {
        std::lock_guard lock(mutex_);
        captures_.push_back(std::move(c));
      }
      in.erase(0, length);
      header_done = true;
    }
    if (!send_all(fd, in.data(), in.size())) break;
    echoed_ += in.size();
    in.clear();
  }
  ::close(fd);
}

ClosedPort::ClosedPort() { fd_ = bound_socket(SOCK_STREAM, "127.0.0.1", 0, &port_); }
ClosedPort::~ClosedPort() { ::close(fd_); }

}  // namespace echo_probe::test
