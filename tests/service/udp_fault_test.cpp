// UDP fault rules against a real echod: delay and corrupt per datagram, which rules reach
// datagrams, and the bound on held datagrams.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kDelayed = R"(echod_faults_injected_total{action="delay"})";
const std::string kCorrupted = R"(echod_faults_injected_total{action="corrupt"})";
const std::string kHeldFull = R"(echod_udp_dropped_total{reason="delay_queue_full"})";

bool metric_reaches(const EchodProcess& echod, const std::string& series, double value) {
  return wait_until([&] { return metric(echod.admin_port(), series) == value; }, milliseconds(5000));
}

std::string flipped(std::string s, std::initializer_list<std::size_t> at) {
  for (std::size_t i : at) s[i] = static_cast<char>(s[i] ^ 0xFF);
  return s;
}

TEST(UdpFaults, DelayHoldsTheAnswerThatLongWithItsBytesIntact) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"200ms","listener":"udp"}])", {"--udp"});
  Fd u = udp_socket();
  ASSERT_TRUE(u);
  const std::string sent = random_bytes(1200, 11);
  const auto start = Clock::now();
  const auto got = udp_echo(u.get(), echod.echo_port(), sent, milliseconds(5000));
  const auto rtt = Clock::now() - start;
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == sent);
  EXPECT_GE(rtt, milliseconds(200));
  EXPECT_TRUE(metric_reaches(echod, kDelayed, 1));
  // Counted once sendto() returned, which can be just after the answer reached us.
  EXPECT_TRUE(metric_reaches(echod, "echod_udp_datagrams_total", 1));
  EXPECT_EQ(metric(echod.admin_port(), R"(echod_sent_bytes_total{protocol="udp"})"), 1200);
}

// Sends `n` numbered datagrams at once and returns the answers in arrival order.
std::vector<std::string> echo_burst(const EchodProcess& echod, int n) {
  Fd u = udp_socket();
  for (int i = 0; i < n; ++i) send_to(u.get(), echod.echo_port(), "datagram " + std::to_string(i));
  std::vector<std::string> got;
  while (got.size() < static_cast<std::size_t>(n)) {
    const auto d = recv_datagram(u.get(), milliseconds(5000));
    if (!d) break;
    got.push_back(*d);
  }
  return got;
}

std::vector<std::string> numbered(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back("datagram " + std::to_string(i));
  return v;
}

TEST(UdpFaults, DelayKeepsTheOrderOfDatagrams) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"100ms","listener":"udp"}])", {"--udp"});
  EXPECT_EQ(echo_burst(echod, 30), numbered(30));
  EXPECT_TRUE(metric_reaches(echod, kDelayed, 30));
}

TEST(UdpFaults, JitterNeverReordersTheDatagramsOfOneRule) {
  EchodProcess echod =
      with_rules(R"([{"action":"delay","delay":"50ms","jitter":"200ms","listener":"udp"}])", {"--udp"});
  EXPECT_EQ(echo_burst(echod, 30), numbered(30));
}

TEST(UdpFaults, CorruptFlipsTheLastByteOfEachBlockOrOfAShorterDatagram) {
  EchodProcess echod = with_rules(R"([{"action":"corrupt","every_bytes":100,"listener":"udp"}])", {"--udp"});
  Fd u = udp_socket();
  const std::string a = random_bytes(350, 1);
  const std::string b = random_bytes(100, 2);
  const std::string c = random_bytes(40, 3);
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), a, milliseconds(5000)), flipped(a, {99, 199, 299}));
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), b, milliseconds(5000)), flipped(b, {99}));
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), c, milliseconds(5000)), flipped(c, {39}));
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), "", milliseconds(5000)), "");  // nothing to flip
  EXPECT_TRUE(metric_reaches(echod, kCorrupted, 3));
}

TEST(UdpFaults, AnyRulesReachDatagramsAndTcpRulesDoNot) {
  EchodProcess tcp_only = with_rules(R"([{"action":"corrupt","every_bytes":1,"listener":"tcp"}])", {"--udp"});
  Fd u = udp_socket();
  EXPECT_EQ(udp_echo(u.get(), tcp_only.echo_port(), "intact", milliseconds(5000)), "intact");
  Fd t = connect_tcp(tcp_only.echo_port());
  ASSERT_TRUE(send_all(t.get(), "ab"));
  EXPECT_EQ(recv_exact(t.get(), 2), flipped("ab", {0, 1}));
  EXPECT_TRUE(metric_reaches(tcp_only, kCorrupted, 1));  // the connection, not the datagram

  EchodProcess any = with_rules(R"([{"action":"corrupt","every_bytes":1}])", {"--udp"});
  EXPECT_EQ(udp_echo(u.get(), any.echo_port(), "ab", milliseconds(5000)), flipped("ab", {0, 1}));

  EchodProcess any_delay = with_rules(R"([{"action":"delay","delay":"200ms"}])", {"--udp"});
  const auto start = Clock::now();
  EXPECT_EQ(udp_echo(u.get(), any_delay.echo_port(), "late", milliseconds(5000)), "late");
  EXPECT_GE(Clock::now() - start, milliseconds(200));
  EXPECT_TRUE(metric_reaches(any_delay, kDelayed, 1));
}

TEST(UdpFaults, ConnectionOnlyRulesOfListenerAnyLeaveDatagramsAlone) {
  EchodProcess echod = with_rules(R"([{"action":"reset"},{"action":"corrupt","every_bytes":2}])", {"--udp"});
  Fd u = udp_socket();
  // The reset rule comes first but cannot act on a datagram: the corrupt rule does.
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), "abcd", milliseconds(5000)), flipped("abcd", {1, 3}));
}

// max-pending-bytes 1024: a worker holds at most 64 x 1024 = 65536 bytes of delayed datagrams,
// each charged its length + 256. 768-byte datagrams cost 1024 each: exactly 64 fit.
TEST(UdpFaults, HeldDatagramsAreBoundedAndTheOverflowIsCountedNotAnswered) {
  constexpr int kHeld = 64;
  constexpr int kSent = 200;
  constexpr auto kDelay = milliseconds(3000);
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"3s","listener":"udp"}])",
                                  {"--udp", "--max-pending-bytes", "1024"});
  Fd u = udp_socket();
  std::vector<std::string> sent;
  const auto start = Clock::now();
  // In steps the kernel's receive buffer always takes, each counted by echod before the next.
  for (int i = 0; i < kSent; ++i) {
    sent.push_back(random_bytes(768, 100 + static_cast<std::uint64_t>(i)));
    send_to(u.get(), echod.echo_port(), sent.back());
    if (i % 20 == 19 || i == kSent - 1) {
      ASSERT_TRUE(wait_until(
          [&] { return metric(echod.admin_port(), kDelayed) + metric(echod.admin_port(), kHeldFull) == i + 1; },
          milliseconds(5000)))
          << "echod did not count datagram " << i;
    }
  }
  ASSERT_LT(Clock::now() - start, kDelay) << "too slow: the first datagrams were released meanwhile";
  EXPECT_EQ(metric(echod.admin_port(), kDelayed), kHeld);
  EXPECT_EQ(metric(echod.admin_port(), kHeldFull), kSent - kHeld);
  // The held ones come back after the delay, in order; the others never.
  for (int i = 0; i < kHeld; ++i) {
    const auto d = recv_datagram(u.get(), milliseconds(10'000));
    ASSERT_TRUE(d) << "answer " << i << " missing";
    EXPECT_TRUE(*d == sent[static_cast<std::size_t>(i)]) << "answer " << i;
  }
  EXPECT_GE(Clock::now() - start, kDelay);
  EXPECT_FALSE(recv_datagram(u.get(), milliseconds(300)));
  // The bound is free again: a new datagram is held and answered.
  const std::string more = random_bytes(768, 7);
  EXPECT_EQ(udp_echo(u.get(), echod.echo_port(), more, milliseconds(10'000)), more);
  EXPECT_EQ(metric(echod.admin_port(), kDelayed), kHeld + 1);
  EXPECT_TRUE(metric_reaches(echod, "echod_udp_datagrams_total", kHeld + 1));
}

// Graceful shutdown wins over a rule: when the drain closes the UDP socket, what a delay
// rule holds is answered at once, in order, and echod exits 0.
TEST(UdpFaults, DatagramsStillHeldAtShutdownAreAnsweredBeforeTheSocketCloses) {
  EchodProcess echod = with_rules(R"([{"action":"delay","delay":"1h","listener":"udp"}])", {"--udp"});
  Fd u = udp_socket();
  std::vector<std::string> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back(random_bytes(1000, static_cast<std::uint64_t>(i)));
    send_to(u.get(), echod.echo_port(), sent.back());
  }
  ASSERT_TRUE(metric_reaches(echod, kDelayed, 10));
  echod.signal(SIGTERM);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const std::optional<std::string> back = recv_datagram(u.get(), milliseconds(10'000));
    ASSERT_TRUE(back) << "datagram " << i << " was lost at shutdown";
    EXPECT_TRUE(*back == sent[i]) << "datagram " << i;
  }
  EXPECT_EQ(echod.wait_exit(milliseconds(10'000)), 0) << echod.process().output();
}

}  // namespace
}  // namespace echod::test
