#include "admin_client.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <thread>

#include "net_helpers.h"

namespace echod::test {

HttpReply parse_reply(const std::string& raw) {
  HttpReply reply;
  std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  // Skip interim 1xx answers ("100 Continue") the server may send first.
  std::size_t start = 0;
  while (line.rfind("HTTP/1.1 1", 0) == 0) {
    start = head_end + 4;
    head_end = raw.find("\r\n\r\n", start);
    if (head_end == std::string::npos) return reply;
    head = std::istringstream(raw.substr(start, head_end - start));
    std::getline(head, line);
  }
  if (line.size() < 12) return reply;
  reply.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    reply.headers[name] = value;
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

HttpReply http_request(std::uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body, const HeaderList& headers,
                       std::chrono::milliseconds timeout) {
  Fd fd = connect_tcp(port);
  if (!fd) return {};
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (!send_all(fd.get(), req)) return {};
  return parse_reply(recv_until_eof(fd.get(), timeout));
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// poll() for `events` until `deadline`, through EINTR; the revents, 0 at the deadline.
short wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return p.revents;
    if (rc < 0 && errno != EINTR) return POLLERR;
  }
}

}  // namespace

ProbeOutcome probe_once(std::uint16_t port, const std::string& path,
                        std::chrono::milliseconds timeout) {
  using Kind = ProbeOutcome::Kind;
  ProbeOutcome o;
  const auto t0 = Clock::now();
  const auto fail = [&](Kind kind, int error) {
    o.kind = kind;
    o.error = error;
    o.total_ms = ms_since(t0);
    return o;
  };
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail(Kind::kConnectFailed, errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return fail(Kind::kConnectFailed, errno);
    if (wait_for(fd.get(), POLLOUT, t0 + timeout) == 0) return fail(Kind::kConnectTimedOut, 0);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(Kind::kConnectFailed, err);
  }
  o.connect_ms = ms_since(t0);
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  // A fresh socket's send buffer takes the whole request at once.
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return fail(errno == EPIPE || errno == ECONNRESET ? Kind::kReset : Kind::kConnectFailed, errno);
  }
  const auto deadline = Clock::now() + timeout;
  std::string raw;
  char buf[16384];
  for (;;) {
    if (wait_for(fd.get(), POLLIN, deadline) == 0) {
      o.received = raw.size();
      return fail(Kind::kTimedOut, 0);
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    o.received = raw.size();
    const HttpReply r = parse_reply(raw);
    o.status = r.status;
    if (n < 0) return fail(r.status != 0 ? Kind::kAnswered : Kind::kReset, errno);
    return fail(r.status != 0 ? Kind::kAnswered : Kind::kClosedWithoutAnswer, 0);
  }
}

std::string ProbeOutcome::describe() const {
  char timing[128];
  std::snprintf(timing, sizeof timing, " after %.1f ms (connect %.1f ms%s), %zu bytes received",
                total_ms, connect_ms, syn_retransmitted() ? ": SYN retransmitted" : "", received);
  const std::string err = error != 0 ? std::string(": ") + std::strerror(error) : "";
  switch (kind) {
    case Kind::kAnswered:
      return "answered " + std::to_string(status) + timing;
    case Kind::kConnectFailed:
      return "connect failed" + err + timing;
    case Kind::kConnectTimedOut:
      return "connect timed out (no SYN-ACK)" + std::string(timing);
    case Kind::kReset:
      return "reset before the whole answer" + err + timing;
    case Kind::kClosedWithoutAnswer:
      return "closed without an answer" + std::string(timing);
    case Kind::kTimedOut:
      return "no whole answer in time" + std::string(timing);
  }
  return "?";
}

std::string blame_probes(const std::vector<ProbeOutcome>& bad, const KernelDrops& drops,
                         const ListenerWatch& admin_listener) {
  if (bad.empty()) return "";
  // Two groups: probes whose SYN went unanswered for a while (a retransmit, or no handshake
  // at all), and probes that connected at once but got a wrong, missing or late answer.
  std::size_t syn_lost = 0;
  for (const auto& o : bad) {
    if (o.syn_retransmitted() || o.kind == ProbeOutcome::Kind::kConnectTimedOut) ++syn_lost;
  }
  const long long own_drops = admin_listener.drops();
  std::string cause;
  if (syn_lost < bad.size()) {
    cause = "ECHOD: " + std::to_string(bad.size() - syn_lost) +
            " probes connected at once but got a wrong, missing or late answer. ";
  }
  if (syn_lost > 0 && own_drops > 0) {
    cause += "ECHOD: " + std::to_string(syn_lost) + " probes waited for a SYN retransmit and the "
             "kernel dropped " + std::to_string(own_drops) + " packets at echod's own admin "
             "listener (accept queue full: backlog too small, or accepting too slowly). ";
  } else if (syn_lost > 0 && own_drops < 0) {
    cause += "UNKNOWN: " + std::to_string(syn_lost) + " probes waited for a SYN retransmit, and "
             "echod's listener drops could not be read (no ss). ";
  } else if (syn_lost > 0) {
    cause += "MACHINE: the kernel dropped the SYN of " + std::to_string(syn_lost) +
             " probes elsewhere than at echod's listener, which dropped nothing (conntrack "
             "table full, another listener, loopback congestion): echod never saw them. ";
  }
  cause += admin_listener.describe() + "; namespace-wide: " + drops.describe() + "; probes:";
  for (const auto& o : bad) cause += "\n  " + o.describe();
  return cause;
}

std::string scrape(std::uint16_t port) {
  const HttpReply r = http_get(port, "/metrics");
  if (r.status != 200) ADD_FAILURE() << "GET /metrics answered " << r.status << ": " << r.body;
  return r.body;
}

double metric(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> family_names(const std::string& exposition) {
  std::vector<std::string> names;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto end = line.find(' ', 7);
      names.push_back(line.substr(7, end - 7));
    }
  }
  return names;
}

std::size_t series_count(const std::string& exposition) {
  std::size_t n = 0;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') ++n;
  }
  return n;
}

void slowloris(std::uint16_t port, int connections, const std::string& request_start,
               std::chrono::milliseconds every, const std::atomic<bool>& stop,
               const std::function<void()>& on_reconnect) {
  std::vector<Fd> conns(static_cast<std::size_t>(connections));
  while (!stop.load()) {
    for (auto& c : conns) {
      bool dead = !c;
      if (!dead) {
        pollfd p{c.get(), POLLIN, 0};
        dead = ::poll(&p, 1, 0) > 0 || !send_all(c.get(), "a");
      }
      if (dead) {
        c = connect_tcp(port);
        if (c) send_all(c.get(), request_start);
        on_reconnect();
      }
    }
    // Sleep in short steps so `stop` is noticed quickly.
    for (auto left = every; left.count() > 0 && !stop.load(); left -= std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
    }
  }
}

}  // namespace echod::test
