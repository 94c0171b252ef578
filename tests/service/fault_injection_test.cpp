// Fault rules against a real echod (issue 13): every action with exact expectations.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <thread>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

/// How a read loop ended: bytes, then EOF (clean), a reset, or the timeout.
struct Ending {
  std::string bytes;
  bool eof = false;
  bool reset = false;
};

Ending read_to_end(int fd, milliseconds timeout) {
  Ending e;
  const auto deadline = Clock::now() + timeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return e;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      e.bytes.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      e.eof = true;
      return e;
    } else if (errno != EINTR) {
      e.reset = errno == ECONNRESET;
      return e;
    }
  }
}

TEST(FaultInjection, CloseAfterBytesEchoesExactlyThatManyThenFin) {
  EchodProcess echod = with_rules(R"([{"action":"close","after_bytes":10000}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string sent = random_bytes(20000, 7);
  ASSERT_TRUE(send_all(fd.get(), sent));
  const Ending e = read_to_end(fd.get(), milliseconds(5000));
  EXPECT_EQ(e.bytes.size(), 10000u);
  EXPECT_TRUE(e.bytes == sent.substr(0, 10000));
  EXPECT_TRUE(e.eof) << "expected FIN";
  EXPECT_FALSE(e.reset) << "expected FIN, got RST";
  EXPECT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), R"(echod_faults_injected_total{action="close"})") == 1; },
      milliseconds(3000)));
}

TEST(FaultInjection, CloseAfterADurationSendsFin) {
  EchodProcess echod = with_rules(R"([{"action":"close","after":"300ms"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const auto start = Clock::now();
  ASSERT_TRUE(send_all(fd.get(), "hello"));
  EXPECT_EQ(recv_exact(fd.get(), 5), "hello");
  const Ending e = read_to_end(fd.get(), milliseconds(5000));
  EXPECT_TRUE(e.eof);
  EXPECT_GE(Clock::now() - start, milliseconds(290));
}

TEST(FaultInjection, ResetAtAcceptSendsRst) {
  EchodProcess echod = with_rules(R"([{"action":"reset"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const Ending e = read_to_end(fd.get(), milliseconds(5000));
  EXPECT_TRUE(e.reset);
  EXPECT_TRUE(e.bytes.empty());
}

TEST(FaultInjection, ResetAfterBytesEchoesThenSendsRst) {
  EchodProcess echod = with_rules(R"([{"action":"reset","after_bytes":1000}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string sent = random_bytes(500, 1);
  ASSERT_TRUE(send_all(fd.get(), sent));
  EXPECT_TRUE(recv_exact(fd.get(), 500) == sent);  // under the threshold: a plain echo
  ASSERT_TRUE(send_all(fd.get(), random_bytes(600, 2)));
  const Ending e = read_to_end(fd.get(), milliseconds(5000));
  EXPECT_TRUE(e.reset);
  EXPECT_LE(e.bytes.size(), 500u);  // never more than the 1000 bytes in total
}

TEST(FaultInjection, StallStopsEchoingAndEndsAtIdleTimeout) {
  EchodProcess echod =
      with_rules(R"([{"action":"stall","after_bytes":100}])", {"--idle-timeout", "1s"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string first = random_bytes(100, 3);
  ASSERT_TRUE(send_all(fd.get(), first));
  EXPECT_TRUE(recv_exact(fd.get(), 100) == first);
  const auto stalled_at = Clock::now();
  ASSERT_TRUE(send_all(fd.get(), "more"));
  EXPECT_EQ(recv_exact(fd.get(), 4, milliseconds(400)), "");  // nothing comes back
  EXPECT_EQ(metric(echod.admin_port(), "echod_connections_active"), 1);  // still counted
  const Ending e = read_to_end(fd.get(), milliseconds(5000));
  EXPECT_TRUE(e.eof || e.reset);
  EXPECT_TRUE(e.bytes.empty());
  EXPECT_GE(Clock::now() - stalled_at, milliseconds(900));  // idle-timeout ended it
  EXPECT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), R"(echod_connections_closed_total{reason="idle_timeout"})") == 1; },
      milliseconds(3000)));
}

TEST(FaultInjection, StalledConnectionsCountAgainstMaxConnections) {
  EchodProcess echod = with_rules(R"([{"action":"stall"}])", {"--max-connections", "2"});
  Fd a = connect_tcp(echod.echo_port());
  Fd b = connect_tcp(echod.echo_port());
  ASSERT_TRUE(wait_until([&] { return metric(echod.admin_port(), "echod_connections_active") == 2; },
                         milliseconds(3000)));
  Fd c = connect_tcp(echod.echo_port());
  ASSERT_TRUE(c);
  const Ending e = read_to_end(c.get(), milliseconds(3000));
  EXPECT_TRUE(e.eof || e.reset) << "the third connection must be rejected";
  // echod closes before it counts: wait for the counter rather than read it once.
  EXPECT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), R"(echod_connections_rejected_total{reason="max_connections"})") == 1; },
      milliseconds(3000)));
}

TEST(FaultInjection, CorruptFlipsExactlyOneBytePerBlock) {
  EchodProcess echod = with_rules(R"([{"action":"corrupt","every_bytes":1000}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string sent = random_bytes(10000, 9);
  // In pieces, so the flipped positions must survive chunk boundaries.
  for (std::size_t off = 0; off < sent.size(); off += 777) {
    ASSERT_TRUE(send_all(fd.get(), sent.substr(off, 777)));
  }
  const std::string back = recv_exact(fd.get(), sent.size());
  ASSERT_EQ(back.size(), sent.size());
  for (std::size_t block = 0; block < 10; ++block) {
    int differing = 0;
    for (std::size_t i = block * 1000; i < (block + 1) * 1000; ++i) differing += back[i] != sent[i];
    EXPECT_EQ(differing, 1) << "block " << block;
    EXPECT_NE(back[block * 1000 + 999], sent[block * 1000 + 999]);
  }
}

TEST(FaultInjection, DelayHoldsEveryEchoAndKeepsBytesInOrder) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"200ms","jitter":"50ms"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  for (int round = 0; round < 3; ++round) {
    const std::string msg = random_bytes(64, static_cast<std::uint64_t>(round));
    const auto start = Clock::now();
    ASSERT_TRUE(send_all(fd.get(), msg));
    const std::string back = recv_exact(fd.get(), msg.size());
    const auto rtt = Clock::now() - start;
    EXPECT_TRUE(back == msg);
    EXPECT_GE(rtt, milliseconds(200));
    EXPECT_LT(rtt, milliseconds(2000));
  }
  // Pipelined with jitter: still every byte, in order.
  std::string all;
  for (int i = 0; i < 50; ++i) {
    const std::string part = random_bytes(100, 100 + static_cast<std::uint64_t>(i));
    all += part;
    ASSERT_TRUE(send_all(fd.get(), part));
    std::this_thread::sleep_for(milliseconds(2));  // separate reads on echod's side
  }
  EXPECT_TRUE(recv_exact(fd.get(), all.size()) == all);
}

TEST(FaultInjection, BandwidthPacesTheEchoToTheRate) {
  EchodProcess echod = with_rules(R"([{"action":"bandwidth","bytes_per_second":200000}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string sent = random_bytes(400000, 11);
  const auto start = Clock::now();
  std::thread writer([&] { send_all(fd.get(), sent); });
  const std::string back = recv_exact(fd.get(), sent.size(), milliseconds(10000));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  writer.join();
  EXPECT_TRUE(back == sent);
  // The bucket starts empty: 400 kB at 200 kB/s takes 2 s; a burst is at most 1 s worth.
  EXPECT_GE(seconds, 1.0);
  EXPECT_LE(seconds, 4.0);
  EXPECT_GT(seconds, 1.8) << "paced at " << 400000 / seconds << " B/s";
}

TEST(FaultInjection, RefuseAcceptsAndClosesWhileReady) {
  EchodProcess echod = with_rules(R"([{"action":"refuse"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const Ending e = read_to_end(fd.get(), milliseconds(3000));
  EXPECT_TRUE(e.eof || e.reset);
  EXPECT_TRUE(e.bytes.empty());
  Fd admin = connect_tcp(echod.admin_port());
  send_all(admin.get(), "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(recv_until_eof(admin.get()).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(metric(echod.admin_port(), R"(echod_faults_injected_total{action="refuse"})"), 1);
}

TEST(FaultInjection, ProbabilityHoldsWithinBinomialBounds) {
  constexpr int kConnections = 400;
  constexpr double kP = 0.3;
  EchodProcess echod = with_rules(R"([{"action":"reset","probability":0.3}])");
  int resets = 0;
  int echoed = 0;
  for (int i = 0; i < kConnections; ++i) {
    Fd fd = connect_tcp(echod.echo_port());
    ASSERT_TRUE(fd);
    send_all(fd.get(), "x");
    const std::string back = recv_exact(fd.get(), 1, milliseconds(3000));
    if (back == "x") {
      ++echoed;
    } else {
      ++resets;
    }
  }
  // 5 sigma of Binomial(400, 0.3): mean 120, sigma sqrt(400 * 0.3 * 0.7) = 9.17.
  const double mean = kConnections * kP;
  const double bound = 5 * std::sqrt(kConnections * kP * (1 - kP));
  EXPECT_NEAR(resets, mean, bound) << "resets " << resets << " echoed " << echoed;
  EXPECT_EQ(resets + echoed, kConnections);
  EXPECT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), R"(echod_faults_injected_total{action="reset"})") == resets; },
      milliseconds(3000)));
}

TEST(FaultInjection, SourceMatchingPicksOnlyMatchingPeers) {
  // The first rule does not match loopback; the second does, so the third never applies.
  EchodProcess echod = with_rules(
      R"([{"action":"refuse","source":"10.0.0.0/8"},
          {"action":"corrupt","every_bytes":1,"source":"127.0.0.0/8"},
          {"action":"refuse"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), std::string(4, 'a')));
  EXPECT_EQ(recv_exact(fd.get(), 4), std::string(4, static_cast<char>('a' ^ 0xFF)));
  EXPECT_EQ(metric(echod.admin_port(), R"(echod_faults_injected_total{action="refuse"})"), 0);

  EchodProcess plain = with_rules(R"([{"action":"refuse","source":"192.0.2.0/24"}])");
  Fd ok = connect_tcp(plain.echo_port());
  ASSERT_TRUE(send_all(ok.get(), "abc"));
  EXPECT_EQ(recv_exact(ok.get(), 3), "abc");
}

TEST(FaultInjection, DelayedEchoToAPeerThatNeverReadsHoldsBoundedMemory) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"50ms"}])");
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  int small = 64 * 1024;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  const long rss_before = rss_bytes(echod.process().pid());
  const std::string chunk(65536, 'z');
  std::size_t pushed = 0;
  const auto deadline = Clock::now() + milliseconds(2000);
  while (Clock::now() < deadline) {
    const ssize_t n = ::send(fd.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) {
      pushed += static_cast<std::size_t>(n);
    } else {
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
  const long rss_after = rss_bytes(echod.process().pid());
  // echod holds at most max-pending-bytes (64 KiB) plus kernel buffers: the client is
  // stopped by TCP long before it could send much.
  EXPECT_LT(pushed, 64u << 20) << "echod kept reading from a peer that never reads";
  if (!ECHOD_SANITIZED) {
    EXPECT_LT(rss_after - rss_before, 8L << 20);  // shadow memory lies
  }
}

TEST(FaultInjection, WithoutRulesNothingIsInjectedAndEveryActionIsExported) {
  EchodProcess echod({"--workers", "1"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(fd.get(), "plain"));
  EXPECT_EQ(recv_exact(fd.get(), 5), "plain");
  for (const char* a : {"delay", "bandwidth", "close", "reset", "stall", "refuse", "corrupt", "drop"}) {
    EXPECT_EQ(metric(echod.admin_port(),
                     std::string("echod_faults_injected_total{action=\"") + a + "\"}"),
              0)
        << a;
  }
  EXPECT_EQ(metric(echod.admin_port(), "echod_fault_rules"), 0);
}

// --- UDP ---

TEST(FaultInjection, UdpDropLosesDatagramsAndTcpIsUntouched) {
  EchodProcess echod = with_rules(R"([{"action":"drop"}])", {"--udp"});
  Fd u = udp_socket();
  ASSERT_TRUE(u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(udp_echo(u.get(), echod.echo_port(), "ping", milliseconds(200)));
  }
  EXPECT_EQ(metric(echod.admin_port(), R"(echod_faults_injected_total{action="drop"})"), 5);
  Fd t = connect_tcp(echod.echo_port());  // drop applies to datagrams only
  ASSERT_TRUE(send_all(t.get(), "tcp"));
  EXPECT_EQ(recv_exact(t.get(), 3), "tcp");
}

TEST(FaultInjection, UdpDropHonoursSourceAndProbability) {
  EchodProcess none = with_rules(R"([{"action":"drop","source":"10.1.0.0/16"}])", {"--udp"});
  Fd u = udp_socket();
  EXPECT_EQ(udp_echo(u.get(), none.echo_port(), "kept", milliseconds(2000)), "kept");

  constexpr int kDatagrams = 400;
  EchodProcess half = with_rules(R"([{"action":"drop","probability":0.5}])", {"--udp"});
  int answered = 0;
  for (int i = 0; i < kDatagrams; ++i) {
    if (udp_echo(u.get(), half.echo_port(), "d" + std::to_string(i), milliseconds(100))) ++answered;
  }
  // 5 sigma of Binomial(400, 0.5) = 50.
  EXPECT_NEAR(answered, kDatagrams / 2, 50);
}

// "Nothing a client sent is lost during a graceful shutdown": what a delay (or bandwidth)
// rule still holds when the drain times out goes out before the close, fault or not.
TEST(FaultInjection, GracefulShutdownSendsWhatADelayRuleStillHolds) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"60s"}])",
                                  {"--drain-timeout", "300ms"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string sent = random_bytes(5000, 41);
  ASSERT_TRUE(send_all(fd.get(), sent));
  ASSERT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), R"(echod_received_bytes_total{protocol="tcp"})") == 5000; },
      milliseconds(3000)));
  echod.signal(SIGTERM);
  const auto signalled = Clock::now();
  const Ending e = read_to_end(fd.get(), milliseconds(10'000));
  EXPECT_TRUE(e.bytes == sent) << e.bytes.size() << " of 5000 bytes came back";
  EXPECT_TRUE(e.eof);
  EXPECT_FALSE(e.reset);
  EXPECT_LT(Clock::now() - signalled, milliseconds(10'000)) << "the close waited for the delay";
  EXPECT_EQ(echod.wait_exit(milliseconds(5000)), 0);
}

}  // namespace
}  // namespace echod::test
