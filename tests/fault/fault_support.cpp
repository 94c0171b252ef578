#include "fault_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace echod::test {

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all;
  std::getline(in, all);  // one line
  const auto close_paren = all.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream rest(all.substr(close_paren + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> index 11, 12.
  if (f.size() < 13) return -1;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

void figure(const std::string& name, double value) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "-";
  std::printf("FIGURE %s %s=%.6g\n", test.c_str(), name.c_str(), value);
  std::fflush(stdout);
  ::testing::Test::RecordProperty(name, std::to_string(value));
}

std::vector<Fd> connect_many(std::uint16_t port, int n, milliseconds timeout,
                             const std::function<void(int)>& before_connect) {
  std::vector<Fd> fds;
  fds.reserve(static_cast<std::size_t>(n));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  for (int i = 0; i < n; ++i) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd && before_connect) before_connect(fd.get());
    if (fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      fd.reset();
    }
    fds.push_back(std::move(fd));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& fd : fds) {
    if (!fd) continue;
    pollfd p{fd.get(), POLLOUT, 0};
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count()))) != 1 ||
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      fd.reset();
      continue;
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fds;
}

bool echoes(int fd, const std::string& msg, milliseconds timeout) {
  return send_all(fd, msg) && recv_exact(fd, msg.size(), timeout) == msg;
}

int drive_echo_jobs(std::vector<EchoJob>& jobs, bool half_close, milliseconds timeout) {
  for (auto& j : jobs) {
    if (!j.fd) {
      j.failed = true;
      continue;
    }
    ::fcntl(j.fd.get(), F_SETFL, ::fcntl(j.fd.get(), F_GETFL) | O_NONBLOCK);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    std::vector<pollfd> pfds;
    std::vector<EchoJob*> who;
    for (auto& j : jobs) {
      if (j.failed) continue;
      const bool reading = half_close ? !j.eof : j.received.size() < j.payload.size();
      if (!reading && j.sent == j.payload.size()) continue;
      short ev = POLLIN;
      if (j.sent < j.payload.size()) ev |= POLLOUT;
      pfds.push_back({j.fd.get(), ev, 0});
      who.push_back(&j);
    }
    if (pfds.empty()) break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (::poll(pfds.data(), pfds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < pfds.size(); ++i) {
      EchoJob& j = *who[i];
      if (pfds[i].revents & POLLOUT) {
        const ssize_t n = ::send(j.fd.get(), j.payload.data() + j.sent, j.payload.size() - j.sent,
                                 MSG_NOSIGNAL);
        if (n > 0) {
          j.sent += static_cast<std::size_t>(n);
          if (half_close && j.sent == j.payload.size()) ::shutdown(j.fd.get(), SHUT_WR);
        } else if (n < 0 && errno != EAGAIN) {
          j.failed = true;
          continue;
        }
      }
      if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(j.fd.get(), buf, sizeof buf, 0);
        if (n > 0) {
          j.received.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
          j.eof = true;
          if (!half_close || j.sent < j.payload.size()) j.failed = j.received.size() < j.payload.size();
        } else if (errno != EAGAIN) {
          j.failed = true;
        }
      }
    }
  }
  int good = 0;
  for (auto& j : jobs) {
    if (!j.failed && j.received == j.payload && (!half_close || j.eof)) ++good;
  }
  return good;
}

ProbeResult parse_probe_output(int exit_code, const std::vector<std::string>& out_lines,
                               const std::string& err) {
  ProbeResult r;
  r.exit_code = exit_code;
  r.stderr_text = err;
  for (const auto& l : out_lines) {
    if (!l.empty() && l.front() == '{') r.json = l;
  }
  if (r.json.empty()) return r;
  const auto j = nlohmann::json::parse(r.json, nullptr, false);
  if (j.is_discarded()) return r;
  r.sent = j.value("sent", 0ull);
  r.received = j.value("received", 0ull);
  r.verified_bytes = j.value("verified_bytes", 0ull);
  r.errors = j.value("errors", 0ull);
  r.mismatches = j.value("mismatches", 0ull);
  return r;
}

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  if (x.size() < 2) return 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    sxy += x[i] * y[i];
  }
  const double d = n * sxx - sx * sx;
  return d == 0 ? 0 : (n * sxy - sx * sy) / d;
}

}  // namespace echod::test
