// The PROXY protocol on the echo listener (SPEC "PROXY protocol on the echo listeners"),
// against a real echod with hand-made headers: header bytes are never echoed, everything
// after them is; no auto-detection; LOCAL echoes without an address; trusted sources, the
// header timeout and fault-rule `source` matching use the right address; all counted.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "echod_process.h"
#include "net_helpers.h"

namespace echod::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string v1(const std::string& src, int sport) {
  return "PROXY TCP4 " + src + " 198.51.100.1 " + std::to_string(sport) + " 7007\r\n";
}

/// A v2 header: `command` 0 (LOCAL) or 1 (PROXY), TCP over IPv4, with one NOOP TLV of
/// `tlv_bytes` so the parser must walk TLVs to find the header's end.
std::string v2(int command, const std::uint8_t src[4], std::uint16_t sport,
               std::size_t tlv_bytes = 0) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x20 | command);
  h += static_cast<char>(0x11);  // AF_INET, STREAM
  const std::size_t len = 12 + (tlv_bytes > 0 ? 3 + tlv_bytes : 0);
  h += static_cast<char>(len >> 8);
  h += static_cast<char>(len & 0xff);
  h.append(reinterpret_cast<const char*>(src), 4);
  h += std::string("\xC6\x33\x64\x01", 4);  // 198.51.100.1
  h += static_cast<char>(sport >> 8);
  h += static_cast<char>(sport & 0xff);
  h += std::string("\x1B\x5F", 2);  // 7007
  if (tlv_bytes > 0) {
    h += static_cast<char>(0x04);  // PP2_TYPE_NOOP
    h += static_cast<char>(tlv_bytes >> 8);
    h += static_cast<char>(tlv_bytes & 0xff);
    h += std::string(tlv_bytes, 'x');
  }
  return h;
}

constexpr std::uint8_t kTestNet2[4] = {203, 0, 113, 9};

double headers(const EchodProcess& echod, const std::string& result) {
  return metric(echod.admin_port(),
                       "echod_proxy_protocol_headers_total{result=\"" + result + "\"}");
}

bool wait_metric(const EchodProcess& echod, const std::string& result, double want) {
  return wait_until([&] { return headers(echod, result) == want; }, milliseconds(5000));
}

/// True when echod closed the connection (FIN or RST) without sending a byte.
bool closed_without_a_byte(int fd, milliseconds timeout = milliseconds(5000)) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(ProxyProtocol, V1HeaderIsNotEchoedAndEveryByteAfterItIs) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v1"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const std::string data = random_bytes(256 * 1024, 11);
  // Header and data in one write: the header must be cut off exactly at its CRLF.
  ASSERT_TRUE(send_all(fd.get(), v1("192.0.2.7", 4242) + data));
  EXPECT_TRUE(recv_exact(fd.get(), data.size()) == data);
  EXPECT_TRUE(wait_metric(echod, "v1", 1));
  EXPECT_EQ(headers(echod, "invalid"), 0);
}

TEST(ProxyProtocol, V2HeaderArrivingByteByByteWithTlvsIsNotEchoed) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v2"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string header = v2(1, kTestNet2, 5555, 40);
  for (char c : header) {
    ASSERT_TRUE(send_all(fd.get(), std::string(1, c)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // separate segments, not a wait
  }
  const std::string data = random_bytes(10000, 12);
  ASSERT_TRUE(send_all(fd.get(), data));
  EXPECT_TRUE(recv_exact(fd.get(), data.size()) == data);
  EXPECT_TRUE(wait_metric(echod, "v2", 1));
}

TEST(ProxyProtocol, V2LocalCommandEchoesWithoutAnAddress) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "any"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), v2(0, kTestNet2, 1) + "health"));
  EXPECT_EQ(recv_exact(fd.get(), 6), "health");
  EXPECT_TRUE(wait_metric(echod, "local", 1));
  EXPECT_EQ(headers(echod, "v2"), 0);
}

TEST(ProxyProtocol, AnyAcceptsBothVersionsButV1AndV2OnlyTheirOwn) {
  EchodProcess any({"--workers", "1", "--proxy-protocol", "any"});
  EchodProcess only_v1({"--workers", "1", "--proxy-protocol", "v1"});
  EchodProcess only_v2({"--workers", "1", "--proxy-protocol", "v2"});
  for (const std::string& header : {v1("192.0.2.1", 1000), v2(1, kTestNet2, 1000)}) {
    Fd fd = connect_tcp(any.echo_port());
    ASSERT_TRUE(send_all(fd.get(), header + "abc"));
    EXPECT_EQ(recv_exact(fd.get(), 3), "abc");
  }
  Fd a = connect_tcp(only_v1.echo_port());
  ASSERT_TRUE(send_all(a.get(), v2(1, kTestNet2, 1000) + "abc"));
  EXPECT_TRUE(closed_without_a_byte(a.get()));
  Fd b = connect_tcp(only_v2.echo_port());
  ASSERT_TRUE(send_all(b.get(), v1("192.0.2.1", 1000) + "abc"));
  EXPECT_TRUE(closed_without_a_byte(b.get()));
  EXPECT_TRUE(wait_metric(only_v1, "invalid", 1));
  EXPECT_TRUE(wait_metric(only_v2, "invalid", 1));
}

TEST(ProxyProtocol, AConnectionWithoutAHeaderIsClosedNotEchoed) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "any"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), "hello, no header here\r\n"));
  EXPECT_TRUE(closed_without_a_byte(fd.get()));
  EXPECT_TRUE(wait_metric(echod, "invalid", 1));
  EXPECT_EQ(metric(echod.admin_port(),
                          "echod_connections_rejected_total{reason=\"proxy_header\"}"),
            1);
  EXPECT_EQ(metric(echod.admin_port(), "echod_connections_accepted_total"), 0);
}

TEST(ProxyProtocol, BrokenHeadersAreClosedAndCountedAndEchodKeepsServing) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "any"});
  const std::string broken[] = {
      "PROXY TCP4 192.0.2.1 198.51.100.1 1 2\n",           // LF without CR
      "PROXY TCP5 192.0.2.1 198.51.100.1 1 2\r\n",         // unknown protocol
      "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",       // bad address
      "PROXY TCP4 192.0.2.1 198.51.100.1 65536 2\r\n",     // bad port
      "PROXY TCP4 " + std::string(120, '1') + "\r\n",      // longer than 107 bytes
      std::string("\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c", 16),  // version 3
      std::string("\r\n\r\n\0\r\nQUIT\n\x22\x11\x00\x0c", 16),  // command 2
      std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04", 16) + "abcd",  // address too short
      std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", 16),  // longer than echod accepts
  };
  for (const std::string& header : broken) {
    Fd fd = connect_tcp(echod.echo_port());
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_all(fd.get(), header));
    EXPECT_TRUE(closed_without_a_byte(fd.get())) << "header: " << header;
  }
  EXPECT_TRUE(wait_metric(echod, "invalid", static_cast<double>(std::size(broken))));
  Fd good = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(good.get(), v1("192.0.2.1", 9) + "still here"));
  EXPECT_EQ(recv_exact(good.get(), 10), "still here");
}

TEST(ProxyProtocol, AHeaderThatDoesNotArriveInTimeIsClosedAndCounted) {
  EchodProcess echod(
      {"--workers", "1", "--proxy-protocol", "v1", "--proxy-protocol-timeout", "300ms"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(fd);
  const auto start = Clock::now();
  ASSERT_TRUE(send_all(fd.get(), "PROXY TCP4 192.0.2.1 "));  // and then nothing
  EXPECT_TRUE(closed_without_a_byte(fd.get()));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_TRUE(wait_metric(echod, "timeout", 1));
  EXPECT_EQ(headers(echod, "invalid"), 0);
}

TEST(ProxyProtocol, UntrustedSourcesAreClosedBeforeTheirHeaderIsRead) {
  EchodProcess strict({"--workers", "1", "--proxy-protocol", "v1", "--proxy-protocol-trusted",
                       "192.0.2.0/24,2001:db8::/32"});
  Fd fd = connect_tcp(strict.echo_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_all(fd.get(), v1("192.0.2.1", 1) + "abc"));
  EXPECT_TRUE(closed_without_a_byte(fd.get()));
  EXPECT_TRUE(wait_metric(strict, "untrusted", 1));
  EXPECT_EQ(headers(strict, "v1"), 0);

  EchodProcess loopback({"--workers", "1", "--proxy-protocol", "v1",
                         "--proxy-protocol-trusted", "10.0.0.0/8, 127.0.0.0/8"});
  Fd ok = connect_tcp(loopback.echo_port());
  ASSERT_TRUE(send_all(ok.get(), v1("192.0.2.1", 1) + "abc"));
  EXPECT_EQ(recv_exact(ok.get(), 3), "abc");
  EXPECT_EQ(headers(loopback, "untrusted"), 0);
}

TEST(ProxyProtocol, FaultRuleSourcesMatchTheAddressInTheHeader) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v1", "--faults",
                      R"([{"action":"reset","after_bytes":0,"source":"192.0.2.0/24"}])"});
  Fd hit = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(hit.get(), v1("192.0.2.99", 1) + "abc"));
  EXPECT_TRUE(closed_without_a_byte(hit.get()));
  // The socket's own peer is 127.0.0.1 for both: only the header tells them apart.
  Fd miss = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(miss.get(), v1("198.51.100.99", 1) + "abc"));
  EXPECT_EQ(recv_exact(miss.get(), 3), "abc");
  EXPECT_EQ(metric(echod.admin_port(), "echod_faults_injected_total{action=\"reset\"}"), 1);
}

TEST(ProxyProtocol, TheDebugLogNamesTheClientFromTheHeader) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v2", "--log-level", "debug"});
  Fd fd = connect_tcp(echod.echo_port());
  ASSERT_TRUE(send_all(fd.get(), v2(1, kTestNet2, 40123) + "x"));
  EXPECT_EQ(recv_exact(fd.get(), 1), "x");
  EXPECT_TRUE(echod.process().wait_for_line(
      [](const std::string& l) {
        return l.find("\"connection opened\"") != std::string::npos &&
               l.find("\"client\":\"203.0.113.9\"") != std::string::npos &&
               l.find("\"client_port\":40123") != std::string::npos;
      },
      milliseconds(5000)));
}

TEST(ProxyProtocol, ConnectionsWaitingForAHeaderCountAgainstMaxConnections) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v1", "--max-connections", "2"});
  Fd a = connect_tcp(echod.echo_port());
  Fd b = connect_tcp(echod.echo_port());
  ASSERT_TRUE(wait_until(
      [&] { return metric(echod.admin_port(), "echod_connections_active") == 2; },
      milliseconds(5000)));
  Fd c = connect_tcp(echod.echo_port());
  ASSERT_TRUE(c);
  EXPECT_TRUE(closed_without_a_byte(c.get()));
  EXPECT_TRUE(wait_until(
      [&] {
        return metric(echod.admin_port(),
                             "echod_connections_rejected_total{reason=\"max_connections\"}") == 1;
      },
      milliseconds(5000)));
  // The two waiting ones still become echo connections.
  ASSERT_TRUE(send_all(a.get(), v1("192.0.2.1", 1) + "one"));
  EXPECT_EQ(recv_exact(a.get(), 3), "one");
}

TEST(ProxyProtocol, AClientThatClosesWithoutAByteIsNotAnInvalidHeader) {
  EchodProcess echod({"--workers", "1", "--proxy-protocol", "v1"});
  { Fd fd = connect_tcp(echod.echo_port()); }  // a TCP health check: connect, close
  ASSERT_TRUE(wait_until(
      [&] {
        return metric(echod.admin_port(),
                             "echod_connections_rejected_total{reason=\"proxy_header\"}") == 1;
      },
      milliseconds(5000)));
  EXPECT_EQ(headers(echod, "invalid"), 0);
  EXPECT_EQ(metric(echod.admin_port(), "echod_connections_active"), 0);
}

TEST(ProxyProtocol, BadSettingsExitTwoNamingTheSetting) {
  struct Case {
    std::vector<std::string> args;
    std::string setting;
  };
  const Case cases[] = {
      {{"--proxy-protocol", "v3"}, "proxy_protocol"},
      {{"--proxy-protocol-trusted", "10.0.0.0/33"}, "proxy_protocol_trusted"},
      {{"--proxy-protocol-trusted", "10.0.0.0/8,"}, "proxy_protocol_trusted"},
      {{"--proxy-protocol-timeout", "0s"}, "proxy_protocol_timeout"},
      {{"--proxy-protocol-timeout", "soon"}, "proxy_protocol_timeout"},
  };
  for (const Case& c : cases) {
    const RunResult r = run_echod(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[1];
    EXPECT_NE(r.err.find("setting " + c.setting), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace echod::test
