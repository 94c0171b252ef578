// Fault rules on the TLS listener against a real echod: every connection action acts on the
// plaintext stream (what the TLS client reads after decryption), with exact expectations.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "echod_process.h"
#include "net_helpers.h"
#include "tls_support.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

class TlsFault : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { files_ = TlsFiles::standard().release(); }
  static void TearDownTestSuite() {
    delete files_;
    files_ = nullptr;
  }

  // One worker, so every connection meets the same rule state and counters.
  static std::unique_ptr<EchodProcess> start(const std::string& rules,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = files_->listener_args();
    args.insert(args.end(), {"--workers", "1", "--faults", rules});
    args.insert(args.end(), extra.begin(), extra.end());
    auto echod = std::make_unique<EchodProcess>(args);
    EXPECT_NE(echod->tls_port(), 0);
    return echod;
  }
  static std::unique_ptr<TlsClient> client(const EchodProcess& echod) {
    TlsClientOptions o;
    o.ca_file = files_->cert("ca");
    auto c = std::make_unique<TlsClient>(const_cast<EchodProcess&>(echod).tls_port(), o);
    EXPECT_TRUE(c->connected()) << c->error();
    return c;
  }
  static double count(const EchodProcess& echod, const std::string& series) {
    return metric(const_cast<EchodProcess&>(echod).admin_port(), series);
  }
  static bool injected(const EchodProcess& echod, const std::string& action, double n) {
    return wait_until(
        [&] { return count(echod, R"(echod_faults_injected_total{action=")" + action + "\"}") == n; },
        milliseconds(5000));
  }

  static TlsFiles* files_;
};
TlsFiles* TlsFault::files_ = nullptr;

TEST_F(TlsFault, CloseAfterBytesEchoesExactlyThatManyThenCloseNotify) {
  auto echod = start(R"([{"action":"close","after_bytes":10000,"listener":"tls"}])");
  auto c = client(*echod);
  const std::string sent = random_bytes(20000, 7);
  ASSERT_TRUE(c->send_all(sent));
  const TlsClient::Ending e = c->read_to_end();
  EXPECT_EQ(e.bytes.size(), 10000u);
  EXPECT_TRUE(e.bytes == sent.substr(0, 10000));
  EXPECT_TRUE(e.close_notify) << "expected close_notify";
  EXPECT_TRUE(e.eof_after) << "expected FIN after close_notify";
  EXPECT_FALSE(e.reset);
  EXPECT_TRUE(injected(*echod, "close", 1));
}

TEST_F(TlsFault, CloseAfterADurationSendsCloseNotify) {
  auto echod = start(R"([{"action":"close","after":"300ms","listener":"tls"}])");
  const auto opened = Clock::now();
  auto c = client(*echod);
  EXPECT_TRUE(c->echoes("before the cut"));
  const TlsClient::Ending e = c->read_to_end();
  EXPECT_GE(Clock::now() - opened, milliseconds(300));
  EXPECT_TRUE(e.bytes.empty());
  EXPECT_TRUE(e.close_notify);
  EXPECT_TRUE(injected(*echod, "close", 1));
}

TEST_F(TlsFault, ResetAfterBytesEchoesThenSendsRst) {
  auto echod = start(R"([{"action":"reset","after_bytes":1000,"listener":"tls"}])");
  auto c = client(*echod);
  const std::string sent = random_bytes(500, 1);
  ASSERT_TRUE(c->send_all(sent));
  EXPECT_TRUE(c->recv_exact(500) == sent);  // under the threshold: a plain echo
  ASSERT_TRUE(c->send_all(random_bytes(600, 2)));
  const TlsClient::Ending e = c->read_to_end();
  EXPECT_TRUE(e.reset) << "expected ECONNRESET";
  EXPECT_FALSE(e.close_notify);
  EXPECT_LE(e.bytes.size(), 500u);  // never more than the 1000 bytes in total
  EXPECT_TRUE(injected(*echod, "reset", 1));
}

TEST_F(TlsFault, CorruptFlipsExactlyOnePlaintextBytePerBlock) {
  auto echod = start(R"([{"action":"corrupt","every_bytes":1000,"listener":"tls"}])");
  auto c = client(*echod);
  const std::string sent = random_bytes(10000, 9);
  // In pieces (several TLS records), so the flipped positions must survive boundaries.
  for (std::size_t off = 0; off < sent.size(); off += 777) {
    ASSERT_TRUE(c->send_all(sent.substr(off, 777)));
  }
  const std::string back = c->recv_exact(sent.size());
  ASSERT_EQ(back.size(), sent.size());
  for (std::size_t block = 0; block < 10; ++block) {
    int differing = 0;
    for (std::size_t i = block * 1000; i < (block + 1) * 1000; ++i) differing += back[i] != sent[i];
    EXPECT_EQ(differing, 1) << "block " << block;
  }
  EXPECT_TRUE(injected(*echod, "corrupt", 1));
}

TEST_F(TlsFault, DelayHoldsEveryEchoAndKeepsBytes) {
  auto echod = start(R"([{"action":"delay","delay":"200ms","listener":"tls"}])");
  auto c = client(*echod);
  for (std::uint64_t i = 0; i < 3; ++i) {
    const std::string msg = random_bytes(3000, 20 + i);
    const auto sent_at = Clock::now();
    ASSERT_TRUE(c->send_all(msg));
    EXPECT_TRUE(c->recv_exact(msg.size()) == msg);
    EXPECT_GE(Clock::now() - sent_at, milliseconds(200)) << "echo " << i;
  }
  EXPECT_TRUE(injected(*echod, "delay", 1));
}

TEST_F(TlsFault, BandwidthPacesTheEcho) {
  auto echod = start(R"([{"action":"bandwidth","bytes_per_second":20000,"listener":"tls"}])");
  auto c = client(*echod);
  const std::string sent = random_bytes(30000, 5);
  const auto start_at = Clock::now();
  ASSERT_TRUE(c->send_all(sent));
  EXPECT_TRUE(c->recv_exact(sent.size()) == sent);
  // The bucket starts empty: 30000 bytes at 20000/s take 1.5 s (a slice of slack).
  EXPECT_GE(Clock::now() - start_at, milliseconds(1400));
  EXPECT_TRUE(injected(*echod, "bandwidth", 1));
}

TEST_F(TlsFault, StallStopsEchoingAndEndsAtIdleTimeout) {
  auto echod = start(R"([{"action":"stall","after_bytes":100,"listener":"tls"}])",
                     {"--idle-timeout", "1s"});
  auto c = client(*echod);
  const std::string first = random_bytes(100, 3);
  ASSERT_TRUE(c->send_all(first));
  EXPECT_TRUE(c->recv_exact(100) == first);
  const auto stalled_at = Clock::now();
  ASSERT_TRUE(c->send_all("more"));
  EXPECT_EQ(c->recv_exact(4, milliseconds(400)), "");  // nothing comes back
  EXPECT_EQ(count(*echod, "echod_connections_active"), 1);  // still counted
  const TlsClient::Ending e = c->read_to_end();
  EXPECT_TRUE(e.bytes.empty());
  EXPECT_GE(Clock::now() - stalled_at, milliseconds(900));  // idle-timeout ended it
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_connections_closed_total{reason="idle_timeout"})") == 1; },
      milliseconds(3000)));
  EXPECT_TRUE(injected(*echod, "stall", 1));
}

TEST_F(TlsFault, StallAtAcceptLeavesTheHandshakeUnansweredUntilItsTimeout) {
  auto echod = start(R"([{"action":"stall","listener":"tls"}])", {"--tls-handshake-timeout", "1s"});
  TlsClientOptions o;
  o.ca_file = files_->cert("ca");
  const auto started = Clock::now();
  TlsClient c(echod->tls_port(), o);  // blocks until echod gives up on the handshake
  EXPECT_FALSE(c.connected()) << "a stalled backend must not complete the handshake";
  EXPECT_GE(Clock::now() - started, milliseconds(900));
  EXPECT_TRUE(injected(*echod, "stall", 1));
  EXPECT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_tls_handshakes_total{result="timeout"})") == 1; },
      milliseconds(3000)));
}

TEST_F(TlsFault, AnyRuleHitsTlsAndTcpAlike) {
  auto echod = start(R"([{"action":"corrupt","every_bytes":10}])");
  auto c = client(*echod);
  const std::string msg = "0123456789";
  ASSERT_TRUE(c->send_all(msg));
  const std::string tls_back = c->recv_exact(msg.size());
  ASSERT_EQ(tls_back.size(), msg.size());
  EXPECT_EQ(tls_back.substr(0, 9), msg.substr(0, 9));
  EXPECT_NE(tls_back[9], msg[9]);
  Fd plain = connect_tcp(echod->echo_port());
  ASSERT_TRUE(send_all(plain.get(), msg));
  const std::string tcp_back = recv_exact(plain.get(), msg.size());
  ASSERT_EQ(tcp_back.size(), msg.size());
  EXPECT_NE(tcp_back[9], msg[9]);
  EXPECT_TRUE(injected(*echod, "corrupt", 2));
}

TEST_F(TlsFault, TcpRulesStillLeaveTlsAlone) {
  auto echod = start(R"([{"action":"close","after_bytes":5,"listener":"tcp"}])");
  auto c = client(*echod);
  const std::string msg = random_bytes(5000, 11);
  EXPECT_TRUE(c->echoes(msg));
}

// Delayed plaintext is held within max-pending-bytes: a client that sends and never reads
// meets backpressure, echod does not buffer what it sends.
TEST_F(TlsFault, DelayedBytesStayWithinMaxPendingBytes) {
  auto echod = start(R"([{"action":"delay","delay":"100ms","listener":"tls"}])",
                     {"--max-pending-bytes", "16384"});
  auto c = client(*echod);
  ::fcntl(c->fd(), F_SETFL, ::fcntl(c->fd(), F_GETFL) | O_NONBLOCK);
  const std::string chunk = random_bytes(16384, 4);
  std::uint64_t sent = 0;
  bool blocked = false;
  const auto deadline = Clock::now() + milliseconds(5000);
  // Send until the client's writes block for good (both kernels' buffers and echod's held
  // bytes full), waiting on the condition rather than a fixed sleep.
  while (Clock::now() < deadline) {
    if (c->try_send(chunk, &blocked)) {
      sent += chunk.size();
      continue;
    }
    ASSERT_TRUE(blocked) << c->error();
    if (!wait_until([&] { return c->try_send(chunk, &blocked) && (sent += chunk.size(), true); },
                    milliseconds(500))) {
      break;
    }
  }
  ASSERT_TRUE(blocked) << "echod kept reading from a client that never reads";
  const double received = count(*echod, R"(echod_received_bytes_total{protocol="tls"})");
  const double echoed = count(*echod, R"(echod_sent_bytes_total{protocol="tls"})");
  EXPECT_LE(received - echoed, 16384.0 + 16384.0);  // held, plus the last record's slack
  EXPECT_GT(sent, 0u);
}

// Graceful shutdown: what a delay rule still holds when the drain times out goes out, then
// close_notify (as on the plain listener).
TEST_F(TlsFault, GracefulShutdownSendsWhatADelayRuleStillHolds) {
  auto echod = start(R"([{"action":"delay","delay":"60s","listener":"tls"}])",
                     {"--drain-timeout", "300ms"});
  auto c = client(*echod);
  const std::string sent = random_bytes(5000, 42);
  ASSERT_TRUE(c->send_all(sent));
  ASSERT_TRUE(wait_until(
      [&] { return count(*echod, R"(echod_received_bytes_total{protocol="tls"})") == 5000; },
      milliseconds(3000)));
  echod->signal(SIGTERM);
  const TlsClient::Ending e = c->read_to_end();
  EXPECT_TRUE(e.bytes == sent) << e.bytes.size() << " of 5000 bytes came back";
  EXPECT_TRUE(e.close_notify);
  EXPECT_FALSE(e.reset);
  EXPECT_EQ(echod->wait_exit(milliseconds(5000)), 0);
}

}  // namespace
}  // namespace echod::test
