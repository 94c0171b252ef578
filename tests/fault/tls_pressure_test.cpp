// Fault tier, TLS echo listener under pressure: slowloris handshakes by the ten thousand
// (connected, then nothing or half a ClientHello), handshakes stalled after the ClientHello,
// and TLS clients that send and never read. Each test asserts numbers (RSS per connection,
// exact counters, plaintext held) and that other TLS and plain clients still echo.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "admin_client.h"
#include "fault_support.h"
#include "tls_support.h"

namespace echod::test {
namespace {

// Opens `n` connections in batches (the listen backlog is finite) and waits until echod has
// accepted every one of them (`already` were open before).
std::vector<Fd> open_and_wait_accepted(const EchodProcess& echod, std::uint16_t port, int n,
                                       int already) {
  std::vector<Fd> all;
  constexpr int kBatch = 1000;
  for (int done = 0; done < n; done += kBatch) {
    std::vector<Fd> batch = connect_many(port, std::min(kBatch, n - done));
    for (auto& fd : batch) all.push_back(std::move(fd));
    const double want = already + static_cast<double>(all.size());
    EXPECT_TRUE(wait_until(
        [&] { return metric(scrape(echod.admin_port()), "echod_connections_active") == want; },
        milliseconds(20'000), milliseconds(50)))
        << "echod did not accept batch " << done / kBatch;
  }
  return all;
}

void expect_others_served(const EchodProcess& echod, std::uint16_t tls_port,
                          const std::string& ca) {
  TlsClientOptions o;
  o.ca_file = ca;
  TlsClient tls(tls_port, o);
  ASSERT_TRUE(tls.connected()) << tls.error();
  EXPECT_TRUE(tls.echoes(random_bytes(100'000, 9))) << "a TLS client lost its echo";
  Fd plain = connect_tcp(echod.echo_port());
  EXPECT_TRUE(echoes(plain.get(), random_bytes(100'000, 10))) << "a plain client lost its echo";
  EXPECT_EQ(http_get(echod.admin_port(), "/livez").status, 200);
}

class TlsPressure : public ::testing::Test {
 protected:
  void SetUp() override {
    files_.make_ca("ca");
    files_.make_leaf("server", "ca", 1);
  }
  EchodProcess start(std::vector<std::string> extra) {
    std::vector<std::string> args = files_.listener_args();
    args.insert(args.end(), extra.begin(), extra.end());
    return EchodProcess(args);
  }
  TlsFiles files_;
};

// 10,000 TLS connections that never finish a handshake: half send nothing, half a record
// header and a few bytes of a ClientHello. Before the whole first record is in, echod holds
// no SSL object for them, so they cost about what a plain idle connection costs.
TEST_F(TlsPressure, TenThousandSlowlorisHandshakesCostLittleAndBlockNobody) {
  constexpr int kHalfDone = 10'000;
  EchodProcess echod = start({"--workers", "2", "--max-connections", "20000",
                              "--tls-handshake-timeout", "10m", "--idle-timeout", "10m"});
  const pid_t pid = echod.process().pid();
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));  // warm both paths
  const long baseline = rss_bytes(pid);

  std::vector<Fd> held = open_and_wait_accepted(echod, echod.tls_port(), kHalfDone, 0);
  const std::string hello = client_hello();
  ASSERT_GT(hello.size(), 60u);
  int partial = 0;
  for (std::size_t i = 0; i < held.size(); i += 2) {
    ASSERT_TRUE(held[i]) << "connect " << i;
    // The record header says the whole ClientHello is coming; 40 bytes of it arrive.
    ASSERT_TRUE(send_all(held[i].get(), hello.substr(0, 40)));
    ++partial;
  }
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));
  const long grown = rss_bytes(pid) - baseline;
  figure("tls_half_done_handshakes", kHalfDone);
  figure("tls_half_done_with_partial_client_hello", partial);
  figure("rss_growth_bytes", static_cast<double>(grown));
  figure("rss_per_half_done_handshake_bytes", static_cast<double>(grown) / kHalfDone);
  // The connection object, its epoll registration and the allocator's share: well under a
  // kilobyte each. A half-read ClientHello inside OpenSSL would cost 16+ KiB apiece.
  EXPECT_LT(grown, kHalfDone * 1024l + (4l << 20)) << "RSS grew by " << grown;

  const std::string m = scrape(echod.admin_port());
  EXPECT_EQ(metric(m, "echod_connections_active"), kHalfDone);
  EXPECT_EQ(metric(m, "echod_tls_handshakes_total{result=\"failure\"}"), 0);
  EXPECT_EQ(metric(m, "echod_tls_handshakes_total{result=\"success\"}"), 2);
}

// Handshakes stalled after a whole ClientHello: echod answered and waits for the client's
// Finished. These do hold an SSL object; the figure says how much.
TEST_F(TlsPressure, HandshakesStalledAfterTheClientHelloAreBoundedAndFreedWhenClientsLeave) {
  constexpr int kStalled = 1000;
  EchodProcess echod = start({"--workers", "2", "--tls-handshake-timeout", "10m"});
  const pid_t pid = echod.process().pid();
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));
  const long baseline = rss_bytes(pid);
  std::vector<Fd> held = open_and_wait_accepted(echod, echod.tls_port(), kStalled, 0);
  const std::string hello = client_hello();
  for (auto& fd : held) {
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_all(fd.get(), hello));
  }
  // Each gets a ServerHello back: then echod has its SSL object.
  for (auto& fd : held) EXPECT_GE(recv_exact(fd.get(), 5, milliseconds(20'000)).size(), 5u);
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));
  const long grown = rss_bytes(pid) - baseline;
  figure("tls_stalled_handshakes", kStalled);
  figure("rss_per_stalled_handshake_bytes", static_cast<double>(grown) / kStalled);
  EXPECT_LT(grown, kStalled * 64l * 1024) << "RSS grew by " << grown;

  // Clients that go away mid-handshake are failed handshakes, and nothing stays behind.
  held.clear();
  EXPECT_TRUE(wait_until(
      [&] { return metric(scrape(echod.admin_port()), "echod_connections_active") == 0; },
      milliseconds(20'000)));
  EXPECT_EQ(metric(scrape(echod.admin_port()), "echod_tls_handshakes_total{result=\"failure\"}"),
            kStalled);
}

// TLS clients that send and never read: each is held to max-pending-bytes of plaintext, and
// the rest are served.
TEST_F(TlsPressure, TlsSlowReadersAreHeldAtMaxPendingBytesOfPlaintext) {
  constexpr int kClients = 200;
  constexpr long kMaxPending = 16384;
  EchodProcess echod =
      start({"--workers", "2", "--max-pending-bytes", std::to_string(kMaxPending)});
  const pid_t pid = echod.process().pid();
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));
  const long baseline = rss_bytes(pid);
  TlsClientOptions o;
  o.ca_file = files_.cert("ca");
  std::vector<std::unique_ptr<TlsClient>> slow;
  for (int i = 0; i < kClients; ++i) {
    slow.push_back(std::make_unique<TlsClient>(echod.tls_port(), o));
    ASSERT_TRUE(slow.back()->connected()) << slow.back()->error();
    int rcv = 4096;
    ::setsockopt(slow.back()->fd(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    ::fcntl(slow.back()->fd(), F_SETFL, ::fcntl(slow.back()->fd(), F_GETFL) | O_NONBLOCK);
  }
  // Round-robin writes until every client is blocked and echod paused every connection.
  const std::string chunk = random_bytes(16384, 4);
  std::vector<bool> blocked(kClients, false);
  ASSERT_TRUE(wait_until(
      [&] {
        for (int i = 0; i < kClients; ++i) {
          bool b = false;
          while (slow[static_cast<std::size_t>(i)]->try_send(chunk, &b)) {
          }
          blocked[static_cast<std::size_t>(i)] = b;
        }
        return metric(scrape(echod.admin_port()), "echod_backpressure_pauses_total") >= kClients;
      },
      milliseconds(30'000), milliseconds(20)))
      << "echod never paused some TLS slow readers";
  expect_others_served(echod, echod.tls_port(), files_.cert("ca"));
  const std::string m = scrape(echod.admin_port());
  const double held = metric(m, "echod_received_bytes_total{protocol=\"tls\"}") -
                      metric(m, "echod_sent_bytes_total{protocol=\"tls\"}");
  figure("tls_plaintext_held_in_echod", held);
  EXPECT_LE(held, static_cast<double>(kClients) * kMaxPending);
  const long grown = rss_bytes(pid) - baseline;
  figure("rss_per_tls_slow_reader_bytes", static_cast<double>(grown) / kClients);
  // max-pending-bytes of plaintext, one TLS record being written (~17 KiB), the SSL object.
  EXPECT_LT(grown, kClients * (2 * kMaxPending + 64l * 1024) + (8l << 20))
      << "RSS grew by " << grown;
}

}  // namespace
}  // namespace echod::test
