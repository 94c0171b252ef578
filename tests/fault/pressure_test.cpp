// Fault tier, echo port under pressure: slow readers by the thousand, floods beyond
// max-connections, descriptor exhaustion under a low RLIMIT_NOFILE. Each test asserts
// numbers (RSS, descriptors, CPU seconds, exact counters), not only "did not crash".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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

// Redis CVE-2025-21605 in echo-server form: clients that send and never read. echod must
// hold each at max-pending-bytes (plus what the kernel buffers), and serve everyone else.
TEST(SlowReaders, AThousandClientsThatNeverReadAreHeldAtMaxPendingBytes) {
  constexpr int kClients = 1000;
  constexpr long kMaxPending = 16384;
  EchodProcess echod({"--workers", "2", "--max-pending-bytes", std::to_string(kMaxPending)});
  const pid_t pid = echod.process().pid();
  {
    Fd warm = connect_tcp(echod.echo_port());
    ASSERT_TRUE(echoes(warm.get(), random_bytes(200'000, 1)));
  }
  const long baseline = rss_bytes(pid);

  // Small buffers and a small MSS, set before the handshake: on loopback (64 KiB MSS) the
  // kernel would otherwise autotune megabytes of socket buffer per connection before echod
  // ever saw backpressure, and 1,000 such connections put all of TCP into memory pressure.
  std::vector<Fd> slow = connect_many(echod.echo_port(), kClients, milliseconds(10'000), [](int fd) {
    int rcv = 4096, snd = 16384, mss = 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    ::setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  });
  std::vector<std::uint64_t> count(kClients);
  std::vector<std::string> sent(kClients);  // kept for the sampled clients only
  const std::string chunk = random_bytes(16384, 2);
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(slow[static_cast<std::size_t>(i)]) << "connect " << i;
    const int fd = slow[static_cast<std::size_t>(i)].get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  // Push until three rounds in a row move no byte (every path from client to echod and
  // back is full), or each client sent kPerClient.
  constexpr std::uint64_t kPerClient = 1 << 20;
  std::uint64_t pushed = 0;
  const auto fill_start = Clock::now();
  for (int round = 0, idle_rounds = 0; round < 2000 && idle_rounds < 3; ++round) {
    std::uint64_t this_round = 0;
    for (int i = 0; i < kClients; ++i) {
      const std::size_t at = count[static_cast<std::size_t>(i)] % chunk.size();
      const std::size_t room = kPerClient - count[static_cast<std::size_t>(i)];
      if (room == 0) continue;
      const ssize_t n = ::send(slow[static_cast<std::size_t>(i)].get(), chunk.data() + at,
                               std::min(chunk.size() - at, room), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        count[static_cast<std::size_t>(i)] += static_cast<std::uint64_t>(n);
        if (i % 100 == 0) {
          sent[static_cast<std::size_t>(i)].append(chunk.data() + at, static_cast<std::size_t>(n));
        }
        this_round += static_cast<std::uint64_t>(n);
      }
    }
    pushed += this_round;
    idle_rounds = this_round == 0 ? idle_rounds + 1 : 0;
    if (this_round == 0) std::this_thread::sleep_for(milliseconds(50));
  }
  figure("fill_seconds", ms_since(fill_start) / 1000);
  figure("bytes_pushed_per_client", static_cast<double>(pushed) / kClients);
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string m = scrape(echod.admin_port());
        return metric(m, "echod_connections_active") == kClients + 0.0 &&
               metric(m, "echod_backpressure_pauses_total") >= kClients;
      },
      milliseconds(10'000)))
      << "echod never stopped reading some of the slow readers";

  // Everyone else is still served, byte for byte, and the probes answer.
  Fd other = connect_tcp(echod.echo_port());
  const auto t0 = Clock::now();
  EXPECT_TRUE(echoes(other.get(), random_bytes(100'000, 3))) << "a normal client lost its echo";
  figure("other_client_100k_echo_ms", ms_since(t0));
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
  EXPECT_EQ(http_get(echod.admin_port(), "/readyz").status, 200);

  const std::string m = scrape(echod.admin_port());
  EXPECT_GE(metric(m, "echod_backpressure_pauses_total"), kClients * 0.9)
      << "slow readers should each have been paused";
  // What echod holds in user space is exactly what it read and has not written back.
  const double held = metric(m, "echod_received_bytes_total{protocol=\"tcp\"}") -
                      metric(m, "echod_sent_bytes_total{protocol=\"tcp\"}");
  figure("bytes_held_in_echod", held);
  EXPECT_LE(held, static_cast<double>(kClients) * kMaxPending) << "more than max-pending-bytes per connection";
  const long grown = rss_bytes(pid) - baseline;
  figure("rss_growth_bytes", static_cast<double>(grown));
  figure("rss_growth_per_slow_reader_bytes", static_cast<double>(grown) / kClients);
  // A pending tail is at most max-pending-bytes; allow 2x for allocator rounding plus 8 MiB.
  const long bound = kClients * 2 * kMaxPending + (8l << 20);
  EXPECT_LT(grown, bound) << "RSS grew by " << grown << " bytes for " << kClients
                          << " slow readers (bound " << bound << ")";

  // Nothing was lost: a sample of slow readers finally read, and get every byte in order.
  for (int i = 0; i < kClients; i += 100) {
    const int fd = slow[static_cast<std::size_t>(i)].get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ::shutdown(fd, SHUT_WR);
    const std::string back = recv_until_eof(fd, milliseconds(10'000));
    EXPECT_EQ(back.size(), sent[static_cast<std::size_t>(i)].size()) << "client " << i;
    EXPECT_TRUE(back == sent[static_cast<std::size_t>(i)]) << "client " << i << ": bytes differ";
  }
}

// Connections beyond max-connections: closed at once, counted exactly, probes stay 200,
// descriptors come back.
TEST(Floods, ConnectionsBeyondMaxConnectionsAreClosedAtOnceAndCounted) {
  constexpr int kLimit = 100;
  constexpr int kFlood = 2000;
  EchodProcess echod({"--workers", "2", "--max-connections", std::to_string(kLimit)});
  const pid_t pid = echod.process().pid();
  std::vector<Fd> held = connect_many(echod.echo_port(), kLimit);
  for (auto& fd : held) ASSERT_TRUE(fd && echoes(fd.get(), "held"));
  ASSERT_TRUE(wait_until([&] {
    return metric(scrape(echod.admin_port()), "echod_connections_active") == kLimit;
  }, milliseconds(5000)));
  const int fds_before = open_fd_count(pid);

  std::atomic<bool> stop{false};
  std::atomic<int> probe_failures{0};
  std::atomic<int> probes{0};
  double worst_probe_ms = 0;
  std::thread prober([&] {
    while (!stop.load()) {
      for (const char* path : {"/livez", "/readyz"}) {
        const auto t0 = Clock::now();
        if (http_get(echod.admin_port(), path).status != 200) ++probe_failures;
        worst_probe_ms = std::max(worst_probe_ms, ms_since(t0));
        ++probes;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  });

  std::vector<double> close_ms;
  int not_closed = 0;
  int connect_failed = 0;
  for (int batch = 0; batch < kFlood / 250; ++batch) {
    const auto t0 = Clock::now();
    std::vector<Fd> flood = connect_many(echod.echo_port(), 250);
    for (auto& fd : flood) {
      if (!fd) {
        ++connect_failed;
        continue;
      }
      if (!wait_for_eof(fd.get(), milliseconds(3000))) ++not_closed;
    }
    close_ms.push_back(ms_since(t0));
  }
  stop = true;
  prober.join();
  EXPECT_EQ(connect_failed, 0);
  EXPECT_EQ(not_closed, 0) << "connections beyond the limit must be closed at once";
  figure("flood_batch_250_closed_ms_max", *std::max_element(close_ms.begin(), close_ms.end()));
  EXPECT_EQ(probe_failures.load(), 0) << "of " << probes.load() << " probes";
  EXPECT_GT(probes.load(), 0);
  figure("probe_worst_ms_during_flood", worst_probe_ms);

  const std::string m = scrape(echod.admin_port());
  EXPECT_EQ(metric(m, "echod_connections_rejected_total{reason=\"max_connections\"}"), kFlood);
  EXPECT_EQ(metric(m, "echod_connections_active"), kLimit);
  for (auto& fd : held) EXPECT_TRUE(echoes(fd.get(), "still here"));
  int fds_after = 0;
  EXPECT_TRUE(wait_until([&] { return (fds_after = open_fd_count(pid)) <= fds_before; },
                         milliseconds(5000)))
      << "echod holds " << fds_after << " descriptors, " << fds_before << " before the flood";
  figure("fd_delta_after_flood", fds_after - fds_before);
}

// echod under RLIMIT_NOFILE=64 (prlimit), with more clients than descriptors.
class DescriptorExhaustion : public ::testing::Test {
 protected:
  static constexpr int kNoFile = 64;
  void SetUp() override {
    child_ = std::make_unique<ChildProcess>(
        "/usr/bin/prlimit",
        std::vector<std::string>{"--nofile=" + std::to_string(kNoFile) + ":" + std::to_string(kNoFile),
                                 "--", ECHOD_BINARY, "--workers", "1", "--listen", "127.0.0.1:0",
                                 "--admin-listen", "127.0.0.1:0"});
    auto line = child_->wait_for_line(
        [](const std::string& l) { return l.find("echod started") != std::string::npos; },
        milliseconds(10'000));
    ASSERT_TRUE(line) << child_->output();
    echo_port_ = port_from_log_field(*line, "echo_address");
    admin_port_ = port_from_log_field(*line, "admin_address");
    pid_ = child_->pid();  // prlimit execs echod: same process
  }

  /// Connects until `clients` connections are open; each is "served" (echoes) or "shed"
  /// (closed by echod at once).
  void saturate(int clients) {
    for (int i = 0; i < clients; ++i) {
      Fd fd = connect_tcp(echo_port_);
      ASSERT_TRUE(fd);
      if (echoes(fd.get(), "hello " + std::to_string(i), milliseconds(1000))) {
        served_.push_back(std::move(fd));
      } else {
        const auto t0 = Clock::now();
        EXPECT_TRUE(wait_for_eof(fd.get(), milliseconds(2000))) << "a shed client was left hanging";
        shed_ms_ = std::max(shed_ms_, ms_since(t0));
        ++shed_;
      }
    }
  }

  double cpu_over(milliseconds window) {
    const double c0 = cpu_seconds(pid_);
    std::this_thread::sleep_for(window);
    return cpu_seconds(pid_) - c0;
  }

  std::unique_ptr<ChildProcess> child_;
  std::uint16_t echo_port_ = 0, admin_port_ = 0;
  pid_t pid_ = 0;
  std::vector<Fd> served_;
  int shed_ = 0;
  double shed_ms_ = 0;
};

TEST_F(DescriptorExhaustion, EchoPortShedsWithoutSpinningAndRecovers) {
  saturate(2 * kNoFile);
  ASSERT_FALSE(HasFailure());
  figure("served_under_nofile_64", static_cast<double>(served_.size()));
  figure("shed_under_nofile_64", shed_);
  EXPECT_GT(served_.size(), 30u);
  EXPECT_GE(shed_, kNoFile / 2) << "more clients than descriptors, yet none was shed";

  // Saturated, with clients still knocking: echod must not spin on accept().
  std::vector<Fd> knocking;
  for (int i = 0; i < 20; ++i) knocking.push_back(connect_tcp(echo_port_));
  const double cpu = cpu_over(milliseconds(3000));
  figure("cpu_seconds_over_3s_saturated", cpu);
  EXPECT_LT(cpu, 0.3) << "echod burned " << cpu << " CPU-seconds in 3 s while out of descriptors";
  for (auto& fd : knocking) EXPECT_TRUE(wait_for_eof(fd.get(), milliseconds(2000)));
  knocking.clear();

  for (auto& fd : served_) EXPECT_TRUE(echoes(fd.get(), "still echoing"));
  EXPECT_EQ(child_->wait_exit(milliseconds(0)), std::nullopt) << "echod died";

  // Descriptors free up: new clients are served again.
  served_.resize(served_.size() - 10);
  Fd again;
  EXPECT_TRUE(wait_until([&] {
    again = connect_tcp(echo_port_);
    return again && echoes(again.get(), "back again", milliseconds(500));
  }, milliseconds(5000)));
  again.reset();
  served_.resize(served_.size() - 10);
  const std::string m = scrape(admin_port_);
  EXPECT_GE(metric(m, "echod_connections_rejected_total{reason=\"fd_limit\"}"), shed_);
}

// The kubelet keeps probing while echod is out of descriptors: the admin listener then has a
// connection it cannot accept, and must not turn that into a busy loop.
TEST_F(DescriptorExhaustion, AdminPortDoesNotSpinWhileOutOfDescriptors) {
  saturate(2 * kNoFile);
  ASSERT_FALSE(HasFailure());
  // Three probes: the first may still find a descriptor (e.g. the one a worker had just
  // released while shedding); the others surely wait in the admin listener's backlog.
  std::vector<Fd> probes;
  for (int i = 0; i < 3; ++i) {
    probes.push_back(connect_tcp(admin_port_));  // completes in the kernel's backlog
    ASSERT_TRUE(probes.back());
    ASSERT_TRUE(send_all(probes.back().get(),
                         "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::this_thread::sleep_for(milliseconds(100));
  }
  const double cpu = cpu_over(milliseconds(3000));
  figure("cpu_seconds_over_3s_admin_pending", cpu);
  EXPECT_LT(cpu, 0.3) << "echod burned " << cpu
                      << " CPU-seconds in 3 s with admin connections it could not accept";
  served_.clear();  // descriptors free: the pending probes are answered
  for (auto& probe : probes) {
    const std::string answer = recv_until_eof(probe.get(), milliseconds(5000));
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  }
}

}  // namespace
}  // namespace echod::test
