// Fault tier, the admin port under a minute of every hostile client at once, against one real
// echod: 8 attacker threads (keep-alive, pipelining, resets mid-request and mid-answer,
// half-closes, slowloris, garbage, oversized heads, thousands of short connections) while 64
// echo connections send random payloads and check every byte, and fresh /livez and /readyz
// probes watch. The bug class this guards: an admin connection whose descriptor number
// outlives it (answers landing on an echo connection, a probe never answered).
// ECHOD_ADMIN_STRESS_SECONDS sets the length (default 60).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "admin_client.h"
#include "fault_support.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

/// The longest a well-formed request may take: the front's first-request deadline (3 s)
/// plus its write deadline (2 s). By then it is answered or its connection is closed.
constexpr milliseconds kRequestDeadline{5000};

/// New admin connections per second, all attackers together. Each one costs a conntrack
/// entry where the machine runs conntrack (for 120 s after an orderly close: a container
/// runtime's rules are enough to switch it on for loopback too), and the default table holds
/// 262,144: unpaced, this test alone opened 268,000 a minute and filled it, dropping SYNs for
/// every program on the machine. 300/s keeps it under 40,000 entries (and the client
/// TIME-WAIT sockets of the half-closing attackers under 18,000 ports); keep-alive and
/// pipelining make up the request volume.
constexpr int kConnectionsPerSecond = 300;

/// Evenly spaced connection slots shared by the attacker threads.
class Pacer {
 public:
  void take() {
    Clock::time_point slot;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      slot = std::max(next_, now);
      next_ = slot + std::chrono::microseconds(1'000'000 / kConnectionsPerSecond);
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  std::mutex mutex_;
  Clock::time_point next_ = Clock::now();
};
Pacer& pacer() {
  static Pacer p;
  return p;
}

/// An admin connection, paced.
Fd connect_admin(std::uint16_t port) {
  pacer().take();
  return connect_tcp(port);
}

/// Counts shared by the attacker threads (relaxed atomics: read once, after the joins).
struct Counts {
  std::atomic<std::uint64_t> requests{0};   // well-formed requests sent
  std::atomic<std::uint64_t> answered{0};   // of those, answered (status line + whole body)
  std::atomic<std::uint64_t> answered_503{0};  // of those answered, "admin server busy"
  std::atomic<std::uint64_t> closed{0};     // of those, connection closed (EOF/RST) instead
  std::atomic<std::uint64_t> late{0};       // of those, neither by the deadline: must stay 0
  std::atomic<std::uint64_t> wrong{0};      // answered with a status that request cannot get
  std::atomic<std::uint64_t> hostile{0};    // hostile connections (resets, garbage, heads...)
  std::atomic<std::uint64_t> hostile_hung{0};  // hostile connections echod never closed
  std::atomic<std::uint64_t> connections{0};   // admin connections opened in all
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> bytes_received{0};
};

/// What came back on one admin connection until EOF, an error or a deadline.
struct Received {
  std::string bytes;
  bool eof = false;    // orderly close
  bool reset = false;  // ECONNRESET
  bool timed_out() const { return !eof && !reset; }
};

/// Reads until EOF, an error, `deadline`, or (when `enough` says so) a complete answer set.
Received read_from(int fd, Clock::time_point deadline,
                   const std::function<bool(const std::string&)>& enough = {}) {
  Received r;
  char buf[16384];
  while (!(enough && enough(r.bytes))) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;  // EINTR or time: re-check
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      r.bytes.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      r.eof = true;
      break;
    } else if (errno != EINTR && errno != EAGAIN) {
      r.reset = true;
      break;
    }
  }
  return r;
}

/// The statuses of the complete answers at the front of `raw` (bodies skipped by
/// Content-Length; every answer of echod's admin port carries one).
std::vector<int> answers_in(const std::string& raw) {
  std::vector<int> statuses;
  std::size_t at = 0;
  while (raw.compare(at, 9, "HTTP/1.1 ") == 0) {
    const std::size_t head_end = raw.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    const std::string head = raw.substr(at, head_end - at);
    std::size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "}) {
      if (const auto cl = head.find(name); cl != std::string::npos) {
        length = std::strtoul(head.c_str() + cl + 16, nullptr, 10);
      }
    }
    if (raw.size() < head_end + 4 + length) break;
    statuses.push_back(std::atoi(raw.c_str() + at + 9));
    at = head_end + 4 + length;
  }
  return statuses;
}

/// SO_LINGER {1, 0}: close() sends RST, and leaves no TIME-WAIT on our side.
void reset_close(Fd& fd) {
  const linger l{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  fd.reset();
}

bool send_counted(int fd, const std::string& bytes, Counts& c) {
  const bool ok = send_all(fd, bytes);
  if (ok) c.bytes_sent += bytes.size();
  return ok;
}

const char* const kPaths[] = {"/livez", "/readyz", "/metrics", "/config", "/", "/healthz"};

std::string get(const char* path, bool close) {
  return std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

/// Sends `count` well-formed GETs on `fd` (pipelined: all at once; else one at a time) and
/// accounts for each: answered, closed, or late. Returns false once the connection is gone.
bool well_formed_requests(Fd& fd, int count, bool pipelined, bool close_last, std::mt19937_64& rng,
                          Counts& c) {
  std::vector<const char*> paths;
  for (int i = 0; i < count; ++i) paths.push_back(kPaths[rng() % 6]);
  const auto account = [&](const Received& r, std::size_t expected) {
    const std::vector<int> st = answers_in(r.bytes);
    c.bytes_received += r.bytes.size();
    for (std::size_t i = 0; i < expected; ++i) {
      if (i < st.size()) {
        ++c.answered;
        if (st[i] == 503) ++c.answered_503;
        else if (st[i] != 200) ++c.wrong;
      } else if (r.timed_out()) {
        ++c.late;
      } else {
        ++c.closed;
      }
    }
    return st.size() == expected && !r.eof && !r.reset;
  };
  if (pipelined) {
    std::string burst;
    for (int i = 0; i < count; ++i) burst += get(paths[i], close_last && i == count - 1);
    c.requests += static_cast<std::uint64_t>(count);
    if (!send_counted(fd.get(), burst, c)) {
      c.closed += static_cast<std::uint64_t>(count);
      return false;
    }
    const auto deadline = Clock::now() + kRequestDeadline;
    const Received r = read_from(fd.get(), deadline, [&](const std::string& raw) {
      return answers_in(raw).size() >= static_cast<std::size_t>(count);
    });
    return account(r, static_cast<std::size_t>(count));
  }
  for (int i = 0; i < count; ++i) {
    ++c.requests;
    if (!send_counted(fd.get(), get(paths[i], close_last && i == count - 1), c)) {
      ++c.closed;
      return false;
    }
    const auto deadline = Clock::now() + kRequestDeadline;
    const Received r = read_from(fd.get(), deadline,
                                 [](const std::string& raw) { return !answers_in(raw).empty(); });
    if (!account(r, 1)) return false;
  }
  return true;
}

/// A hostile connection: sends `bytes` (optionally half-closing), then expects echod to
/// close it (an error answer or none) within the deadline. `rst_after` > 0: reset the
/// connection after reading that many answer bytes instead.
void hostile_exchange(std::uint16_t port, const std::string& bytes, bool half_close,
                      std::size_t rst_after, Counts& c) {
  Fd fd = connect_admin(port);
  ++c.connections;
  ++c.hostile;
  if (!fd) return;
  if (!send_counted(fd.get(), bytes, c)) return;  // echod closed early (431, 413): fine
  if (half_close) ::shutdown(fd.get(), SHUT_WR);
  const auto deadline = Clock::now() + kRequestDeadline;
  if (rst_after > 0) {
    const Received r = read_from(fd.get(), deadline,
                                 [&](const std::string& raw) { return raw.size() >= rst_after; });
    c.bytes_received += r.bytes.size();
    reset_close(fd);
    return;
  }
  const Received r = read_from(fd.get(), deadline);
  c.bytes_received += r.bytes.size();
  if (r.timed_out()) ++c.hostile_hung;
  reset_close(fd);
}

/// One attacker thread's behaviour; `stop` ends it.
void attacker(int kind, std::uint16_t port, const std::atomic<bool>& stop, Counts& c) {
  std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(kind));
  while (!stop.load()) {
    switch (kind) {
      case 0:    // keep-alive: up to 50 requests on one connection, one at a time
      case 1: {  // pipelined: 2-20 requests in one write
        Fd fd = connect_admin(port);
        ++c.connections;
        const int n = kind == 0 ? 1 + static_cast<int>(rng() % 50) : 2 + static_cast<int>(rng() % 19);
        if (fd && well_formed_requests(fd, n, kind == 1, rng() % 2 == 0, rng, c) && rng() % 2 == 0) {
          reset_close(fd);  // leaves a kept-alive connection with a RST instead of a FIN
        }
        break;
      }
      case 2: {  // RST in the middle of a request, and in the middle of a /metrics answer
        const std::string req = get(kPaths[rng() % 6], false);
        if (rng() % 2 == 0) {
          Fd fd = connect_admin(port);
          ++c.connections;
          ++c.hostile;
          if (fd && send_counted(fd.get(), req.substr(0, 1 + rng() % (req.size() - 1)), c)) {
            std::this_thread::sleep_for(milliseconds(rng() % 3));
            reset_close(fd);
          }
        } else {
          hostile_exchange(port, get("/metrics", false), false, 1 + rng() % 2000, c);
        }
        break;
      }
      case 3: {  // half-closes: a whole request then SHUT_WR (answered, then EOF), or half one
        Fd fd = connect_admin(port);
        ++c.connections;
        if (!fd) break;
        if (rng() % 2 == 0) {
          ++c.requests;
          if (!send_counted(fd.get(), get(kPaths[rng() % 6], false), c)) {
            ++c.closed;
            break;
          }
          ::shutdown(fd.get(), SHUT_WR);
          const auto deadline = Clock::now() + kRequestDeadline;
          const Received r = read_from(fd.get(), deadline);
          c.bytes_received += r.bytes.size();
          const std::vector<int> st = answers_in(r.bytes);
          if (!st.empty()) {
            ++c.answered;
            if (st[0] == 503) ++c.answered_503;
            else if (st[0] != 200) ++c.wrong;
          } else if (r.timed_out()) {
            ++c.late;
          } else {
            ++c.closed;
          }
        } else {
          ++c.hostile;
          const std::string req = get("/config", false);
          send_counted(fd.get(), req.substr(0, 1 + rng() % (req.size() - 1)), c);
          ::shutdown(fd.get(), SHUT_WR);
          const Received r = read_from(fd.get(), Clock::now() + kRequestDeadline);
          c.bytes_received += r.bytes.size();
          if (r.timed_out()) ++c.hostile_hung;
        }
        break;
      }
      case 4:  // slowloris: 100 connections, a header byte every 250 ms each
        slowloris(port, 100, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ", milliseconds(250), stop,
                  [&] {
                    ++c.connections;
                    ++c.hostile;
                  });
        break;
      case 5:  // garbage, half-closed so echod sees the end of it
        hostile_exchange(port, random_bytes(1 + rng() % 4096, rng()), true, 0, c);
        break;
      case 6:  // oversized heads (431) and bodies beyond the cap (413)
        hostile_exchange(port,
                         rng() % 2 == 0
                             ? "GET /livez HTTP/1.1\r\nX-Big: " + std::string(16 * 1024 + rng() % 65536, 'x') + "\r\n\r\n"
                             : "PUT /config HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
                         false, 0, c);
        break;
      case 7: {  // thousands of short connections: one request, Connection: close
        Fd fd = connect_admin(port);
        ++c.connections;
        if (fd) well_formed_requests(fd, 1, false, true, rng, c);
        break;
      }
    }
  }
}

/// One echo connection's running check: random payloads of random sizes, every byte back.
struct EchoStream {
  Fd fd;
  std::mt19937_64 rng;
  std::uint64_t verified = 0;    // bytes sent and received back identical
  std::uint64_t mismatched = 0;  // bytes received that differ from what was sent
  std::uint64_t http = 0;        // bytes of "HTTP/1." answers seen on it
  bool broken = false;           // closed, reset or silent for 5 s
};

/// One round on one echo connection: send a payload, read back exactly as many bytes.
void echo_round(EchoStream& s) {
  const std::string payload = random_bytes(1 + s.rng() % 16384, s.rng());
  if (!send_all(s.fd.get(), payload)) {
    s.broken = true;
    return;
  }
  const std::string back = recv_exact(s.fd.get(), payload.size(), milliseconds(5000));
  for (std::size_t i = 0; i < back.size(); ++i) {
    if (back[i] == payload[i]) ++s.verified;
    else ++s.mismatched;
  }
  for (std::size_t at = back.find("HTTP/1."); at != std::string::npos; at = back.find("HTTP/1.", at + 1)) {
    s.http += 7;
  }
  if (back.size() != payload.size()) s.broken = true;
}

int stress_seconds() {
  const char* env = std::getenv("ECHOD_ADMIN_STRESS_SECONDS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 60;
}

TEST(AdminStress, EightHostileClientThreadsForAMinuteLeaveProbesAndTheEchoPathIntact) {
  EchodProcess echod({"--workers", "2"});
  const pid_t pid = echod.process().pid();
  const std::uint16_t admin = echod.admin_port();
  // Baseline once echod is idle: its threads and listeners, no connection.
  int fds_before = 0;
  ASSERT_TRUE(wait_until([&] {
    const int n = open_fd_count(pid);
    const bool steady = n == fds_before;
    fds_before = n;
    return steady;
  }, milliseconds(5000), milliseconds(200)));

  std::vector<Fd> echo_fds = connect_many(echod.echo_port(), 64);
  std::vector<EchoStream> echo(64);
  for (std::size_t i = 0; i < echo.size(); ++i) {
    ASSERT_TRUE(echo_fds[i]) << "echo connection " << i;
    echo[i].fd = std::move(echo_fds[i]);
    echo[i].rng.seed(77 + i);
  }

  const ListenerWatch admin_listener(admin);
  const KernelDrops drops_before = KernelDrops::now();
  const CpuPressure pressure;
  std::atomic<bool> stop{false};
  Counts counts;
  std::vector<std::thread> threads;
  for (int kind = 0; kind < 8; ++kind) {
    threads.emplace_back([&, kind] { attacker(kind, admin, stop, counts); });
  }
  // The 64 echo connections, on two threads of 32 each, round after round.
  for (int half = 0; half < 2; ++half) {
    threads.emplace_back([&, half] {
      while (!stop.load()) {
        for (std::size_t i = static_cast<std::size_t>(half); i < echo.size(); i += 2) {
          if (!echo[i].broken) echo_round(echo[i]);
        }
      }
    });
  }
  // The kubelet's view: a fresh connection per probe, /livez and /readyz in turn.
  std::vector<ProbeOutcome> probes;
  const auto t0 = Clock::now();
  const auto length = std::chrono::seconds(stress_seconds());
  while (Clock::now() - t0 < length) {
    probes.push_back(probe_once(admin, probes.size() % 2 ? "/readyz" : "/livez"));
    std::this_thread::sleep_for(milliseconds(50));
  }
  stop = true;
  for (auto& t : threads) t.join();
  const KernelDrops drops = KernelDrops::now() - drops_before;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  // Every echo connection still echoes, and nothing else is waiting on it.
  std::uint64_t verified = 0, mismatched = 0, http = 0, stray = 0;
  int broken = 0;
  for (auto& s : echo) {
    if (!s.broken) echo_round(s);
    char extra[4096];
    const ssize_t n = ::recv(s.fd.get(), extra, sizeof extra, MSG_DONTWAIT);
    if (n > 0) {
      stray += static_cast<std::uint64_t>(n);
      if (std::string(extra, static_cast<std::size_t>(n)).find("HTTP/1.") != std::string::npos) http += 7;
    }
    verified += s.verified;
    mismatched += s.mismatched;
    http += s.http;
    broken += s.broken ? 1 : 0;
  }
  std::vector<ProbeOutcome> bad;
  double worst_ms = 0;
  for (const auto& p : probes) {
    worst_ms = std::max(worst_ms, p.total_ms);
    if (!p.ok()) bad.push_back(p);
  }

  figure("seconds", seconds);
  figure("admin_connections", static_cast<double>(counts.connections.load()));
  figure("well_formed_requests", static_cast<double>(counts.requests.load()));
  figure("answered", static_cast<double>(counts.answered.load()));
  figure("answered_503_busy", static_cast<double>(counts.answered_503.load()));
  figure("closed_instead_of_answered", static_cast<double>(counts.closed.load()));
  figure("late", static_cast<double>(counts.late.load()));
  figure("wrong_status", static_cast<double>(counts.wrong.load()));
  figure("hostile_connections", static_cast<double>(counts.hostile.load()));
  figure("hostile_never_closed", static_cast<double>(counts.hostile_hung.load()));
  figure("admin_bytes_sent", static_cast<double>(counts.bytes_sent.load()));
  figure("admin_bytes_received", static_cast<double>(counts.bytes_received.load()));
  figure("probes", static_cast<double>(probes.size()));
  figure("probe_failures", static_cast<double>(bad.size()));
  figure("probe_max_ms", worst_ms);
  figure("echo_bytes_verified", static_cast<double>(verified));
  figure("echo_bytes_mismatched", static_cast<double>(mismatched));
  figure("echo_http_bytes", static_cast<double>(http));
  figure("admin_accept_queue_peak", admin_listener.deepest());
  figure("machine_cpu_pressure_pct", pressure.percent());
  figure("admin_listener_drops", static_cast<double>(admin_listener.drops()));

  EXPECT_EQ(echod.wait_exit(milliseconds(0)), std::nullopt) << "echod died:\n"
                                                            << echod.process().output();
  EXPECT_EQ(counts.late.load(), 0u) << "well-formed requests neither answered nor closed within "
                                    << kRequestDeadline.count() << " ms";
  EXPECT_EQ(counts.wrong.load(), 0u) << "well-formed GETs answered other than 200 or 503";
  EXPECT_EQ(counts.hostile_hung.load(), 0u) << "hostile connections echod never closed";
  EXPECT_GT(counts.requests.load(), 10'000u) << "the attack was too weak to prove anything";
  EXPECT_GT(counts.answered.load(), counts.requests.load() / 2);
  EXPECT_GT(counts.connections.load(), 5'000u);
  EXPECT_TRUE(bad.empty()) << bad.size() << " of " << probes.size() << " fresh probes failed: "
                           << blame_probes(bad, drops, admin_listener) << "; "
                           << pressure.describe();
  EXPECT_GT(probes.size(), 100u);
  EXPECT_EQ(mismatched, 0u) << "echoed bytes differ from those sent";
  EXPECT_EQ(http, 0u) << "HTTP bytes arrived on an echo connection";
  EXPECT_EQ(stray, 0u) << "bytes nobody sent arrived on an echo connection";
  EXPECT_EQ(broken, 0) << "echo connections closed, reset or silenced during the attack";
  EXPECT_GT(verified, 10'000'000u);

  // Descriptors back to the baseline once the echo connections are gone and the front's
  // deadlines (5 s at most) have passed for whatever the attack left half-open.
  echo.clear();
  int fds_after = 0;
  EXPECT_TRUE(wait_until([&] { return (fds_after = open_fd_count(pid)) == fds_before; },
                         milliseconds(10'000), milliseconds(100)))
      << "echod holds " << fds_after << " descriptors, " << fds_before << " before the attack";
  figure("fds_before", fds_before);
  figure("fds_after", fds_after);
}

}  // namespace
}  // namespace echod::test
