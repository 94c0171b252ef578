// Fault tier, connections that end badly: resets mid-stream and half-closes by the
// thousand, SIGTERM under echo-probe load, and echo loops between two echod instances.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "admin_client.h"
#include "fault_support.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// Opens `n` connections, writes `bytes` each, reads a little back, then resets (SO_LINGER 0).
int reset_mid_stream(std::uint16_t port, int n, std::size_t bytes, std::uint64_t seed) {
  std::vector<Fd> fds = connect_many(port, n);
  const std::string data = random_bytes(bytes, seed);
  int reset = 0;
  for (auto& fd : fds) {
    if (!fd) continue;
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
    [[maybe_unused]] ssize_t w = ::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
  }
  char buf[4096];
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (!fds[i]) continue;
    if (i % 2 == 0) {  // half of them read some echo first: the reset lands mid-echo
      pollfd p{fds[i].get(), POLLIN, 0};
      if (::poll(&p, 1, 1000) > 0) [[maybe_unused]] ssize_t r = ::recv(fds[i].get(), buf, sizeof buf, 0);
    }
    linger lg{1, 0};
    ::setsockopt(fds[i].get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fds[i].reset();
    ++reset;
  }
  return reset;
}

TEST(ResetsAndHalfCloses, ThousandsLeaveNoDescriptorsAndEveryHalfCloseGetsAllItsBytes) {
  EchodProcess echod({"--workers", "2"});
  const pid_t pid = echod.process().pid();
  {
    Fd warm = connect_tcp(echod.echo_port());
    ASSERT_TRUE(echoes(warm.get(), "warm"));
  }
  ASSERT_TRUE(wait_until([&] {
    return metric(scrape(echod.admin_port()), "echod_connections_active") == 0;
  }, milliseconds(5000)));
  const int fds_before = open_fd_count(pid);

  constexpr int kRounds = 10;
  constexpr int kPerRound = 250;
  int resets = 0, half_closes = 0, complete = 0;
  std::uint64_t half_close_bytes = 0;
  const auto t0 = Clock::now();
  for (int round = 0; round < kRounds; ++round) {
    resets += reset_mid_stream(echod.echo_port(), kPerRound, 48 * 1024, 100 + round);
    std::vector<EchoJob> jobs(kPerRound);
    std::vector<Fd> fds = connect_many(echod.echo_port(), kPerRound);
    for (int i = 0; i < kPerRound; ++i) {
      jobs[i].fd = std::move(fds[i]);
      // 1 byte to 96 KiB: below, at and far beyond the socket buffers and max-pending-bytes.
      const std::size_t size = 1 + (static_cast<std::size_t>(i) * 7919 + round * 104729) % (96 * 1024);
      jobs[i].payload = random_bytes(size, 1000 * round + i);
      half_close_bytes += size;
    }
    complete += drive_echo_jobs(jobs, /*half_close=*/true, milliseconds(30'000));
    half_closes += kPerRound;
  }
  figure("resets", resets);
  figure("half_closes", half_closes);
  figure("half_close_bytes", static_cast<double>(half_close_bytes));
  figure("seconds", ms_since(t0) / 1000);
  EXPECT_EQ(resets, kRounds * kPerRound);
  EXPECT_EQ(complete, half_closes) << "half-closed clients missing bytes or EOF";

  std::string m;
  EXPECT_TRUE(wait_until([&] {
    m = scrape(echod.admin_port());
    return metric(m, "echod_connections_active") == 0;
  }, milliseconds(10'000))) << "echod_connections_active stuck at " << metric(m, "echod_connections_active");
  int fds_after = 0;
  EXPECT_TRUE(wait_until([&] { return (fds_after = open_fd_count(pid)) <= fds_before; },
                         milliseconds(5000)))
      << fds_after << " descriptors open, " << fds_before << " before";
  figure("fd_delta", fds_after - fds_before);
  const double closed = metric(m, "echod_connections_closed_total{reason=\"client\"}") +
                        metric(m, "echod_connections_closed_total{reason=\"error\"}");
  EXPECT_EQ(closed, resets + half_closes + 1);
  EXPECT_EQ(metric(m, "echod_connections_accepted_total"), resets + half_closes + 1);
  Fd after = connect_tcp(echod.echo_port());
  EXPECT_TRUE(echoes(after.get(), random_bytes(100'000, 9)));
}

// SIGTERM while echo-probe drives load: /readyz flips first, the open connections keep
// echoing through shutdown-delay and drain, echod exits 0, the probe verified every byte.
TEST(DrainUnderLoad, SigtermWhileEchoProbeDrivesLoadLosesNoByte) {
  EchodProcess echod({"--workers", "2", "--shutdown-delay", "1s", "--drain-timeout", "15s"});
  ChildProcess probe(ECHO_PROBE_BINARY,
                     {"tcp", "-c", "32", "-d", "4s", "-s", "512", "-t", "1", "-q", "--json",
                      "127.0.0.1:" + std::to_string(echod.echo_port())});
  // Let the load run, then SIGTERM.
  ASSERT_TRUE(wait_until([&] {
    return metric(scrape(echod.admin_port()), "echod_connections_active") >= 32;
  }, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(1000));
  const std::string before = scrape(echod.admin_port());
  const auto sigterm_at = Clock::now();
  echod.signal(SIGTERM);
  HttpReply ready;
  ASSERT_TRUE(wait_until([&] {
    ready = http_get(echod.admin_port(), "/readyz");
    return ready.status == 503;
  }, milliseconds(2000)));
  figure("readyz_503_after_sigterm_ms", ms_since(sigterm_at));
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
  // Still serving during shutdown-delay, new connections included.
  {
    Fd late = connect_tcp(echod.echo_port());
    EXPECT_TRUE(late && echoes(late.get(), random_bytes(10'000, 5)))
        << "a connection during shutdown-delay was not served";
  }
  const std::string during = scrape(echod.admin_port());
  EXPECT_EQ(metric(during, "echod_shutting_down"), 1);
  EXPECT_GE(metric(during, "echod_connections_active"), 32) << "load connections dropped early";

  const auto probe_exit = probe.wait_exit(milliseconds(20'000));
  ASSERT_TRUE(probe_exit);
  probe.join_output();
  const ProbeResult r = parse_probe_output(*probe_exit, probe.stdout_lines(), probe.stderr_text());
  const auto echod_exit = echod.wait_exit(milliseconds(15'000));
  figure("exit_after_sigterm_ms", ms_since(sigterm_at));
  EXPECT_EQ(r.exit_code, 0) << r.json << r.stderr_text;
  EXPECT_EQ(r.errors, 0u) << r.json;
  EXPECT_EQ(r.mismatches, 0u) << r.json;
  EXPECT_GT(r.received, 0u);
  EXPECT_EQ(r.sent, r.received) << "messages sent but never echoed";
  EXPECT_EQ(r.verified_bytes, r.received * 512) << r.json;
  figure("messages_verified", static_cast<double>(r.received));
  ASSERT_TRUE(echod_exit) << "echod did not exit after its drain";
  EXPECT_EQ(*echod_exit, 0);

  // Readiness off came first, then the listeners, then a clean drain.
  const auto lines = echod.process().stdout_lines();
  auto find = [&](const char* text) {
    return std::find_if(lines.begin(), lines.end(),
                        [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  const auto ready_off = find("shutdown: readiness off");
  const auto listeners = find("shutdown: listeners closed");
  const auto stopped = find("echod stopped");
  ASSERT_NE(ready_off, lines.end());
  ASSERT_NE(listeners, lines.end());
  ASSERT_NE(stopped, lines.end());
  EXPECT_LT(ready_off, listeners);
  EXPECT_LT(listeners, stopped);
  EXPECT_NE(stopped->find("\"drained\":true"), std::string::npos) << *stopped;
  (void)before;
}

/// A relay that plugs echod A into echod B: whatever A echoes goes to B, whatever B echoes
/// goes back to A - an echo loop. Runs until either side closes or `timeout`.
struct LoopResult {
  bool ended = false;
  double ms = 0;
  std::uint64_t from_a = 0, from_b = 0;
};
LoopResult run_echo_loop(std::uint16_t a_port, std::uint16_t b_port, milliseconds timeout) {
  LoopResult r;
  Fd a = connect_tcp(a_port);
  Fd b = connect_tcp(b_port);
  if (!a || !b) return r;
  ::fcntl(a.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(b.get(), F_SETFL, O_NONBLOCK);
  const std::string seed = random_bytes(4096, 42);
  send_all(a.get(), seed);
  std::string to_a, to_b;  // bytes waiting to be written to each side
  char buf[65536];
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < timeout) {
    pollfd p[2] = {{a.get(), static_cast<short>(POLLIN | (to_a.empty() ? 0 : POLLOUT)), 0},
                   {b.get(), static_cast<short>(POLLIN | (to_b.empty() ? 0 : POLLOUT)), 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    for (int side = 0; side < 2; ++side) {
      Fd& self = side == 0 ? a : b;
      std::string& out = side == 0 ? to_a : to_b;
      std::string& other_out = side == 0 ? to_b : to_a;
      if (p[side].revents & POLLOUT) {
        const ssize_t w = ::send(self.get(), out.data(), out.size(), MSG_NOSIGNAL);
        if (w > 0) out.erase(0, static_cast<std::size_t>(w));
      }
      if (p[side].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::recv(self.get(), buf, sizeof buf, 0);
        if (n > 0) {
          other_out.append(buf, static_cast<std::size_t>(n));
          (side == 0 ? r.from_a : r.from_b) += static_cast<std::uint64_t>(n);
        } else if (n == 0 || errno != EAGAIN) {
          r.ended = true;
          r.ms = ms_since(t0);
          return r;
        }
      }
    }
  }
  return r;
}

TEST(EchoLoops, MaxConnectionBytesEndsALoopBetweenTwoEchods) {
  constexpr std::uint64_t kCap = 4 << 20;
  EchodProcess a({"--workers", "1", "--max-connection-bytes", std::to_string(kCap)});
  EchodProcess b({"--workers", "1"});
  const LoopResult r = run_echo_loop(a.echo_port(), b.echo_port(), milliseconds(20'000));
  ASSERT_TRUE(r.ended) << "the loop was still running after 20 s";
  figure("loop_ms_to_byte_limit", r.ms);
  figure("bytes_echoed_by_a", static_cast<double>(r.from_a));
  EXPECT_EQ(r.from_a, kCap) << "A must echo exactly max-connection-bytes, then close";
  const std::string m = scrape(a.admin_port());
  EXPECT_EQ(metric(m, "echod_connections_closed_total{reason=\"byte_limit\"}"), 1);
  EXPECT_TRUE(wait_until([&] {
    return metric(scrape(b.admin_port()), "echod_connections_active") == 0;
  }, milliseconds(3000)));
}

TEST(EchoLoops, MaxConnectionLifetimeEndsALoopBetweenTwoEchods) {
  EchodProcess a({"--workers", "1", "--max-connection-lifetime", "1500ms"});
  EchodProcess b({"--workers", "1", "--max-connection-lifetime", "1500ms"});
  const LoopResult r = run_echo_loop(a.echo_port(), b.echo_port(), milliseconds(20'000));
  ASSERT_TRUE(r.ended) << "the loop was still running after 20 s";
  figure("loop_ms_to_lifetime", r.ms);
  figure("bytes_bounced", static_cast<double>(r.from_a + r.from_b));
  EXPECT_GE(r.ms, 1300);
  EXPECT_LE(r.ms, 4000);
  EXPECT_GT(r.from_a, 1u << 20) << "the loop never got going";
  const double lifetime_closes =
      metric(scrape(a.admin_port()), "echod_connections_closed_total{reason=\"lifetime\"}") +
      metric(scrape(b.admin_port()), "echod_connections_closed_total{reason=\"lifetime\"}");
  EXPECT_GE(lifetime_closes, 1);
}

}  // namespace
}  // namespace echod::test
